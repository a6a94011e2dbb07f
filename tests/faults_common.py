"""Shared parts of the fault-injection suite (tests/test_faults_*.py): a generated library and its
index built once per run, helpers that damage files, and the checks every case makes.

Everything is real: generated audio files, the `features` encoder (the fast real one: these
faults concern files and processes, not the embedding), Annoy files on disk, subprocesses.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from livedj.library import index as annoy_index
from livedj.library.store import Store

pytestmark = pytest.mark.faults

N_A, N_B = 5, 2  #: tracks in lib/a (the base index) and lib/b (added by the runs that get killed)
TIMEOUT = 180


def livedj(*args, env=None, timeout=TIMEOUT):
    return subprocess.run([sys.executable, "-m", "livedj", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def has_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" in text


def one_line(stderr: str) -> list[str]:
    """The lines a command printed on stderr, progress bars (and their plain lines off a terminal) left out."""
    from livedj.progress import PREFIX

    return [ln for ln in stderr.splitlines() if ln.strip() and not any(c in ln for c in "━╸")
            and not ln.startswith(PREFIX)]


@pytest.fixture(name="own_home")
def own_home_fixture(tmp_path_factory, monkeypatch):
    """XDG config, data and cache homes of the test's own: nothing of the user's is read or written.
    A module makes it autouse with ``pytestmark = pytest.mark.usefixtures("own_home")``."""
    home = tmp_path_factory.mktemp("home")
    for kind in ("CONFIG", "DATA", "CACHE"):
        monkeypatch.setenv(f"XDG_{kind}_HOME", str(home / kind.lower()))


@pytest.fixture(scope="session", name="base")
def base_fixture(tmp_path_factory):
    """A generated library (lib/a: 5 tracks, lib/b: 2 more) and an index of lib/a, built once."""
    from livedj.synth import DEMO_TRACKS, build_demo_library

    root = tmp_path_factory.mktemp("faults")
    build_demo_library(root / "lib" / "a", DEMO_TRACKS[:N_A], duration=10.0, formats=("wav", "flac", "mp3"))
    build_demo_library(root / "lib" / "b", DEMO_TRACKS[N_A:N_A + N_B], duration=10.0, formats=("ogg", "wav"))
    config = root / "config.toml"
    config.write_text('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n')
    result = livedj("index", root / "lib" / "a", "--config", config, "--index", root / "index", "--jobs", 1)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(root / "index" / "library.sqlite") as db:  # no -wal beside the copies
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return root, config


def copy_index(base, tmp_path) -> Path:
    root, _ = base
    target = tmp_path / "index"
    shutil.copytree(root / "index", target)
    return target


def complete(index_dir: Path, n: int) -> bool:
    """The index loads, holds ``n`` tracks (beginnings, fingerprints), and nothing is left over."""
    try:
        loaded = annoy_index.load(index_dir)
    except annoy_index.IndexUnusable:
        return False
    store = Store(index_dir, readonly=True)
    try:
        good = len(store.tracks())
    finally:
        store.close()
    leftovers = [p.name for p in index_dir.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".live-")]
    fp_tracks = loaded.manifest.get("fingerprints", {}).get("tracks")
    return loaded.size == n == good and fp_tracks == n and not leftovers


def repair_here(base, index_dir: Path):
    """`livedj index lib/a` in this process (what the command runs, without 3 s of start-up each time)."""
    from livedj.commands.index import settings_from
    from livedj.config import load
    from livedj.library.indexer import index_library

    root, config = base
    return index_library([str(root / "lib" / "a")], str(index_dir), settings_from(load(config)), jobs=1)


def repair(base, index_dir: Path, *roots: str, jobs: int = 1) -> subprocess.CompletedProcess:
    root, config = base
    return livedj("index", *(roots or [root / "lib" / "a"]), "--config", config, "--index", index_dir,
                  "--jobs", jobs)



def rewrite_unnoticed(path, data: bytes) -> bytes:
    """Write ``data`` over ``path`` keeping its times (with ``data`` of its size, the indexer sees the file
    unchanged: a disk error, or the disk well again); returns what it held."""
    import os

    original, st = Path(path).read_bytes(), os.stat(path)
    Path(path).write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return original


def _zeroed(path: Path) -> None:
    path.write_bytes(bytes(path.stat().st_size))


def _truncated(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _garbled(path: Path) -> None:
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(len(data))
    middle = len(data) // 2
    data[middle:middle + 64] = rng.integers(0, 256, min(64, len(data) - middle), dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _deleted(path: Path) -> None:
    path.unlink()



def _garble_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    for page in range(1, len(data) // 4096):
        data[page * 4096 + 8:page * 4096 + 200] = rng.integers(0, 256, 192, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))



def _sane(config: dict) -> bool:
    import math

    for section in config.values():
        for value in (section.values() if isinstance(section, dict) else ()):
            if isinstance(value, float) and not math.isfinite(value):
                return False
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
                return False
            if isinstance(value, str) and "\x00" in value:
                return False
    return True



XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'  #: what a DJ software's collection file starts with


def quiet_config(tmp_path: Path, extra: str = "") -> Path:
    """A config for a test's `livedj index`: the cheap `features` encoder, no OSC, the set log under
    ``tmp_path``; ``extra`` TOML appended."""
    config = tmp_path / "config.toml"
    config.write_text('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n'
                      f'[history]\npath = "{tmp_path / "history.sqlite"}"\n{extra}')
    return config


def index_here(tmp_path: Path, *args, extra: str = "") -> tuple[int, str, str]:
    """``livedj index ARGS`` by :func:`run_here` with :func:`quiet_config`, the index in ``tmp_path/index``,
    one worker."""
    return run_here(["index", *map(str, args), "--config", str(quiet_config(tmp_path, extra)),
                     "--index", str(tmp_path / "index"), "--jobs", "1"])


def untagged_library(tmp_path_factory, name: str, n: int) -> tuple[Path, Path]:
    """``n`` generated 6-s WAV files without tags in ``ROOT/lib`` (names come from the DJ's software) and
    their index in ``ROOT/index``, with :func:`quiet_config`: ``(ROOT, config)``. For module fixtures."""
    import soundfile as sf

    from livedj.synth import DEMO_TRACKS, render_track

    root = tmp_path_factory.mktemp(name)
    (root / "lib").mkdir()
    for i in range(n):
        sf.write(root / "lib" / f"t{i}.wav", render_track(DEMO_TRACKS[i], duration=6.0, sample_rate=22050), 22050)
    config = quiet_config(root)
    code, _, err = run_here(["index", str(root / "lib"), "--config", str(config), "--index", str(root / "index"),
                             "--jobs", "1"])
    assert code == 0, err
    return root, config


def index_a_copy(library: tuple[Path, Path], tmp_path: Path, *args) -> tuple[int, str, str, Path]:
    """``livedj index ARGS`` on a copy (in ``tmp_path/index``) of :func:`untagged_library`'s index:
    ``(exit status, stdout, stderr, the copy)``."""
    root, config = library
    index_dir = tmp_path / "index"
    shutil.copytree(root / "index", index_dir)
    code, out, err = run_here(["index", *map(str, args), "--config", str(config), "--index", str(index_dir),
                               "--jobs", "1"])
    return code, out, err, index_dir


def skipped_lines(out: str) -> list[str]:
    """The report's ``  skipped ...`` lines, without the prefix."""
    return [ln.removeprefix("  skipped ") for ln in out.splitlines() if ln.startswith("  skipped ")]


def run_here(argv: list[str]) -> tuple[int, str, str]:
    """``livedj ARGV`` run by :func:`livedj.cli.main` in this process: (exit status, stdout, stderr); an
    escaping exception is written to stderr as the traceback a user would see."""
    import contextlib
    import io
    import traceback as tb

    from livedj.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception:
            err.write(tb.format_exc())
            code = 1
    return code, out.getvalue(), err.getvalue()


def _main_here(argv: list[str]) -> subprocess.CompletedProcess:
    """:func:`run_here` as a CompletedProcess with its stderr (stdout left out)."""
    code, _out, err = run_here(argv)
    return subprocess.CompletedProcess(argv, code, "", err)


def on_a_pty(argv, columns: int = 100, lines: int = 30, **env) -> tuple[int, str, str]:
    """Run ``argv`` with stdout on a POSIX pseudo-terminal of that size (the dashboard is on only there):
    (exit status, the screen without escape codes, stderr). ``env``: variables set beside the environment's."""
    import fcntl
    import os
    import re
    import struct
    import termios

    screen, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # the pty's size decides
    run = subprocess.Popen(argv, stdout=terminal, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           env={**environ, "TERM": "xterm-256color", **env})
    os.close(terminal)  # the child's copy is the last: its exit ends the reads below
    drawn = b""
    while True:  # read while it draws: a full pty buffer would stall it
        try:
            chunk = os.read(screen, 65536)
        except OSError:  # EIO (Linux): the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(screen)
    err = run.communicate(timeout=60)[1].decode("utf-8", "replace")
    return run.returncode, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.decode("utf-8", "replace")), err



def _main_here_out(argv: list[str]) -> str:
    import contextlib
    import io

    from livedj.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(argv)
    return out.getvalue()


def read_only_mount(folder):
    """Bind-mount ``folder`` read-only over itself (root only); returns the undo, or skips."""
    if os.geteuid() != 0:
        pytest.skip("a read-only mount needs root")
    if subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode:
        pytest.skip("cannot bind-mount here")
    if subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True).returncode:
        subprocess.run(["umount", str(folder)])
        pytest.skip("cannot remount read-only here")
    return lambda: subprocess.run(["umount", "--lazy", str(folder)], capture_output=True)  # lazy: open files or not


def full_disk(folder, room_kb: int):
    """A tmpfs of ``room_kb`` KiB mounted at ``folder`` (root only); returns the undo, or skips."""
    if os.geteuid() != 0:
        pytest.skip("a small filesystem needs root")
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={room_kb}k", "tmpfs", str(folder)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    return lambda: subprocess.run(["umount", "--lazy", str(folder)], capture_output=True)
