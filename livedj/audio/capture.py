"""Audio sources that fill a RingBuffer: the microphone (sounddevice) and a file played "live".

Both expose the same counters (``overflows``, ``callbacks``, ``last_callback_time``, ``error``)
so the daemon can watch either the same way: a source whose ``last_callback_time`` stops moving
has stalled (e.g. the device disappeared).

``sounddevice`` is imported lazily (:mod:`livedj.audio.portaudio`, which also lists the inputs and says
PortAudio's errors in one line; its names are re-exported here).
"""
from __future__ import annotations

import threading
import time
from typing import Protocol

import numpy as np

from livedj.audio.decode import DecodeError, iter_blocks, probe_duration
from livedj.audio.portaudio import (AmbiguousDeviceError, CaptureError, device_error, list_input_devices,
                                    load_sounddevice, native_chatter, refresh_devices)
from livedj.audio.ringbuffer import RingBuffer

__all__ = ["Source", "CaptureError", "AmbiguousDeviceError", "list_input_devices", "refresh_devices", "MicSource", "FileSource"]


class Source(Protocol):
    """What the live loop needs of an input (:class:`MicSource`, :class:`FileSource`).

    The source's writer (a PortAudio callback, a feeder thread) only copies into the ring buffer;
    the live loop reads the counters and drives these calls from its analysis thread.
    """

    overflows: int  #: input overflows counted so far
    error: str | None  #: one line: why the input failed, None while it works
    can_be_lost: bool  #: a device that can vanish and come back (supervised and reopened by the loop)

    def start(self) -> None:
        """Open the input (raises OSError for a device that is not there)."""
        ...

    def stop(self) -> None:
        ...

    def ended(self) -> bool:
        """True once the input has no more audio (a file's end); a device never ends."""
        ...

    def allow_until(self, sample_index: int) -> None:
        """Fast mode: let the writer advance up to ``sample_index``; real-time inputs ignore it."""
        ...

    def seconds_since_callback(self) -> float:
        """Seconds since audio last arrived (a stalled input)."""
        ...


