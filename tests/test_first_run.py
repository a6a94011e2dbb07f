"""A new user's first hour, command by command as the README teaches: a brand-new home (no config,
no index, no set log), an empty folder, a folder of one record, no input device. Each command gives
one line saying what is wrong and what to run next, exit 1 on an error and 0 on an empty-but-fine
result, no traceback, no "repaired" on a first run, and no file the user did not ask for."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from faults_common import has_traceback, one_line

REPO = Path(__file__).resolve().parent.parent


def _home(root: Path) -> dict:
    """The environment of a user who has never run livedj: every XDG folder under ``root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "LIVEDJ_", "NOTIFY_SOCKET"))}
    env.update(HOME=str(root / "home"), XDG_CONFIG_HOME=str(root / "config"), XDG_DATA_HOME=str(root / "data"),
               XDG_CACHE_HOME=str(root / "cache"), PYTHONPATH=str(REPO), COLUMNS="200")
    (root / "home").mkdir(parents=True, exist_ok=True)
    return env


def livedj(env: dict, *args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livedj", *map(str, args)], env=env, cwd=cwd or env["HOME"],
                          capture_output=True, text=True, timeout=120)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "pulse" not in p.parts}


@pytest.fixture(scope="module")
def one_record(tmp_path_factory):
    """A new user who indexed a folder of one generated record; another record, not in the library."""
    from livedj.synth import DEMO_TRACKS, render_track, write_audio

    root = tmp_path_factory.mktemp("first_run")
    env = _home(root)
    (root / "music").mkdir()
    for spec, where in ((DEMO_TRACKS[0], root / "music"), (DEMO_TRACKS[1], root)):
        write_audio(where / f"{spec.title}.flac", render_track(spec, duration=20.0), 22050, title=spec.title,
                    artist=spec.artist)
    done = livedj(env, "index", root / "music")
    assert done.returncode == 0 and "1 track in " in done.stdout, done.stderr
    assert "repaired" not in done.stdout + done.stderr
    return root, env, root / f"{DEMO_TRACKS[1].title}.flac"


def test_a_new_index_of_an_empty_folder_repairs_nothing_and_says_why_it_is_empty(tmp_path):
    """The first `livedj index` printed "repaired rebuilt from the store: .../manifest.json: missing",
    and `livedj run` then said "index vectors have 0 dimensions, the encoder makes 200"."""
    env = _home(tmp_path)
    (tmp_path / "empty").mkdir()
    first = livedj(env, "index", tmp_path / "empty")
    assert first.returncode == 0, first.stderr
    text = first.stdout + first.stderr
    assert not re.search(r"repaired|damaged|corrupt", text), text
    assert "the index is empty" in first.stderr and "mp3" in first.stderr
    again = livedj(env, "index", tmp_path / "empty")
    assert again.returncode == 0 and "repaired" not in again.stdout + again.stderr
    run = livedj(env, "run", "--no-dashboard")
    lines = one_line(run.stderr)
    assert run.returncode == 1 and not has_traceback(run.stderr) and len(lines) == 1, run.stderr
    assert "the index is empty" in lines[0] and "livedj index" in lines[0] and "dimensions" not in lines[0]


def test_index_of_a_folder_that_is_not_there_is_an_error(tmp_path):
    """`livedj index ~/Musc` (a typo) exited 0, as if it had indexed the library."""
    env = _home(tmp_path)
    done = livedj(env, "index", tmp_path / "Musc")
    assert done.returncode == 1 and not has_traceback(done.stderr)
    assert "no such folder" in done.stdout
    bare = livedj(env, "index")  # no folder at all: the next command, spelt out
    assert bare.returncode == 2 and "livedj index ~/Music" in bare.stderr


def test_history_before_any_set_creates_no_set_log(tmp_path):
    """A bare `livedj history` created an empty history.sqlite (and a mistyped history.path would hide
    behind a new file); `--export` with no session said "no session None"."""
    env = _home(tmp_path)
    listed = livedj(env, "history")
    assert listed.returncode == 0 and "no set log yet" in listed.stdout and "livedj run" in listed.stdout
    exported = livedj(env, "history", "--export", tmp_path / "set.m3u")
    assert exported.returncode == 1 and len(one_line(exported.stderr)) == 1 and "None" not in exported.stderr
    assert _files(tmp_path) == set(), _files(tmp_path)  # nothing written anywhere
    from livedj.library.history import History

    History(tmp_path / "data" / "livedj" / "history.sqlite").close()  # a set log with no plays yet
    exported = livedj(env, "history", "--export", tmp_path / "set.m3u")
    assert exported.returncode == 1 and "no session None" not in exported.stderr
    assert "no session with plays" in exported.stderr


def test_eval_of_a_folder_that_is_not_there_says_so(tmp_path):
    """It said "need at least 2 audio files in sub-folders" after loading the models."""
    env = _home(tmp_path)
    done = livedj(env, "eval", tmp_path / "Music" / "crates")
    assert done.returncode == 1 and one_line(done.stderr) == [
        f"livedj eval: {tmp_path / 'Music' / 'crates'}: no such folder "
        "(give a folder with one sub-folder per label, e.g. your crates)"]


