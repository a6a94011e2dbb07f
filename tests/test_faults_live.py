"""Fault injection: the set log failing, repeated plays, the reload swapping every lookup,
a reload that fails deep in loading. Run every fault test alone with ``pytest -m faults``.

Every case asserts the promise of the developers' guide: no traceback, a one-line message naming
the file or key, a non-zero exit where it failed -- and, where files are involved, that the next
`livedj index` leaves a complete, loadable index with every good track in it. Each case is
counted per area (tests/fault_counts.py); the table prints at the end of the run.
"""
from __future__ import annotations

import sqlite3
import time

import pytest

import fault_counts
from faults_common import _garble_pages, _main_here_out, base_fixture, copy_index  # noqa: F401 (base_fixture: the fixture `base`)

pytestmark = pytest.mark.faults


# -- the set log and the reload ---------------------------------------------------------------------
def test_set_log_that_fails_later_keeps_plays_and_writes_them_when_it_can(tmp_path):
    """Another process holds the set log locked: plays wait in memory, loudly, and are all written after."""
    from livedj.library.history import History
    from livedj.library.setlog import SetLogWriter

    path = tmp_path / "history.sqlite"
    writer = SetLogWriter(path)
    writer.retry_s = 0.2
    writer.start()
    blocker = sqlite3.connect(path, timeout=0.1)
    blocker.execute("BEGIN EXCLUSIVE")  # as a backup tool or a second program might
    for i in range(3):
        writer.log(f"/music/{i}.mp3", source="osc")
    deadline = time.monotonic() + 30
    while writer.status() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    failing = writer.status()
    blocker.rollback()
    blocker.close()
    deadline = time.monotonic() + 30
    while writer.written < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.stop()
    history = History(path)
    logged = [p.path for s in history.sessions() for p in history.plays(s.id)]
    history.close()
    ok = failing is not None and "kept in memory" in failing and logged == [f"/music/{i}.mp3" for i in range(3)]
    fault_counts.record("set log", handled=ok, lost=len(logged) < 3)
    assert ok, (failing, logged)


def test_unusable_set_log_is_an_error_at_start(tmp_path):
    from livedj.library.setlog import SetLogUnusable, SetLogWriter

    (tmp_path / "file").write_text("x")
    for path in (tmp_path, tmp_path / "file" / "history.sqlite"):  # a folder; under a file
        writer = SetLogWriter(path)
        try:
            writer.start()
            handled = False
        except SetLogUnusable as exc:
            handled = str(path) in str(exc) and "\n" not in str(exc)
        fault_counts.record("set log", handled=handled)
        assert handled, path


def test_repeated_played_is_one_row(tmp_path):
    from livedj.library.history import History
    from livedj.library.setlog import SetLogWriter

    writer = SetLogWriter(tmp_path / "history.sqlite")
    writer.start()
    logged = [writer.log("/music/a.mp3", source="osc") for _ in range(200)]  # a double-tapping controller
    writer.log("/music/b.mp3", source="osc")
    writer.stop()
    history = History(tmp_path / "history.sqlite")
    rows = [p.path for s in history.sessions() for p in history.plays(s.id)]
    history.close()
    ok = rows == ["/music/a.mp3", "/music/b.mp3"] and logged.count(True) == 1 and writer.repeats == 199
    fault_counts.record("set log", handled=ok)
    assert ok, rows


def test_reload_swaps_every_lookup_with_the_engine():
    """After a reload, a track indexed since start-up resolves (OSC in) and is found by the set log."""
    from types import SimpleNamespace

    from livedj.engine.current import CurrentLibrary

    def engine(*ids):
        return SimpleNamespace(tracks={i: SimpleNamespace(id=i, path=f"/music/{i}.mp3") for i in ids})

    loop = SimpleNamespace(engine=engine(1, 2), pending_engine=None)
    library = CurrentLibrary(loop.engine)
    library.follow(lambda: loop.pending_engine or loop.engine)
    before = (library.resolve(3), library.resolve("/music/3.mp3"), library.track(3))
    loop.pending_engine = engine(1, 2, 3)  # SIGHUP after `livedj index` added track 3
    after_reload = (library.resolve(3), library.resolve("/music/3.mp3"), library.track(3).path)
    loop.engine, loop.pending_engine = loop.pending_engine, None  # the loop swaps it in
    swapped = (library.resolve(3), library.resolve("/music/1.mp3"))
    ok = before == (None, None, None) and after_reload == (3, 3, "/music/3.mp3") and swapped == (3, 1)
    fault_counts.record("reload", handled=ok, lost=not ok)
    assert ok, (before, after_reload, swapped)