class MicSource:
    """Capture a sounddevice input stream into ``ring`` (mono, at ``ring.sample_rate``).

    The PortAudio callback only downmixes (channel mean), copies into the ring and counts; it
    never allocates beyond the mean, never locks, never logs.

    Parameters
    ----------
    ring : RingBuffer
        Destination; its ``sample_rate`` is the stream rate (see ``default_samplerate``).
    device : int, str or None
        PortAudio device index or (sub)name, e.g. "pulse"; None for the default input.
    channels : int
        Channels to open; more than one is averaged to mono.
    blocksize : int
        Frames per callback; 0 lets the host choose (lowest latency, variable size).
    latency : str or float
        "low", "high" or seconds.
    """

    can_be_lost = True

    def __init__(self, ring: RingBuffer, device=None, channels: int = 1, blocksize: int = 0,
                 latency="low"):
        self.ring = ring
        self.device = device
        self.channels = int(channels)
        self.blocksize = int(blocksize)
        self.latency = latency
        self.overflows = 0
        self.callbacks = 0
        self.last_callback_time = 0.0  #: time.monotonic() of the last callback, 0 before the first
        self.error: str | None = None
        self._stream = None
        self._stopping = False

    @staticmethod
    def default_samplerate(device=None) -> int:
        """The device's default input rate in Hz (what the mic runs at unless configured)."""
        sd = load_sounddevice()
        try:
            return int(round(sd.query_devices(device, "input")["default_samplerate"]))
        except (ValueError, sd.PortAudioError) as e:
            raise device_error(device, e) from e

    def _callback(self, indata, frames, time_info, status) -> None:
        # Runs on PortAudio's thread: keep it to a copy and a few integer updates.
        if status.input_overflow:
            self.overflows += 1
        if indata.shape[1] == 1:
            self.ring.write(indata[:, 0])
        else:
            self.ring.write(indata.mean(axis=1, dtype=np.float32))
        self.callbacks += 1
        self.last_callback_time = time.monotonic()

    def _finished(self) -> None:
        if not self._stopping and self.error is None:
            self.error = f"input device {self.device!r}: stream stopped unexpectedly"

    @property
    def running(self) -> bool:
        """True while the stream is open, active and has not reported an error."""
        return self._stream is not None and bool(self._stream.active) and self.error is None

    def ended(self) -> bool:
        return False  # a device does not end: it is lost and retried

    def allow_until(self, sample_index: int) -> None:
        pass  # real time: the device sets the pace

    def seconds_since_callback(self) -> float:
        """Seconds since the last callback (since ``start`` when none came yet)."""
        return time.monotonic() - self.last_callback_time

    def start(self) -> None:
        """Open and start the stream.

        Raises
        ------
        CaptureError
            The device does not exist or refuses the rate/channels (``error`` holds the message).
        """
        if self._stream is not None:
            return
        sd = load_sounddevice()
        self._stopping = False
        with native_chatter() as chatter:  # PortAudio's and ALSA's lines on fd 2: summed up in ours
            try:
                stream = sd.InputStream(
                    samplerate=self.ring.sample_rate, device=self.device, channels=self.channels,
                    dtype="float32", blocksize=self.blocksize, latency=self.latency,
                    callback=self._callback, finished_callback=self._finished)
                self.last_callback_time = time.monotonic()
                stream.start()
                failed = None
            except (sd.PortAudioError, ValueError) as e:
                failed = e
        if failed is not None:
            said = f" ({chatter.said})" if chatter.said else ""
            err = device_error(self.device, failed, f" at {self.ring.sample_rate} Hz, {self.channels} ch")
            err = type(err)(f"{err}{said}")
            self.error = str(err)
            raise err from failed
        self._stream = stream
        self.error = None  # only now: a reopen on its own thread must not read as "working" while it tries

    def stop(self) -> None:
        """Stop and close the stream (idempotent)."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._stopping = True
        try:
            stream.stop()
        except Exception:  # a lost device may fail to stop; closing is what matters
            pass
        finally:
            try:
                stream.close()
            except Exception:
                pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class FileSource:
    """Feed a decoded file through ``ring`` as if it were the microphone.

    Parameters
    ----------
    ring : RingBuffer
        Destination; the file is decoded straight to ``ring.sample_rate``.
    path : str, bytes or PathLike
        Any format ``decode`` reads.
    realtime : bool
        True: write blocks at wall-clock pace. False ("--fast"): write only up to the position
        the consumer grants with ``allow_until`` (initially 0), so nothing is overwritten unread.
    block : int
        Samples per write (like a callback's block).
    loop : bool
        Start over at the end of the file instead of finishing.

    Attributes
    ----------
    done : threading.Event
        Set when the file ended (without ``loop``), on ``stop()`` or on a decode error.
    error : str or None
        One-line DecodeError message if decoding failed.
    """

    can_be_lost = False

    def __init__(self, ring: RingBuffer, path, realtime: bool = True, block: int = 1024,
                 loop: bool = False):
        if block <= 0:
            raise ValueError(f"FileSource block must be positive, got {block}")
        self.ring = ring
        self.path = path
        self.realtime = realtime
        self.block = int(block)
        self.loop = loop
        self.done = threading.Event()
        self.overflows = 0  # never overflows; kept so the daemon can treat sources alike
        self.callbacks = 0
        self.last_callback_time = 0.0
        self.error: str | None = None
        self.at_end = False  #: the whole file was fed (not stopped early: Ctrl-C, --duration)
        self._allowed = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- consumer side -----------------------------------------------------------------------
    def ended(self) -> bool:
        return self.done.is_set()

    def seconds_since_callback(self) -> float:
        return time.monotonic() - self.last_callback_time if self.last_callback_time else 0.0

    def allow_until(self, sample_index: int) -> None:
        """Let the writer advance up to absolute ``sample_index`` (fast mode; never moves back)."""
        with self._cond:
            if sample_index > self._allowed:
                self._allowed = int(sample_index)
                self._cond.notify_all()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- writer thread -----------------------------------------------------------------------
    def _write(self, chunk: np.ndarray) -> None:
        self.ring.write(chunk)
        self.callbacks += 1
        self.last_callback_time = time.monotonic()

    def _feed_fast(self, blk: np.ndarray) -> bool:
        """Write ``blk`` in pieces as the consumer allows; False if stopped."""
        while blk.size:
            with self._cond:
                while self._allowed <= self.ring.written and not self._stop.is_set():
                    self._cond.wait(0.5)
                if self._stop.is_set():
                    return False
                room = self._allowed - self.ring.written
            self._write(blk[:room])
            blk = blk[room:]
        return True

    def _run(self) -> None:
        sr = self.ring.sample_rate
        t0 = time.monotonic()
        fed = 0  # samples written by this source, for pacing
        try:
            while not self._stop.is_set():
                wrote_any = False
                for blk in iter_blocks(self.path, sample_rate=sr, block=self.block):
                    wrote_any = True
                    if self.realtime:
                        # Pace on the block's end time: like a callback, it arrives once captured.
                        delay = t0 + (fed + blk.size) / sr - time.monotonic()
                        if delay > 0 and self._stop.wait(delay):
                            return
                        if self._stop.is_set():
                            return
                        self._write(blk)
                    elif not self._feed_fast(blk):
                        return
                    fed += blk.size
                if not self.loop or not wrote_any:
                    self.at_end = True
                    return
        except DecodeError as e:
            self.error = str(e)
        finally:
            self.done.set()

    def start(self) -> None:
        """Check the file opens as audio, then start the writer thread (idempotent).

        Raises
        ------
        DecodeError
            Missing, empty or non-audio file (raised here, not in the thread). Errors found later
            in the stream end the feed and are kept in ``error``.
        """
        if self._thread is not None:
            return
        probe_duration(self.path)
        self._thread = threading.Thread(target=self._run, name="livedj-file-source", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the writer thread and wait for it."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.done.set()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
