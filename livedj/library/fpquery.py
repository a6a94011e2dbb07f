"""The query side of fingerprint matching: a heard excerpt's peaks, pairs and hashes under every speed hypothesis.

Peaks and pairs are taken once; the pairs are then hashed again under every hypothesis of the pitch
fader (times and frequencies scaled together) and of key lock (times only), with the +-1-frame probe,
so that one lookup pass covers every speed (:mod:`livedj.library.fingerprints` does the lookups).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from livedj.dsp import fingerprint as fp
from livedj.library.fpvote import COMPILED, njit

__all__ = ["DEFAULT_SPEEDS", "KEYLOCK_TEMPOS", "hypotheses", "query_hashes", "query_pairs", "hash_rows"]

#: pitch-fader hypotheses: 1 % apart over +-8 % (a DJ's +-6 % range plus margin, so that +-6 % is
#: never at the edge, where the parabolic refinement of the speed has no neighbour)
DEFAULT_SPEEDS = tuple(np.round(np.arange(0.92, 1.0801, 0.01), 4))
#: key-lock hypotheses (CDJ "master tempo": the tempo moves, the pitch does not): times rescaled,
#: frequencies not. A coarser grid than the pitch fader's: with the frequencies right, a hash
#: only needs its dt within the +-1-frame probe (dt <= 63 frames: 1 % off moves it 0.6 frame);
#: the offset drifts by up to 1 % of the query over the +-1-frame histogram tolerance, which
#: costs aligned landmarks but not the name (docs/fingerprints-log.md, "Key lock").
KEYLOCK_TEMPOS = (0.92, 0.94, 0.96, 0.98, 1.02, 1.04, 1.06, 1.08)


def hypotheses(speeds: Iterable[float] = DEFAULT_SPEEDS, tempos: Iterable[float] = KEYLOCK_TEMPOS
               ) -> tuple[np.ndarray, np.ndarray]:
    """(tempo ratios, pitch ratios) of the pitch-fader ``speeds`` followed by the key-lock ``tempos``
    (pitch 1; a tempo of 1 is left out: the pitch fader's speed 1 is the same hypothesis)."""
    speeds = np.asarray(list(speeds), dtype=np.float64)
    tempos = np.asarray([t for t in tempos if abs(t - 1.0) > 1e-9], dtype=np.float64)
    return np.r_[speeds, tempos], np.r_[speeds, np.ones(len(tempos))]


def query_hashes(y: np.ndarray, sr: int, speeds: Iterable[float] = DEFAULT_SPEEDS,
                 pitches: Iterable[float] | None = None, *, dereverb: tuple[float, int] | None = None):
    """The query side: (hashes int64, anchor times in speed-1 frames, hypothesis index, speeds, pairs).

    Peaks once, pairs once, then the pairs re-hashed under every hypothesis (with the probe): times
    scaled by ``speeds[k]``, frequencies by ``pitches[k]`` (None: the speeds, i.e. the pitch fader).
    ``dereverb``: also the peaks of the spectrogram less its late reverb (:func:`fp.query_peaks`).
    """
    speeds = np.asarray(list(speeds), dtype=np.float64)
    pitches = speeds if pitches is None else np.asarray(list(pitches), dtype=np.float64)
    t, f, i, j = query_pairs(y, sr, speeds, pitches, dereverb=dereverb)
    hashes, times, hyp = hash_rows(t, f, i, j, speeds, pitches)
    return hashes, times, hyp, speeds, len(i)


def query_pairs(y: np.ndarray, sr: int, speeds: np.ndarray, pitches: np.ndarray, *,
                dereverb: tuple[float, int] | None = None):
    """Peaks (t frames, f Hz) of ``y`` and their pairs (i, j), wide enough for every hypothesis
    (``dereverb``: as :func:`query_hashes`)."""
    # the index band as the pitch fader moves it: a record's 150 Hz is 140 Hz at -7 %
    band = (fp.F_MIN * pitches.min(), fp.F_MAX * pitches.max())
    t, f = fp.query_peaks(y, sr, band=band, dereverb=dereverb)
    # rescaled dt can reach DT_MAX / min(speed): pair with a zone that covers every hypothesis
    i, j = fp.pairs(t, f, fanout=fp.QUERY_FANOUT, dt_max=fp.DT_MAX / speeds.min())
    return t, f, i, j


def hash_rows(t: np.ndarray, f: np.ndarray, i: np.ndarray, j: np.ndarray, speeds: np.ndarray, pitches: np.ndarray,
              *, with_pair: bool = False) -> tuple[np.ndarray, ...]:
    """(hashes int64, anchor times in speed-1 frames, hypothesis) of pairs (i, j) under every hypothesis,
    with the +-1 frame probe, the hypotheses in order; ``with_pair``: also each row's pair (index into i, j).

    Compiled: the rows of :func:`_hash_rows_numpy` (:func:`livedj.dsp.fingerprint.hash_pairs` over every
    hypothesis at once), the same values in the same order, ~3x faster: the frequency cells are taken once
    per peak and hypothesis (one log per peak, not two per pair) and only valid rows are written."""
    if not COMPILED or not len(i):
        return _hash_rows_numpy(t, f, i, j, speeds, pitches, with_pair=with_pair)
    t = np.asarray(t, np.float64)
    f = np.asarray(f, np.float64)
    speeds = np.asarray(speeds, np.float64)
    pitches = np.asarray(pitches, np.float64)
    # per hypothesis and peak: time in speed-1 frames and frequency cell (fp.hash_pairs' arithmetic,
    # elementwise, so taking it per peak gives each pair's values bit for bit)
    t_all = t[None, :] * speeds[:, None]
    q_all = np.floor(fp.frequency_cells((f[None, :] / pitches[:, None]) / 1.0))
    h, times, hyp, pair = _rows(t_all, q_all, np.asarray(i, np.int64), np.asarray(j, np.int64), fp.DT_MAX, fp.DQ_MAX)
    return (h, times, hyp, pair) if with_pair else (h, times, hyp)


@njit(cache=True, nogil=True)
def _rows(t_all, q_all, i, j, dt_max, dq_max):  # pragma: no cover - compiled
    n_hyp = t_all.shape[0]
    n = i.shape[0]
    size = 2 * n_hyp * n
    h = np.empty(size, np.int64)
    times = np.empty(size)
    hyp = np.empty(size, np.int64)
    pair = np.empty(size, np.int64)
    m = 0
    for k in range(n_hyp):  # the order of _hash_rows_numpy's rows: hypothesis, probe, pair
        tk, qk = t_all[k], q_all[k]
        for probe in range(2):
            for p in range(n):
                a, b = i[p], j[p]
                q1 = qk[a]
                dq = qk[b] - q1
                dt = np.floor((tk[b] - tk[a]) * 1.0) + probe
                if dt >= 1 and dt <= dt_max and abs(dq) <= dq_max and q1 >= 0 and q1 < 128:
                    h[m] = (np.int64(q1) << 12) | ((np.int64(dq) + 32) << 6) | np.int64(dt)
                    times[m] = tk[a] * 1.0
                    hyp[m] = k
                    pair[m] = p
                    m += 1
    return h[:m], times[:m], hyp[:m], pair[:m]


def _hash_rows_numpy(t: np.ndarray, f: np.ndarray, i: np.ndarray, j: np.ndarray, speeds: np.ndarray,
                     pitches: np.ndarray, *, with_pair: bool = False) -> tuple[np.ndarray, ...]:
    """:func:`hash_rows` in numpy, from :func:`livedj.dsp.fingerprint.hash_pairs` (the reference)."""
    if not len(i):
        z = np.zeros(0, np.int64)
        return (z, np.zeros(0), z, z) if with_pair else (z, np.zeros(0), z)
    # every hypothesis in one call: the peaks rescaled per hypothesis, laid end to end (hypothesis k's
    # copy at k * n), so hash_pairs' arithmetic runs once over all rows instead of once per hypothesis
    n, n_hyp = len(t), len(speeds)
    t_all = (t[None, :] * speeds[:, None]).ravel()
    f_all = (f[None, :] / pitches[:, None]).ravel()
    shift = (np.arange(n_hyp) * n)[:, None]
    h, tt, valid = fp.hash_pairs(t_all, f_all, (i[None, :] + shift).ravel(), (j[None, :] + shift).ravel(), 1.0,
                                 probe=True, pitch=1.0)
    # probe rows come as [floor dt of every hypothesis, floor + 1 of every hypothesis]: per hypothesis
    hyp = np.broadcast_to(np.repeat(np.arange(n_hyp), len(i)), (2, n_hyp * len(i)))
    order = np.arange(2 * n_hyp * len(i)).reshape(2, n_hyp, len(i)).transpose(1, 0, 2).ravel()
    keep = order[valid[order]]
    if with_pair:
        return h[keep].astype(np.int64), tt[keep], hyp.ravel()[keep], keep % len(i)
    return h[keep].astype(np.int64), tt[keep], hyp.ravel()[keep]
