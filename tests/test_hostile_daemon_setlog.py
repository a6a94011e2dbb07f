"""The set log of a running `livedj run` attacked from outside: removed, locked by another program, on a
full disk (the writer, :class:`livedj.library.setlog.SetLogWriter`, on real SQLite files). Split from
test_hostile_daemon.py."""
from __future__ import annotations

import os


def _wait(condition, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def _plays(path) -> list[str]:
    from livedj.library.history import History

    history = History(path)
    try:
        return [p.path for s in history.sessions() for p in history.plays(s.id)]
    finally:
        history.close()


def _one_play_then_removed(path):
    """A running set-log writer at ``path`` that wrote one play, then lost its files (``rm history.sqlite*``)."""
    from livedj.library.setlog import SetLogWriter

    setlog = SetLogWriter(path)
    setlog.start()
    try:
        setlog.log("/music/1.mp3", title="one", source="osc")
        assert _wait(lambda: setlog.written == 1)
        for leftover in path.parent.iterdir():
            leftover.unlink()
    except BaseException:
        setlog.stop()
        raise
    return setlog


def test_a_set_log_removed_while_running_is_started_again_with_the_whole_night(tmp_path):
    """`rm history.sqlite*` (a tidy-up, a sync tool) during a set: the writer went on writing into the
    removed file, said "3 plays written", and the night was gone with it. It now notices, starts the set log
    again at its path and writes into it every play of the night, those before the removal too."""
    path = tmp_path / "history.sqlite"
    setlog = _one_play_then_removed(path)
    try:
        setlog.log("/music/2.mp3", title="two", source="osc")
        setlog.log_feedback("/music/3.mp3", "skip", "/music/2.mp3")
        assert _wait(lambda: path.exists() and not setlog.unwritten)
        setlog.log("/music/4.mp3", title="four", source="identified")
    finally:
        setlog.stop()
    assert _plays(path) == ["/music/1.mp3", "/music/2.mp3", "/music/4.mp3"]


def test_a_set_log_removed_after_the_last_play_is_written_again_at_the_end(tmp_path):
    """Removed after the night's last play: nothing new to write, and the end of the run left no set log."""
    path = tmp_path / "history.sqlite"
    _one_play_then_removed(path).stop()
    assert _plays(path) == ["/music/1.mp3"]


def test_a_set_log_locked_by_another_program_at_the_end_names_every_play_not_saved(tmp_path, caplog):
    """`sqlite3 history.sqlite` left in `BEGIN EXCLUSIVE;` (a look at the log during the set) at SIGTERM:
    stop() gave up waiting for the writer after 5 s (each write waits 5 s for the lock), `livedj run` exited,
    and the plays kept in memory were neither written nor named: the summary's "4 plays kept in memory"
    was the last word on them. Now the writer waits less for a lock and stop() names them in time."""
    import subprocess
    import sys
    import time

    from livedj.library.setlog import SetLogWriter

    path = tmp_path / "history.sqlite"
    setlog = SetLogWriter(path)
    setlog.start()
    holder = None
    try:
        setlog.log("/music/1.mp3", title="one", source="osc")
        assert _wait(lambda: setlog.written == 1)
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
             "db.execute('BEGIN EXCLUSIVE'); db.execute(\"INSERT INTO meta VALUES ('x', 'y')\"); print('locked', "
             "flush=True); sys.stdin.read()", str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
        setlog.log("/music/2.mp3", title="two", source="osc")
        setlog.log("/music/3.mp3", title="three", source="identified")
        assert _wait(lambda: setlog.error is not None)
    finally:
        began = time.monotonic()
        setlog.stop()
        took = time.monotonic() - began
        if holder is not None:
            holder.stdin.close()
            holder.wait(10)
    text = caplog.text
    assert "2 plays NOT saved" in text and "/music/2.mp3" in text and "/music/3.mp3" in text, text
    assert took < 6.0, took
    assert "NOT saved" in setlog.status(), setlog.status()


def test_one_play_not_saved_is_one_play(tmp_path, caplog):
    """"1 plays NOT saved" on a full disk."""
    from livedj.library.setlog import SetLogWriter

    setlog = SetLogWriter(tmp_path / "history.sqlite")
    setlog._say_unsaved(__import__("logging").getLogger("livedj"), [("/music/1.mp3", {"at": 0.0, "source": "osc"})])
    assert "1 play NOT saved" in caplog.text, caplog.text


def test_a_set_log_locked_at_start_says_who_holds_it(tmp_path):
    """`sqlite3 history.sqlite` left in a transaction when `livedj run` starts: "set log unusable: database
    is locked" -- the DJ read a damaged file. It now names the cause and what to do."""
    import sqlite3

    import pytest

    from livedj.library.history import History
    from livedj.library.setlog import SetLogUnusable, SetLogWriter

    path = tmp_path / "history.sqlite"
    History(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO meta VALUES ('x', 'y')")
    try:
        with pytest.raises(SetLogUnusable) as caught:
            SetLogWriter(path).start()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    text = str(caught.value)
    assert "locked" in text and "another program" in text and "\n" not in text, text


def test_a_set_log_that_cannot_be_created_names_its_key(tmp_path):
    """`[history] path` in a folder that cannot be made (here under /proc, which passes the config's check
    when run as root): `livedj run` said "PATH: set log unusable: ... No such file or directory" and not which
    setting to change. The line now begins with the key, as a config error does: "history.path: PATH: ..."."""
    import soundfile as sf

    from faults_common import has_traceback, livedj, quiet_config, run_here
    from livedj.synth import DEMO_TRACKS, render_track

    (tmp_path / "lib").mkdir()
    song = tmp_path / "lib" / "t.wav"
    sf.write(song, render_track(DEMO_TRACKS[0], duration=6.0, sample_rate=22050), 22050)
    config = quiet_config(tmp_path, "[osc_in]\nenabled = false\n")
    code, _, err = run_here(["index", str(tmp_path / "lib"), "--config", str(config),
                             "--index", str(tmp_path / "index"), "--jobs", "1"])
    assert code == 0, err
    wrong = f"/proc/livedj-test-{os.getpid()}/history.sqlite"
    config.write_text(config.read_text().replace(str(tmp_path / "history.sqlite"), wrong))
    result = livedj("run", "--config", config, "--index", tmp_path / "index", "--input", song, "--fast",
                    "--no-dashboard", "--duration", 4)  # a process of its own: the run needs real stdout
    code, err = result.returncode, result.stderr
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code in (1, 2) and not has_traceback(err), err
    assert len(lines) == 1 and "history.path: " in lines[0] and wrong in lines[0], err