def test_a_skip_from_the_booth_reaches_the_set_log(tmp_path):
    """A skip or ban (OSC in -> Session -> the rank stage's on_feedback) is written to the set log's feedback
    table, with the record that was playing (make_session's callback once named an undefined ``engine``)."""
    from types import SimpleNamespace

    from livedj.commands.run import make_session
    from livedj.config import defaults
    from livedj.engine.current import CurrentLibrary
    from livedj.library.history import History

    config = defaults()
    config["history"]["path"] = str(tmp_path / "history.sqlite")
    tracks = {i: SimpleNamespace(id=i, path=f"/music/{i}.mp3") for i in (1, 2)}
    library = CurrentLibrary(SimpleNamespace(tracks=tracks))
    session, setlog = make_session(config, library, library.resolve)
    setlog.start()
    try:
        for callback in session.on_feedback:
            callback("skip", 2, 1)
            callback("ban", 1, None)
            callback("skip", 99, 1)  # an id the library lacks: nothing to write, nothing raised
    finally:
        setlog.stop()
    history = History(tmp_path / "history.sqlite")
    rows = [row for rows in history.feedback().values() for row in rows]
    history.close()
    ok = rows == [("/music/2.mp3", "skip", "/music/1.mp3"), ("/music/1.mp3", "ban", "")]
    fault_counts.record("set log", handled=ok, lost=not ok)
    assert ok, rows


def test_sighup_reload_failing_deep_is_one_line_and_ready_again(base, tmp_path):
    """The reload thread's work (run.reload) on an index whose store is garbled: systemd gets READY again."""
    import io
    import socket as socket_mod
    from types import SimpleNamespace

    from livedj.commands.run import reload
    from livedj.service.notify import Notifier

    root, config = base
    index_dir = copy_index(base, tmp_path)
    _garble_pages(index_dir / "library.sqlite")
    address = str(tmp_path / "notify")
    systemd = socket_mod.socket(socket_mod.AF_UNIX, socket_mod.SOCK_DGRAM)  # systemd's end of NOTIFY_SOCKET
    systemd.bind(address)
    systemd.settimeout(5)
    err = io.StringIO()
    loop = SimpleNamespace(engine=None, pending_engine=None)
    traceback = False
    try:
        reload(loop, str(config), str(index_dir), Notifier({"NOTIFY_SOCKET": address}), err)
    except Exception:
        traceback = True
    messages = [systemd.recv(4096).decode() for _ in range(2)]
    systemd.close()
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    ok = (not traceback and loop.pending_engine is None and len(lines) == 1 and "reload failed" in lines[0]
          and "RELOADING=1" in messages[0] and "READY=1" in messages[1])
    fault_counts.record("reload", handled=ok, traceback=traceback)
    assert ok, (lines, messages)


def test_history_lists_nights_with_plays_unless_all(tmp_path):
    from livedj.library.history import History

    path = tmp_path / "history.sqlite"
    history = History(path)
    night = history.start_session("the night")
    history.log_play(night, "/music/a.mp3", title="A", source="osc")
    history.start_session("a short test run")  # no plays
    history.close()
    config = tmp_path / "config.toml"
    config.write_text(f'[history]\npath = "{path}"\n')
    default, every = (_main_here_out(["history", "--config", str(config), *extra]) for extra in ([], ["--all"]))
    ok = "the night" in default and "a short test run" not in default and "--all" in default \
        and "a short test run" in every
    fault_counts.record("set log", handled=ok)
    assert ok, (default, every)


