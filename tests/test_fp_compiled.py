"""The compiled forms of the matcher's query side give the numpy forms' values, bit for bit.

A speed change must not change a decision (docs/fingerprints-log.md, "Speed of one identification, third
pass"): the peak mask (:func:`livedj.dsp.fingerprint.salient_maxima`) and the query rows under every speed
hypothesis (:func:`livedj.library.fpquery.hash_rows`) are checked against their numpy references on
generated records, clean, through the booth and with cells taken out, at a stream time an hour in.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from livedj.dsp import fingerprint as fp
from livedj.dsp import fpkernels as kernels
from livedj.dsp.room import booth
from livedj.library import fpquery
from livedj.library.fingerprints import hypotheses

SR = 16000
pytestmark = pytest.mark.skipif(not (fp.COMPILED and fpquery.COMPILED), reason="numba is not installed")


def _windows(records) -> list[np.ndarray]:
    out = []
    for k, y in enumerate(records[:4]):
        y = y[:10 * SR]
        out += [y, booth(y, SR, seed=k).astype(np.float32), (y * np.linspace(1, 0.01, len(y))).astype(np.float32)]
    return out


def test_peak_mask_compiled_equals_numpy(demo_records_16k):
    band = (fp.F_MIN * 0.92, fp.F_MAX * 1.08)
    rng = np.random.default_rng(0)
    compared = 0
    for y in _windows(demo_records_16k):
        P, _ = fp.spectrogram(y, SR, band)
        taken = P.copy()
        taken[rng.random(P.shape) < 0.05] = 0.0  # cells taken out, as fpexplain.residual_peaks does
        for neighbourhood in ((fp.PEAK_DT, fp.PEAK_DF), (11, 9)):
            for P_max in (P, taken):
                got = fp.salient_maxima(P, P_max, neighbourhood=neighbourhood)
                want = np.zeros_like(got)
                for a in range(0, len(P), 512):  # the reference's own blocks and halo
                    lo, hi = max(0, a - fp.PEAK_DT), min(len(P), a + 512 + fp.PEAK_DT)
                    m = kernels.salient_maxima_numpy(P[lo:hi], P_max[lo:hi], *neighbourhood, fp.PEAK_DT, fp.FLOOR_DB,
                                                     fp.T_CONTRAST)
                    want[a:a + 512] = m[a - lo:a - lo + 512]
                assert np.array_equal(got, want)
                compared += int(want.sum())
    assert compared > 1000  # maxima were there to compare


def test_query_rows_compiled_equal_numpy(demo_records_16k):
    speeds, pitches = hypotheses()
    rows = 0
    for y in _windows(demo_records_16k):
        t, f, i, j = fpquery.query_pairs(y, SR, speeds, pitches)
        for offset in (0.0, 3600 * SR / fp.HOP + 0.37):  # stream times: large anchors
            got = fpquery.hash_rows(t + offset, f, i, j, speeds, pitches, with_pair=True)
            want = fpquery._hash_rows_numpy(t + offset, f, i, j, speeds, pitches, with_pair=True)
            for a, b in zip(got, want):
                assert a.dtype == b.dtype and np.array_equal(a, b)
            rows += len(want[0])
    assert rows > 100_000


def test_spectrogram_compiled_power_equals_numpy(demo_records_16k):
    from scipy import fft as sfft

    band = (fp.F_MIN * 0.92, fp.F_MAX * 1.08)
    for y in _windows(demo_records_16k)[:6] + [demo_records_16k[0][:int(3.3 * SR)]]:
        got, b0 = fp.spectrogram(y, SR, band)
        frames = np.lib.stride_tricks.sliding_window_view(y, fp.N_FFT)[::fp.HOP]
        window = (np.hanning(fp.N_FFT + 1)[:-1] * (4.0 / fp.N_FFT)).astype(np.float32)
        want = np.empty_like(got)
        for i in range(0, len(frames), fp.FFT_BLOCK):  # the former code: the same blocks, numpy's power
            spec = sfft.rfft(frames[i:i + fp.FFT_BLOCK] * window, axis=1)[:, b0:b0 + got.shape[1]]
            out = want[i:i + fp.FFT_BLOCK]
            np.multiply(spec.real, spec.real, out=out)
            out += spec.imag * spec.imag
        assert got.dtype == np.float32 and np.array_equal(got, want)


def test_window_rank_compiled_equals_numpy():
    rng = np.random.default_rng(5)
    for n in (0, 1, 2, 50, 3000):
        t = np.sort(rng.integers(0, max(1, n // 3), n)).astype(np.float64)  # ties in time too
        power = rng.choice(np.float32([0.5, 1, 2, 3]), n) * rng.random(n).astype(np.float32) ** (rng.random() < 0.5)
        for half in (0.0, 5.0, 31.25, 1e9):
            assert np.array_equal(fp.window_rank(t, power, half), kernels.window_rank_numpy(t, power, half))


def test_warm_up_loads_the_matchers_compiled_loops(demo_records_16k, tmp_path):
    """In a fresh process no loop of the matcher is loaded; after ``fpstream.warm_up`` every compiled loop of
    the matcher's modules is (the first live update that needs one would otherwise compile or load it: ~3 s on a
    fresh install for the copies' comparison, ``fpsame``, which the warm-up once left out)."""
    import subprocess
    import sys

    from livedj.library.fingerprints import FingerprintIndex

    prefix = tmp_path / "fingerprints-1"
    FingerprintIndex.build(((i + 1, *fp.landmarks(y, SR)) for i, y in enumerate(demo_records_16k)), prefix)
    code = f"""
from livedj.library import fpstream, warm
from livedj.library.fingerprints import FingerprintIndex
loops = warm.loops()  # every compiled loop the matcher calls from Python
assert len(loops) >= 15, [f.__name__ for f in loops]
index = FingerprintIndex.load({str(prefix)!r})
assert not any(f.signatures for f in loops), [f.__name__ for f in loops if f.signatures]
fpstream.warm_up(index)
assert all(f.signatures for f in loops), [f.__name__ for f in loops if not f.signatures]
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.slow  # ~15 s: it compiles every loop into an empty cache
def test_warm_compiles_every_loop_into_the_cache_that_a_later_process_loads(demo_records_16k, tmp_path):
    """``python -m livedj.library.warm`` (scripts/setup) compiles every loop of the matcher once; a later process -- the
    DJ's first ``livedj run`` -- then loads each of them from numba's cache at its warm-up and compiles none (on a
    fresh install that warm-up compiled them: 11-12 s on 2 cores while the input already played)."""
    import os
    import subprocess
    import sys

    from livedj.library.fingerprints import FingerprintIndex

    prefix = tmp_path / "fingerprints-1"
    FingerprintIndex.build(((i + 1, *fp.landmarks(y, SR)) for i, y in enumerate(demo_records_16k[:4])), prefix)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))  # empty: only the warm-up can fill it
    warm = subprocess.run([sys.executable, "-m", "livedj.library.warm"], env=env, capture_output=True, text=True, timeout=300)
    assert warm.returncode == 0, warm.stderr[-2000:]
    assert re.search(r"(\d+) of \1 compiled loops ready \(0 from the cache\)", warm.stderr), warm.stderr
    code = f"""
from livedj.library import warm
from livedj.dsp import fingerprint as fp
from livedj.library import fpstream
from livedj.library.fingerprints import FingerprintIndex
index = FingerprintIndex.load({str(prefix)!r})
fpstream.warm_up(index)  # what the live loop does before its first update
loops = warm.loops()
assert len(loops) >= 15, [f.__name__ for f in loops]
compiled = [f.__name__ for f in loops if sum(f.stats.cache_misses.values())]
assert not compiled, "compiled, not loaded: " + ", ".join(compiled)
assert all(sum(f.stats.cache_hits.values()) for f in loops), [f.__name__ for f in loops if not f.stats.cache_hits]
"""
    later = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert later.returncode == 0, later.stderr[-2000:]
