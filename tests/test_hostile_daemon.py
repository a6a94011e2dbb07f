"""`livedj run` attacked as a daemon: reloads, signals while starting, its input hanging, --record, its
own log lines -- defects the earlier hostile suites (test_hostile_live.py, test_hostile_live2.py,
test_faults_live.py) did not reach. The set log's: test_hostile_daemon_setlog.py.

Real parts: the reload `livedj run` does on SIGHUP (:func:`livedj.commands.run.reload`) on a real
config file and index, the live loop (:class:`livedj.engine.daemon.LiveLoop`) with its ring buffer,
sound files on disk.
"""
from __future__ import annotations

import io
from types import SimpleNamespace

from faults_common import base_fixture  # noqa: F401 (the fixture `base`: a library indexed with `features`)


def test_a_reload_names_the_settings_it_leaves_until_the_next_start(base, tmp_path):
    """`systemctl reload livedj` after moving the set log, the microphone's rate and OSC in's port:
    livedj said "reloaded config.toml and the index", and went on with the old ones -- the DJ read the
    new set log, found nothing of tonight and believed the plays lost. The reload's one line now names
    what waits for the next start."""
    from livedj.commands.run import reload
    from livedj.config import load, override
    from livedj.service.notify import Notifier

    root, _ = base
    config = tmp_path / "config.toml"
    first = ('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n'
             f'[history]\npath = "{tmp_path / "a.sqlite"}"\n')
    config.write_text(first)
    running = override(load(config), {"index": {"path": str(root / "index")}})  # `--index`, as the CLI does
    config.write_text(first.replace("a.sqlite", "b.sqlite")
                      + '[audio]\nsamplerate = 44100\ndevice = "pulse"\n[osc_in]\nport = 9100\n')
    err = io.StringIO()
    loop = SimpleNamespace(engine=None, pending_engine=None)
    reload(loop, str(config), str(root / "index"), Notifier({}), err, running=running)
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "reloaded" in lines[0] and loop.pending_engine is not None, lines
    for key in ("audio.samplerate", "audio.device", "history.path", "osc_in.port"):
        assert key in lines[0], lines
    assert "next start" in lines[0], lines
    err = io.StringIO()
    reload(loop, str(config), str(root / "index"), Notifier({}), err,
           running=override(load(config), {"index": {"path": str(root / "index")}}))  # nothing waits
    assert "next start" not in err.getvalue() and "reloaded" in err.getvalue(), err.getvalue()


def _wait(condition, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_ctrl_c_while_starting_is_one_line_without_torch_chatter(tmp_path):
    """Ctrl-C while `livedj run` loads torch and the index (before it listens): exit 130 and then torch's
    exit hook's INFO lines "livedj: FakeTensor cache stats: / cache_hits: 0 / cache_misses: 0" (torch's
    loggers are not set up yet when its import is interrupted, so they reach livedj's handler), and not a
    word of livedj's. The interrupt is simulated where it lands (the loading), the exit hook as torch's."""
    import subprocess
    import sys

    config = tmp_path / "config.toml"
    config.write_text(f'[history]\npath = "{tmp_path / "history.sqlite"}"\n[osc_in]\nenabled = false\n')
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"")
    script = (
        "import atexit, logging, sys\n"
        "log = logging.getLogger('torch._subclasses.fake_tensor')\n"
        "atexit.register(lambda: log.info('FakeTensor cache stats:'))\n"
        "import livedj.commands.run as run\n"
        "def loading(*a, **k):\n"
        "    raise KeyboardInterrupt\n"
        "run.run_live = loading\n"
        "from livedj.cli import main\n"
        f"sys.exit(main(['run', '--config', {str(config)!r}, '--input', {str(audio)!r}, '--no-dashboard']))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    lines = result.stderr.splitlines()
    assert result.returncode == 130, result.stderr
    assert len(lines) == 1 and "stopped while starting" in lines[0], lines


def _ring_with_audio(seconds=1.0, rate=16000):
    import numpy as np

    from livedj.audio.ringbuffer import RingBuffer

    ring = RingBuffer(rate * 4, rate)
    return ring, (0.1 * np.sin(np.arange(int(seconds * rate)) * 0.05)).astype(np.float32)


def test_a_recording_that_cannot_be_created_is_one_line_at_start(tmp_path):
    """`livedj run --record` to a file the disk refuses (a folder that passes the access check, then
    EACCES/EROFS/ENOSPC at the open; here a path under a file): the recorder's thread died with a
    libsndfile traceback and the night went on unrecorded, said nowhere else. Now start() refuses in one
    line naming the file, before the run begins (run_live stops what it started)."""
    import pytest

    from livedj.audio.recorder import Recorder

    (tmp_path / "file").write_text("")
    ring, _ = _ring_with_audio()
    recorder = Recorder(ring, tmp_path / "file" / "set.wav")
    with pytest.raises(OSError) as caught:
        recorder.start()
    recorder.stop()  # run_live's finally stops it: never started, nothing to join
    text = str(caught.value)
    assert "set.wav" in text and "\n" not in text, text


def test_a_recording_that_fails_midway_says_so_once_and_the_night_goes_on(tmp_path, monkeypatch, caplog):
    """The recording's disk fills during the set: the recorder's thread died with a traceback. Now one
    warning names the file, and stop() is clean."""
    import soundfile

    from livedj.audio.recorder import Recorder

    ring, audio = _ring_with_audio()
    recorder = Recorder(ring, tmp_path / "set.wav", period_s=0.02)
    recorder.start()

    def full(self, data):
        raise soundfile.LibsndfileError(0, prefix="No space left on device ")

    monkeypatch.setattr(soundfile.SoundFile, "write", full)
    ring.write(audio)
    assert _wait(lambda: recorder.error is not None, timeout=5)
    ring.write(audio)
    recorder.stop()
    warnings = [r for r in caplog.records if "set.wav" in r.getMessage()]
    assert len(warnings) == 1 and "record" in warnings[0].getMessage(), [r.getMessage() for r in caplog.records]


class _FullDisk:
    """stderr on a full disk (`livedj run 2>>/var/log/livedj.log`): every write fails."""

    encoding = "utf-8"

    def write(self, text):
        import errno

        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self):
        self.write("")

    def isatty(self):
        return False


