"""A fixed-size mono float32 ring buffer: one lock-free writer (the audio callback), many readers.

Positions are absolute sample indices since the buffer was created: sample ``i`` lives at
``i % capacity`` until the writer reaches ``i + capacity``. ``written`` counts every sample
ever written and only grows.

Seqlock-style protocol, so the PortAudio callback never waits on a lock:

* the writer first publishes ``_reserved = written + n`` (the highest position it is about to
  touch), copies the block (at most two slice copies around the wrap), and only then advances
  ``written``;
* a reader reads ``written``, copies, and then re-reads ``_reserved``: sample ``i`` is intact iff
  ``i >= _reserved - capacity``, i.e. no write that started before the check could have reached
  its slot. ``latest`` retries once with fresh positions; ``read`` raises ``OverwrittenError``.

Attribute stores of Python ints are atomic, and the writer orders its stores (reserve, copy,
publish), which is all the protocol needs.
"""
from __future__ import annotations

import numpy as np

__all__ = ["RingBuffer", "OverwrittenError"]


class OverwrittenError(IndexError):
    """The requested samples were overwritten by the writer (the reader fell behind)."""


class RingBuffer:
    """Preallocated float32 mono ring buffer.

    Parameters
    ----------
    capacity : int
        Samples kept (e.g. ``10 * sample_rate`` for the last 10 s).
    sample_rate : int
        Rate of the samples written, Hz (readers need it; the buffer does not resample).
    """

    def __init__(self, capacity: int, sample_rate: int):
        if int(capacity) <= 0:
            raise ValueError(f"RingBuffer capacity must be positive, got {capacity}")
        if int(sample_rate) <= 0:
            raise ValueError(f"RingBuffer sample_rate must be positive, got {sample_rate}")
        self.capacity = int(capacity)
        self.sample_rate = int(sample_rate)
        self._buf = np.zeros(self.capacity, dtype=np.float32)
        self.written = 0  #: total samples ever written (monotonic), published after the copy
        self._reserved = 0  #: end of the write in progress (== written when idle)

    # -- writer (single thread; never blocks) ----------------------------------------------
    def write(self, block: np.ndarray) -> None:
        """Append a mono block. Only copies; safe to call from the audio callback.

        Parameters
        ----------
        block : numpy.ndarray
            Shape (n,) or (n, 1); any float dtype (cast to float32). A block longer than
            ``capacity`` keeps only its last ``capacity`` samples but still advances ``written``
            by its full length.
        """
        block = np.asarray(block)
        if block.ndim != 1:
            if block.ndim == 2 and block.shape[1] == 1:
                block = block[:, 0]
            else:
                raise ValueError(f"RingBuffer.write expects a mono block, got shape {block.shape}")
        n = block.shape[0]
        if n == 0:
            return
        start = self.written
        end = start + n
        self._reserved = end  # announce before touching any slot
        cap = self.capacity
        if n > cap:
            block = block[n - cap:]
            start = end - cap
            n = cap
        pos = start % cap
        first = min(n, cap - pos)
        self._buf[pos:pos + first] = block[:first]
        if first < n:
            self._buf[:n - first] = block[first:]
        self.written = end  # publish only after the data is in place

    # -- readers -----------------------------------------------------------------------------
    @property
    def oldest(self) -> int:
        """Absolute index of the oldest sample still readable."""
        return max(0, self.written - self.capacity)

    @property
    def seconds(self) -> float:
        """Seconds of audio written so far."""
        return self.written / self.sample_rate

    def _copy(self, start: int, n: int) -> np.ndarray:
        """Copy absolute positions [start, start+n), zeros for negative positions. No checks."""
        out = np.zeros(n, dtype=np.float32)
        lead = min(max(0, -start), n)  # samples before the start of time
        if lead == n:
            return out
        cap = self.capacity
        pos = (start + lead) % cap
        m = n - lead
        first = min(m, cap - pos)
        out[lead:lead + first] = self._buf[pos:pos + first]
        if first < m:
            out[lead + first:] = self._buf[:m - first]
        return out

    def _intact(self, start: int) -> bool:
        """Were all copied positions >= start still unwritten-over after the copy?"""
        return start >= self._reserved - self.capacity

    def latest(self, n: int) -> np.ndarray:
        """A copy of the newest ``n`` samples, zero-padded before the first sample written.

        Parameters
        ----------
        n : int
            Samples wanted, ``0 <= n <= capacity``.

        Returns
        -------
        numpy.ndarray
            float32, shape (n,), oldest first.

        Raises
        ------
        OverwrittenError
            If the writer lapped the copy twice in a row (reader starved of CPU).
        """
        n = int(n)
        if not 0 <= n <= self.capacity:
            raise ValueError(f"RingBuffer.latest: n={n} outside 0..capacity={self.capacity}")
        for _ in range(2):
            end = self.written
            start = end - n
            out = self._copy(start, n)
            if self._intact(max(start, 0)):
                return out
        raise OverwrittenError(
            f"RingBuffer.latest({n}): writer overwrote the window twice during the copy")

    def read(self, start: int, n: int) -> np.ndarray:
        """A copy of absolute positions ``[start, start + n)``.

        Parameters
        ----------
        start : int
            Absolute sample index (negative positions read as zeros).
        n : int
            Samples wanted, ``0 <= n <= capacity``.

        Returns
        -------
        numpy.ndarray
            float32, shape (n,).

        Raises
        ------
        OverwrittenError
            If any of the samples was overwritten before or during the copy.
        ValueError
            If the range reaches past ``written`` (not written yet) or ``n`` is out of range.
        """
        start, n = int(start), int(n)
        if not 0 <= n <= self.capacity:
            raise ValueError(f"RingBuffer.read: n={n} outside 0..capacity={self.capacity}")
        end = self.written
        if start + n > end:
            raise ValueError(
                f"RingBuffer.read: samples [{start}, {start + n}) not written yet (written={end})")
        first_real = max(start, 0)
        if not self._intact(first_real):
            raise OverwrittenError(
                f"RingBuffer.read: samples from {start} overwritten (oldest kept is {self.oldest})")
        out = self._copy(start, n)
        if not self._intact(first_real):
            raise OverwrittenError(
                f"RingBuffer.read: samples from {start} overwritten during the copy")
        return out

    def __repr__(self) -> str:
        return (f"RingBuffer(capacity={self.capacity}, sample_rate={self.sample_rate}, "
                f"written={self.written})")
