"""Names that would only fail when their line runs: pyflakes finds them without running it.

A callback on a rare path (a skip from the booth, a reload) can name a variable that does not exist
and pass every test that never reaches it; one did (``make_session`` named ``engine``). Unused
imports are allowed: several modules re-export names for their callers.
"""
from __future__ import annotations

import ast
from pathlib import Path

from pyflakes import checker, messages  # the test extra: pip install -e '.[test]'

REPO = Path(__file__).resolve().parent.parent
UNDEFINED = (messages.UndefinedName, messages.UndefinedLocal, messages.UndefinedExport)


def _undefined(path: Path, root: Path = REPO) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = checker.Checker(tree, filename=str(path)).messages
    return [f"{path.relative_to(root)}:{m.lineno}: {m.message % m.message_args}" for m in found
            if isinstance(m, UNDEFINED)]


def test_no_undefined_names_in_the_code():
    files = sorted(p for folder in ("livedj", "benchmarks", "scripts", "tests") for p in (REPO / folder).rglob("*.py"))
    assert len(files) > 100
    problems = [line for path in files for line in _undefined(path)]
    assert not problems, "\n".join(problems)


def test_the_check_finds_an_undefined_name(tmp_path):
    bad = tmp_path / "probe.py"
    bad.write_text("def log_feedback(track_id):\n    return engine.tracks.get(track_id)\n")
    assert _undefined(bad, tmp_path) == ["probe.py:2: undefined name 'engine'"]
