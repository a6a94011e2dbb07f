"""A booth's clock that cannot be trusted: stepped back or forward mid-night, wrong yesterday.

A small box at the booth has no RTC battery and steps its clock when NTP or a phone hotspot
appears. A test cannot move the machine's clock (that needs root), so the clock is injected where
livedj takes it: set-log rows are written with ``at=`` as a run under such a clock writes them
(checked against real ``livedj run`` processes whose ``time.time`` was stepped), and the set
log's writer gets a fake ``time`` whose wall clock and monotonic clock disagree, as they do after a
step. Real components otherwise: the SQLite set log, ``make_session``, the command line.
"""
from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from faults_common import _main_here, has_traceback

pytestmark = pytest.mark.faults

NOW = 1_792_886_400.0  # 2026-10-25 00:00 CEST: the night of the autumn DST change
DAY = 86400.0


def _session(config, tmp_path, paths):
    """The session ``livedj run`` makes at start-up, over a library of ``paths``."""
    from livedj.commands.run import make_session
    from livedj.engine.current import CurrentLibrary

    tracks = {i: SimpleNamespace(id=i, path=p) for i, p in enumerate(paths, 1)}
    library = CurrentLibrary(SimpleNamespace(tracks=tracks))
    session, _setlog = make_session(config, library, library.resolve)  # its writer is never started
    return {tracks[i].path for i in session.excluded()}


def _config(tmp_path, no_repeat="session"):
    from livedj.config import defaults

    config = defaults()
    config["history"]["path"] = str(tmp_path / "history.sqlite")
    config["history"]["no_repeat"] = no_repeat
    return config


def test_a_clock_stepped_back_keeps_the_set_in_the_order_played(tmp_path):
    """Clock stepped back 1 h mid-set, and the next night started with a clock 2 days behind: the
    set and its exports were sorted by time (the last two records first), and `history --export`
    took the night that *started* latest for the newest (yesterday's set)."""
    from livedj.library.history import History

    h = History(tmp_path / "history.sqlite")
    night = h.start_session("friday", at=NOW)
    for at, path in ((NOW + 60, "/m/1.flac"), (NOW + 300, "/m/2.flac"),
                     (NOW + 400 - 3600, "/m/3.flac"), (NOW + 700 - 3600, "/m/4.flac")):  # NTP stepped it back
        h.log_play(night, path, title=Path(path).stem, at=at)
    h.end_session(night, at=NOW + 800 - 3600)
    tonight = h.start_session("saturday", at=NOW - 2 * DAY)  # booted with a stale clock
    h.log_play(tonight, "/m/5.flac", title="5", at=NOW - 2 * DAY + 60)
    assert [p.path for p in h.plays(night)] == ["/m/1.flac", "/m/2.flac", "/m/3.flac", "/m/4.flac"]
    assert [s.id for s in h.sessions()] == [night, tonight]
    h.close()
    (tmp_path / "config.toml").write_text(f'[history]\npath = "{tmp_path / "history.sqlite"}"\n')
    for name in ("set.m3u", "newest.m3u"):
        argv = ["history", "--config", str(tmp_path / "config.toml"), "--export", str(tmp_path / name)]
        got = _main_here(argv + (["--session", str(night)] if name == "set.m3u" else []))
        assert got.returncode == 0 and not has_traceback(got.stderr), got.stderr
    listed = [ln for ln in (tmp_path / "set.m3u").read_text().splitlines() if ln.startswith("/")]
    assert listed == ["/m/1.flac", "/m/2.flac", "/m/3.flac", "/m/4.flac"]
    assert "/m/5.flac" in (tmp_path / "newest.m3u").read_text()  # the last run's set, not friday's


