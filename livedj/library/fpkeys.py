"""A chunk of lookups' index hits, kept as keys: read once, voted, taken back and searched again without the index.

The live matcher (:mod:`livedj.library.fpstream`) keeps each second's lookups for ~10 updates: their
coarse votes are taken back when they leave the window, the newest second's votes pick candidates of
their own, and every update the exact stage needs their hits in the chosen bins. Reading the postings
again for each (as :func:`~livedj.library.fpvote.coarse_votes` and
:func:`~livedj.library.fpvote.chosen_hits` do) cost ~2.5 M index reads an update at 10k tracks; instead
each hit is read once and kept as one int64 key ``(coarse bin << lookup_bits | lookup) << 32 | timeline
frame`` (8 bytes a hit, ~30 MB for a window at 10k or 100k tracks: the hit budget bounds it).

- :func:`hit_keys`: the keys in posting order, optionally :func:`group` ed by the top bits of their bin
  (a stable counting sort), worth it for the keys read at several updates;
- :func:`key_votes`: :func:`~livedj.library.fpvote.coarse_votes` from keys, the same sums bit for bit
  (each bin receives the same adds in the same order);
- :func:`key_hits`: :func:`~livedj.library.fpvote.chosen_hits` from keys, the same rows in the same order;
  :func:`chosen_lookups` the lookups with such hits (for keys without frames: > 8192 lookups).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from livedj.library.fpvote import njit

__all__ = ["HitKeys", "hit_keys", "group", "key_votes", "key_hits", "chosen_lookups", "PART_BITS"]

PART_BITS = 10  #: kept keys may be grouped by the top bits of their bin (1024 groups), not sorted


class HitKeys(NamedTuple):
    """The coarse bins of a set of lookups' hits (:func:`hit_keys`), in posting order or grouped by bin."""

    keys: np.ndarray   #: int64 ``(bin << lookup_bits | lookup) << frame_bits | frame``
    lookup_bits: int
    frame_bits: int    #: 32: each key ends with its hit's timeline frame; 0: it does not (too many lookups)
    #: grouped: group ``g``'s keys are ``keys[parts[g]:parts[g + 1]]``, each in posting order
    parts: np.ndarray | None = None
    part_shift: int = 0  #: grouped: a key's group is ``key >> part_shift``

    @property
    def bin_shift(self) -> int:
        return self.lookup_bits + self.frame_bits


@njit(cache=True, nogil=True)
def _hit_keys(buckets, times, hashes, qtimes, dfs, shift, mask, lookup_bits, frame_bits):  # pragma: no cover
    out = np.empty(np.sum(dfs), np.int64)
    k = 0
    for u in range(hashes.shape[0]):
        d = dfs[u]
        if d == 0:
            continue
        lo = np.int64(buckets[hashes[u]])
        q = qtimes[u]
        for p in range(lo, lo + d):
            f = np.int64(times[p])
            out[k] = ((((((f - q) >> shift) & mask) << lookup_bits) | u) << frame_bits) | (f if frame_bits else 0)
            k += 1
    return out


@njit(cache=True, nogil=True)
def _group_keys(keys, part_shift, n_parts):  # pragma: no cover - compiled
    """A stable counting sort of ``keys`` on ``key >> part_shift``: each group's keys stay in order."""
    parts = np.zeros(n_parts + 1, np.int64)
    for e in range(keys.shape[0]):
        parts[(keys[e] >> part_shift) + 1] += 1
    for g in range(n_parts):
        parts[g + 1] += parts[g]
    out = np.empty_like(keys)
    at = parts[:n_parts].copy()
    for e in range(keys.shape[0]):
        g = keys[e] >> part_shift
        out[at[g]] = keys[e]
        at[g] += 1
    return out, parts


