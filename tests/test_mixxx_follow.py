"""Following Mixxx in `livedj run` when its database cannot be read: said once, on stderr.

Real parts: a generated library indexed with the `features` encoder, `livedj run` as a subprocess,
SQLite files on disk.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys

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


def test_run_without_dashboard_says_once_that_mixxx_cannot_be_followed(tmp_path):
    """mixxx.follow on, the database absent: the polls failed unseen; now one line names it."""
    from livedj.synth import DEMO_TRACKS, build_demo_library

    (track, *_) = build_demo_library(tmp_path / "lib", DEMO_TRACKS[:2], duration=8.0, formats=("wav",))
    db = tmp_path / "no mixxx" / "mixxxdb.sqlite"
    config = tmp_path / "config.toml"
    config.write_text(f'[analysis]\nencoder = "features"\n[osc]\ntargets = []\n[osc_in]\nenabled = false\n'
                      f'[history]\npath = "{tmp_path / "history.sqlite"}"\n'
                      f'[mixxx]\nfollow = true\ndatabase = "{db}"\ninterval_s = 0.2\n')

    def livedj(*args):
        return subprocess.run([sys.executable, "-m", "livedj", *map(str, args), "--config", str(config),
                               "--index", str(tmp_path / "index")], capture_output=True, text=True, timeout=300)

    assert livedj("index", tmp_path / "lib", "--jobs", 1).returncode == 0
    run = livedj("run", "--no-dashboard", "--input", track, "--duration", 2)  # real time: about 10 polls
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    said = [line for line in run.stderr.splitlines() if "Mixxx" in line]
    assert said == [f"livedj run: cannot follow Mixxx: {db}: no such file (retrying every 0.2 s)"]