def test_the_same_record_again_is_judged_by_elapsed_time_not_the_wall_clock(monkeypatch, tmp_path):
    """The set log drops a play that repeats one within 10 min (a double tap). Measured on the wall
    clock, a clock stepped back a day dropped every replay of that record for a day, and one stepped
    forward logged a double tap twice."""
    from livedj.library import setlog as history_mod

    clock = SimpleNamespace(wall=NOW, mono=1000.0)
    fake = SimpleNamespace(time=lambda: clock.wall, monotonic=lambda: clock.mono)
    monkeypatch.setattr(history_mod, "time", fake)
    writer = history_mod.SetLogWriter(tmp_path / "history.sqlite")  # not started: log() only queues
    assert writer.log("/m/a.flac", source="osc")
    clock.wall, clock.mono = clock.wall - DAY, clock.mono + 660  # 11 min later, the clock a day back
    assert writer.log("/m/a.flac", source="osc"), "a real replay 11 min later was dropped as a repeat"
    clock.wall, clock.mono = clock.wall + DAY, clock.mono + 5  # a double tap 5 s later, clock a day on
    assert not writer.log("/m/a.flac", source="osc"), "a double tap was logged twice"
    assert [fields["at"] for _path, fields in list(writer._queue.queue)] == [NOW, NOW - DAY]


def test_a_run_killed_tonight_keeps_its_records_out_of_the_next_run(tmp_path):
    """kill -9 (or a crash systemd restarts) mid-set, then a new run: with no_repeat = "session" (the
    default) the records played before the kill were suggested again."""
    from livedj.library.history import History

    h = History(tmp_path / "history.sqlite")
    earlier = h.start_session("last week", at=time.time() - 7 * DAY)
    h.log_play(earlier, "/m/old.flac", at=time.time() - 7 * DAY)
    h.end_session(earlier, at=time.time() - 7 * DAY)
    _another_boot(h, f"session_end_boot:{earlier}")  # ended on a boot of last week, as a real run's mark says
    killed = h.start_session()  # its run was killed: never ended
    h.log_play(killed, "/m/1.flac")
    h.log_play(killed, "/m/2.flac")
    h.close()
    paths = ["/m/old.flac", "/m/1.flac", "/m/2.flac", "/m/3.flac"]
    assert _session(_config(tmp_path), tmp_path, paths) == {"/m/1.flac", "/m/2.flac"}

    h = History(tmp_path / "history.sqlite")
    h.end_session(killed, at=time.time() - 2 * 3600)  # a run that stopped two hours ago ended the night
    _another_boot(h, f"session_end_boot:{killed}")  # (on a boot since left: only the wall clock tells)
    h.close()
    assert _session(_config(tmp_path), tmp_path, paths) == set()


def _another_boot(history, key: str) -> None:
    history.db.execute("UPDATE meta SET value = 'another-boot 10.0' WHERE key = ?", (key,))
    history.db.commit()


def test_a_restart_at_the_booth_keeps_tonights_records_out(tmp_path):
    """`livedj run` stopped (Ctrl-C: another input, an update) and started again a few minutes later: in
    session mode (the default) the records played before the restart were suggested again. A run that
    ended more than an hour before the next began ended the night; a chain of restarts is one night."""
    from livedj.library import history as set_log

    h = set_log.History(tmp_path / "history.sqlite")
    first = h.start_session()
    h.log_play(first, "/m/1.flac")
    h.end_session(first)  # stopped properly
    second = h.start_session()  # started again at once
    h.log_play(second, "/m/2.flac")
    h.end_session(second)
    h.close()
    paths = ["/m/1.flac", "/m/2.flac", "/m/3.flac"]
    assert _session(_config(tmp_path), tmp_path, paths) == {"/m/1.flac", "/m/2.flac"}

    h = set_log.History(tmp_path / "history.sqlite")  # the second run ended longer ago than the boot clock allows
    boot = set_log._boot()
    if boot is None:
        pytest.skip("no boot clock on this system: the wall clock alone decides (checked above through the end marks)")
    h.db.execute("UPDATE meta SET value = ? WHERE key = ?",
                 (f"{boot[0]} {boot[1] - set_log.REJOIN_S - 60:.1f}", f"session_end_boot:{second}"))
    h.db.commit()
    h.close()
    assert _session(_config(tmp_path), tmp_path, paths) == set()


