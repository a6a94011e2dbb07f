"""The live loop: a source fills the ring buffer, one analysis thread turns it into updates.

Threads:

- the source (PortAudio's callback for a microphone, a feeder thread for ``--input FILE``)
  only copies into the ring buffer;
- the analysis thread (:meth:`LiveLoop.run`) wakes every hop *of audio* (so ``--fast`` and real
  time share one code path), takes the newest window, runs :meth:`Engine.update`, and hands the
  update to the publishers: OSC is a non-blocking UDP send; JSON lines and the dashboard read
  it from the main thread, so a slow terminal never stalls analysis;
- the main thread draws the dashboard or prints JSON lines, and handles signals.
"""
from __future__ import annotations

import collections
import logging
import queue
import statistics
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Protocol

import numpy as np

from livedj.audio.capture import Source
from livedj.audio.ringbuffer import OverwrittenError, RingBuffer
from livedj.dsp import WINDOW_S
from livedj.engine.session import Session
from livedj.engine.update import Update

MIN_WINDOW_S = 3.0  # the first update comes once this much audio is in (musicnn's patch length)
STALL_S = 1.0  # no audio callback for this long: the input has stalled
RETRY_S = 0.5  # how often a lost input is reopened


STOP_WAIT_S = 2.0  # how long stopping waits for an input device to close (a hung sound server never does)


def stop_input(source: Source, then: str = "stopping without it") -> bool:
    """Stop ``source``, waiting at most :data:`STOP_WAIT_S` (a device whose sound server hangs or died under
    it blocks in PortAudio, until it comes back or for ever); False, said once with ``then`` (what happens
    next), when it did not answer."""
    stopper = threading.Thread(target=source.stop, name="livedj-input-stop", daemon=True)
    stopper.start()
    stopper.join(STOP_WAIT_S)
    if stopper.is_alive():
        log.warning("the input device did not close within %g s (its sound server hangs or died?); %s",
                    STOP_WAIT_S, then)
        return False
    return True


def first_update_s(hop_s: float) -> float:
    """Seconds of audio :meth:`LiveLoop.run` waits for before its first update (a whole number of hops)."""
    return max(hop_s, round(MIN_WINDOW_S / hop_s) * hop_s)


def nothing_analysed(loop, input_file, first_s: float) -> str | None:
    """Why a run of ``input_file`` that fed the whole file gave no update (it is shorter than
    ``first_s``, :func:`first_update_s`), or None. Such a run used to end silently with status 0."""
    if loop.stats.updates or not getattr(loop.source, "at_end", False):
        return None
    heard = loop.ring.written / loop.ring.sample_rate
    return f"{input_file}: {heard:.1f} s of audio, and the first update needs {first_s:g} s: nothing analysed"


log = logging.getLogger("livedj.daemon")


@dataclass
class Stats:
    """Running figures for the dashboard and the end-of-run summary (bounded memory)."""

    updates: int = 0
    dropped_outputs: int = 0
    latencies: collections.deque = field(default_factory=lambda: collections.deque(maxlen=3600))
    stages: dict = field(default_factory=dict)  # name -> deque of ms

    def add(self, update: Update) -> None:
        self.updates += 1
        self.latencies.append(update.latency_ms)
        for name, ms in update.stage_ms.items():
            self.stages.setdefault(name, collections.deque(maxlen=3600)).append(ms)

    def summary(self) -> dict:
        def pct(values, q):
            values = sorted(values)
            return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else 0.0

        out = {"updates": self.updates, "dropped_outputs": self.dropped_outputs}
        if self.latencies:
            out["latency_ms"] = {"p50": pct(self.latencies, 0.5), "p95": pct(self.latencies, 0.95),
                                 "p99": pct(self.latencies, 0.99), "mean": statistics.fmean(self.latencies)}
        out["stage_ms"] = {name: {"p50": pct(v, 0.5), "p95": pct(v, 0.95), "p99": pct(v, 0.99)}
                           for name, v in self.stages.items()}
        return out


class LiveEngine(Protocol):
    """What the live loop needs of an engine (:class:`livedj.engine.analyzer.Engine`)."""

    def warm_up(self) -> None:
        """Pay first-call costs (called while the first window of audio arrives)."""
        ...

    def go_live(self, hop_s: float) -> None:
        """Consecutive updates are now consecutive hops of one stream, ``hop_s`` apart (called before the first
        one, and again when a reload's engine takes over)."""
        ...

    def leave(self) -> None:
        """Another engine took over (a reload): release what only this one used (its helper thread)."""
        ...

    def update(self, audio: np.ndarray, sample_rate: int, *, t: float, seq: int, session: Session) -> Update:
        """Analyse the newest audio (the last ``context_s`` seconds, ending at stream time ``t``)."""
        ...


