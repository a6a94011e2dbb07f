"""A hostile user's inputs on the live side (OSC in, the set log, `livedj run`, hosts in the config)
that ended in a traceback, a forged journal line, a foreign database written into, or a silent
run that analysed nothing. tests/test_hostile.py covers the index and command-line side.

Real components throughout: UDP datagrams on 127.0.0.1 to a running OSC server, SQLite files on
disk, generated WAV files, the command line's own code (in this process where it returns before
the engine loads; a subprocess where it exits through os._exit).
"""
from __future__ import annotations

import io
import logging
import socket
import sqlite3
import time

import numpy as np
import pytest
import soundfile as sf

from faults_common import _main_here, has_traceback, livedj, one_line

pytestmark = pytest.mark.faults


def _osc_string(data: bytes) -> bytes:
    data += b"\x00"
    return data + bytes(-len(data) % 4)


def _sandbox(tmp_path, monkeypatch) -> None:
    for kind in ("CONFIG", "DATA", "CACHE"):  # nothing of the user's is read or written
        monkeypatch.setenv(f"XDG_{kind}_HOME", str(tmp_path / kind.lower()))


# -- OSC in --------------------------------------------------------------------------------------------
def test_an_osc_address_cannot_drive_the_terminal_or_forge_a_journal_line(caplog):
    """The address of an unknown message was logged as sent: ESC sequences reached the DJ's terminal
    and a newline wrote a second, forged "livedj: ..." line into the journal."""
    from livedj.control.osc_in import OscControlServer
    from livedj.engine.session import Session

    server = OscControlServer(Session(), lambda ref: None, port=0, log=logging.getLogger("test.hostile_live"))
    server.start()
    try:
        address = "/livedj/\x1b[2J\x1b[31mx\nlivedj: set log written\r\x07".encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, caplog.at_level(logging.WARNING):
            sock.sendto(_osc_string(address) + _osc_string(b","), ("127.0.0.1", server.port))
            deadline = time.monotonic() + 5
            while server.received < 1 and time.monotonic() < deadline:
                time.sleep(0.005)
    finally:
        server.stop()
    assert server.rejected == {"unknown_address": 1}
    logged = [r.getMessage() for r in caplog.records if "unknown_address" in r.getMessage()]
    assert len(logged) == 1 and "\\x1b[2J" in logged[0] and "\\x0a" in logged[0]  # escaped as fsutil.printable
    assert not any(c in text for text in (logged[0], server.last_rejected) for c in "\x1b\n\r\x07")


def test_osc_in_on_a_host_with_an_overlong_label_runs_without_it_in_one_line():
    """`[osc_in] host` with a part over 63 characters: the idna codec's UnicodeError escaped `livedj run`."""
    from livedj.commands.run import make_control
    from livedj.config import defaults, override
    from livedj.engine.session import Session

    config = override(defaults(), {"osc_in": {"host": "a" * 70, "port": 0}})  # past the config's own check
    err = io.StringIO()
    assert make_control(config, Session(), lambda ref: None, err) is None
    assert len(err.getvalue().splitlines()) == 1 and "not a host name" in err.getvalue()


def test_osc_in_on_a_port_another_program_holds_names_the_likely_cause():
    """A second `livedj run` said only "[Errno 98] Address already in use": the booth's OSC went to the first one."""
    import socket

    from livedj.commands.run import make_control
    from livedj.config import defaults, override
    from livedj.engine.session import Session

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:  # a real UDP port held, as the first run holds it
        taken.bind(("127.0.0.1", 0))
        config = override(defaults(), {"osc_in": {"host": "127.0.0.1", "port": taken.getsockname()[1]}})
        err = io.StringIO()
        assert make_control(config, Session(), lambda ref: None, err) is None
    line, = err.getvalue().splitlines()
    assert "another livedj" in line and "osc_in.port" in line and line.endswith("running without OSC in")


