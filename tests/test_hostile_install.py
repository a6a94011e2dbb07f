"""An installed livedj run the ways users do, in environments that get in its way: no writable cache
folder for numba's compiled loops, a NUMBA_CACHE_DIR that cannot be written, a home that is absent.

A user without write access to site-packages (a system service's user, a shared venv) has no
``livedj/__pycache__`` to cache in; with no writable home either, or a NUMBA_CACHE_DIR pointing at a
folder it cannot write, numba raised "RuntimeError: cannot cache function ...: no locator available"
at import (a traceback), or compiled the loops again on every start in a temporary folder removed at
exit, without a word (~12 s of the first updates each night). Blocking: ``__pycache__`` made a file,
the other folders put under a file (root, which this suite may run as, is not stopped by permissions).

The wheel and the sdist themselves, built and installed into fresh venvs and run from another folder,
are checked by ``scripts/check-install`` (minutes: not in the suite); tests/test_packaging.py builds
and runs the wheel once.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import livedj

REPO = Path(__file__).resolve().parents[1]
KERNEL = ("import numpy as np\n"
          "from livedj.dsp import fpkernels\n"
          "assert fpkernels.COMPILED\n"
          "t = np.array([0.0, 0.1, 0.2]); p = np.array([1.0, 3.0, 2.0])\n"
          "print(fpkernels.window_rank_counts(t, p, 1.0).tolist(), "
          "sum(fpkernels.window_rank_counts.stats.cache_hits.values()))\n")


@pytest.fixture
def blocked(tmp_path):
    """A file under which no folder can be made."""
    path = tmp_path / "blocked"
    path.write_text("")
    return path


@pytest.fixture
def read_only_package(tmp_path):
    """A copy of livedj whose every ``__pycache__`` is a file: nothing can be cached beside the code."""
    package = tmp_path / "src" / "livedj"
    shutil.copytree(REPO / "livedj", package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for folder in [package, *(p for p in package.rglob("*") if p.is_dir())]:
        (folder / "__pycache__").write_text("")
    return package


def test_a_writable_numba_cache_dir_is_left_alone(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "mine"), "HOME": str(tmp_path)}
    assert livedj.numba_cache_dir(env, str(tmp_path / "pkg")) == (None, None)


def test_an_unwritable_numba_cache_dir_is_named_and_passed_over(tmp_path, blocked):
    package = tmp_path / "pkg"
    package.mkdir()
    env = {"NUMBA_CACHE_DIR": str(blocked / "numba"), "HOME": str(tmp_path)}
    folder, note = livedj.numba_cache_dir(env, str(package))
    assert folder is None  # numba caches beside the code itself
    assert note.startswith(f"NUMBA_CACHE_DIR={blocked / 'numba'} cannot be written") and "\n" not in note


def test_with_no_writable_cache_folder_a_private_one_is_kept_between_runs(tmp_path, blocked, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    package = blocked / "pkg"  # its __pycache__ cannot be made
    env = {"HOME": str(blocked / "home"), "XDG_CACHE_HOME": str(blocked / "cache")}
    folder, note = livedj.numba_cache_dir(env, str(package))
    assert folder == str(tmp_path / "tmp" / f"livedj-numba-{os.getuid()}")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert str(blocked / "cache" / "numba") in note and folder in note and "NUMBA_CACHE_DIR" in note
    assert livedj.numba_cache_dir(env, str(package)) == (folder, note)  # the next start finds its cache

    os.chmod(folder, 0o777)  # one that others can write (or another user's) is not trusted: pickled code
    other, note = livedj.numba_cache_dir(env, str(package))
    assert other != folder and Path(other).parent == tmp_path / "tmp" and "this run only" in note


@pytest.mark.slow
def test_an_unwritable_numba_cache_dir_in_a_read_only_install_is_one_line_not_a_traceback(
        tmp_path, blocked, read_only_package):
    """`NUMBA_CACHE_DIR=/root/numba livedj ...` as a user who cannot write there, livedj in a read-only
    site-packages: numba found no locator and every command died at import with a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    (tmp_path / "tmp").mkdir()
    env.update(PYTHONPATH=str(read_only_package.parent), HOME=str(blocked / "home"),
               XDG_CACHE_HOME=str(blocked / "cache"), NUMBA_CACHE_DIR=str(blocked / "numba"),
               TMPDIR=str(tmp_path / "tmp"))
    runs = [subprocess.run([sys.executable, "-c", KERNEL], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
        assert "Traceback" not in run.stderr
        (line,) = [s for s in run.stderr.splitlines() if s.startswith("livedj:")]  # said once
        assert f"NUMBA_CACHE_DIR={blocked / 'numba'} cannot be written" in line
        assert str(tmp_path / "tmp" / f"livedj-numba-{os.getuid()}") in line
    assert runs[0].stdout.split() [:3] == ["[2,", "0,", "1]"]
    assert int(runs[1].stdout.split()[-1]) >= 1  # the second start loaded the loop compiled by the first


def test_two_demos_writing_the_same_library_at_once_both_finish(tmp_path):
    """Two `livedj demo` started together on a fresh cache (the same $XDG_CACHE_HOME/livedj/demo): both
    wrote a record through the one temporary name '.NAME.partial' and the slower one died with
    "livedj demo: .../.Slow Orbit.mp3.partial: No such file or directory". The writers here are threads
    (the same race, quicker than two processes)."""
    import threading

    import numpy as np

    from livedj.synth import write_audio

    audio = np.zeros(22050, np.float32)
    errors = []
    for fmt in ("wav", "flac", "mp3"):
        barrier = threading.Barrier(4)

        def write(path=tmp_path / f"Slow Orbit.{fmt}"):
            barrier.wait()
            try:
                write_audio(path, audio, 22050, title="Slow Orbit", artist="Aurora Drift")
            except Exception as exc:  # noqa: BLE001 -- collected, asserted below
                errors.append(exc)

        threads = [threading.Thread(target=write) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Slow Orbit.flac", "Slow Orbit.mp3", "Slow Orbit.wav"]


@pytest.mark.parametrize("where", ["XDG_CACHE_HOME", "HOME", "--dir"])
def test_a_demo_folder_that_cannot_be_made_is_one_line_naming_where_it_came_from(tmp_path, blocked, monkeypatch,
                                                                                 capsys, where):
    """`livedj demo` as a user whose home is absent or not writable (a service user: HOME=/nonexistent)
    said only "livedj demo: /nonexistent: Permission denied": not which folder, why there, or what to do."""
    from livedj.cli import main

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    argv = ["demo", "--no-dashboard"]
    if where == "--dir":
        argv += ["--dir", str(blocked / "demo")]
    else:
        monkeypatch.setenv(where, str(blocked))
    assert main(argv) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"livedj demo: cannot make the demo folder {blocked}/") and "--dir DIR" in line
    assert ("--dir" if where == "--dir" else f"${where}" if where.startswith("XDG") else f"HOME={blocked}") in line


def test_a_second_demo_waits_for_the_first_ones_index(tmp_path):
    """Two `livedj demo` started together: the second died "another `livedj index` is building this index"
    while the first indexed the shared demo library; now it waits for the build lock and goes on (finding
    the index built). Checked end to end by scripts/check-install's two demos; here the wait itself."""
    import threading
    import time

    from livedj.library import verify

    held = verify.lock(tmp_path)
    waiter = threading.Thread(target=lambda: verify.unlock(verify.lock(tmp_path, wait=True)))  # as the demo waits
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()  # waiting while the build holds the lock
    verify.unlock(held)
    waiter.join(10)
    assert not waiter.is_alive()
    verify.unlock(verify.lock(tmp_path))  # and the lock is free again for the next build


def test_an_index_folder_that_cannot_be_made_under_the_home_says_which_and_what_to_do(tmp_path, blocked):
    """`livedj index` as a user whose home cannot be written (HOME=/ of a service user) said only
    "livedj index: /.local: Permission denied": not that it was making the index folder, nor --index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(blocked), XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(REPO))
    (tmp_path / "lib").mkdir()
    run = subprocess.run([sys.executable, "-m", "livedj", "index", "--jobs", "1", str(tmp_path / "lib")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    (line,) = [s for s in run.stderr.splitlines() if s.startswith("livedj")]
    index = blocked / ".local" / "share" / "livedj" / "index"
    assert line.startswith(f"livedj index: {blocked}") and f"(the index folder {index}: choose" in line
    assert "--index" in line and "Traceback" not in run.stderr


def test_a_user_with_no_home_gets_one_line_and_no_folder_named_tilde(tmp_path, blocked, read_only_package):
    """HOME unset and a user the password database does not know (`docker run --user 12345`, `env -i`):
    every command died with the traceback of "RuntimeError: Could not determine home directory", and
    numba's cache fallback took "~/.cache" literally: a folder named "~" in the current folder.
    The user is faked: HOME unset and pwd.getpwuid failing (the test may run as root)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_")) and k != "HOME"}
    (tmp_path / "tmp").mkdir()
    (tmp_path / "cwd").mkdir()
    env.update(PYTHONPATH=f"{tmp_path / 'fake'}{os.pathsep}{read_only_package.parent}", TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "sitecustomize.py").write_text(
        "import pwd\n"
        "def _unknown(uid):\n    raise KeyError(f'getpwuid(): uid not found: {uid}')\n"
        "pwd.getpwuid = _unknown\n")
    run = subprocess.run([sys.executable, "-m", "livedj", "suggest", "--index", str(tmp_path / "index"),
                          str(tmp_path / "x.wav")], cwd=tmp_path / "cwd", env=env, capture_output=True, text=True,
                         timeout=300)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == 2
    lines = [s for s in run.stderr.splitlines() if s.startswith("livedj")]
    assert lines[-1] == (f"livedj: config error: no home folder: HOME is not set and user {os.getuid()} has none; "
                         "set HOME (or XDG_DATA_HOME)"), lines
    assert not list((tmp_path / "cwd").iterdir())  # no "~" folder made here


def test_previews_of_a_user_with_no_home_go_to_the_temporary_folder_not_to_a_folder_named_tilde(monkeypatch):
    """With no home, os.path.expanduser("~") is "~": the previews went to ./~/.cache/livedj/previews of
    whatever folder livedj was started in."""
    import pwd
    import tempfile

    from livedj.control.preview import default_preview_dir

    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
    folder = default_preview_dir()
    assert folder.is_absolute() and folder.parent == Path(tempfile.gettempdir())
