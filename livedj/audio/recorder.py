"""Write what the ring buffer receives to a sound file, from its own thread.

Used by ``livedj run --record FILE`` (keep the set, check the microphone): the file is written
by a thread that drains the ring buffer every quarter second, so neither the audio callback nor
the analysis ever waits on the disk.
"""
from __future__ import annotations

import logging
import threading

from livedj.audio.ringbuffer import OverwrittenError, RingBuffer


class Recorder:
    """Drain ``ring`` into ``path`` (format from the extension: wav, flac, ogg) until stopped.

    A file that cannot be created is an error at :meth:`start` (OSError, one line); a write that fails
    later (the disk filled) ends the recording with one warning, and the run goes on (:attr:`error`).
    """

    def __init__(self, ring: RingBuffer, path, period_s: float = 0.25):
        self.ring, self.path, self.period_s = ring, path, period_s
        self.position = ring.written  # record from now on
        self.lost = 0  # samples overwritten before the recorder read them (disk too slow)
        self.error: str | None = None  #: why the recording stopped early
        self._out = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livedj-recorder", daemon=True)

    def start(self) -> None:
        import os

        import soundfile

        existed = os.path.lexists(self.path)
        try:
            self._out = soundfile.SoundFile(self.path, "w", samplerate=self.ring.sample_rate, channels=1)
        except (OSError, RuntimeError) as exc:  # libsndfile's errors are RuntimeErrors
            if not existed:  # a full disk: the empty file it left
                try:
                    os.remove(self.path)
                except OSError:
                    pass
            raise OSError(f"--record {self.path}: cannot write it ({' '.join(str(exc).split())})") from None
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _drain(self, out) -> None:
        end = self.ring.written
        oldest = max(0, end - self.ring.capacity)
        if self.position < oldest:
            self.lost += oldest - self.position
            self.position = oldest
        if end > self.position:
            try:
                out.write(self.ring.read(self.position, end - self.position))
            except OverwrittenError:
                return
            self.position = end

    def _run(self) -> None:
        out = self._out
        try:
            while not self._stop.wait(self.period_s):
                self._drain(out)
            self._drain(out)
        except (OSError, RuntimeError) as exc:  # the disk filled, the drive went away: the set goes on
            self.error = " ".join(str(exc).split())
            logging.getLogger("livedj").warning("recording to %s stopped: %s; the run goes on without it",
                                                self.path, self.error)
        finally:
            try:
                out.close()
            except (OSError, RuntimeError):
                pass