def test_suggest_and_analyze_past_the_end_of_a_record_give_an_at_that_works(one_record):
    """The README's `livedj suggest track.flac --at 60` on a shorter record said only
    "less than 1 s of audio at 60.0 s"; a file not in the library is fine (not identified)."""
    root, env, outsider = one_record
    for command in ("suggest", "analyze"):
        done = livedj(env, command, outsider, "--at", 60)
        assert done.returncode == 1 and not has_traceback(done.stderr)
        assert one_line(done.stderr) == [f"livedj {command}: {outsider}: less than 1 s of audio at 60 s: it lasts "
                                         "20 s (try --at 15)"]
    done = livedj(env, "analyze", outsider, "--at", 10)
    assert done.returncode == 0 and "not in library" in done.stdout, done.stderr
    missing = livedj(env, "suggest", root / "nope.flac")
    assert missing.returncode == 1 and "no such file" in missing.stderr and not has_traceback(missing.stderr)


def test_run_on_a_machine_without_an_input_device_says_what_to_do(one_record):
    """`livedj run` with no microphone or sound card waited for "input device None" forever, printing
    "Error querying device -1"; the service (NOTIFY_SOCKET) still waits for the interface."""
    root, env, _ = one_record
    listed = livedj(env, "devices")
    if "no audio input devices found" not in listed.stdout:
        pytest.skip("this machine has an audio input")
    assert listed.returncode == 0 and "livedj run --input" in listed.stdout
    run = livedj(env, "run", "--no-dashboard")
    lines = one_line(run.stderr)
    assert run.returncode == 1 and len(lines) == 1, run.stderr
    assert "no audio input on this machine" in lines[0] and "livedj run --input" in lines[0]
    assert "-1" not in lines[0] and "None" not in lines[0]


def _readme_lines() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Using it", 1)[1].split("\n#", 1)[0]
    return [line.strip() for line in block.splitlines() if line.startswith("    livedj ")]


def _readme_examples() -> list[str]:
    return [re.split(r"\s{2,}#", line)[0].strip() for line in _readme_lines()]


def _variants(example: str) -> list[list[str]]:
    """The example without its optional parts, and with each alternative of them (``[a|b]``), metavariables
    filled in (``N``: a number)."""
    optional = re.findall(r"\[([^\]]*)\]", example)
    bare = re.sub(r"\s*\[[^\]]*\]", "", example)
    out = [bare]
    for part in optional:
        words = part.split(" ")
        choices = max((w.split("|") for w in words), key=len)
        for choice in choices:
            out.append(bare + " " + " ".join(choice if "|" in w else w for w in words))
    return [[("1" if w == "N" else w) for w in shlex.split(v)[1:]] for v in out]


def test_every_readme_example_is_accepted_by_the_parser(tmp_path, monkeypatch):
    """README.md's "Using it" lines, as written, with the real parser: an option renamed in the code
    and not in the README fails here."""
    from livedj.cli import build_parser

    monkeypatch.chdir(tmp_path)  # output files (set.m3u, preview.wav) named relative to here
    examples = _readme_examples()
    assert len(examples) >= 15 and {e.split()[1] for e in examples} >= {"devices", "index", "run", "suggest", "history"}
    for example in examples:
        for argv in _variants(example):
            try:
                args = build_parser().parse_args(argv)
            except SystemExit:
                pytest.fail(f"README example not accepted: livedj {shlex.join(argv)}")
            assert args.command == argv[0]
    # options named in a line's comment ("also --from-traktor, --from-mixxx") are its command's too
    commands = build_parser()._subparsers._group_actions[0].choices
    for line in _readme_lines():
        command, comment = line.split()[1], (re.split(r"\s{2,}#", line) + [""])[1]
        for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", comment):
            assert option in commands[command]._option_string_actions, f"README: livedj {command} {option}"