@pytest.mark.parametrize("section, key, value", [
    ("osc_in", "host", '""'), ("osc_in", "host", '"' + "a" * 70 + '"'), ("osc_in", "host", '"localhost:9001"'),
    ("osc_in", "host", '" "'), ("osc.targets", "host", '""'), ("osc.targets", "host", '"a..b"')])
def test_a_host_that_cannot_be_one_is_a_config_error_naming_the_key(section, key, value, tmp_path):
    """Each was accepted: OSC in then ran without control (an empty host), or a traceback at start."""
    from livedj.config import ConfigError, load

    path = tmp_path / "config.toml"
    body = f"[[osc.targets]]\nport = 9000\n{key} = {value}\n" if section == "osc.targets" else \
        f"[{section}]\n{key} = {value}\n"
    path.write_text(body)
    with pytest.raises(ConfigError) as e:
        load(path)
    assert len(e.value.problems) == 1 and e.value.problems[0].startswith(f"{path}: ")
    assert (f"{section}[0].{key}" if section == "osc.targets" else f"{section}.{key}") in e.value.problems[0]


# -- the set log ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("tables", [["meta (key TEXT PRIMARY KEY, value TEXT)", "tracks (id INTEGER)"],
                                    ["library (id INTEGER, artist TEXT)", "PlaylistTracks (id, playlist_id)"]])
def test_history_path_at_another_database_is_refused_and_left_alone(tables, tmp_path, monkeypatch):
    """`history.path` at the library store (or Mixxx's database) added the set log's tables to it and
    logged the night there: into a file `livedj index` sets aside and rebuilds when damaged."""
    from livedj.library.history import History
    from livedj.library.setlog import SetLogUnusable, SetLogWriter

    path = tmp_path / "library.sqlite"
    with sqlite3.connect(path) as db:
        for table in tables:
            db.execute(f"CREATE TABLE {table}")
    before = path.read_bytes()
    with pytest.raises(sqlite3.DatabaseError, match="not a livedj set log: it holds other tables"):
        History(path)
    writer = SetLogWriter(path)
    with pytest.raises(SetLogUnusable, match=f"{path}: set log unusable: not a livedj set log"):
        writer.start()
    _sandbox(tmp_path, monkeypatch)
    config = tmp_path / "config.toml"
    config.write_text(f'[history]\npath = "{path}"\n')
    result = _main_here(["history", "--config", str(config)])
    assert result.returncode == 1 and not has_traceback(result.stderr)
    assert len(one_line(result.stderr)) == 1 and str(path) in result.stderr
    assert path.read_bytes() == before


