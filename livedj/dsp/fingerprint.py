"""Landmark audio fingerprints: pairs of spectral peaks, hashed (Wang 2003, "An Industrial-Strength
Audio Search Algorithm"; the same family as audfprint and Panako).

Method
------
1. Log-magnitude STFT at 16 kHz (``N_FFT`` 1024 = 64 ms Hann, ``HOP`` 256 = 16 ms), bins between
   ``F_MIN`` and ``F_MAX`` (the booth microphone's useful band; most musical peaks lie below 5 kHz).
2. Peaks: local maxima of the spectrum in a ``PEAK_DT`` x ``PEAK_DF`` neighbourhood that rise
   ``T_CONTRAST`` dB above the quietest frame around them (not points of a sustained ridge);
   the ``density`` loudest per second kept, each ranked among the peaks within +-0.5 s of it
   (:func:`window_rank`: a uniform density over loud and quiet parts that does not depend on where
   an excerpt starts; loudness beat height-over-envelope in the simulated room: 53 % vs 31 % of index
   hashes found through pink noise at 10 dB SNR). Time and frequency refined by parabolas.
3. Landmarks: each anchor peak is paired with its next ``fanout`` peaks (in time) inside the
   target zone ``1 <= dt <= DT_MAX`` frames, ``|dq| <= DQ_MAX`` cells. The hash packs
   ``(q(f1), q(f2) - q(f1), dt)`` into 19 bits, ``q`` being a warped-log frequency scale
   (``Q_PER_OCTAVE`` cells per octave of ``f + Q_F0``; about one STFT bin wide at 150 Hz, 3.5 %
   wide above 2 kHz); the time is the anchor's frame. Reverb moves peaks by about a frame, so
   the query looks each pair up with both integers around its sub-frame ``dt`` (``probe``):
   that doubled the index hashes found in the simulated room (0.16 -> 0.30).

Speed (the pitch fader)
-----------------------
Playing at speed ``s`` multiplies every frequency by ``s`` and divides every time by ``s``. The
index holds landmarks at speed 1; the live side tries speed hypotheses ``s_k`` by *rescaling the
peaks it found once* (``f / s_k``, ``t * s_k``) and re-hashing: exactly what resampling the query
by ``s_k`` would give, without 13 STFTs. The frequency cells are wide enough (>= 2.9 % above
~1 kHz) that a hypothesis within 0.5 % of the true speed keeps most hashes in their cells. We
chose this over Panako-style speed-invariant triplets because it keeps pairs (two peaks must
survive the room instead of three) and gives the speed and the offset directly.

All functions are pure over numpy arrays and deterministic. Step 1, the power spectrogram and its
rate, window, hop and band, is :mod:`livedj.dsp.fpspectrogram` (its names are importable from here too).
"""
from __future__ import annotations

import numpy as np

from livedj.dsp import fpkernels as kernels
from livedj.dsp.fpkernels import COMPILED
from livedj.dsp.fpspectrogram import F_MAX, F_MIN, FFT_BLOCK, HOP, N_FFT, SR, spectrogram  # noqa: F401 (re-exported)

__all__ = ["SR", "N_FFT", "HOP", "INDEX_DENSITY", "INDEX_FANOUT", "QUERY_DENSITY", "QUERY_FANOUT",
           "QUERY_NEIGHBOURHOOD", "PARAMS", "spectrogram", "peaks", "query_peaks", "pairs", "hash_pairs",
           "landmarks", "frames_to_s", "window_rank", "less_late_reverb"]

