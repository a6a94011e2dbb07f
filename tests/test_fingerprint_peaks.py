"""The peak picker where the level falls steeply: an excerpt keeps the peaks its record keeps in the
index, wherever the excerpt starts (docs/fingerprints-log.md, "Peaks in a decaying ending").

Generated records (``livedj.synth``) that fade out at 12 dB/s from 12 s on, a real index on disk.
"""
from __future__ import annotations

import numpy as np
import pytest

from livedj.dsp import fingerprint as fp
from livedj.library.fingerprints import FingerprintIndex, identify

SR = 16000
FADE_AT, FADE_DB_PER_S = 12.0, 12.0
EXCERPT_S = 5.0
STARTS = (11.3, 12.1, 12.6, 13.45)  # before and in the fade, at several phases of a 1-s grid


@pytest.fixture(scope="module")
def fading(demo_records_16k):
    t = np.arange(len(demo_records_16k[0])) / SR
    envelope = (10 ** (-FADE_DB_PER_S * np.clip(t - FADE_AT, 0, None) / 20)).astype(np.float32)
    return [y * envelope[:len(y)] for y in demo_records_16k[::2]]


def _landmarks(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return fp.landmarks(y, SR)


def _found(y: np.ndarray, start: float, h: np.ndarray, t: np.ndarray) -> float:
    """Share of the record's index landmarks ``(h, t)`` (anchors inside the excerpt, targets too) that
    the excerpt's query pairs hold at the same hash and time (+-1 frame), as the matcher looks them up."""
    a = int(round(start * SR))
    tq, fq = fp.query_peaks(y[a:a + int(EXCERPT_S * SR)], SR)
    i, j = fp.pairs(tq, fq, fanout=fp.QUERY_FANOUT)
    hq, times, valid = fp.hash_pairs(tq, fq, i, j, probe=True)
    offset = a / fp.HOP
    query = {(int(x), int(np.rint(z + offset)) + d) for x, z in zip(hq[valid], times[valid]) for d in (-1, 0, 1)}
    span = (t >= offset + 1) & (t <= offset + EXCERPT_S * SR / fp.HOP - fp.DT_MAX)
    assert span.sum() > 20
    return float(np.mean([(int(x), int(z)) in query for x, z in zip(h[span], t[span])]))


def test_window_rank_counts_louder_neighbours_only():
    t = np.array([0.0, 10.0, 20.0, 100.0])
    power = np.array([1.0, 3.0, 2.0, 0.5])
    assert fp.window_rank(t, power, 15.0).tolist() == [1, 0, 1, 0]
    assert fp.window_rank(t, power, 200.0).tolist() == [2, 0, 1, 3]
    assert fp.window_rank(t, power, 5.0).tolist() == [0, 0, 0, 0]


def test_excerpt_of_a_steep_fade_keeps_the_records_landmarks(fading):
    """With the density kept per fixed 1-s block, the loud start of each block took its quota, and an
    excerpt, whose blocks are cut elsewhere, kept other peaks: 0.22-0.94 of these landmarks found (mean
    0.66); on c1 the fading ending of a record was named as another record. Each peak ranked among its
    own neighbours (+-0.5 s) keeps the same peaks in both: 0.82-0.96 (mean 0.89); since the band reaches down
    to 120 Hz (fingerprint version 3), 0.63-0.96 (mean 0.86): the lowest, one record's two excerpts deep in the
    fade (fixed blocks lose far more: their minimum was 0.22)."""
    found = np.array([[_found(y, s, *marks) for s in STARTS] for y, marks in zip(fading, map(_landmarks, fading))])
    assert found.min() >= 0.6, found.round(2)
    assert found.mean() >= 0.8, found.round(2)


def test_excerpt_of_a_steep_fade_named(fading, tmp_path):
    prefix = tmp_path / "fingerprints-1"
    FingerprintIndex.build(((k + 1, *fp.landmarks(y, SR)) for k, y in enumerate(fading)), prefix)
    index = FingerprintIndex.load(prefix)
    for k, y in enumerate(fading):
        for s in STARTS[1:]:
            a = int(round(s * SR))
            assert identify(y[a:a + int(EXCERPT_S * SR)], SR, index)[0] == k + 1, (k, s)


def test_residual_peaks_are_the_query_peaks_but_those_explained_away(demo_records_16k):
    """fpexplain.residual_peaks (the live matcher's second read while a record is named) shares the peak
    picker's ranking and refinement: with nothing explained it gives exactly the query's peaks; with some
    explained, none of its peaks lies within the mask around them, and new ones take their place."""
    from livedj.library import fpexplain

    y = demo_records_16k[0][: 10 * SR]
    P, b0 = fp.spectrogram(y, SR, (fp.F_MIN, fp.F_MAX))
    t, f = fp.query_peaks(y, SR)
    t0, f0 = fpexplain.residual_peaks(P, b0, np.zeros(0), np.zeros(0), density=fp.QUERY_DENSITY)
    assert np.array_equal(t, t0) and np.array_equal(f, f0)
    gone = slice(0, len(t), 3)  # a third of the peaks explained away
    t1, f1 = fpexplain.residual_peaks(P, b0, t[gone], f[gone], density=fp.QUERY_DENSITY)
    ti, fi = fpexplain.peak_cells(t[gone], f[gone], b0)
    ri, rf = fpexplain.peak_cells(t1, f1, b0)
    near = (np.abs(ri[:, None] - ti[None]) <= fpexplain.MASK_DT) & (np.abs(rf[:, None] - fi[None]) <= fpexplain.MASK_DF)
    assert not near.any()
    kept = set(zip(np.round(t1, 3), np.round(f1, 1)))
    assert len(kept - set(zip(np.round(t, 3), np.round(f, 1)))) > 0  # peaks the first pick did not have
