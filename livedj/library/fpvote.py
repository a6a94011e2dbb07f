"""The inner loops of the fingerprint matcher, compiled with numba.

The matcher (:mod:`livedj.library.fingerprints`) works on the rows of a query (one per hash under
one speed hypothesis) and on the index's CSR arrays (``buckets``/``times``). These loops:

- :func:`dedup_rows`: rows -> distinct lookups (hash, query time to a few frames), from one sort;
- :func:`coarse_votes`: every hit of the chosen lookups adds its weight to its coarse
  ``(timeline - query time)`` bin, one vote array per group of hypotheses, each posting read once;
- :func:`top_bins`: the best bins of adjacent pairs of a vote array (an offset near a bin edge
  splits over two bins); :func:`top_bins_capped`: the same, at most a few from each track;
- :func:`chosen_hits`: the hits that fall in the chosen bins, expanded back to every row that asked;
- :func:`aligned_counts`: the exact ``(track, hypothesis, offset)`` histogram of those hits, +-1
  frame, best per track.
- :func:`over_budget` (numpy): which lookups the hit budget leaves out, the rarest read first.

In numpy each hit cost ~8 whole-array passes (repeat, gather, subtract, shift, bincount, ...) and
the de-duplication and histogram several stable sorts; compiled, one read of a posting and one add
per hit, and the GIL is released (the match runs on the second core beside the embedding).
numba is a dependency (librosa needs it too); without it the same loops run as plain Python:
the same results, far slower (:data:`COMPILED` is False).
"""
from __future__ import annotations

import numpy as np

try:  # numba is installed with librosa; without it the loops below still run, as Python
    from numba import njit
    COMPILED = True
except ImportError:  # pragma: no cover
    COMPILED = False

    def njit(*args, **kwargs):
        return (lambda fn: fn) if not args or not callable(args[0]) else args[0]

__all__ = ["dedup_rows", "or_by", "labels", "coarse_votes", "top_bins", "top_bins_capped", "chosen_hits", "aligned_counts", "COMPILED"]

_ROW_BITS = 21  # rows per query (2M: 30 s at any density); the lookup key takes the other 43 bits
_VOTE_BLOCK = 256  # postings whose bins are computed before they are added (_coarse_votes, _chosen_hits)


@njit(cache=True, nogil=True)
def _runs(packed, row_bits):  # pragma: no cover - compiled
    """Sorted (key << row_bits | row) -> (lookup of each row, first row of each lookup, rows grouped
    by lookup, start of each lookup's rows)."""
    n = packed.shape[0]
    mask = (np.uint64(1) << np.uint64(row_bits)) - np.uint64(1)
    inv = np.empty(n, np.int64)
    rows = np.empty(n, np.int64)
    first = np.empty(n, np.int64)
    start = np.empty(n + 1, np.int64)
    u = -1
    prev = np.uint64(0)
    for k in range(n):
        key = packed[k] >> np.uint64(row_bits)
        r = np.int64(packed[k] & mask)
        if k == 0 or key != prev:
            u += 1
            first[u] = r
            start[u] = k
            prev = key
        inv[r] = u
        rows[k] = r
    start[u + 1] = n
    return inv, first[:u + 1], rows, start[:u + 2]


def dedup_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct values of ``key`` (non-negative, < 2**43) in ascending order, from one sort.

    Returns
    -------
    inv : np.ndarray
        int64: for every row, its lookup (index into the distinct keys).
    first : np.ndarray
        int64: for every lookup, its first row (lowest row index).
    rows : np.ndarray
        int64: the rows grouped by lookup (ascending within a lookup).
    start : np.ndarray
        int64: lookup ``u``'s rows are ``rows[start[u]:start[u + 1]]``.
    """
    key = np.asarray(key, np.int64)
    if len(key) >= 1 << _ROW_BITS:
        raise ValueError(f"{len(key)} query rows: at most {1 << _ROW_BITS}")
    packed = (key.astype(np.uint64) << np.uint64(_ROW_BITS)) | np.arange(len(key), dtype=np.uint64)
    packed.sort()
    return _runs(packed, _ROW_BITS)


@njit(cache=True, nogil=True)
def _or_by(inv, bits, n):  # pragma: no cover - compiled
    out = np.zeros(n, np.int64)
    for r in range(inv.shape[0]):
        out[inv[r]] |= bits[r]
    return out


def or_by(inv: np.ndarray, bits: np.ndarray, n: int) -> np.ndarray:
    """``np.bitwise_or.at(zeros(n), inv, bits)`` (the bits of every row ORed into its lookup), one loop."""
    return _or_by(np.asarray(inv, np.int64), np.asarray(bits, np.int64), int(n))


def labels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for small non-negative integer labels (a group per
    hypothesis), from a count instead of a sort."""
    values = np.asarray(values, np.int64)
    if len(values) == 0 or values.min() < 0:
        return np.unique(values, return_inverse=True)
    present = np.bincount(values) > 0
    return np.flatnonzero(present), (np.cumsum(present) - 1)[values]