PEAK_DT, PEAK_DF = 15, 15         # local-maximum neighbourhood, frames x bins (odd)
T_CONTRAST = 6.0                  # dB a peak must rise above the quietest frame +-2 PEAK_DT
FLOOR_DB = -70.0                  # peaks below this (re full scale) are silence, not music
BLOCK_S = 1.0                     # density is enforced per window of this length, centred on each peak
DT_MAX = 63                       # target zone: up to ~1 s after the anchor
Q_PER_OCTAVE = 24.0
Q_F0 = 400.0                      # warp: log2(1 + f / Q_F0)
DQ_MAX = 31
# ~36 hashes/s in the index. 12 peaks/s rather than 8: real music through the standard booth,
# 10-s queries, 36 tracks: named 96/95/93 % (speed 1/+6/-6 %) vs 96/88/86 %, none wrong either way;
# 8 x 4 and 16 x 2 did worse for about the same size (measured). Fanout 4 (c2 booth presets 215 ->
# 224 of 288) and a denser query (20/s, 11 x 11, fanout 10: 231) were measured and are not the
# default: each failed a test of the blends' second deck or of key lock (docs/fingerprints-log.md); fanout 4
# again on 2026-11-30 (branch booth5): the tests pass, the corpora gain, but records not in the library
# named at 10k tracks 2 -> 6 of 798 (docs/fingerprints-log.md, "Index fanout 4 again")
INDEX_DENSITY, INDEX_FANOUT = 12.0, 3
QUERY_DENSITY, QUERY_FANOUT = 16.0, 8    # denser query: its pairs cover the index's pairs
QUERY_NEIGHBOURHOOD = (PEAK_DT, PEAK_DF)  # the query's local-maximum neighbourhood (query side only)
HASH_BITS = 19
#: what the index's landmarks depend on; stored beside the index and in the library store, compared
#: on load (a mismatch is refused) and by `livedj index` (which fingerprints the library again when
#: it differs). Any change here re-decodes every user's library once: when the peak picker's
#: parameters or the index density / fanout change, list them here and raise the version.
#: Version 2: the density is ranked in a window centred on each peak (`window_rank`), not in fixed blocks.
#: Version 3: the band starts at 120 Hz, not 150 Hz.
PARAMS = {"version": 3, "sr": SR, "n_fft": N_FFT, "hop": HOP, "f_min": F_MIN, "f_max": F_MAX,
          "q_per_octave": Q_PER_OCTAVE, "q_f0": Q_F0, "dt_max": DT_MAX, "dq_max": DQ_MAX,
          "hash_bits": HASH_BITS, "peak_dt": PEAK_DT, "peak_df": PEAK_DF, "t_contrast": T_CONTRAST,
          "floor_db": FLOOR_DB, "density_window_s": BLOCK_S, "density": INDEX_DENSITY, "fanout": INDEX_FANOUT}


def frames_to_s(frames):
    """Landmark time units (STFT frames at :data:`HOP`) to seconds."""
    return np.asarray(frames) * (HOP / SR)


