"""Query peaks "explained away": the peaks left to a quieter record once the named record's are taken out.

During a blend the query's peaks are ranked against their neighbours (:func:`~livedj.dsp.fingerprint.window_rank`,
:data:`~livedj.dsp.fingerprint.QUERY_DENSITY` per second), so the record that is locally louder holds
every peak slot: ~95 % of the incoming record's landmarks were lost under the outgoing one
(docs/fingerprints-log.md, "Where the slow blends lose"). Once a record is named and aligned, the query
peaks its aligned landmarks matched are known; taking them (and the cells right around them, their
main lobe) out of the spectrogram and picking again gives the next peaks their places: in a blend,
the other record's. Their pairs that the first pick did not have are looked up as well
(:class:`livedj.library.fpstream.LiveMatcher`, while a record is named).

Pure functions over a power spectrogram (:func:`livedj.dsp.fingerprint.spectrogram`), and
:func:`aligned_hits`: which hits of the exact stage are the named record's aligned landmarks, and
:func:`distinct_peaks`: their query peaks, each once (:func:`peak_ids`: a peak's identity in any chunk).

The same hits tell a passage two records share from a second record heard (:func:`shared_passages`): the
playing record's landmarks use the query peaks of the other's evidence, where an incoming record's evidence is
made of peaks of its own.
"""
from __future__ import annotations

import numpy as np
from livedj.dsp import fingerprint as fp

__all__ = ["MASK_DT", "MASK_DF", "peak_cells", "peak_ids", "distinct_peaks", "residual_peaks", "new_pairs", "aligned_hits", "shared_passages",
           "SHARED_PASSAGE"]

#: cells taken out around an explained peak: its main lobe (a Hann window's is +-2 bins) and the
#: frames of its note around it (+-3 frames: 48 ms); beyond them the record's other cells still compete
MASK_DT, MASK_DF = 3, 2
#: peaks per second picked among those left (the query's own density)
RESIDUAL_DENSITY = fp.QUERY_DENSITY
#: a match whose aligned landmarks join, in at least this share of its pairs, two query peaks that a better
#: match's aligned landmarks use is that match's sound, not a record of its own: a passage two records share
#: (:func:`shared_passages`); None: off (docs/fingerprints-log.md, "A shared passage is one sound")
SHARED_PASSAGE: float | None = 0.5


