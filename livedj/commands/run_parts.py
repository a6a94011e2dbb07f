"""The parts `livedj run` wires together, each made from the config: the audio source and its ring
buffer, the OSC publishers, the night's session and set log, OSC control in, the preview worker and
the Mixxx follower. :func:`livedj.commands.run.run_live` starts and stops them."""
from __future__ import annotations

import logging
import os
import sys


def _device(value):
    if value in (None, ""):
        return None
    if isinstance(value, int):
        return value
    return int(value) if str(value).isdigit() else value


def _inputs() -> str:
    """The input devices that exist, for a message (as `livedj devices` lists them)."""
    from livedj.audio.capture import list_input_devices

    try:
        found = list_input_devices()
    except Exception as exc:  # PortAudio itself unusable
        return f"none listed ({exc})"
    return ", ".join(f"{d['index']} {d['name']!r}" for d in found) or "none"


def make_source(config: dict, input_file: str | None, fast: bool, device=None):
    """(ring buffer, source, description) for a file fed in as if it were the microphone, or the mic itself."""
    from livedj.audio.ringbuffer import RingBuffer

    audio = config["audio"]
    if input_file:
        from livedj.audio.capture import FileSource

        sample_rate = 16000  # decoded straight to the encoders' rate: no resampling per update
        ring = RingBuffer(int(audio["buffer_s"] * sample_rate), sample_rate)
        return ring, FileSource(ring, input_file, realtime=not fast), f"file {input_file}"
    from livedj.audio.capture import AmbiguousDeviceError, CaptureError, MicSource

    typed = device is not None  # --device: someone at the keyboard; audio.device: the service's config
    device = _device(device if device is not None else audio["device"])
    try:
        sample_rate = audio["samplerate"] or int(MicSource.default_samplerate(device))
    except CaptureError as exc:
        inputs = _inputs()
        if isinstance(exc, AmbiguousDeviceError):  # no input that appears later makes the name name one
            raise
        if typed:  # a typo must not wait forever: say what exists, now
            raise CaptureError(f"{exc}; inputs here: {inputs}") from None
        if device is None and inputs == "none" and not os.environ.get("NOTIFY_SOCKET"):  # a terminal: say it
            raise CaptureError("no audio input on this machine (`livedj devices` lists none): connect a "
                               "microphone or sound card, or feed a file: `livedj run --input mix.mp3`") from None
        # audio.device (the service: any input) not there yet (a USB interface at boot): the loop keeps
        # retrying it, and under systemd READY waits for the first audio (TimeoutStartSec bounds the start)
        sample_rate = audio["samplerate"] or 48000
        print(f"livedj run: {exc}; inputs here: {inputs}; waiting for it at {sample_rate} Hz", file=sys.stderr)
    ring = RingBuffer(int(audio["buffer_s"] * sample_rate), sample_rate)
    source = MicSource(ring, device=device, channels=audio["channels"])
    return ring, source, f"device {device if device is not None else '(default)'} @ {sample_rate} Hz"


def _osc_targets(config: dict, extra_targets=()) -> list:
    from livedj.outputs.osc import parse_target

    targets = [dict(t) for t in config["osc"]["targets"]]
    # an --osc target the config already sends the same bundles to (the default config has 127.0.0.1:9000,
    # as `examples/osc_receiver.py` listens) is not added again: it got every update twice
    same = {(t["host"], t["port"]) for t in targets
            if t.get("profile", "livedj") == "livedj" and t.get("prefix") in (None, "/livedj")}
    for text in extra_targets or ():
        target = parse_target(text)
        if target not in same:
            same.add(target)
            targets.append(target)
    return targets


def make_publishers(config: dict, extra_targets=()):
    from livedj.outputs.osc import OscPublisher

    targets = _osc_targets(config, extra_targets)
    return OscPublisher(targets) if targets else None


