"""The documentation against the code: every ``livedj`` command line in README.md, docs/*.md and
systemd/README.md names a real command and only its options; every config key the prose names in
backticks (`analysis.identify_s`, `ranking.shortlist = 20`) is in the schema with a valid value; every
```toml example validates. An option or key renamed in the code and not in the docs fails here.

(README.md's "Using it" lines also go through the real parser whole: tests/test_first_run.py; the shipped
config.toml equals the schema's defaults: tests/test_config.py.)
"""
from __future__ import annotations

import re
import textwrap
import tomllib
from pathlib import Path

import pytest

from livedj.cli import build_parser
from livedj.config import SCHEMA, ConfigError, validate

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", REPO / "systemd" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of each line in a fenced block or indented as code (4 spaces, outside lists)."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("    "):
            out.append((number, line.strip()))
    return out


def _livedj_lines(path: Path) -> list[tuple[str, str]]:
    """("file:line", command line) of every livedj command the page shows, in code or in backticks."""
    text = path.read_text(encoding="utf-8")
    found = [(n, line) for n, line in _code_lines(text) if line.startswith(("livedj ", "$ livedj "))]
    for number, line in enumerate(text.splitlines(), 1):
        found += [(number, m) for m in re.findall(r"`(livedj [^`]+)`", line)]
    return [(f"{path.relative_to(REPO)}:{n}", line.removeprefix("$ ")) for n, line in found]


def test_every_livedj_command_line_in_the_docs_names_real_options():
    commands = build_parser()._subparsers._group_actions[0].choices
    seen, problems = 0, []
    for page in DOCS:
        for where, line in _livedj_lines(page):
            words = line.split()
            if len(words) < 2 or words[1].startswith("-") or words[1].endswith(":"):
                continue  # `livedj --help`, a message quoted ("livedj run: cannot follow Mixxx ...")
            if words[1] not in commands:
                problems.append(f"{where}: no command {words[1]!r}: {line}")
                continue
            seen += 1
            # a comment's options are its command's when it says so ("# also --m3u set.m3u", "# options: ..."),
            # not when it tells what the line does ("# = systemctl --user status livedj")
            command, comment = (re.split(r"\s#\s*", line, maxsplit=1) + [""])[:2]
            told = command + (" " + comment if comment.startswith(("also", "options:", "or ")) else "")
            problems += [f"{where}: livedj {words[1]} has no {option}: {line}" for option in OPTION.findall(told)
                         if option not in commands[words[1]]._option_string_actions]
    assert not problems, "\n".join(problems)
    assert seen >= 80, seen  # the extraction still finds the docs' command lines


KEY = re.compile(r"`(" + "|".join(SCHEMA) + r")\.([a-z_]+)(?: = ([^`]+))?`")


def test_every_config_key_the_docs_name_is_in_the_schema():
    seen, problems = 0, []
    for page in DOCS:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for section, key, value in KEY.findall(line):
                where = f"{page.relative_to(REPO)}:{number}: {section}.{key}"
                seen += 1
                if section == "osc" and key == "targets":
                    continue
                if key not in SCHEMA[section]:
                    problems.append(f"{where}: not a key of [{section}]")
                elif value:
                    try:
                        validate({section: {key: tomllib.loads(f"v = {value}")["v"]}}, where)
                    except (ConfigError, tomllib.TOMLDecodeError) as exc:
                        problems.append(str(exc))
    assert not problems, "\n".join(problems)
    assert seen >= 20, seen


def _toml_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in DOCS:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"^([ \t]*)```toml\n(.*?)^[ \t]*```", text, re.S | re.M):
            number = text.count("\n", 0, match.start()) + 1
            blocks.append((f"{page.relative_to(REPO)}:{number}", textwrap.dedent(match.group(2))))
    return blocks


@pytest.mark.parametrize("where, body", _toml_blocks(), ids=lambda v: v if ":" in v and "\n" not in v else "")
def test_every_toml_example_in_the_docs_is_a_valid_config(where, body):
    try:
        validate(tomllib.loads(body), where)
    except ConfigError as exc:
        pytest.fail(f"{where}:\n{exc}")


def test_the_docs_have_toml_examples():
    assert len(_toml_blocks()) >= 4


def test_every_file_of_the_repository_the_docs_name_is_there():
    """`livedj/library/copies.py`, `benchmarks/time_to_name.py`, `models/MODEL_CARD.md` ...: a module moved or
    renamed and a doc still pointing at the old place fails here (lab logs included: they name code)."""
    named = re.compile(r"(?<![\w/.~$}-])(?:livedj|benchmarks|scripts|tests|examples|models|systemd|docs)/[\w./-]+\.(?:py|md|toml|"
                       r"safetensors|npz|service)\b")
    seen, missing = 0, []
    for page in DOCS:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for path in named.findall(line):
                seen += 1
                if not (REPO / path).exists():
                    missing.append(f"{page.relative_to(REPO)}:{number}: {path}")
            for link in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", line):  # [text](relative/link.md#part)
                seen += 1
                if not (page.parent / link).exists():
                    missing.append(f"{page.relative_to(REPO)}:{number}: link {link}")
    assert not missing, "\n".join(missing)
    assert seen >= 50, seen