def peak_cells(t: np.ndarray, f: np.ndarray, b0: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The spectrogram cells (frame, column) of peaks at ``t`` frames and ``f`` Hz (column 0 = FFT bin ``b0``)."""
    return (np.rint(np.asarray(t, np.float64)).astype(np.int64),
            np.rint(np.asarray(f, np.float64) * (fp.N_FFT / fp.SR)).astype(np.int64) - b0)


def peak_ids(t: np.ndarray, f: np.ndarray) -> np.ndarray:
    """One int per query peak (``t`` frames from the stream's origin, ``f`` Hz, both rounded): the same peak in
    any chunk of :class:`livedj.library.fpstream.LiveMatcher` it was picked in."""
    return np.rint(t).astype(np.int64) * 8192 + np.rint(f).astype(np.int64)


def distinct_peaks(t_a: np.ndarray, f_a: np.ndarray, t_b: np.ndarray, f_b: np.ndarray,
                   chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The query peaks of aligned pairs, each once: ``(t, f)`` of their anchors (``t_a, f_a``) and targets
    (``t_b, f_b``), as :func:`livedj.library.fpchunks.hit_peaks` gives them with each pair's ``chunk``.

    Chunk by chunk, its anchors then its targets: a peak picked in two chunks (refined a little apart) is kept
    as the first chunk has it.
    """
    n = len(chunk)
    order = np.lexsort((np.tile(np.arange(n), 2), np.repeat([0, 1], n), np.tile(chunk, 2)))
    t_all, f_all = np.concatenate([t_a, t_b])[order], np.concatenate([f_a, f_b])[order]
    _, first = np.unique(peak_ids(t_all, f_all), return_index=True)
    return t_all[first], f_all[first]


def residual_peaks(P: np.ndarray, b0: int, explained_t: np.ndarray, explained_f: np.ndarray, *,
                   density: float | None = None, neighbourhood: tuple[int, int] = fp.QUERY_NEIGHBOURHOOD,
                   mask: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The query peaks of ``P`` once the peaks at (``explained_t`` frames, ``explained_f`` Hz) are explained away.

    As :func:`livedj.dsp.fingerprint.query_peaks` (local maxima of ``neighbourhood`` that rise
    :data:`~livedj.dsp.fingerprint.T_CONTRAST` dB above their surroundings, ``density`` per second ranked
    among their neighbours within +-0.5 s, refined by parabolas), except that the cells within ``mask``
    (+-frames, +-columns) of an explained peak neither are peaks nor hide one, and no peak is taken
    on an explained peak's own ridge (its column +-1 over the neighbourhood's frames: a decaying note
    would otherwise give a peak just past the mask). With nothing explained: the query's own peaks.

    Parameters
    ----------
    P : np.ndarray
        Power spectrogram (frames x columns), column 0 = FFT bin ``b0``.
    b0 : int
        FFT bin of column 0.
    explained_t, explained_f : np.ndarray
        The explained peaks: frames (of ``P``) and Hz.

    Returns
    -------
    t, f : np.ndarray
        float64 peak frames and Hz, ascending in time.
    """
    density = RESIDUAL_DENSITY if density is None else density
    mask = (MASK_DT, MASK_DF) if mask is None else mask
    n_t, n_f = P.shape
    if n_t < 3 or n_f < 3:
        return np.zeros(0), np.zeros(0)
    ti, fi = peak_cells(explained_t, explained_f, b0)
    inside = (ti >= 0) & (ti < n_t) & (fi >= 0) & (fi < n_f)
    ti, fi = ti[inside], fi[inside]
    taken = _boxes(P.shape, ti, fi, mask[0], mask[1])
    ridge = _boxes(P.shape, ti, fi, neighbourhood[0] // 2, 1)
    Pm = np.where(taken, 0.0, P)
    # the peak picker's local maxima (of what is left) and contrast floors (of the whole spectrogram)
    ok = fp.salient_maxima(P, Pm, neighbourhood=neighbourhood) & ~ridge
    return fp.pick_peaks(P, b0, ok, density)  # the peak picker's ranking and refinement


def _boxes(shape: tuple[int, int], ti: np.ndarray, fi: np.ndarray, half_t: int, half_f: int) -> np.ndarray:
    """A bool array of ``shape``, True within +-``half_t`` frames and +-``half_f`` columns of each cell (ti, fi)."""
    out = np.zeros(shape, bool)
    dt, df = np.meshgrid(np.arange(-half_t, half_t + 1), np.arange(-half_f, half_f + 1), indexing="ij")
    out[np.clip(ti[:, None] + dt.ravel(), 0, shape[0] - 1), np.clip(fi[:, None] + df.ravel(), 0, shape[1] - 1)] = True
    return out


def new_pairs(t: np.ndarray, f: np.ndarray, old_t: np.ndarray, old_f: np.ndarray, oi: np.ndarray, oj: np.ndarray, *,
              fanout: int, dt_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) of the peaks (``t``, ``f``), paired by :func:`livedj.dsp.fingerprint.pairs` (``fanout``,
    ``dt_max``), that are not among the old peaks' (``old_t``, ``old_f``) pairs (``oi``, ``oj``, paired the same
    way): what is left to look up once the old pairs were. Peaks are the same when they fall in the same cell."""
    i, j = fp.pairs(t, f, fanout=fanout, dt_max=dt_max)
    if not len(i):
        return i, j
    cell = lambda tt, ff: (lambda a, b: a * 4096 + b)(*peak_cells(tt, ff))  # noqa: E731
    c, oc = cell(t, f), cell(old_t, old_f)
    key = c[i] * (1 << 31) + c[j]
    new = ~np.isin(key, oc[oi] * (1 << 31) + oc[oj])
    return i[new], j[new]


def aligned_hits(index, frame: np.ndarray, q_time: np.ndarray, hyp: np.ndarray, weight: np.ndarray, *, track: int,
                 k: int, slot: np.ndarray | None = None) -> np.ndarray:
    """The hits of ``track`` at hypothesis ``k`` that lie at its best offset, +-1 frame (the exact histogram's
    count, weighted): the landmarks whose query peaks are explained away.

    Parameters
    ----------
    index : FingerprintIndex
        The library's landmarks (its tracks' first frames, ``_bases``, and ids, ``_ids``).
    frame, q_time, hyp, weight : np.ndarray
        Per hit of the exact stage: index frame, query time (speed-1 frames), hypothesis, weight.
    track : int
        The named record's id.
    k : int
        Its hypothesis (speed, key lock).
    slot : np.ndarray or None
        Each hit's track slot in the index (``searchsorted`` of its frame in the tracks' first frames), when
        already known.

    Returns
    -------
    np.ndarray
        Indices into the hit arrays, ascending; empty when ``track`` has no hit at ``k``.
    """
    if slot is None:
        slot = index.slot_of(frame)
    mine = (index._ids[slot] == track) & (hyp == k)
    if not mine.any():
        return np.zeros(0, np.int64)
    offset = frame[mine] - index._bases[slot[mine]] - q_time[mine]
    # the best offset +-1 frame, weighted, as the exact histogram counts it
    values, inv = np.unique(offset, return_inverse=True)
    cum = np.r_[0.0, np.cumsum(np.bincount(inv, weight[mine]))]
    sums = cum[np.searchsorted(values, values + 1, side="right")] - cum[np.searchsorted(values, values - 1)]
    best = values[int(np.argmax(sums))]
    return np.flatnonzero(mine)[np.abs(offset - best) <= 1]


def shared_passages(index, frame: np.ndarray, q_time: np.ndarray, hyp: np.ndarray, weight: np.ndarray,
                    peaks_of, cands: list, *, least: float, share: float | None = None,
                    slot: np.ndarray | None = None) -> set[int]:
    """The candidates whose evidence is a better candidate's sound.

    A passage two records share (a theme of one soundtrack, a remix's borrowed part) aligns the query with
    both records, each at its own offset, and from the same query peaks; a second record heard (a blend's
    incoming record) aligns pairs of peaks of its own. So a candidate whose aligned landmarks
    (:func:`aligned_hits`) join, in at least ``share`` of its pairs, two peaks that a better candidate's aligned
    landmarks use is that one's sound, when that one also has ``least`` pairs of its own (peaks the first
    does not use): the record that plays the passage and more. Where the query is all passage both records
    are as likely, and neither is left out. Peaks rather than pairs: each record's index keeps some pairs of
    a shared passage that the other's does not (its peaks are ranked among its own neighbours).

    Parameters
    ----------
    index : FingerprintIndex
        The library's landmarks.
    frame, q_time, hyp, weight : np.ndarray
        Per hit of the exact stage: index frame, query time (speed-1 frames), hypothesis, weight.
    peaks_of : callable
        Hit indices -> (anchor peaks, target peaks): one int per query peak (its cell), the same whatever
        the pair, chunk or hypothesis it was looked up in.
    cands : list
        The exact stage's (track, count, offset s, hypothesis, count per hypothesis, ...) entries, best first.
    least : float
        Only candidates with at least this count are looked at (those a deck could be made of), and the
        better one needs this many pairs of its own.
    share : float or None
        The least shared fraction (default :data:`SHARED_PASSAGE`; None there: off, nothing is shared).
    slot : np.ndarray or None
        Each hit's track slot, when already known (as :func:`aligned_hits`).

    Returns
    -------
    set of int
        Track ids; empty when none.
    """
    share = SHARED_PASSAGE if share is None else share
    looked = [c for c in cands if c[1] >= least]
    if share is None or len(looked) < 2 or not len(frame):
        return set()
    if slot is None:
        slot = index.slot_of(frame)

    def evidence(c) -> tuple[np.ndarray, np.ndarray]:
        # every hypothesis the record aligns at least half as well as its best (a key-locked record at 1.02 is
        # heard under the pitch fader's 1.00 too): the peaks its sound holds in the query
        per_hyp = np.asarray(c[4], np.float64)
        hits = [aligned_hits(index, frame, q_time, hyp, weight, track=c[0], k=int(k), slot=slot)
                for k in np.flatnonzero(per_hyp >= 0.5 * per_hyp[c[3]])]
        return peaks_of(np.unique(np.concatenate(hits)))

    peaks = [evidence(c) for c in looked]
    used = [np.union1d(a, b) for a, b in peaks]
    out: set[int] = set()
    for j in range(1, len(looked)):
        anchor, target = peaks[j]
        if not len(anchor):
            continue
        for i in range(j):
            if looked[i][0] in out:
                continue
            explained = np.isin(anchor, used[i]) & np.isin(target, used[i])
            own = ~(np.isin(peaks[i][0], used[j]) & np.isin(peaks[i][1], used[j]))
            if explained.mean() >= share and own.sum() >= least:
                out.add(int(looked[j][0]))
                break
    return out
