"""The inner loops of the fingerprint candidate stage, compiled with numba when it is installed.

Two passes over the index hits of a query's lookups (``buckets``/``times`` of
:class:`livedj.library.fingerprints.FingerprintIndex`): :func:`coarse_votes` adds each hit's weight
to its coarse (timeline - query time) bin; :func:`chosen_hits` returns the hits that fall in the
chosen bins. In numpy each hit costs ~8 whole-array passes (repeat, gather, subtract, shift,
bincount, ...), ~40 ns; compiled, one read of the posting and one add, a few ns, and the GIL is
released (the match runs on the second core beside the embedding). Without numba the same
functions run as numpy (:data:`COMPILED` is False).
"""
from __future__ import annotations

import numpy as np

try:  # optional: the numpy path gives the same results, slower
    from numba import njit
    COMPILED = True
except ImportError:  # pragma: no cover - numba is a dependency; this keeps a broken install usable
    COMPILED = False

__all__ = ["coarse_votes", "chosen_hits", "COMPILED"]


def _coarse_votes_py(buckets, times, hashes, qtimes, dfs, common, shift, mask, votes):
    lo = buckets[hashes].astype(np.int64)
    qpos = np.repeat(np.arange(len(hashes)), dfs)
    starts = np.cumsum(dfs) - dfs
    pos = np.repeat(lo - starts, dfs) + np.arange(int(dfs.sum()))
    b = (np.asarray(times[pos], np.int64) - qtimes[qpos]) >> shift
    np.maximum(b, 0, out=b)
    b &= mask
    votes += np.bincount(b, weights=np.minimum(1.0, common / np.maximum(dfs, 1))[qpos], minlength=len(votes))
    return int(len(pos))


def _chosen_hits_py(buckets, times, hashes, qtimes, dfs, shift, mask, chosen, out_u, out_frame):
    lo = buckets[hashes].astype(np.int64)
    qpos = np.repeat(np.arange(len(hashes)), dfs)
    starts = np.cumsum(dfs) - dfs
    pos = np.repeat(lo - starts, dfs) + np.arange(int(dfs.sum()))
    frame = np.asarray(times[pos], np.int64)
    b = np.maximum((frame - qtimes[qpos]) >> shift, 0) & mask
    sel = np.flatnonzero(chosen[b])
    k = min(len(sel), len(out_u))
    out_u[:k], out_frame[:k] = qpos[sel[:k]], frame[sel[:k]]
    return int(len(sel))


if COMPILED:
    @njit(cache=True, nogil=True)
    def _coarse_votes_nb(buckets, times, hashes, qtimes, dfs, common, shift, mask, votes):  # pragma: no cover
        n = 0
        for u in range(hashes.shape[0]):
            d = dfs[u]
            if d == 0:
                continue
            lo = np.int64(buckets[hashes[u]])
            w = 1.0 if d <= common else common / d
            q = qtimes[u]
            for p in range(lo, lo + d):
                b = (np.int64(times[p]) - q) >> shift
                if b < 0:
                    b = 0
                votes[b & mask] += w
            n += d
        return n

    @njit(cache=True, nogil=True)
    def _chosen_hits_nb(buckets, times, hashes, qtimes, dfs, shift, mask, chosen, out_u, out_frame):  # pragma: no cover
        k = 0
        cap = out_u.shape[0]
        for u in range(hashes.shape[0]):
            d = dfs[u]
            lo = np.int64(buckets[hashes[u]])
            q = qtimes[u]
            for p in range(lo, lo + d):
                f = np.int64(times[p])
                b = (f - q) >> shift
                if b < 0:
                    b = 0
                if chosen[b & mask]:
                    if k < cap:
                        out_u[k] = u
                        out_frame[k] = f
                    k += 1
        return k


def coarse_votes(buckets, times, hashes, qtimes, dfs, common: float, shift: int, mask: int,
                 votes: np.ndarray) -> int:
    """Add every hit of lookups ``hashes`` (query times ``qtimes``, ``dfs`` hits each, 0 = skipped)
    to ``votes[((frame - qtime) >> shift) & mask]`` with weight ``min(1, common / df)``.

    Returns the number of hits read.
    """
    fn = _coarse_votes_nb if COMPILED else _coarse_votes_py
    return fn(np.asarray(buckets), np.asarray(times), hashes, qtimes, dfs, float(common), int(shift), int(mask), votes)


def chosen_hits(buckets, times, hashes, qtimes, dfs, shift: int, mask: int, chosen: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """(lookup index, timeline frame) of the hits whose coarse bin is ``chosen``."""
    fn = _chosen_hits_nb if COMPILED else _chosen_hits_py
    cap = 1 << 14
    while True:
        out_u, out_frame = np.empty(cap, np.int64), np.empty(cap, np.int64)
        k = fn(np.asarray(buckets), np.asarray(times), hashes, qtimes, dfs, int(shift), int(mask), chosen,
               out_u, out_frame)
        if k <= cap:
            return out_u[:k], out_frame[:k]
        cap = k