@njit(cache=True, nogil=True)
def _coarse_votes(buckets, times, hashes, qtimes, dfs, groups, common, shift, mask, votes, scale):  # pragma: no cover
    n = 0
    n_groups = votes.shape[0]
    first = votes[0]
    second = votes[min(1, n_groups - 1)]
    # a posting's bins are computed into a small buffer before they are added: the loads of the posting
    # then run ahead of the adds' read-modify-writes (~10 % faster than one loop doing both)
    buf = np.empty(_VOTE_BLOCK, np.int64)
    for u in range(hashes.shape[0]):
        d = dfs[u]
        if d == 0:
            continue
        lo = np.int64(buckets[hashes[u]])
        w = np.float32(scale * (1.0 if d <= common else common / d))
        q = np.int64(qtimes[u])
        g = groups[u]
        # one loop per case of groups asking (a branch per hit and group cost a third of the pass);
        # each vote array still receives its adds in posting order
        if n_groups > 2:
            for p in range(lo, lo + d):
                b = ((np.int64(times[p]) - q) >> shift) & mask
                for k in range(n_groups):
                    if g & (1 << k):
                        votes[k, b] += w
            n += d
            continue
        g &= 3 if n_groups == 2 else 1
        if g == 0:
            n += d
            continue
        for a in range(lo, lo + d, _VOTE_BLOCK):
            m = min(_VOTE_BLOCK, lo + d - a)
            for e in range(m):
                buf[e] = ((np.int64(times[a + e]) - q) >> shift) & mask
            if g == 1:
                for e in range(m):
                    first[buf[e]] += w
            elif g == 2:
                for e in range(m):
                    second[buf[e]] += w
            else:
                for e in range(m):
                    first[buf[e]] += w
                    second[buf[e]] += w
        n += d
    return n


def coarse_votes(buckets, times, hashes, qtimes, dfs, groups, common: float, shift: int, mask: int,
                 votes: np.ndarray, scale: float = 1.0) -> int:
    """Add every hit of lookups ``hashes`` (query times ``qtimes``, ``dfs`` hits each, 0 = skipped)
    to ``votes[g, ((frame - qtime) >> shift) & mask]`` with weight ``scale * min(1, common / df)``, for
    every group ``g`` whose bit is set in ``groups`` (one bitmask per lookup; ``votes`` float32, one row
    a group). Each posting is read once, whatever the number of groups. A negative offset wraps
    (modulo ``mask + 1`` bins, as the bins beyond do): query times may be stream times
    (:mod:`~livedj.library.fpstream`; ``scale=-1`` takes a chunk's votes back).

    Returns the number of hits read.
    """
    return _coarse_votes(np.asarray(buckets), np.asarray(times), hashes, qtimes, dfs, groups, float(common), int(shift),
                         int(mask), votes, float(scale))


@njit(cache=True, nogil=True)
def _insert(best, idx, v, i):  # pragma: no cover - compiled
    """Put value ``v`` (index ``i``) in its place in the descending buffer ``best`` (``idx`` beside it),
    dropping the buffer's last."""
    m = best.shape[0] - 1
    while m > 0 and best[m - 1] < v:
        best[m] = best[m - 1]
        idx[m] = idx[m - 1]
        m -= 1
    best[m] = v
    idx[m] = i


