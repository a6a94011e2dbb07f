"""RingBuffer: wrap-around, zero padding, overwrite detection, and no torn reads under concurrency."""
import threading

import numpy as np
import pytest

from livedj.audio.ringbuffer import OverwrittenError, RingBuffer


def ramp(start, n):
    return np.arange(start, start + n, dtype=np.float32)


def test_latest_zero_pads_before_start():
    ring = RingBuffer(8, 100)
    ring.write(ramp(1, 3))
    np.testing.assert_array_equal(ring.latest(5), [0, 0, 1, 2, 3])
    assert ring.written == 3
    assert ring.latest(0).shape == (0,)


def test_wraparound_keeps_newest_in_order():
    ring = RingBuffer(8, 100)
    for start in range(0, 30, 3):  # 10 blocks of 3 samples: wraps several times
        ring.write(ramp(start, 3))
    assert ring.written == 30
    np.testing.assert_array_equal(ring.latest(8), ramp(22, 8))
    np.testing.assert_array_equal(ring.read(23, 5), ramp(23, 5))
    assert ring.oldest == 22


def test_block_longer_than_capacity_keeps_tail():
    ring = RingBuffer(5, 100)
    ring.write(ramp(0, 12))
    assert ring.written == 12
    np.testing.assert_array_equal(ring.latest(5), ramp(7, 5))


def test_read_overwritten_raises_and_future_raises():
    ring = RingBuffer(8, 100)
    ring.write(ramp(0, 20))
    with pytest.raises(OverwrittenError):
        ring.read(5, 4)  # samples 5..8 were overwritten by 13..16
    with pytest.raises(ValueError):
        ring.read(18, 4)  # 20, 21 not written yet
    np.testing.assert_array_equal(ring.read(12, 8), ramp(12, 8))


def test_write_accepts_column_and_float64_rejects_stereo():
    ring = RingBuffer(4, 100)
    ring.write(np.array([[1.0], [2.0]]))
    assert ring.latest(2).dtype == np.float32
    np.testing.assert_array_equal(ring.latest(2), [1, 2])
    with pytest.raises(ValueError, match="mono"):
        ring.write(np.zeros((3, 2)))
    with pytest.raises(ValueError):
        ring.latest(5)


def test_write_during_read_copy_is_detected():
    """Inject a writer lap between the reader's copy and its check (deterministic interleaving)."""

    class Racy(RingBuffer):
        laps = 0

        def _copy(self, start, n):
            out = super()._copy(start, n)
            if self.laps:
                self.laps -= 1
                self.write(ramp(self.written, self.capacity))  # overwrite everything meanwhile
            return out

    ring = Racy(8, 100)
    ring.write(ramp(0, 8))
    ring.laps = 1
    with pytest.raises(OverwrittenError):
        ring.read(0, 8)
    ring.laps = 1  # latest() retries once and then succeeds with fresh data
    np.testing.assert_array_equal(ring.latest(4), ramp(ring.written - 4, 4))
    ring.laps = 2
    with pytest.raises(OverwrittenError):
        ring.latest(4)


def test_concurrent_writer_reader_never_torn():
    """A writer thread writes a ramp (mod 2**20, exact in float32); readers must see contiguous runs."""
    mod = 2 ** 20
    ring = RingBuffer(4096, 48000)
    stop = threading.Event()
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 700, size=2000)

    def writer():
        pos = 0
        for k in sizes:
            ring.write((np.arange(pos, pos + k) % mod).astype(np.float32))
            pos += int(k)
        stop.set()

    bad = []
    reads = 0
    t = threading.Thread(target=writer)
    t.start()
    while not stop.is_set() or reads < 50:
        reads += 1
        n = 3000
        early = ring.written < n  # snapshot *before* the copy: the writer keeps going
        try:
            x = ring.latest(n)
        except OverwrittenError:
            continue
        # Early on the window is zero-padded; the ramp's last value says how much is real
        # (re-reading ``written`` here would race the writer and misjudge the padding).
        real = x[n - min(n, int(x[-1]) + 1):] if early else x
        d = np.diff(real) % mod
        if real.size > 1 and not np.all(d == 1):
            bad.append(("latest", real))
        w = ring.written
        if w < 1000:
            continue
        start = max(0, w - 2000)
        try:
            y = ring.read(start, 1000)
        except OverwrittenError:
            continue
        if not np.array_equal(y, (np.arange(start, start + 1000) % mod).astype(np.float32)):
            bad.append(("read", start))
        if reads > 100000:
            break
    t.join()
    assert not bad, f"{len(bad)} torn reads, first: {bad[0][0]}"
    assert ring.written == int(sizes.sum())