class ReloadableOsc:
    """The OSC output of `livedj run`: the config's ``[osc] targets`` plus ``--osc``, which a reload (SIGHUP)
    may change. The new publisher is made on the reload thread (host names resolved there, off the live
    path); the analysis thread takes it at its next publish and closes the old one, so no update is sent
    on a closed socket and none goes to both."""

    def __init__(self, config: dict, extra_targets=()) -> None:
        import threading

        self.extra = tuple(extra_targets or ())
        self.targets = _osc_targets(config, self.extra)
        self.current = make_publishers(config, self.extra)
        self._pending: list = []  # [publisher or None] once a reload made one
        self._lock = threading.Lock()  # held only to swap a reference

    def __bool__(self) -> bool:
        return self.current is not None

    def retarget(self, config: dict) -> list[str] | None:
        """Send to ``config``'s targets from the next update on: the usable ones ("host:port"); None when
        they are the ones in use."""
        targets = _osc_targets(config, self.extra)
        if targets == self.targets:
            return None
        publisher = make_publishers(config, self.extra)
        with self._lock:
            self.targets, replaced, self._pending = targets, self._pending, [publisher]
        for old in replaced:  # a reload before the analysis thread took the one before
            if old is not None:
                old.close()
        return publisher.targets if publisher is not None else []

    def publish(self, update) -> int:
        if self._pending:
            with self._lock:
                taken, self._pending = self._pending, []
            if taken:
                old, self.current = self.current, taken[0]
                if old is not None:
                    old.close()
        return self.current.publish(update) if self.current is not None else 0

    def retry_waiting(self) -> None:
        """Try again the targets not reachable at start (see OscPublisher.retry_waiting); the reload thread
        calls it, off the live path. A publisher a reload made and the loop has not taken yet waits."""
        current = self.current
        if current is not None and not self._pending:
            current.retry_waiting()

    def summary(self) -> str:
        current = self.current
        return current.summary() if current is not None else "no OSC targets"

    def close(self) -> None:
        with self._lock:
            taken, self._pending = self._pending, []
        for publisher in (self.current, *taken):
            if publisher is not None:
                publisher.close()


def make_session(config: dict, library, resolve):
    """The night's session: tracks played within ``history.no_repeat`` are excluded from the start,
    and every play is written to the set log (from its own thread)."""
    from livedj.config import span_seconds
    from livedj.engine.session import PlayedBefore, Session
    from livedj.library.history import History
    from livedj.library.setlog import SetLogWriter

    session = Session(exclude_now_playing=config["ranking"]["exclude_now_playing"])
    span = span_seconds(config["history"]["no_repeat"])
    if os.path.lexists(config["history"]["path"]):  # reading creates nothing (the writer below does)
        try:
            history = History(config["history"]["path"])
            earlier = (resolve(path) for path in history.played_tonight(span))
            session.apply(PlayedBefore(tuple(t for t in earlier if t is not None)))
            history.close()
        except Exception as exc:  # a broken set log must not keep the DJ from playing
            if span is not None:  # else the set log's writer says what is wrong with it, once
                print(f"livedj run: set log {config['history']['path']} unreadable: {exc}", file=sys.stderr)
    setlog = SetLogWriter(config["history"]["path"])

    def log_play(track_id: int, source: str, confidence: float | None) -> None:
        track = library.track(track_id)  # the current library: a record indexed after start-up too
        if track is None:  # never a silent loss
            logging.getLogger("livedj").warning("played track id %s is not in the library: not logged", track_id)
            return
        # a recording held twice is one record: told as the MP3, then named by the FLAC's id, is one play
        recording = getattr(track, "recording", None)
        setlog.log(track.path, same=None if recording is None else ("recording", recording), title=track.title,
                   artist=track.artist, album=track.album, duration=track.duration, bpm=track.bpm, key=track.key,
                   source=source, confidence=confidence)

    session.on_played.append(log_play)

    def log_feedback(kind: str, track_id: int, playing: int | None) -> None:
        track, on = library.track(track_id), library.track(playing) if playing is not None else None
        if track is not None:
            setlog.log_feedback(track.path, kind, on.path if on is not None else None)

    session.on_feedback.append(log_feedback)
    return session, setlog


