"""Following Mixxx in `livedj run` when its database cannot be read: said once on stderr, or on the dashboard.

Real parts: a generated library indexed with the `features` encoder, `livedj run` as a subprocess
(on a pseudo-terminal for the dashboard), SQLite files on disk.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from faults_common import on_a_pty
from livedj.library.mixxx import MixxxHistoryPoller


def test_poller_reports_each_reason_once(tmp_path):
    said = []
    db = tmp_path / "mixxxdb.sqlite"
    poller = MixxxHistoryPoller(db, lambda track: None, on_error=said.append)
    for _ in range(3):
        assert poller.poll_once() is None
    assert poller.errors == 3 and said == [f"{db}: no such file"] and not db.exists()  # read-only: not created
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()  # not Mixxx's: another reason
    for _ in range(3):
        poller.poll_once()
    assert poller.errors == 6 and len(said) == 2 and said[1].startswith(f"{db}: no such table")


def _booth(tmp_path, db):
    """A two-track library indexed with `features`, a config following Mixxx at ``db``; returns (track, argv).

    ``argv(*args)`` is the command line of ``livedj *args`` with that config and index.
    """
    from livedj.synth import DEMO_TRACKS, build_demo_library

    (track, *_) = build_demo_library(tmp_path / "lib", DEMO_TRACKS[:2], duration=8.0, formats=("wav",))
    config = tmp_path / "config.toml"
    config.write_text(f'[analysis]\nencoder = "features"\n[osc]\ntargets = []\n[osc_in]\nenabled = false\n'
                      f'[history]\npath = "{tmp_path / "history.sqlite"}"\n'
                      f'[mixxx]\nfollow = true\ndatabase = "{db}"\ninterval_s = 0.2\n')


    def argv(*args):
        return [sys.executable, "-m", "livedj", *map(str, args), "--config", str(config),
                "--index", str(tmp_path / "index")]

    index = subprocess.run(argv("index", tmp_path / "lib", "--jobs", 1), capture_output=True, timeout=300)
    assert index.returncode == 0, index.stderr
    return track, argv


def test_run_without_dashboard_says_once_that_mixxx_cannot_be_followed(tmp_path):
    """mixxx.follow on, the database absent: the polls failed unseen; now one line names it."""
    db = tmp_path / "no mixxx" / "mixxxdb.sqlite"
    track, argv = _booth(tmp_path, db)
    run = subprocess.run(argv("run", "--no-dashboard", "--input", track, "--duration", 2),  # real time: ~10 polls
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    said = [line for line in run.stderr.splitlines() if "Mixxx" in line]
    assert said == [f"livedj run: cannot follow Mixxx: {db}: no such file (retrying every 0.2 s)"]


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="the dashboard needs a terminal; this one is a POSIX pty")
def test_run_with_dashboard_shows_that_mixxx_cannot_be_followed(tmp_path):
    """The dashboard is on only when stdout is a terminal, so `livedj run` gets a real pty."""
    db = tmp_path / "mixxxdb.sqlite"
    db.write_bytes(b"not a database " * 100)
    track, argv = _booth(tmp_path, db)
    # wide: the line on one row
    status, text, err = on_a_pty(argv("run", "--input", track, "--duration", 2), columns=200, lines=40)
    assert status == 0 and "Traceback" not in err, err
    assert f"⚠ cannot follow Mixxx: {db}: file is not a database (retrying every 0.2 s)" in text
    assert "Mixxx" not in err  # said on the screen, not under it