@njit(cache=True, nogil=True)
def top_bins(votes, k):  # pragma: no cover - compiled
    """Indices ``i`` (< len(votes) - 1) of the ``k`` largest positive ``votes[i] + votes[i + 1]``, any
    order (ties: the lowest indices). One pass and a small sorted buffer instead of a partition of the
    whole array."""
    n = votes.shape[0] - 1
    k = min(k, n)
    best = np.zeros(k)
    idx = np.full(k, -1, np.int64)
    floor = 0.0  # bins without votes hold no hits: never chosen
    for i in range(n):
        v = votes[i] + votes[i + 1]
        if v > floor:
            _insert(best, idx, v, i)
            floor = best[k - 1]
    return idx[idx >= 0]


@njit(cache=True, nogil=True)
def top_bins_capped(votes, k, starts, cap):  # pragma: no cover - compiled
    """:func:`top_bins`, but at most ``cap`` indices from each segment ``[starts[j], starts[j + 1])``
    (``starts`` ascending, the last segment ends at the array's end; a pair belongs to the segment of
    its first bin). With segments = tracks, a looped record's repeats at other offsets cannot take every
    place: each track's best pairs still go through. ``cap >= k``: :func:`top_bins`'s indices."""
    n = votes.shape[0] - 1
    k = min(k, n)
    best = np.zeros(k)
    idx = np.full(k, -1, np.int64)
    floor = 0.0
    seg_best = np.zeros(cap)
    seg_idx = np.full(cap, -1, np.int64)
    n_seg = starts.shape[0]
    for j in range(n_seg):
        a = max(0, starts[j])
        b = n if j + 1 == n_seg else min(n, starts[j + 1])
        seg_floor = floor  # below the global floor a pair cannot get in anyway
        fresh = True  # the segment's buffer is cleared at its first insert (most segments have none)
        for i in range(a, b):
            v = votes[i] + votes[i + 1]
            if v > seg_floor:
                if fresh:
                    seg_best[:] = 0.0
                    seg_idx[:] = -1
                    fresh = False
                _insert(seg_best, seg_idx, v, i)
                if seg_idx[cap - 1] >= 0:
                    seg_floor = max(floor, seg_best[cap - 1])
        if fresh:
            continue
        for c in range(cap):  # the segment's best, descending (ties: lowest index first)
            v = seg_best[c]
            if seg_idx[c] < 0 or v <= floor:
                break
            _insert(best, idx, v, seg_idx[c])
            floor = best[k - 1]
    return idx[idx >= 0]


@njit(cache=True, nogil=True)
def _chosen_hits(buckets, times, hashes, qtimes, dfs, shift, mask, chosen, rows, start, out_row, out_frame):  # pragma: no cover
    k = 0
    cap = out_row.shape[0]
    # the postings in a chosen bin (rare: ~1 in 500) are first noted without a branch, block by block
    at = np.empty(_VOTE_BLOCK, np.int64)
    for u in range(hashes.shape[0]):
        d = dfs[u]
        if d == 0:
            continue
        lo = np.int64(buckets[hashes[u]])
        q = np.int64(qtimes[u])
        r0, r1 = start[u], start[u + 1]
        for a in range(lo, lo + d, _VOTE_BLOCK):
            m = min(_VOTE_BLOCK, lo + d - a)
            c = 0
            for e in range(m):
                at[c] = a + e
                c += chosen[((np.int64(times[a + e]) - q) >> shift) & mask]
            for e in range(c):
                f = np.int64(times[at[e]])
                for r in range(r0, r1):
                    if k < cap:
                        out_row[k] = rows[r]
                        out_frame[k] = f
                    k += 1
    return k