def test_a_log_line_that_cannot_be_written_does_not_end_the_night():
    """`livedj run 2>>livedj.log` and that disk fills: the first "t=…s next: …" line raised OSError out of
    the main thread's loop, and the run stopped (status 1, 0 plays logged after it). The lines are now
    dropped while they cannot be written, and the run goes on."""
    import queue
    import threading

    from livedj.commands.run import _drain
    from livedj.engine.update import Suggestion, Update

    stopped = []
    loop = SimpleNamespace(outputs=queue.Queue(), finished=threading.Event(), stop=lambda: stopped.append(1))
    for seq, track in enumerate((1, 2, 1)):
        loop.outputs.put(Update(seq=seq, t=float(seq), suggestions=(
            Suggestion(1, track, f"/music/{track}.mp3", f"title {track}", "artist", 0.5, 0.5),)))
    loop.finished.set()
    _drain(loop, None, _FullDisk(), log=True)
    assert loop.outputs.empty() and not stopped


def test_a_reload_whose_line_cannot_be_written_leaves_the_reloader_alive(base, tmp_path):
    """The same full disk at a SIGHUP: printing "reloaded ..." raised, the except printed again, and the
    OSError ended the reload thread: every later SIGHUP was ignored. The reload now just happens."""
    from livedj.commands.run import reload
    from livedj.service.notify import Notifier

    root, _ = base
    config = tmp_path / "config.toml"
    config.write_text('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n')
    loop = SimpleNamespace(engine=None, pending_engine=None)
    reload(loop, str(config), str(root / "index"), Notifier({}), _FullDisk())
    assert loop.pending_engine is not None
    loop.pending_engine = None
    reload(loop, str(tmp_path / "missing.toml"), str(root / "index"), Notifier({}), _FullDisk())  # the failure's line


class _FrozenDevice:
    """A microphone whose sound server hangs (pulseaudio stopped, a USB driver stuck): audio stopped, and
    PortAudio's stop/close never return while it hangs (measured with `kill -STOP` on the pulseaudio)."""

    can_be_lost = True
    overflows = 0

    def __init__(self):
        import threading

        self.error = None
        self.release = threading.Event()
        self.stops = 0

    def start(self):
        self.error = None

    def stop(self):
        self.stops += 1
        self.release.wait()

    def ended(self):
        return False

    def allow_until(self, position):
        pass

    def seconds_since_callback(self):
        return 5.0


class _IdleEngine:
    def warm_up(self):
        pass

    def go_live(self, hop_s):
        pass

    def leave(self):
        pass

    def update(self, *args, **kwargs):
        raise AssertionError("no audio came: no update")