def hit_keys(buckets, times, hashes, qtimes, dfs, shift: int, mask: int, *, grouped: bool = True) -> HitKeys:
    """The coarse bin of every hit of lookups ``hashes`` (as
    :func:`~livedj.library.fpvote.coarse_votes` bins them), as keys in posting order, each with its
    lookup and timeline frame (when 18 bits of bin, the lookup's and 32 of frame fit in 63);
    ``grouped``: grouped by the bin's top :data:`PART_BITS` bits (:func:`group`). Kept, they replace
    reading the postings again (:func:`key_votes`, :func:`key_hits`).
    """
    dfs = np.asarray(dfs, np.int64)
    lookup_bits = max(1, (len(dfs) - 1).bit_length())
    bin_bits = max(PART_BITS, int(mask).bit_length())
    frame_bits = 32 if bin_bits + lookup_bits + 32 <= 63 else 0
    if bin_bits + lookup_bits > 63:
        raise ValueError(f"{len(dfs)} lookups: too many to key")
    keys = _hit_keys(np.asarray(buckets), np.asarray(times), hashes, qtimes, dfs, int(shift), int(mask), lookup_bits,
                     frame_bits)
    hits = HitKeys(keys, lookup_bits, frame_bits, None, lookup_bits + frame_bits + bin_bits - PART_BITS)
    return group(hits) if grouped else hits


def group(hits: HitKeys) -> HitKeys:
    """``hits`` grouped by the top :data:`PART_BITS` bits of their bin (a stable counting sort: each group
    in posting order): :func:`key_hits` then reads only the groups of the bins asked, and :func:`key_votes`
    adds within a group's few hundred bins (cached) where posting order scatters over all of them. Worth
    it for keys read at several updates (~2 ms per 400k keys)."""
    if hits.parts is not None:
        return hits
    keys, parts = _group_keys(hits.keys, hits.part_shift, 1 << PART_BITS)
    return hits._replace(keys=keys, parts=parts)


@njit(cache=True, nogil=True)
def _key_votes(keys, lookup_bits, frame_bits, dfs, groups, common, votes, scale, also):  # pragma: no cover
    n = dfs.shape[0]
    n_groups = votes.shape[0]
    # per group, each lookup's weight (as _coarse_votes weighs it) or +0.0 where the group did not ask:
    # adding +0.0 leaves every vote as it is (a vote is never -0.0: it starts at +0.0 and every add is
    # nonzero), and no branch per hit (the keys are in bin order, so the asking groups are random: a
    # branch per hit was mispredicted often enough to cost 4x)
    w = np.zeros((2, n), np.float32)
    for u in range(n):
        d = dfs[u]
        x = np.float32(scale * (1.0 if d <= common else common / max(d, 1)))
        for j in range(n_groups):
            if groups[u] & (1 << j):
                w[j, u] = x
    low = (np.int64(1) << lookup_bits) - 1
    both = also.shape[1] == votes.shape[1]
    first, w0, w1 = votes[0], w[0], w[1]
    second = votes[min(1, n_groups - 1)]
    first_b, second_b = also[0], also[min(1, also.shape[0] - 1)]
    for e in range(keys.shape[0]):
        k = keys[e] >> frame_bits
        b = k >> lookup_bits
        u = k & low
        first[b] += w0[u]
        if n_groups == 2:
            second[b] += w1[u]
        if both:
            first_b[b] += w0[u]
            if n_groups == 2:
                second_b[b] += w1[u]


def key_votes(hits: HitKeys, dfs, groups, common: float, votes: np.ndarray, scale: float = 1.0,
              also: np.ndarray | None = None) -> None:
    """:func:`~livedj.library.fpvote.coarse_votes` from :func:`hit_keys`' keys instead of the postings:
    the same sums, bit for bit (each bin receives the same adds in the same order), without reading the
    index; ``also``: the same votes added to a second array of ``votes``' shape too, in the same pass.
    One or two groups (rows of ``votes``)."""
    if votes.shape[0] > 2:
        raise ValueError(f"{votes.shape[0]} groups of hypotheses: at most 2")
    if also is None:
        also = np.zeros((1, 1), np.float32)
    elif also.shape != votes.shape:
        raise ValueError(f"votes {votes.shape} and also {also.shape}")
    _key_votes(hits.keys, hits.lookup_bits, hits.frame_bits, np.asarray(dfs, np.int64), groups, float(common), votes,
               float(scale), also)