class Notifier(Protocol):
    """The service manager's hooks (:class:`livedj.service.notify.Notifier`)."""

    def ready(self, status: str) -> None: ...

    def status(self, status: str) -> None: ...

    def watchdog(self) -> None: ...


class LiveLoop:
    """Runs the engine over a ring buffer every hop until stopped, the duration is reached or the input ends."""

    def __init__(self, engine: LiveEngine, ring: RingBuffer, source: Source, *, window_s: float = WINDOW_S,
                 hop_s: float = 1.0, duration_s: float | None = None, publishers: Iterable[Callable[[Update], None]] = (),
                 fast: bool = False, history: int = 300, session: Session | None = None, context_s: float = 12.0,
                 notifier: Notifier | None = None):
        self.engine, self.ring, self.source = engine, ring, source
        self.session = session or Session()
        self.notifier = notifier  # systemd: READY after the first update, a watchdog ping every hop
        self.pending_engine: LiveEngine | None = None  # set by a reload (SIGHUP); swapped in at the next hop
        self._warmed = False  # the engine's warm-up done (in start, before a file starts playing)
        self.status = "starting"
        self._next_retry = 0.0
        self._retries = 0
        self._reopening: threading.Thread | None = None  # the thread reopening a lost input, while it runs
        self._stream_stuck = False  # a lost input's stop never returned: PortAudio's re-initialisation would wait on it
        self._last_status_publish = 0.0
        self.context_s = context_s  # how much audio each update sees (tempo/key need more than the window)
        self.window_s, self.hop_s, self.duration_s, self.fast = window_s, hop_s, duration_s, fast
        self.publishers = list(publishers)  # called on the analysis thread: must not block (OSC)
        self.outputs: queue.Queue[Update] = queue.Queue(maxsize=64)  # for the main thread
        self.latest: Update | None = None
        self.history: collections.deque[Update] = collections.deque(maxlen=history)  # bounded: runs for hours
        self.stats = Stats()
        self.stop_event = threading.Event()
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._guarded_run, name="livedj-analysis", daemon=True)

    # -- control ---------------------------------------------------------------------------
    def start(self) -> None:
        if not self.source.can_be_lost:
            # a file (``--input``, the demo) plays in real time from source.start(): warmed up after it, the
            # first seconds played unheard while the engine paid its first-call costs (numba compiling the
            # matcher on a fresh install: 11-12 s, updates t=4-10 s of the demo never made). A microphone
            # warms up while its first window arrives (run), as before.
            self.engine.warm_up()
            self._warmed = True
        try:
            self.source.start()
            import livedj

            log.info("listening: ready in %.2f s", time.monotonic() - livedj.STARTED)
        except OSError as exc:  # a microphone that is not there (yet): the analysis thread retries it
            from livedj.audio.capture import AmbiguousDeviceError

            if not self.source.can_be_lost or isinstance(exc, AmbiguousDeviceError):  # retrying won't pick one
                raise
            self.source.error = self.source.error or str(exc)
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
        if self._reopening is not None:
            self._reopening.join(STOP_WAIT_S)
        stop_input(self.source)

    # -- the analysis thread --------------------------------------------------------------
    def _guarded_run(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # surfaced by the CLI; the thread must not die silently
            self.error = exc
        finally:
            self.finished.set()

    def _wait_for(self, position: int) -> bool:
        """Block until the ring holds ``position`` samples; False when stopping or the input ended first."""
        if self.fast:
            self.source.allow_until(position)
        seen = self.ring.written
        while self.ring.written < position:
            if self.stop_event.is_set() or self.source.ended():
                return self.ring.written >= position
            time.sleep(0.002 if self.fast else 0.01)
            self._supervise()
            if self.notifier is not None and self.ring.written != seen:  # audio flows: alive, even on long hops
                seen = self.ring.written
                self.notifier.watchdog()
        return True

    def _set_status(self, status: str) -> None:
        if status != self.status:
            log.warning("%s", status) if status != "listening" else log.info("input: listening")
            self.status = status
            if self.notifier is not None:
                self.notifier.status(status)

    def _supervise(self) -> None:
        """Notice a lost or stalled microphone, keep retrying it, and say so (never fatal)."""
        source = self.source
        if not source.can_be_lost:
            return  # a file source cannot get lost
        now = time.monotonic()
        if source.error is None and source.seconds_since_callback() < STALL_S:
            if self.status != "listening":
                self._set_status("listening")
            self._retries = 0
            return
        why = source.error or f"no audio for over {STALL_S:g} s"  # one status (one log line) for the whole stall
        self._set_status(f"input lost ({why}); retrying")
        if now - self._last_status_publish >= self.hop_s:  # keep OSC peers and the dashboard informed
            self._last_status_publish = now
            update = Update(seq=-1, t=self.ring.written / self.ring.sample_rate, suggestions=(), status=self.status,
                            overflows=source.overflows)
            self.latest = update
            for publish in self.publishers:
                publish(update)
            try:
                self.outputs.put_nowait(update)
            except queue.Full:
                self.stats.dropped_outputs += 1
        if now < self._next_retry or (self._reopening is not None and self._reopening.is_alive()):
            return  # a reopen still waiting on the device (a hung sound server) is not stacked on
        self._next_retry = now + RETRY_S
        self._reopening = threading.Thread(target=self._reopen, args=(self._retries,), name="livedj-reopen",
                                           daemon=True)
        self._reopening.start()
        self._retries += 1

    def _reopen(self, retries: int) -> None:
        """Close the lost input and open it again, on a thread of its own: PortAudio's stop and open block
        while the device or its sound server hangs, and the analysis thread goes on saying the input is lost."""
        from livedj.audio.capture import CaptureError, refresh_devices

        source = self.source
        # a sound server killed under a stalled stream leaves its stop waiting for ever: this reopen, and every
        # later one (they are not stacked), waited with it and the input never came back; the stuck stream
        # is left to its thread and a new one opened
        if not stop_input(source, then="opening a new one"):
            self._stream_stuck = True
        try:
            if retries and retries % 4 == 0 and not self._stream_stuck:
                refresh_devices()  # let PortAudio see devices that came back under a new index
            source.start()
        except (CaptureError, OSError) as exc:
            log.debug("reopening the input failed: %s", exc)

    def run(self) -> None:
        """The analysis thread: one update per hop of audio until stopped, the duration or the input's end."""
        sr = self.ring.sample_rate
        hop = max(1, int(round(self.hop_s * sr)))
        context = min(self.ring.capacity, int(round(max(self.window_s, self.context_s) * sr)))
        end = int(self.duration_s * sr) if self.duration_s else None
        position = max(hop, int(round(MIN_WINDOW_S * sr / hop)) * hop)  # first_update_s, in whole hops of samples
        seq = 0
        if not self._warmed:
            self.engine.warm_up()  # first-call costs, paid while the first window of audio arrives
        self.engine.go_live(self.hop_s)
        while not self.stop_event.is_set():
            if end is not None and position > end:
                break
            if not self._wait_for(position):
                break
            available = min(context, position)
            if self.pending_engine is not None:  # a reload finished: swap between two updates
                old, self.engine, self.pending_engine = self.engine, self.pending_engine, None
                self.engine.go_live(self.hop_s)
                old.leave()
                del old  # not held until the next reload (its index's private copy stays mapped while held)
            try:
                audio = self.ring.read(position - available, available)
            except OverwrittenError:  # fell a whole buffer behind: analyse the newest audio instead
                position = self.ring.written
                audio = self.ring.latest(available)
            update = self.engine.update(audio, sr, t=position / sr, seq=seq, session=self.session)
            if self.status == "starting":
                if self.notifier is not None:  # the index answered and audio flows: started
                    self.notifier.ready(f"listening; first update at t={update.t:.1f}s")
                self.status = "listening"  # READY said it; no separate STATUS
                log.info("input: listening")
            update = replace(update, overflows=self.source.overflows,
                             status=update.status if update.status != "listening" else self.status)
            began = time.perf_counter()
            for publish in self.publishers:
                publish(update)
            publish_ms = (time.perf_counter() - began) * 1000.0
            update = replace(update, stage_ms={**update.stage_ms, "publish": publish_ms},
                             latency_ms=update.latency_ms + publish_ms)
            self.latest = update
            self.history.append(update)
            self.stats.add(update)
            if self.notifier is not None:
                self.notifier.watchdog()
            try:
                self.outputs.put_nowait(update)
            except queue.Full:  # nobody is reading fast enough: drop, count, keep analysing
                self.stats.dropped_outputs += 1
            seq += 1
            position += hop
            if not self.fast:
                # real time: if analysis fell behind, skip ahead to the newest hop instead of queueing up
                newest = (self.ring.written // hop) * hop
                if newest > position:
                    position = newest