def test_a_hung_sound_server_neither_silences_the_loop_nor_holds_up_the_stop():
    """`kill -STOP` on the pulseaudio livedj captures from: the loop said "input lost (no audio for 1.0 s);
    retrying" once, then its thread hung in PortAudio's stop (the reopen) -- no more status updates to OSC
    peers -- and SIGTERM did not end livedj (the main thread hung in the same stop) until the server came
    back. Now the reopen runs on a thread of its own and the stop waits for the device a bounded time; the
status stays one line while the stall lasts (its seconds no longer in it: a log line each hop)."""
    import threading
    import time

    from livedj.audio.ringbuffer import RingBuffer
    from livedj.engine.daemon import LiveLoop

    device = _FrozenDevice()
    published = []
    loop = LiveLoop(_IdleEngine(), RingBuffer(16000 * 20, 16000), device, hop_s=0.1,
                    publishers=[published.append])
    joined = threading.Event()
    try:
        loop.start()
        time.sleep(2.0)
        lost = [u for u in published if "input lost" in (u.status or "")]
        loop.stop()
        threading.Thread(target=lambda: (loop.join(timeout=1), joined.set()), daemon=True).start()
        joined.wait(8)
    finally:
        device.release.set()
    assert len(lost) >= 5, [u.status for u in published]
    assert len({u.status for u in lost}) == 1, {u.status for u in lost}  # one line in the journal, not one a hop
    assert joined.is_set(), "the stop waited for the hung device"


def test_a_reload_to_another_index_keeps_the_running_one(base, tmp_path):
    """config.toml's `[index] path` moved to another library's index, then `systemctl reload`: the new index
    was swapped in under the night's session, whose played, skipped, banned and pinned records -- and the
    record the fingerprints named on the deck -- are track ids of the first index: another library's ids
    name other records (played ones suggested again, the wrong record logged as played). The running
    index is now read again, and the line says the path waits for the next start."""
    from faults_common import livedj

    from livedj.commands.run import reload
    from livedj.config import load
    from livedj.service.notify import Notifier

    root, _ = base
    other = tmp_path / "other-index"
    config = tmp_path / "config.toml"
    text = '[analysis]\nencoder = "features"\n[osc]\ntargets = []\n[index]\npath = "{}"\n'
    config.write_text(text.format(other))
    built = livedj("index", root / "lib" / "b", "--config", config, "--jobs", 1)
    assert built.returncode == 0, built.stderr
    config.write_text(text.format(root / "index"))
    running = load(config)
    config.write_text(text.format(other))
    err = io.StringIO()
    loop = SimpleNamespace(engine=None, pending_engine=None)
    reload(loop, str(config), None, Notifier({}), err, running=running)
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "index.path" in lines[0] and "next start" in lines[0], lines
    assert loop.pending_engine.index.size == 5, loop.pending_engine.index.size  # lib/a's, not lib/b's 2


def test_an_input_whose_stop_never_returns_is_opened_anew():
    """The sound server killed under a stalled stream (tests/test_hostile_live3.py kills the virtual mic's):
    PortAudio's stop of the old stream then never returned, the reopen waited in it, no later reopen was
    started beside it, and the input never came back, even with the server up again (seen with py-spy:
    `livedj-reopen` in `_StreamBase.stop` for good). The reopen now leaves a stop that does not answer within
    STOP_WAIT_S and opens the device anew. A fake device: a stop that never returns cannot be made on demand
    with the real server (it happened in about half the kills)."""
    import threading
    import time

    from livedj.audio.ringbuffer import RingBuffer
    from livedj.engine import daemon
    from livedj.engine.daemon import LiveLoop

    class _DeadServerDevice(_FrozenDevice):
        def __init__(self):
            super().__init__()
            self.starts = 0

        def start(self):
            self.starts += 1
            self.error = None

    device = _DeadServerDevice()
    loop = LiveLoop(_IdleEngine(), RingBuffer(16000 * 20, 16000), device, hop_s=0.1)
    try:
        loop.start()
        deadline = time.monotonic() + daemon.STOP_WAIT_S + 10
        while device.starts < 2 and time.monotonic() < deadline:  # the loop's own start, then the reopen's
            time.sleep(0.1)
        loop.stop()
        threading.Thread(target=lambda: loop.join(timeout=1), daemon=True).start()
    finally:
        device.release.set()
    assert device.stops >= 1 and device.starts >= 2, (device.stops, device.starts)