@njit(cache=True, nogil=True)
def _in_bins(keys, parts, part_shift, bin_shift, bins, low):  # pragma: no cover - compiled
    """``key & low`` of every key whose bin (``key >> bin_shift``) is one of ``bins`` (ascending), read
    from the groups that hold them, group by group."""
    n = 0
    g_prev = -1
    for i in range(bins.shape[0]):
        g = (bins[i] << bin_shift) >> part_shift
        if g != g_prev:
            n += parts[g + 1] - parts[g]
            g_prev = g
    found = np.empty(n, np.int64)
    m = 0
    i = 0
    while i < bins.shape[0]:
        g = (bins[i] << bin_shift) >> part_shift
        j = i
        while j < bins.shape[0] and (bins[j] << bin_shift) >> part_shift == g:
            j += 1
        for e in range(parts[g], parts[g + 1]):
            b = keys[e] >> bin_shift
            for t in range(i, j):  # the group's chosen bins: one to a few
                if bins[t] == b:
                    found[m] = keys[e] & low
                    m += 1
                    break
        i = j
    return found[:m]


@njit(cache=True, nogil=True)
def _in_chosen(keys, bin_shift, chosen, low):  # pragma: no cover - compiled
    """``key & low`` of every key whose bin is ``chosen``, in order (keys not grouped)."""
    n = 0
    for e in range(keys.shape[0]):
        if chosen[keys[e] >> bin_shift]:
            n += 1
    found = np.empty(n, np.int64)
    m = 0
    for e in range(keys.shape[0]):
        if chosen[keys[e] >> bin_shift]:
            found[m] = keys[e] & low
            m += 1
    return found


def _found(hits: HitKeys, bins: np.ndarray, chosen: np.ndarray, low: int) -> np.ndarray:
    if hits.parts is None:
        return _in_chosen(hits.keys, hits.bin_shift, chosen, low)
    return _in_bins(hits.keys, hits.parts, hits.part_shift, hits.bin_shift, np.asarray(bins, np.int64), low)


def chosen_lookups(hits: HitKeys, bins: np.ndarray, chosen: np.ndarray, n_lookups: int) -> np.ndarray:
    """Which of ``n_lookups`` lookups have a hit in one of the coarse ``bins`` (int64, ascending; ``chosen``:
    the same as a bool per bin), from their :func:`hit_keys` (bool per lookup)."""
    found = _found(hits, bins, chosen, (1 << hits.bin_shift) - 1) >> hits.frame_bits
    out = np.zeros(int(n_lookups), bool)
    out[found] = True
    return out


@njit(cache=True, nogil=True)
def _expand(found, rows, start):  # pragma: no cover - compiled
    """(row, frame) of ``lookup << 32 | frame`` hits, once for every row of the lookup."""
    m = 0
    for k in range(found.shape[0]):
        u = found[k] >> 32
        m += start[u + 1] - start[u]
    out_row = np.empty(m, np.int64)
    out_frame = np.empty(m, np.int64)
    m = 0
    for k in range(found.shape[0]):
        u = found[k] >> 32
        f = found[k] & 0xFFFFFFFF
        for r in range(start[u], start[u + 1]):
            out_row[m] = rows[r]
            out_frame[m] = f
            m += 1
    return out_row, out_frame


def key_hits(hits: HitKeys, bins: np.ndarray, chosen: np.ndarray, rows: np.ndarray, start: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~livedj.library.fpvote.chosen_hits` from :func:`hit_keys`' keys (with frames): (row,
    timeline frame) of the hits in the coarse ``bins`` (int64, ascending; ``chosen``: the same as a bool
    per bin), once for every row that asked, in the same order, without reading the index."""
    if hits.frame_bits != 32:
        raise ValueError("these keys hold no frames: read the postings (chosen_lookups, chosen_hits)")
    found = _found(hits, bins, chosen, (1 << hits.bin_shift) - 1)  # lookup << 32 | frame
    if hits.parts is not None:
        # in lookup order and within a lookup in posting order (a bucket's times ascend; equal times in one
        # bucket are one hit twice): the order chosen_hits gives them
        found.sort()
    return _expand(found, rows, start)