def test_tonight_holds_when_the_clock_stepped_between_two_runs(tmp_path):
    """A run under a clock a day behind (booted without RTC) is killed; NTP then sets the clock and
    the next run starts: its records were more than "12h" ago by the wall clock and suggested
    again. On another boot (a power cut) the wall clock decides, either way round, within 16 h."""
    from livedj.library.history import History

    h = History(tmp_path / "history.sqlite")
    killed = h.start_session(at=time.time() - DAY)
    h.log_play(killed, "/m/1.flac", at=time.time() - DAY + 60)
    h.close()
    paths = ["/m/1.flac", "/m/2.flac"]
    assert _session(_config(tmp_path, "12h"), tmp_path, paths) == {"/m/1.flac"}
    assert _session(_config(tmp_path), tmp_path, paths) == {"/m/1.flac"}

    h = History(tmp_path / "history.sqlite")
    h.db.execute("UPDATE meta SET value = 'another-boot 10.0' WHERE key LIKE 'session_boot:%'")
    h.db.commit()
    assert h.interrupted_paths() == set()  # a day apart on the wall clock, another boot: yesterday
    h.db.execute("UPDATE plays SET at = ?", (time.time() + 3600,))  # clock stepped back 1 h since
    h.db.commit()
    assert h.interrupted_paths() == {"/m/1.flac"}
    h.close()


def test_rows_from_the_future_are_not_tonight(tmp_path):
    """Yesterday's run wrote its rows under a clock 3 days ahead: with no_repeat = "12h" they were
    excluded until real time caught up with them (a clock once in 2040: until 2040). Rows an hour
    ahead (tonight's, the clock stepped back since) and an hour old still are."""
    from livedj.library.history import History

    h = History(tmp_path / "history.sqlite")
    yesterday = h.start_session(at=time.time() + 3 * DAY)
    h.log_play(yesterday, "/m/wrong.flac", at=time.time() + 3 * DAY)
    h.end_session(yesterday, at=time.time() + 3 * DAY)
    _another_boot(h, f"session_end_boot:{yesterday}")  # yesterday's boot
    tonight = h.start_session()
    h.log_play(tonight, "/m/ahead.flac", at=time.time() + 3600)
    h.log_play(tonight, "/m/hour-ago.flac", at=time.time() - 3600)
    h.end_session(tonight)
    h.close()
    paths = ["/m/wrong.flac", "/m/ahead.flac", "/m/hour-ago.flac", "/m/other.flac"]
    assert _session(_config(tmp_path, "12h"), tmp_path, paths) == {"/m/ahead.flac", "/m/hour-ago.flac"}


def test_mixxx_last_night_is_not_now_playing_under_a_clock_stepped_back(tmp_path):
    """The box's clock is a day behind tonight (no RTC; NTP not there yet): the last row of Mixxx's
    history, stamped last night by the right clock, lay "in the future", was taken for the record
    playing now at start-up, and logged as played tonight."""
    import datetime

    from test_mixxx import add_playlist, add_track, make_mixxx_db, play

    from livedj.library.mixxx import MixxxHistoryPoller

    path = tmp_path / "mixxxdb.sqlite"
    db = make_mixxx_db(path)
    track = add_track(db, "/music/last night.mp3", title="Last night")
    stamp = datetime.datetime.fromtimestamp(time.time() + DAY, datetime.timezone.utc)
    play(db, add_playlist(db, "last night", hidden=2), track, added=f"'{stamp:%Y-%m-%d %H:%M:%S}'")
    db.commit()
    db.close()
    seen = []
    assert MixxxHistoryPoller(path, seen.append).poll_once() is None and seen == []
