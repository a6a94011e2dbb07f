"""Are two library records the same recording at a given point? Read from the fingerprint index.

A DJ's library often holds one recording twice: an album version and a compilation copy, a file
bought twice. An excerpt of it aligns with both copies equally well, and the matcher's margin rule
(the winner needs twice the runner-up's count) then names neither. Naming either is right, so
long as both are kept out of the suggestions and the play is logged once.

Two records are *the same recording around a point* when their landmarks agree, at the offset the
query found for each, over a stretch much longer than the query: ``±STRETCH_S`` seconds around it
(clipped to both records), at least ``MIN_SHARED`` of the landmarks of the stretch. Records that
share only a loop or a sample (a few bars, or a minute inside two otherwise different tracks) fall
short of it: the stretch around the query is 2 x ``STRETCH_S`` + the query long, and a loop covers
a fraction of it.

The index is laid out by hash (CSR), so a record's landmarks over a time range are found by one
binary search per hash bucket (:func:`stretches`: ~2**19 searches for both records in one pass,
compiled, one bucket in :data:`SAMPLE` read); the verdict
is asked only when the runner-up is close to the winner, and the caller caches it.
"""
from __future__ import annotations

import numpy as np

from livedj.library.fpindex import GAP
from livedj.library.fpvote import njit

__all__ = ["stretches", "shared_fraction", "same_recording", "fold_copies", "STRETCH_S", "MIN_SHARED", "MIN_OVERLAP_S"]

STRETCH_S = 60.0     #: seconds each side of the query compared (a shared loop or sample is shorter)
MIN_SHARED = 0.6     #: fraction of the stretch's landmarks both records must hold at one offset
MIN_OVERLAP_S = 20.0  #: the records must both exist over at least this long a stretch (or the shorter whole)
SAMPLE = 8           #: every SAMPLE-th hash bucket is read (a random-enough sample of the landmarks)
FRAME_S = 256 / 16000  #: one landmark frame, s (fingerprint.HOP / SR)


@njit(cache=True, nogil=True)
def _stretches(buckets, times, a, b, c, d, step):  # pragma: no cover - compiled
    """Landmarks in [a, b) and in [c, d) of every ``step``-th bucket, one pass: (hash, frame, which range)."""
    n_out = 0
    cap = 1024
    out_h = np.empty(cap, np.int64)
    out_t = np.empty(cap, np.int64)
    out_r = np.empty(cap, np.int64)
    for h in range(0, len(buckets) - 1, step):
        lo = np.int64(buckets[h])
        hi = np.int64(buckets[h + 1])
        if hi <= lo:
            continue
        first, last = np.int64(times[lo]), np.int64(times[hi - 1])
        for r in range(2):
            x, y = (a, b) if r == 0 else (c, d)
            if last < x or first >= y:
                continue
            L, R = lo, hi  # first time >= x in the sorted run
            while L < R:
                m = (L + R) >> 1
                if np.int64(times[m]) < x:
                    L = m + 1
                else:
                    R = m
            i = L
            while i < hi and np.int64(times[i]) < y:
                if n_out == cap:
                    cap *= 2
                    nh = np.empty(cap, np.int64)
                    nt = np.empty(cap, np.int64)
                    nr = np.empty(cap, np.int64)
                    nh[:n_out] = out_h[:n_out]
                    nt[:n_out] = out_t[:n_out]
                    nr[:n_out] = out_r[:n_out]
                    out_h, out_t, out_r = nh, nt, nr
                out_h[n_out] = h
                out_t[n_out] = np.int64(times[i])
                out_r[n_out] = r
                n_out += 1
                i += 1
    return out_h[:n_out], out_t[:n_out], out_r[:n_out]


