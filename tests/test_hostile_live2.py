"""A night at the booth with `livedj run`, found by playing one: defects of the live side that the earlier
hostile suites (test_hostile_live.py, test_faults_live.py, test_live.py) did not reach.

Real parts: the set log on disk (SQLite, its writer thread), the session `livedj run` makes
(:func:`livedj.commands.run_parts.make_session`), OSC over UDP on 127.0.0.1 with python-osc peers, the
reload `livedj run` does on SIGHUP (:func:`livedj.commands.run.reload`) on a real config file and index.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from faults_common import base_fixture  # noqa: F401 (the fixture `base`: a library indexed with `features`)


def _config(tmp_path):
    from livedj.config import defaults

    config = defaults()
    config["history"]["path"] = str(tmp_path / "history.sqlite")
    return config


def _paths_logged(path) -> list[str]:
    from livedj.library.history import History

    history = History(path)
    try:
        night = max(s.id for s in history.sessions())
        return [p.path for p in history.plays(night)]
    finally:
        history.close()


def test_a_record_told_played_as_one_copy_and_heard_as_the_other_is_one_play(tmp_path):
    """The library holds one recording twice (an album FLAC, a compilation MP3). The DJ sends
    `/livedj/played` with the MP3's path (or Mixxx plays the MP3); a few seconds later the
    fingerprints name the recording by its lowest id, the FLAC, and that was logged too: the set log
    (and every export of it) showed the record played twice in a row."""
    from livedj.commands.run_parts import make_session
    from livedj.engine.current import CurrentLibrary
    from livedj.engine.session import Played

    flac, mp3, other = "/m/album/A.flac", "/m/compilation/A copy.mp3", "/m/album/B.flac"
    tracks = {1: SimpleNamespace(id=1, path=flac, recording=1), 2: SimpleNamespace(id=2, path=other, recording=None),
              3: SimpleNamespace(id=3, path=mp3, recording=1)}
    for track in tracks.values():
        track.__dict__.update(title=track.path, artist="X", album=None, duration=300.0, bpm=120.0, key=None)
    library = CurrentLibrary(SimpleNamespace(tracks=tracks))
    session, setlog = make_session(_config(tmp_path), library, library.resolve)
    setlog.start()
    try:
        session.apply(Played(3, "osc"))  # the DJ: the MP3
        session.apply(Played(1, "identified", 0.9))  # the fingerprints: the recording, by the FLAC's id
        session.apply(Played(2, "identified", 0.9))  # the next record
        session.apply(Played(1, "osc"))  # the DJ taps /played for the FLAC too, late: the same play
    finally:
        setlog.stop()
    assert _paths_logged(tmp_path / "history.sqlite") == [mp3, other]  # before: [mp3, flac, other]


class _Peer:
    """A python-osc server on a free port of 127.0.0.1 that keeps the seq of every /livedj/update."""

    def __init__(self):
        import threading

        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import ThreadingOSCUDPServer

        self.updates: list[int] = []
        dispatcher = Dispatcher()
        dispatcher.map("/livedj/update", lambda _address, seq, *rest: self.updates.append(seq))
        self.server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _input(base, tmp_path, seconds: float = 20.0):
    """Records of the base library one after the other, ``seconds`` long (a real-time run hears them)."""
    import numpy as np

    from livedj.audio.decode import decode
    from livedj.synth.audio_io import write_audio

    root, _ = base
    files = sorted(p for p in (root / "lib" / "a").rglob("*") if p.suffix in (".wav", ".flac"))
    audio = np.concatenate([decode(str(p), 16000) for p in files])[:int(seconds * 16000)]
    path = tmp_path / "set.wav"
    write_audio(path, audio.astype(np.float32), 16000)
    return path


def _booth_config(path, tmp_path, targets, extra: str = ""):
    path.write_text('[analysis]\nencoder = "features"\n'
                    + "".join(f'[[osc.targets]]\nhost = "127.0.0.1"\nport = {port}\n' for port in targets)
                    + f'[history]\npath = "{tmp_path / "history.sqlite"}"\n[osc_in]\nenabled = false\n{extra}')


def test_a_reload_that_changes_the_osc_targets_sends_to_the_new_ones(base, tmp_path):
    """`systemctl reload livedj` after moving the lighting desk's OSC port in config.toml: livedj said
    "reloaded config.toml and the index", and went on sending every update to the old port only; the
    new receiver got nothing until a restart (a reload applied `[ranking] top`, not `[osc] targets`)."""
    import json
    import signal
    import subprocess
    import sys

    old, new = _Peer(), _Peer()
    config = tmp_path / "config.toml"
    _booth_config(config, tmp_path, [old.port])
    process = subprocess.Popen(
        [sys.executable, "-m", "livedj", "run", "--input", str(_input(base, tmp_path)), "--json-lines",
         "--config", str(config), "--index", str(base[0] / "index")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(process.stdout.readline())["seq"] == 0, process.stderr.read()
        _booth_config(config, tmp_path, [new.port], extra="[ranking]\ntop = 2\n")
        process.send_signal(signal.SIGHUP)
        top = []
        for line in process.stdout:  # the reload is done when the new `top` shows
            top.append(len(json.loads(line)["suggestions"]))
            if top[-1] == 2:
                break
        for _ in range(3):
            seq = json.loads(process.stdout.readline())["seq"]
        time.sleep(0.3)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
        old.close()
        new.close()
    assert "reloaded" in err and "Traceback" not in err, err
    assert top[-1] == 2, (top, err)
    assert seq in new.updates, (new.updates, old.updates)  # before: none at the new port
    assert max(old.updates) < seq, (old.updates, seq)  # the old target is no longer sent to


def test_a_record_played_while_the_suggestions_are_paused_is_still_logged(base, tmp_path):
    """/livedj/pause ("freeze the suggestions") also stopped naming what plays: a record played from
    start to end while paused was never identified, never in the set log, and was suggested again
    after /livedj/resume. Paused, the updates still name the decks and log each play; only the
    suggestions are held back (status "paused", none sent).

    `livedj run --input` as the daemon wires it in this process (a file fed as fast as analysis
    allows through the ring buffer, the live loop, the real index of the base library)."""
    from livedj.audio.capture import FileSource
    from livedj.audio.ringbuffer import RingBuffer
    from livedj.config import load, override
    from livedj.engine.daemon import LiveLoop
    from livedj.engine.loader import load_engine
    from livedj.engine.session import Pause, Session

    root, config_path = base
    config = override(load(str(config_path)), {"index": {"path": str(root / "index")}})
    engine = load_engine(config)
    assert engine.index.fingerprints is not None
    path = _input(base, tmp_path, seconds=30.0)  # three records of 10 s
    by_path = {t.path: t.id for t in engine.tracks.values()}
    files = sorted(p for p in (root / "lib" / "a").rglob("*") if p.suffix in (".wav", ".flac"))
    second = by_path[str(files[1])]
    session = Session()
    logged = []
    session.on_played.append(lambda track_id, source, confidence: logged.append(track_id))
    session.apply(Pause(True))  # the DJ paused the suggestions before the set began
    ring = RingBuffer(20 * 16000, 16000)
    loop = LiveLoop(engine, ring, FileSource(ring, str(path), realtime=False), fast=True, session=session,
                    context_s=max(12.0, config["analysis"]["identify_s"]))
    loop.start()
    loop.join(timeout=120)
    assert loop.finished.is_set() and loop.error is None, loop.error
    updates = list(loop.history)
    assert updates and all(u.status == "paused" and u.suggestions == () for u in updates)
    assert second in logged, logged  # before: [] (nothing named while paused)
    assert any((u.now_playing or {}).get("track_id") == second for u in updates)