def test_setup_installs_venv_support_and_mends_a_venv_left_without_pip(tmp_path):
    """scripts/setup (run by scripts/demo and scripts/test) on a fresh Debian/Ubuntu: python3-venv is not
    installed there, so ``python3 -m venv .venv`` failed ("ensurepip is not available") after making
    .venv/bin/python; every later run saw that python, skipped the venv and died at ``.venv/bin/pip``,
    even once python3-venv was installed. Fakes on PATH stand in for dpkg-query and apt-get; a stub
    ``torch`` and the install stamp keep the real installs out. Last, it compiles livedj's numba loops ahead
    (``livedj.library.warm``), and goes on when that fails."""
    checkout, fakes, stub = tmp_path / "checkout", tmp_path / "bin", tmp_path / "stub"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "setup", checkout / "scripts" / "setup")
    (checkout / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (stub / "torch").mkdir(parents=True)
    (stub / "torch" / "__init__.py").write_text("")
    warmed = tmp_path / "warmed"  # livedj's loops compiled ahead (a stand-in that fails: setup goes on)
    (checkout / "livedj" / "library").mkdir(parents=True)
    (checkout / "livedj" / "library" / "warm.py").write_text(f"open({str(warmed)!r}, 'w').close()\nraise SystemExit(1)\n")
    fakes.mkdir()
    log = tmp_path / "apt.log"
    for name, body in {"dpkg-query": 'case "$*" in *python3-venv*) exit 1;; esac; printf "install ok installed"',
                       "apt-get": f'echo "$*" >> {log}', "sudo": '"$@"'}.items():
        (fakes / name).write_text(f"#!/bin/sh\n{body}\n")
        (fakes / name).chmod(0o755)
    debian = fakes / "python-without-ensurepip"  # Debian's python3 without python3-venv
    debian.write_text(f'#!/bin/sh\n[ "$1" = -c ] && exec "{sys.executable}" "$@"\n"{sys.executable}" -m venv --without-pip "$3"\n'
                      'echo "The virtual environment was not created successfully because ensurepip is not available." >&2\n'
                      "exit 1\n")
    debian.chmod(0o755)
    env = dict(os.environ, PATH=f"{fakes}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(stub))
    setup = [str(checkout / "scripts" / "setup")]
    first = subprocess.run(setup, env=dict(env, PYTHON=str(debian)), capture_output=True, text=True, timeout=120)
    assert first.returncode != 0 and (checkout / ".venv" / "bin" / "python").exists()
    assert "python3-venv" in log.read_text()  # asked for: the next run has it
    stamp = __import__("hashlib").sha256((checkout / "pyproject.toml").read_bytes()).hexdigest()
    (checkout / ".venv" / ".livedj-installed").write_text(stamp + "\n")
    again = subprocess.run(setup, env=dict(env, PYTHON=sys.executable), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert subprocess.run([str(checkout / ".venv" / "bin" / "pip"), "--version"], capture_output=True).returncode == 0
    assert warmed.exists() and "the first livedj run will compile them" in again.stderr, again.stderr[-2000:]


def test_setup_says_which_python_it_needs(tmp_path):
    """An older python3 (Ubuntu 22.04's 3.10) went on to fail inside pip with little to go on."""
    checkout, fakes = tmp_path / "checkout", tmp_path / "bin"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "setup", checkout / "scripts" / "setup")
    fakes.mkdir()
    for name, body in {"dpkg-query": 'printf "install ok installed"',
                       "python3.10": 'case "$1" in --version) echo "Python 3.10.12";; *) exit 1;; esac'}.items():
        (fakes / name).write_text(f"#!/bin/sh\n{body}\n")
        (fakes / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{fakes}{os.pathsep}{os.environ['PATH']}", PYTHON="python3.10")
    out = subprocess.run([str(checkout / "scripts" / "setup")], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and not (checkout / ".venv").exists()
    assert "needs Python 3.11 or newer; python3.10 is Python 3.10.12" in out.stderr, out.stderr


@pytest.mark.parametrize("index", [None, "readme"])
def test_setup_installs_the_torch_the_readme_shows(tmp_path, index):
    """scripts/setup pins the torch the README's install line pins, from pip's configured index (where CI's
    machines have the CPU build; PyTorch's index is out of their reach), and from the index
    ``TORCH_INDEX_URL`` names when set, as the README tells users on plain PyPI to do for the CPU build.
    Fakes stand in for dpkg-query and the venv's python (no torch) and pip (which logs what it was asked)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"pip install (torch==\S+) --index-url (\S+)", readme)
    assert shown, "README lost its torch install line"
    checkout, fakes = tmp_path / "checkout", tmp_path / "bin"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "setup", checkout / "scripts" / "setup")
    (checkout / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    venv = checkout / ".venv" / "bin"
    venv.mkdir(parents=True)
    log = tmp_path / "pip.log"
    fakes.mkdir()
    for path, body in {fakes / "dpkg-query": 'printf "install ok installed"',
                       venv / "python": "exit 1",  # no torch in this venv yet
                       venv / "pip": f'echo "$*" >> {log}'}.items():
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    stamp = __import__("hashlib").sha256((checkout / "pyproject.toml").read_bytes()).hexdigest()
    (checkout / ".venv" / ".livedj-installed").write_text(stamp + "\n")
    env = dict(os.environ, PATH=f"{fakes}{os.pathsep}{os.environ['PATH']}", PYTHON=sys.executable)
    env.pop("TORCH_INDEX_URL", None)
    if index:
        assert f"TORCH_INDEX_URL={shown.group(2)} scripts/setup" in readme
        env["TORCH_INDEX_URL"] = shown.group(2)
    out = subprocess.run([str(checkout / "scripts" / "setup")], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    installs = [line.split() for line in log.read_text().splitlines() if "torch" in line]
    assert len(installs) == 1, installs
    words = installs[0]
    assert shown.group(1) in words, words
    if index:
        assert words[words.index("--index-url") + 1] == shown.group(2), words
    else:
        assert "--index-url" not in words, words
