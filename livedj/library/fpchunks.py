"""The live matcher's chunks: the lookups of a stretch of new landmark pairs, read once and kept.

:class:`~livedj.library.fpstream.LiveMatcher` reads each second of new audio once, as a *chunk*: the
lookups of the pairs whose later peak arrived in it, their hits kept as keys (:mod:`livedj.library.fpkeys`).
A chunk's coarse votes are added to the stream's running vote array when it is read and taken back
(weight -1, from the keys) when it leaves the window; the exact stage takes the chosen bins' hits from
the kept chunks' keys (docs/fingerprints-log.md, "The live matcher").

- :class:`Chunk`: what one chunk read;
- :func:`read_chunks`: the pairs of some peaks, read as one chunk per stretch of later peaks, votes added;
- :func:`vote`: a chunk's votes added again (or taken back);
- :func:`chosen_hits`: the kept chunks' hits in the chosen coarse bins (the exact stage's input);
- :func:`hit_peaks`: the query peaks of some exact-stage hits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livedj.dsp import fingerprint as fp
from livedj.library import fingerprints as fpi
from livedj.library import fpkeys, fpvote

__all__ = ["Chunk", "read_chunks", "vote", "chosen_hits", "hit_peaks", "MAX_CHUNKS", "GROUP_LIFE_S"]

_TIME_BITS = 20             # a lookup key: chunk (4 bits), hash (HASH_BITS), coarse query time >> DEDUP_SHIFT
MAX_CHUNKS = 1 << (43 - fp.HASH_BITS - _TIME_BITS)  #: chunks read at once (dedup_rows takes 43-bit keys)
#: a chunk's hit keys are grouped by bin when it stays in the window at least this long (frames: x FPS)
GROUP_LIFE_S = 5.0
_FPS = fp.SR / fp.HOP       # landmark frames per second


@dataclass
class Chunk:
    """The lookups one chunk read: their votes are taken back when it leaves (its postings read again),
    the exact stage reads their hits in the chosen bins."""

    middle: float            # stream frame (from the origin) of the middle of its pairs' later peaks
    targets: tuple           # its pairs' later peaks are in [targets[0], targets[1]) (frames from the origin)
    n_pairs: int
    hashes: np.ndarray       # per lookup: hash
    q: np.ndarray            # per lookup: query time of the coarse stage
    df: np.ndarray           # per lookup: hits read (0: not read)
    groups: np.ndarray       # per lookup: hypothesis groups that asked (bits)
    rows: np.ndarray         # rows grouped by lookup
    start: np.ndarray        # lookup u's rows: rows[start[u]:start[u + 1]]
    row_hyp: np.ndarray
    row_time: np.ndarray     # per row: anchor time in speed-1 frames from the origin
    row_weight: np.ndarray   # per row: its lookup's weight min(1, common / df)
    row_anchor: np.ndarray   # per row: its pair's anchor (earlier peak), frames from the origin
    hits: fpkeys.HitKeys     # its hits' coarse bins and frames: votes taken back, chosen hits found, unread
    row_pair: np.ndarray     # per row: its pair (index into peaks' i, j)
    peaks: tuple             # the read's peaks and pairs (t frames from the origin, f Hz, i, j)


def vote(chunk: Chunk, common: float, votes: np.ndarray, scale: float = 1.0, also: np.ndarray | None = None) -> None:
    """Add a chunk's coarse votes (``scale`` x their weights) to ``votes`` (and ``also``), one row per group,
    from its kept hit bins (the postings are read once, when the chunk is).

    Parameters
    ----------
    chunk : Chunk
        The chunk (:func:`read_chunks`).
    common : float
        The index's ``common`` document frequency (a lookup's weight is min(1, common / df)).
    votes : np.ndarray
        float32 vote array (groups x coarse bins + 1), added to in place.
    scale : float
        1 to add the votes, -1 to take them back.
    also : np.ndarray or None
        A second vote array the votes are added to as well.
    """
    fpkeys.key_votes(chunk.hits, chunk.df, chunk.groups, common, votes, scale, also)


def read_chunks(index: fpi.FingerprintIndex, speeds: np.ndarray, pitches: np.ndarray, group_bit: np.ndarray,
                t: np.ndarray, f: np.ndarray, i: np.ndarray, j: np.ndarray, target: np.ndarray, edges: np.ndarray,
                end: float, span: float, votes: np.ndarray, *, recent: np.ndarray | None = None,
                recent_from: float = 0.0, residual: bool = False) -> list[Chunk]:
    """Read the pairs (i, j) of peaks (t frames from the origin, f Hz) whose later peak (``target``) is in
    [edges[0], edges[-1]), as one chunk per pair of edges: their lookups, votes added.

    All chunks in one pass (a window read whole costs about one :func:`~livedj.library.fingerprints.match_audio`),
    each with its own lookups and hit budget (``HIT_BUDGET`` x its share of the window ``span``).

    Parameters
    ----------
    index : FingerprintIndex
        The library's landmarks.
    speeds, pitches : np.ndarray
        Per hypothesis: time and pitch scale (:func:`~livedj.library.fingerprints.hypotheses`).
    group_bit : np.ndarray
        Per hypothesis: the bit of its hypothesis group (pitch fader, key lock).
    t, f, i, j : np.ndarray
        Peaks (frames from the origin, Hz) and their pairs (earlier, later peak).
    target : np.ndarray
        Per pair: its later peak's frame.
    edges : np.ndarray
        The chunks' bounds (frames from the origin), ascending.
    end, span : float
        The window's end (frames from the origin) and length (frames).
    votes : np.ndarray
        The running vote array: each chunk's votes are added to it as it is read.
    recent : np.ndarray or None
        The newest audio's own vote array: chunks that end after ``recent_from`` add their votes to it too.
    recent_from : float
        Where the newest audio starts (frames from the origin).
    residual : bool
        Pairs of explained-away peaks: not counted in the query's pairs (``Chunk.n_pairs`` 0).

    Returns
    -------
    list of Chunk
        One per pair of edges that holds a lookup, in time order.
    """
    chunk_of = np.searchsorted(edges, target, side="right") - 1
    ok = (chunk_of >= 0) & (chunk_of < len(edges) - 1)
    i, j, chunk_of = i[ok], j[ok], chunk_of[ok]
    hashes, times, hyp, pair = fpi.hash_rows(t, f, i, j, speeds, pitches, with_pair=True)
    if len(hashes) == 0 or len(index) == 0:
        return []
    row_chunk = chunk_of[pair]
    q_time = np.rint(times).astype(np.int64)  # exact, per hypothesis: for the exact stage
    # the coarse stage scales times from the chunk's own start, as match_audio from the window's:
    # scaled from the origin, the hypotheses of one pair would land seconds apart after a minute
    # (no longer one lookup, no longer one bin)
    first_target = edges[row_chunk]
    q_coarse = np.rint((times - first_target * speeds[hyp]) + first_target).astype(np.int64)
    df = np.asarray(index.buckets[hashes + 1], np.int64) - np.asarray(index.buckets[hashes], np.int64)
    df[df > fpi.SKIP_DF * index.common] = 0
    # one lookup per (chunk, hash, time to 0.25 s); chunk-major, so that a chunk's lookups are contiguous
    key = (((row_chunk << fp.HASH_BITS) | hashes) << _TIME_BITS) | ((q_coarse >> fpi.DEDUP_SHIFT) + (1 << (_TIME_BITS - 1)))
    inv, first, rows, start = fpvote.dedup_rows(key)
    u_df = df[first]
    u_chunk = row_chunk[first]
    bounds = np.searchsorted(u_chunk, np.arange(len(edges)))
    for c in range(len(edges) - 1):
        lo, hi = edges[c], min(edges[c + 1], end)
        seg = slice(bounds[c], bounds[c + 1])
        u_df[seg][fpi.over_budget(u_df[seg], int(fpi.HIT_BUDGET * max(0.0, hi - lo) / span))] = 0
    groups = fpvote.or_by(inv, group_bit[hyp], len(first))
    u_hash, u_q = hashes[first], q_coarse[first]
    weight = np.minimum(1.0, index.common / np.maximum(df, 1))
    anchor = t[i][pair]
    n_pairs = np.bincount(chunk_of, minlength=len(edges) - 1)
    out = []
    for c in range(len(edges) - 1):
        a, b = bounds[c], bounds[c + 1]
        if a == b:
            continue
        lo, hi = float(edges[c]), float(edges[c + 1])
        # keys grouped by bin (~1 ms per 400k) pay back over the updates a chunk stays, not for the
        # provisional chunk (one update) nor for the oldest chunks of a window read whole (they leave
        # within seconds: reading their keys in posting order costs less than grouping them)
        hits = fpkeys.hit_keys(index.buckets, index.times, u_hash[a:b], u_q[a:b], u_df[a:b], fpi.COARSE_SHIFT,
                               (1 << fpi.COARSE_BINS_LOG2) - 1,
                               grouped=hi <= end and hi - (end - span) >= GROUP_LIFE_S * _FPS)
        # the rows stay indices into this read's row arrays (shared by its chunks)
        out.append(Chunk((min(hi, end) + lo) / 2, (lo, hi), 0 if residual else int(n_pairs[c]), u_hash[a:b],
                         u_q[a:b], u_df[a:b], groups[a:b], rows, start[a:b + 1], hyp, q_time, weight, anchor, hits,
                         pair, (t, f, i, j)))
        # chunk by chunk, lookup by lookup: each bin's adds in posting order
        vote(out[-1], index.common, votes, also=recent if recent is not None and hi > recent_from else None)
    return out


def chosen_hits(chunks: list[Chunk], index: fpi.FingerprintIndex, bins: np.ndarray, chosen: np.ndarray,
                start: float, dt_max: float) -> tuple[tuple[np.ndarray, ...], list[tuple[int, np.ndarray]]]:
    """The hits of ``chunks`` in the chosen coarse bins, of pairs inside the window (their anchor at ``start`` or
    later, frames from the origin), as the exact stage takes them.

    Parameters
    ----------
    chunks : list of Chunk
        The kept chunks, in the matcher's order (:func:`hit_peaks` reads them by position).
    index : FingerprintIndex
        The library's landmarks (read again for chunks whose keys hold no frames).
    bins, chosen : np.ndarray
        The chosen bins, and the flags of every bin (coarse bins + 1) that say so.
    start : float
        The window's start.
    dt_max : float
        The longest pair (frames) at the slowest hypothesis: chunks whose pairs end this soon after ``start``
        may hold pairs that began before it.

    Returns
    -------
    hits : tuple of np.ndarray
        Per hit: timeline frame, query time, hypothesis, weight, anchor (frames from the origin).
    sources : list of (int, np.ndarray)
        Per chunk, its position in ``chunks`` and each of its hits' rows (:func:`hit_peaks`' ``hit_rows``).
    """
    n_bins = 1 << fpi.COARSE_BINS_LOG2
    columns: list[list[np.ndarray]] = [[], [], [], [], []]
    sources = []
    for n, c in enumerate(chunks):
        if c.hits.frame_bits:
            row, frame = fpkeys.key_hits(c.hits, bins, chosen, c.rows, c.start)
        else:  # keys without frames: the lookups with a hit in a chosen bin are read again
            df = np.where(fpkeys.chosen_lookups(c.hits, bins, chosen, len(c.df)), c.df, 0)
            row, frame = fpvote.chosen_hits(index.buckets, index.times, c.hashes, c.q, df, fpi.COARSE_SHIFT,
                                            n_bins - 1, chosen, c.rows, c.start)
        if c.targets[0] < start + dt_max:
            inside = c.row_anchor[row] >= start
            row, frame = row[inside], frame[inside]
        sources.append((n, row))
        for column, values in zip(columns, (frame, c.row_time[row], c.row_hyp[row], c.row_weight[row],
                                            c.row_anchor[row])):
            column.append(values)
    if not sources:
        return tuple(np.zeros(0) for _ in columns), sources
    return tuple(np.concatenate(column) for column in columns), sources


def hit_peaks(chunks: list[Chunk], hit_rows: list[tuple[int, np.ndarray]], hits: np.ndarray
              ) -> tuple[np.ndarray, ...]:
    """The query peaks of exact-stage ``hits``: (anchor t, anchor f, target t, target f, chunk), frames from the
    origin, Hz and the index in ``chunks`` of the chunk whose pair it is, one per hit. ``hit_rows``: per kept
    chunk that gave hits, (its index in ``chunks``, each hit's row), in the order the hits were gathered."""
    position = np.concatenate([np.full(len(row), n) for n, row in hit_rows])[hits]
    rows = np.concatenate([row for _, row in hit_rows])[hits]
    out = tuple(np.zeros(len(hits)) for _ in range(4))
    for n in np.unique(position):
        on = position == n
        pair = chunks[n].row_pair[rows[on]]
        t, f, i, j = chunks[n].peaks
        for o, values in zip(out, (t[i[pair]], f[i[pair]], t[j[pair]], f[j[pair]])):
            o[on] = values
    return (*out, position)