def stretches(buckets: np.ndarray, times: np.ndarray, a: int, b: int, c: int, d: int, step: int = 1
              ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(hashes, timeline frames) of every landmark whose timeline frame is in ``[a, b)``, and the same
    for ``[c, d)``, in one pass over the hash buckets (a binary search in each); ``step`` > 1: only the
    hashes ``h % step == 0`` (a sample: a fraction of shared landmarks is estimated as well from it).

    Parameters
    ----------
    buckets, times : np.ndarray
        The index's CSR arrays (times sorted within each bucket).
    a, b, c, d : int
        Timeline frames.
    """
    if len(times) == 0:
        z = np.zeros(0, np.int64)
        return (z, z), (z, z)
    h, t, r = _stretches(buckets, times, np.int64(a), np.int64(max(a, b)), np.int64(c), np.int64(max(c, d)),
                         np.int64(step))
    return (h[r == 0], t[r == 0]), (h[r == 1], t[r == 1])


def shared_fraction(h_a: np.ndarray, t_a: np.ndarray, h_b: np.ndarray, t_b: np.ndarray, *, tolerance: int = 1
                    ) -> float:
    """Of the landmarks of two stretches laid on one time axis (``t`` relative to one point), the
    fraction the sparser holds at the same hash and time (+-``tolerance`` frames) in the other."""
    if len(h_a) == 0 or len(h_b) == 0:
        return 0.0
    key_a = np.unique((h_a.astype(np.int64) << 32) | (t_a.astype(np.int64) + (1 << 31)))
    key_b = (h_b.astype(np.int64) << 32) | (t_b.astype(np.int64) + (1 << 31))
    # each record's offset came from its own histogram (+-1 frame): find the shift between the
    # two first, then count with the tolerance around it
    shift = max(range(-2, 3), key=lambda d: int(np.isin(key_b + d, key_a).sum()))
    found = np.zeros(len(key_b), bool)
    for d in range(shift - tolerance, shift + tolerance + 1):
        found |= np.isin(key_b + d, key_a)
    return float(found.sum()) / float(min(len(np.unique(key_b)), len(key_a)))


def same_recording(index, track_a: int, offset_a_s: float, track_b: int, offset_b_s: float, query_s: float, *,
                   stretch_s: float = STRETCH_S, min_shared: float = MIN_SHARED,
                   min_overlap_s: float = MIN_OVERLAP_S) -> tuple[bool, float, float]:
    """Whether records ``track_a`` at ``offset_a_s`` and ``track_b`` at ``offset_b_s`` (s, the start of
    a ``query_s``-long excerpt in each) are the same recording around that point.

    Returns
    -------
    same : bool
        ``shared >= min_shared`` over an overlap of at least ``min_overlap_s`` (or the shorter
        record whole).
    shared : float
        Fraction of the stretch's landmarks (the sparser record's) found in the other at the offset.
    overlap_s : float
        Length of the stretch compared (both records exist there), s.
    """
    pos = {int(t): k for k, t in enumerate(index._ids)}
    if track_a not in pos or track_b not in pos or track_a == track_b:
        return False, 0.0, 0.0
    ka, kb = pos[track_a], pos[track_b]
    ends = np.r_[index._bases[1:], index.frames]
    # a record's last landmark is GAP frames before the next base (fpindex._pack)
    length = [int(ends[k] - index._bases[k] - GAP) for k in (ka, kb)]
    oa, ob = int(round(offset_a_s / FRAME_S)), int(round(offset_b_s / FRAME_S))
    half, span = int(stretch_s / FRAME_S), int(query_s / FRAME_S)
    # relative to the query start: the compared window, clipped to where both records exist
    lo = max(-half, -oa, -ob)
    hi = min(span + half, length[0] - oa, length[1] - ob)
    overlap_s = max(0, hi - lo) * FRAME_S
    if overlap_s < min(min_overlap_s, min(length) * FRAME_S * 0.9):
        return False, 0.0, overlap_s
    base_a, base_b = int(index._bases[ka]) + oa, int(index._bases[kb]) + ob
    # one hash in SAMPLE: the fraction from ~1/SAMPLE of the landmarks (~300 for 70 s), at 1/SAMPLE the reads
    (h_a, t_a), (h_b, t_b) = stretches(index.buckets, index.times, base_a + lo, base_a + hi, base_b + lo, base_b + hi,
                                       step=SAMPLE)
    shared = shared_fraction(h_a, t_a - base_a, h_b, t_b - base_b)
    return shared >= min_shared, shared, overlap_s


def fold_copies(index, cands: list, query_s: np.ndarray, top: int, *, min_aligned: float, margin: float
                ) -> tuple[list, dict]:
    """``cands`` with each group of records that are the same recording at this point (the same
    audio indexed twice) folded into one entry, and {kept track: the others}.

    Only records close enough to change a decision are compared: the same hypothesis and within
    ``margin`` of a kept record's count, both at least ``min_aligned`` (an album version and its
    compilation copy align equally well, and the margin rule of
    :func:`livedj.library.fingerprints.decide` would name neither). The group is named by its lowest track id, so that consecutive updates name one record whichever copy aligned a
    landmark more, with the best copy's count. The verdict (:func:`same_recording`: the two records'
    landmarks agree over +-60 s around the point, so that a shared loop or sample is not enough)
    is cached on the index per pair and position.
    """
    kept: list[list] = []  # [entry, [duplicate track ids]]
    for entry in cands[:top + 3]:
        track, count, offset_s, k = entry[:4]
        home = None
        if count >= min_aligned:
            for group in kept:
                head = group[0]
                if head[3] == k and head[1] < margin * count and _same_cached(
                        index, head[0], head[2], track, offset_s, float(query_s[k])):
                    home = group
                    break
        if home is None:
            kept.append([entry, []])
        else:
            home[1].append(track)
    if all(not g[1] for g in kept):
        return cands, {}
    out, same = [], {}
    for entry, dups in kept:
        if dups:
            # the group's lowest id names it, at that copy's own offset and speed; the count is the
            # recording's evidence, its best copy's (the group keeps its place in the order)
            members = {entry[0]: entry, **{e[0]: e for e in cands if e[0] in dups}}
            name = min(members)
            entry = (name, entry[1], *members[name][2:])
            same[name] = tuple(sorted(t for t in members if t != name))
        out.append(entry)
    return out + cands[top + 3:], same


def _same_cached(index, track_a: int, offset_a: float, track_b: int, offset_b: float, query_s: float) -> bool:
    """:func:`same_recording`, remembered per (pair, position to 30 s, offset difference to 1 s)."""
    cache = index.same_cache
    (ta, oa), (tb, ob) = sorted([(track_a, offset_a), (track_b, offset_b)])
    key = (ta, tb, int(oa // 30), int(round(ob - oa)))
    if key not in cache:
        if len(cache) > 4096:
            cache.clear()
        # loop-based music repeats: the two copies may each align at another repeat of the phrase, so a
        # copy laid out alike is also compared at the same position in both
        cache[key] = (same_recording(index, ta, oa, tb, ob, query_s)[0]
                      or (abs(ob - oa) > 0.5 and same_recording(index, ta, oa, tb, oa, query_s)[0]))
    return cache[key]