def salient_maxima(P: np.ndarray, P_max: np.ndarray, *, block: int = 512,
                   neighbourhood: tuple[int, int] | None = None) -> np.ndarray:
    """Cells of ``P_max`` that are the largest of their ``neighbourhood`` (frames, bins; None:
    :data:`PEAK_DT` x :data:`PEAK_DF`) and above :data:`FLOOR_DB`, where ``P`` rises :data:`T_CONTRAST` dB
    above its quietest frame within +-:data:`PEAK_DT` (``P_max`` is ``P``, or ``P`` with cells taken out:
    :func:`livedj.library.fpexplain.residual_peaks`). Blocks of ``block`` frames with a halo of
    :data:`PEAK_DT` frames: the same mask as over the whole array, the filters in cache.

    Compiled (numba): one pass per filter, ~2x the numpy form (:func:`livedj.dsp.fpkernels.salient_maxima_numpy`), the same
    mask (maxima, minima and float32 comparisons are exact).
    """
    n = P.shape[0]
    n_dt, n_df = neighbourhood or (PEAK_DT, PEAK_DF)
    ok = np.empty(P.shape, dtype=bool)
    floor, contrast = np.float32(10 ** (FLOOR_DB / 10)), np.float32(10 ** (T_CONTRAST / 10))
    compiled = COMPILED and P.dtype == np.float32 and P_max.dtype == np.float32
    for a in range(0, n, block):
        b = min(n, a + block)
        lo, hi = max(0, a - PEAK_DT), min(n, b + PEAK_DT)
        if compiled:
            m = kernels.salient_mask(np.ascontiguousarray(P[lo:hi]), np.ascontiguousarray(P_max[lo:hi]),
                                     n_dt // 2, n_df // 2, PEAK_DT, floor, contrast)
        else:
            m = kernels.salient_maxima_numpy(P[lo:hi], P_max[lo:hi], n_dt, n_df, PEAK_DT, FLOOR_DB, T_CONTRAST)
        ok[a:b] = m[a - lo:b - lo]
    return ok


def window_rank(t: np.ndarray, power: np.ndarray, half: float) -> np.ndarray:
    """How many peaks within ``half`` frames of each peak (either side) are louder than it.

    A sliding window rather than fixed blocks: a peak's rank depends only on its neighbours, not on
    where block edges fall, so an excerpt keeps the peaks its record keeps in the index wherever it
    starts. With fixed blocks, where the level falls steeply the first (loud) part of each block takes
    its quota, and an excerpt whose blocks are cut elsewhere kept other peaks: in a decaying ending
    of c1 44-50 % of an excerpt's landmarks were the index's, against ~85 % mid-track.

    Parameters
    ----------
    t : np.ndarray
        Peak frames, ascending.
    power : np.ndarray
        Their power; ties are broken by time (the earlier counts as louder).
    half : float
        Half the window, frames.

    Returns
    -------
    rank : np.ndarray
        int64, 0 for the loudest peak of its window.
    """
    t = np.asarray(t, dtype=np.float64)
    power = np.asarray(power)
    if COMPILED:
        return kernels.window_rank_counts(t, power, float(half))
    return kernels.window_rank_numpy(t, power, half)


def peaks(y: np.ndarray, sr: int = SR, *, density: float = INDEX_DENSITY,
          band: tuple[float, float] = (F_MIN, F_MAX), neighbourhood: tuple[int, int] | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """Salient spectral peaks, about ``density`` per second, within ``band`` (Hz), each the largest
    value of its ``neighbourhood`` (frames, bins; None: :data:`PEAK_DT` x :data:`PEAK_DF`).

    Returns
    -------
    t : np.ndarray
        float64 peak times in frames (sub-frame), ascending.
    f : np.ndarray
        float64 peak frequencies in Hz (sub-bin).
    """
    return _peaks_of(*spectrogram(y, sr, band), density, neighbourhood)


def _peaks_of(P: np.ndarray, b0: int, density: float, neighbourhood: tuple[int, int] | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`peaks` of a power spectrogram ``P`` whose column 0 is FFT bin ``b0``."""
    if P.shape[0] < 3 or P.shape[1] < 3:
        return np.zeros(0), np.zeros(0)
    return pick_peaks(P, b0, salient_maxima(P, P, neighbourhood=neighbourhood), density)


def pick_peaks(P: np.ndarray, b0: int, ok: np.ndarray, density: float) -> tuple[np.ndarray, np.ndarray]:
    """The ``density`` strongest per second of the candidate cells ``ok`` of ``P``, refined to sub-frame, sub-bin.

    Parameters
    ----------
    P : np.ndarray
        Shape (frames, bins): a power spectrogram whose column 0 is FFT bin ``b0``.
    b0 : int
        The FFT bin of ``P``'s column 0.
    ok : np.ndarray
        Shape of ``P``, bool: the cells that may be peaks (local maxima); its border is cleared here.
    density : float
        Peaks kept per second.

    Returns
    -------
    t, f : np.ndarray
        float64 peak times in frames and frequencies in Hz, ascending in time.
    """
    if P.shape[0] < 3 or P.shape[1] < 3:
        return np.zeros(0), np.zeros(0)
    ok[0] = ok[-1] = False
    ok[:, 0] = ok[:, -1] = False  # interior only: interpolation needs both neighbours
    ti, fi = np.nonzero(ok)
    if len(ti) == 0:
        return np.zeros(0), np.zeros(0)
    # keep the `density` strongest per second (loudness survives room noise best, measured against
    # height-over-envelope scores), each peak ranked among its neighbours within +-BLOCK_S / 2
    keep = window_rank(ti, P[ti, fi], BLOCK_S * SR / HOP / 2) < max(1, int(round(density * BLOCK_S)))
    ti, fi = ti[keep], fi[keep]
    # parabolic refinement in frequency and time, on dB values
    L = lambda a, b: 10.0 * np.log10(P[a, b].astype(np.float64) + 1e-20)  # noqa: E731
    b = L(ti, fi)
    a, c = L(ti, fi - 1), L(ti, fi + 1)
    df = 0.5 * (a - c) / np.minimum(a - 2 * b + c, -1e-6)
    a, c = L(ti - 1, fi), L(ti + 1, fi)
    dt = 0.5 * (a - c) / np.minimum(a - 2 * b + c, -1e-6)
    t = ti + np.clip(dt, -0.5, 0.5)
    f = (fi + b0 + np.clip(df, -0.5, 0.5)) * (SR / N_FFT)
    order = np.lexsort((f, t))
    return t[order], f[order]


def query_peaks(y: np.ndarray, sr: int = SR, band: tuple[float, float] = (F_MIN, F_MAX), *,
                dereverb: tuple[float, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The query side's peaks: :func:`peaks` at :data:`QUERY_DENSITY` in :data:`QUERY_NEIGHBOURHOOD`;
    with ``dereverb`` (``(a, d)``; None: not), also those of the spectrogram less its late reverb
    (:func:`less_late_reverb`) that are not among them (the matcher's second pass:
    :data:`livedj.library.fingerprints.SECOND_PASS`)."""
    P, b0 = spectrogram(y, sr, band)
    t, f = _peaks_of(P, b0, QUERY_DENSITY, QUERY_NEIGHBOURHOOD)
    if dereverb is None or len(P) <= dereverb[1]:
        return t, f
    t2, f2 = _peaks_of(less_late_reverb(P, *dereverb), b0, QUERY_DENSITY, QUERY_NEIGHBOURHOOD)
    cell = lambda tt, ff: np.rint(tt).astype(np.int64) * (N_FFT + 1) + np.rint(ff * (N_FFT / SR)).astype(np.int64)  # noqa: E731
    new = ~np.isin(cell(t2, f2), cell(t, f))
    t, f = np.r_[t, t2[new]], np.r_[f, f2[new]]
    order = np.lexsort((f, t))
    return t[order], f[order]


def less_late_reverb(P: np.ndarray, a: float, d: int, floor: float = 0.1) -> np.ndarray:
    """``P`` less ``a`` times the power ``d`` frames earlier (a late-reverb estimate after Lebart et al.:
    a loud note's tail smears over the next note's onset), at least ``floor`` of itself. Causal over
    ``d`` frames."""
    late = np.zeros_like(P)
    late[d:] = a * P[:-d]
    return np.maximum(P - late, floor * P)


def _q(f: np.ndarray) -> np.ndarray:
    """Continuous warped-log frequency cell coordinate."""
    return Q_PER_OCTAVE * np.log2(1.0 + f / Q_F0)


def frequency_cells(f: np.ndarray) -> np.ndarray:
    """The warped-log frequency cell coordinate of ``f`` Hz (continuous; a hash takes its floor)."""
    return _q(f)


def pairs(t: np.ndarray, f: np.ndarray, *, fanout: int = INDEX_FANOUT, dt_max: float = DT_MAX,
          dq_max: float = DQ_MAX) -> tuple[np.ndarray, np.ndarray]:
    """Anchor/target index pairs: each peak with its next ``fanout`` peaks in the target zone.

    ``t`` must be ascending. Returns (i, j) int64 arrays.
    """
    n = len(t)
    if n < 2 or fanout < 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    q = _q(f)
    look = min(n - 1, 6 * fanout + 8)  # candidates examined per anchor (peaks sorted by time)
    i = np.arange(n)[:, None]
    j = i + np.arange(1, look + 1)[None, :]
    inside = j < n
    jc = np.minimum(j, n - 1)
    dt = t[jc] - t[i]
    valid = inside & (dt >= 0.5) & (dt <= dt_max + 0.5) & (np.abs(q[jc] - q[i]) <= dq_max)
    valid &= np.cumsum(valid, axis=1) <= fanout
    ii, kk = np.nonzero(valid)
    return ii.astype(np.int64), j[ii, kk].astype(np.int64)


def hash_pairs(t: np.ndarray, f: np.ndarray, i: np.ndarray, j: np.ndarray, speed: float = 1.0, *,
               probe: bool = False, pitch: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hashes of the pairs ``(i, j)`` of peaks heard at ``speed``, in speed-1 units.

    Parameters
    ----------
    t, f : np.ndarray
        Peak times (frames) and frequencies (Hz), as :func:`peaks` gives them.
    i, j : np.ndarray
        Anchor and target indices, as :func:`pairs` gives them.
    speed : float
        Speed hypothesis: frequencies are divided by it, times multiplied.
    probe : bool
        Query side: hash each pair with both integers around its (sub-frame) ``dt``, since a
        room's reverb moves peaks by about a frame; the index holds the nearest one.
    pitch : float or None
        Frequency ratio, when it differs from ``speed``: 1.0 for a record played with key lock
        (CDJ "master tempo": the tempo moves, the pitch does not). None: ``speed`` (the pitch fader).

    Returns
    -------
    hashes : np.ndarray
        uint32 (twice as many when ``probe``).
    times : np.ndarray
        float64 anchor times in speed-1 frames (``t * speed``).
    valid : np.ndarray
        bool: the pair lies in the target zone after rescaling (others carry hash 0).
    """
    pitch = speed if pitch is None else pitch
    f1, f2 = f[i] / pitch, f[j] / pitch
    q1 = np.floor(_q(f1))
    dq = np.floor(_q(f2)) - q1
    dt_c = (t[j] - t[i]) * speed
    anchor = t[i] * speed
    if probe:
        lo = np.floor(dt_c)
        dt = np.concatenate([lo, lo + 1])
        q1, dq, anchor = np.tile(q1, 2), np.tile(dq, 2), np.tile(anchor, 2)
    else:
        dt = np.rint(dt_c)
    valid = (dt >= 1) & (dt <= DT_MAX) & (np.abs(dq) <= DQ_MAX) & (q1 >= 0) & (q1 < 128)
    h = (q1.astype(np.int64) << 12) | ((dq.astype(np.int64) + 32) << 6) | dt.astype(np.int64)
    return np.where(valid, h, 0).astype(np.uint32), anchor, valid


def landmarks(y: np.ndarray, sr: int = SR, *, density: float = INDEX_DENSITY,
              fanout: int = INDEX_FANOUT) -> tuple[np.ndarray, np.ndarray]:
    """Landmark hashes of ``y`` (at speed 1), for the index.

    Parameters
    ----------
    y : np.ndarray
        Mono audio.
    sr : int
        Its rate, Hz.
    density : float
        Peaks per second; about ``density * fanout`` hashes per second result.
    fanout : int
        Targets per anchor.

    Returns
    -------
    hashes : np.ndarray
        uint32, in anchor-time order.
    times : np.ndarray
        int32 anchor times, frames of :data:`HOP` samples at :data:`SR`.
    """
    t, f = peaks(y, sr, density=density)
    i, j = pairs(t, f, fanout=fanout)
    h, times, valid = hash_pairs(t, f, i, j)
    return h[valid], np.rint(times[valid]).astype(np.int32)


def spectrogram_peaks(P: np.ndarray, b0: int, density: float = QUERY_DENSITY,
                      neighbourhood: tuple[int, int] | None = QUERY_NEIGHBOURHOOD) -> tuple[np.ndarray, np.ndarray]:
    """:func:`peaks` of a power spectrogram ``P`` (:func:`spectrogram`'s, column 0 = FFT bin ``b0``) already
    computed: the query's by default (:func:`query_peaks` without ``dereverb``)."""
    return _peaks_of(P, b0, density, neighbourhood)


__all__ += ["spectrogram_peaks", "pick_peaks", "salient_maxima", "frequency_cells"]