def chosen_hits(buckets, times, hashes, qtimes, dfs, shift: int, mask: int, chosen: np.ndarray, rows: np.ndarray,
                start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, timeline frame) of the hits whose coarse bin is ``chosen``, once for every row that asked
    for the lookup (lookup ``u``'s rows are ``rows[start[u]:start[u + 1]]``)."""
    cap = 1 << 16
    while True:
        out_row, out_frame = np.empty(cap, np.int64), np.empty(cap, np.int64)
        k = _chosen_hits(np.asarray(buckets), np.asarray(times), hashes, qtimes, dfs, int(shift), int(mask), chosen,
                         rows, start, out_row, out_frame)
        if k <= cap:
            return out_row[:k], out_frame[:k]
        cap = k


@njit(cache=True, nogil=True)
def _aligned(keys, weights):  # pragma: no cover - compiled
    """Sorted (track * n_hyp + hyp) * span + offset keys with their weights -> the distinct keys and
    each one's count, +-1 frame (:func:`_per_track` reads track, hypothesis and offset from the key)."""
    n = keys.shape[0]
    ukeys = np.empty(n, np.int64)
    counts = np.empty(n, np.float64)
    m = -1
    for k in range(n):
        if m < 0 or keys[k] != ukeys[m]:
            m += 1
            ukeys[m] = keys[k]
            counts[m] = 0.0
        counts[m] += weights[k]
    m += 1
    c3 = counts[:m].copy()
    for k in range(m):
        if k > 0 and ukeys[k - 1] == ukeys[k] - 1:
            c3[k] += counts[k - 1]
        if k + 1 < m and ukeys[k + 1] == ukeys[k] + 1:
            c3[k] += counts[k + 1]
    return ukeys[:m], c3


def aligned_counts(track: np.ndarray, hyp: np.ndarray, offset: np.ndarray, weight: np.ndarray, n_hyp: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The exact histogram of hits over ``(track, hypothesis, offset)``, each bin +-1 frame.

    Parameters
    ----------
    track, hyp, offset : np.ndarray
        int64 per hit: track slot (>= 0), hypothesis (< ``n_hyp``), offset in frames (|offset| < 2**23).
    weight : np.ndarray
        float64 per hit.

    Returns
    -------
    tracks : np.ndarray
        Track slots with at least one hit.
    best : np.ndarray
        Their best count.
    best_hyp, best_offset : np.ndarray
        Where it lies (ties: lowest hypothesis, then offset).
    per_hyp : np.ndarray
        (tracks, n_hyp): each track's best count under each hypothesis.
    """
    span = np.int64(1 << 24)
    keys = (np.asarray(track, np.int64) * n_hyp + hyp) * span + (offset + span // 2)
    order = np.argsort(keys)  # ties (equal keys) are summed: their order does not matter
    ukeys, c3 = _aligned(keys[order], np.asarray(weight, np.float64)[order])
    return _per_track(ukeys, c3, span, n_hyp)


@njit(cache=True, nogil=True)
def _per_track(ukeys, c3, span, n_hyp):  # pragma: no cover - compiled
    m = ukeys.shape[0]
    n_tr = 0
    for k in range(m):
        if k == 0 or ukeys[k] // (span * n_hyp) != ukeys[k - 1] // (span * n_hyp):
            n_tr += 1
    tracks = np.empty(n_tr, np.int64)
    best = np.full(n_tr, -1.0)
    best_hyp = np.zeros(n_tr, np.int64)
    best_off = np.zeros(n_tr, np.int64)
    per_hyp = np.zeros((n_tr, n_hyp))
    t = -1
    for k in range(m):
        tr = ukeys[k] // (span * n_hyp)
        if t < 0 or tr != tracks[t]:
            t += 1
            tracks[t] = tr
        h = (ukeys[k] // span) % n_hyp
        c = c3[k]
        if c > per_hyp[t, h]:
            per_hyp[t, h] = c
        if c > best[t]:  # keys ascending: the first maximum is the lowest (hypothesis, offset)
            best[t] = c
            best_hyp[t] = h
            best_off[t] = ukeys[k] % span - span // 2
    return tracks, best, best_hyp, best_off, per_hyp


def over_budget(df: np.ndarray, budget: int) -> np.ndarray:
    """The lookups left out when the rarest are read first up to ``budget`` hits (ties: in order):
    what a stable sort by ``df`` and a cumulative sum would keep, without the sort."""
    total = int(df.sum())
    if total <= budget:
        return np.zeros(len(df), bool)
    budget = max(budget, int(df.min()))  # the rarest lookup is read whatever its size
    # hits per df value, cumulated: the df below which everything fits
    per_df = np.bincount(df, weights=df)
    cum = np.cumsum(per_df)
    d = int(np.searchsorted(cum, budget, side="right"))  # lookups of df < d all fit
    left = budget - int(cum[d - 1])
    out = df > d
    at = np.flatnonzero(df == d)
    out[at[min(len(at), left // d):]] = True
    return out