def make_control(config: dict, session, resolve, err, previewer=None):
    """The OSC server the booth talks back through (played, skip, pin, lookback, drunk, pause, ...)."""
    if not config["osc_in"]["enabled"]:
        return None
    import errno

    from livedj.control.osc_in import OscControlServer

    try:
        return OscControlServer(session, resolve, host=config["osc_in"]["host"],
                                port=config["osc_in"]["port"], previewer=previewer)
    except OSError as exc:  # the port is taken (a second livedj?): run without it, say so
        taken = exc.errno == errno.EADDRINUSE  # the usual cause, worth naming: the booth's OSC goes to the other one
        print(f"livedj run: OSC in on {config['osc_in']['host']}:{config['osc_in']['port']} unavailable: {exc}"
              + ("; another livedj (or OSC program) listens there: stop it, or set osc_in.port" if taken else "")
              + "; running without OSC in", file=err)
        return None


def make_previewer(loops: list):
    """The worker behind ``/livedj/preview <id>``: now playing -> id, rendered off the analysis thread."""
    from livedj.control.preview import PreviewWorker

    def now_playing():
        latest = loops[0].latest if loops else None
        return (latest.now_playing or {}).get("track_id") if latest else None

    return PreviewWorker(lambda: loops[0].engine.tracks if loops else {}, now_playing)


def make_mixxx_follower(config: dict, session, resolve):
    """Follow Mixxx's history (read-only): each track it plays is logged as played (source "mixxx")."""
    if not config["mixxx"]["follow"]:
        return None
    from livedj.engine.session import Played
    from livedj.library.mixxx import MixxxHistoryPoller

    def on_played(track) -> None:
        track_id = resolve(track.path)
        if track_id is not None:
            session.send(Played(track_id, "mixxx"))

    from livedj.library.importers import default_mixxx_db

    return MixxxHistoryPoller(config["mixxx"]["database"] or default_mixxx_db(), on_played,
                              interval_s=config["mixxx"]["interval_s"])


class LogOffTheLivePath:
    """While `livedj run` runs, its log lines (``livedj: input lost ...``) are written by a thread of their own.

    The stderr handler (:class:`livedj.cli._CurrentStderr`, marked ``writes_stderr``) writes to the
    ``sys.stderr`` of now, which the dashboard points at its terminal: a terminal that stops reading (the
    ssh session's network gone, Ctrl-S) held the analysis thread in its log line (the console's lock,
    then the write), and the night stopped -- no suggestion, no OSC, no play logged -- until the terminal
    read again or hung up. The records now go through a queue; only the writer thread waits.
    """

    def __init__(self, logger: logging.Logger | None = None):
        self.logger = logger or logging.getLogger()
        self.moved: list = []
        self.listener = None

    def start(self) -> None:
        import logging.handlers
        import queue

        self.moved = [h for h in self.logger.handlers if getattr(h, "writes_stderr", False)]
        if not self.moved:
            return
        records: queue.Queue = queue.Queue()
        self.queued = logging.handlers.QueueHandler(records)
        self.listener = logging.handlers.QueueListener(records, *self.moved, respect_handler_level=True)
        for h in self.moved:
            self.logger.removeHandler(h)
        self.logger.addHandler(self.queued)
        self.listener.start()

    def stop(self) -> None:
        """Write what is queued, then log as before (the closing lines are the caller's)."""
        if self.listener is None:
            return
        self.logger.removeHandler(self.queued)
        self.listener.stop()  # writes every record queued, then ends its thread
        for h in self.moved:
            self.logger.addHandler(h)
        self.listener = None