def test_a_set_log_edited_by_hand_is_listed_exported_and_still_excludes_its_plays(tmp_path, monkeypatch):
    """The sqlite3 shell writes TEXT: a path fixed by hand after moving the music (or text in a number
    column, a time out of range) made `livedj history --session`, every export and the no-repeat
    rule of `livedj run` fail with a TypeError or OverflowError."""
    from livedj.library.history import History

    path = tmp_path / "history.sqlite"
    history = History(path)
    sid = history.start_session("friday")
    history.log_play(sid, "/music/a.flac", title="A", artist="X", bpm=120.0, key=3, source="identified")
    history.close()
    with sqlite3.connect(path) as db:  # as `sqlite3 history.sqlite "UPDATE ..."` leaves it
        db.execute("UPDATE plays SET path = '/new/music/a.flac'")
        db.execute("INSERT INTO plays (session_id, at, path, title, artist, duration, bpm, key, source, confidence)"
                   " VALUES (1, 'late', x'2f6d2f622e6d7033', NULL, 5, 'long', 'fast', 'Am', 'osc', 'sure')")
        db.execute("INSERT INTO plays (session_id, at, path, title, source) VALUES (1, 1e300, 12, 'c', 'osc')")
        db.execute("INSERT INTO sessions (started_at, name) VALUES (1e300, x'ff00')")
    history = History(path)
    assert history.played_paths(0.0) == {"/new/music/a.flac", "12"}  # 'late' is not a time
    assert [p.path for p in history.plays(1)] == ["/new/music/a.flac", "/m/b.mp3", "12"]  # as written
    history.close()
    _sandbox(tmp_path, monkeypatch)
    config = tmp_path / "config.toml"
    config.write_text(f'[history]\npath = "{path}"\n')
    for extra in (["--all"], ["--session", "1"], ["--session", "2"], ["--export", str(tmp_path / "set.csv")],
                  ["--export", str(tmp_path / "set.xml")], ["--export", str(tmp_path / "set.m3u8")]):
        result = _main_here(["history", "--config", str(config), *extra])
        assert result.returncode == 0 and not has_traceback(result.stderr), (extra, result.stderr)
    rows = (tmp_path / "set.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 4 and rows[1].endswith(",/new/music/a.flac") and rows[2].startswith("2,,5,,")
    assert (tmp_path / "set.m3u8").read_text().splitlines()[2::2] == ["/new/music/a.flac", "/m/b.mp3", "12"]


# -- livedj run ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def booth(tmp_path_factory):
    """A one-track library indexed with `features`; returns (root, argv) where ``argv(*args)`` runs
    ``livedj *args`` with its config and index (a subprocess: `livedj run` exits through os._exit)."""
    from livedj.synth import DEMO_TRACKS, build_demo_library

    root = tmp_path_factory.mktemp("booth")
    build_demo_library(root / "lib", DEMO_TRACKS[:1], duration=6.0, formats=("wav",))
    config = root / "config.toml"
    config.write_text(f'[analysis]\nencoder = "features"\n[osc]\ntargets = []\n[osc_in]\nenabled = false\n'
                      f'[history]\npath = "{root / "history.sqlite"}"\n')

    def argv(*args):
        return livedj(*args, "--config", config, "--index", root / "index")

    assert argv("index", root / "lib", "--jobs", 1).returncode == 0
    return root, argv


def test_a_duration_before_the_first_update_is_said(booth):
    """`livedj run --duration 0.5` loaded the engine, analysed nothing, said nothing and exited 0.
    Said, not refused: a short run still logs what OSC in and Mixxx report (tests/test_mixxx_follow.py)."""
    root, argv = booth
    result = argv("run", "--input", next((root / "lib").rglob("*.wav")), "--fast", "--no-dashboard",
                  "--duration", "0.5")
    assert result.returncode == 0 and not has_traceback(result.stderr), result.stderr
    said = [line for line in one_line(result.stderr) if "--duration" in line]
    assert said == ["livedj run: --duration 0.5 ends before the first update, which comes after 3 s of audio: "
                    "no suggestions"]


def test_an_input_file_shorter_than_the_first_update_says_so(booth, tmp_path):
    """`livedj run --input` of a 0.2 s file: no update, no message, exit status 0."""
    _, argv = booth
    short = tmp_path / "short.wav"
    sf.write(short, np.random.default_rng(0).uniform(-0.3, 0.3, 4410).astype(np.float32), 22050)
    result = argv("run", "--input", short, "--fast", "--no-dashboard")
    assert result.returncode == 1 and not has_traceback(result.stderr), result.stderr
    assert one_line(result.stderr)[-1] == (f"livedj run: {short}: 0.2 s of audio, and the first update needs "
                                           f"3 s: nothing analysed")


def test_the_closing_summary_says_what_osc_out_did(booth):
    """Without the dashboard a failed OSC send said "(logged once; counted on the dashboard)" and the count was
    shown nowhere: the closing summary now has OSC out's line beside OSC in's and the set log's."""
    root, argv = booth
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = argv("run", "--input", next((root / "lib").rglob("*.wav")), "--fast", "--no-dashboard",
                  "--osc", f"127.0.0.1:{port}")
    assert result.returncode == 0 and not has_traceback(result.stderr), result.stderr
    lines = one_line(result.stderr)
    said = [line for line in lines if line.startswith(f"livedj: osc 127.0.0.1:{port}")]
    assert len(said) == 1 and said[0].endswith(" errors") and "(nothing listening)" in said[0], result.stderr
    assert lines.index(said[0]) > next(i for i, line in enumerate(lines) if " updates; latency " in line)
