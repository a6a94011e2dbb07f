"""The spread of a match over the query: weaker evidence that is not a chance burst.

Through the room a record keeps a few aligned landmarks in most seconds of a 10-s query; a chance
alignment (or another record sharing one sound) is a burst in one to three seconds: one coincidence
of a few peaks that several pairs share. :func:`aligned_seconds` counts the seconds (the exact stage,
:func:`livedj.library.fingerprints.align_hits`, gives it as ``Match.seconds``);
:func:`spread_evidence` is the weaker evidence :func:`livedj.library.fingerprints.decide` also takes
(docs/fingerprints-log.md, "Booth misses").
"""
from __future__ import annotations

import numpy as np

from livedj.dsp import fingerprint as fp

__all__ = ["aligned_seconds", "spread_evidence", "SPREAD_ALIGNED", "SPREAD_SECONDS", "SPREAD_LEAD", "SPREAD_MARGIN",
           "crowd_hits", "crowded", "CROWD_SHARE", "CROWD_STRONG"]

#: :func:`spread_evidence`: a record is also named with this many aligned landmarks when they lie in
#: ``SPREAD_SECONDS`` distinct seconds of the query, ``SPREAD_LEAD`` more than the runner-up's, and it
#: has ``SPREAD_MARGIN`` times the runner-up's count (chosen on the booth presets of c2 and of a
#: 10k-track library, no more false names there than without: docs/fingerprints-log.md, "Booth misses")
SPREAD_ALIGNED = 6
SPREAD_SECONDS = 7
SPREAD_LEAD = 4
SPREAD_MARGIN = 1.5
#: :func:`crowded`: a match under ``CROWD_STRONG`` aligned landmarks is not named while they are under this
#: share of its *crowd* (its track's hits at its speed hypothesis in the examined bins: what that track
#: reaches at any offset); None: off. A record whose music resembles the query's (a passage of the same
#: soundtrack, a transposed copy) collects hits at every offset and reaches 7-12 at one by chance, in 3-4 %
#: of its crowd; a record heard through the room aligns 5-80 % of its crowd (docs/fingerprints-log.md,
#: "Chance level"). Off: at index fanout 3 it took 2 of 11 false names on fresh 10k queries and no booth or clean
#: name, but a loop's repeats fill its own crowd (generated loops align 4.5-16 % of it at full level), and
#: live a fading generated record lost its name 1-3 updates early (6 of 4,352 updates); fanout 4 stays unshipped.
#: While off, the crowd is not counted (``Match.crowd`` 0).
CROWD_SHARE: float | None = None
CROWD_STRONG = 15.0


def aligned_seconds(q_time: np.ndarray, hyp: np.ndarray, hit_slot: np.ndarray, offset: np.ndarray,
                    slots: np.ndarray, best_hyp: np.ndarray, best_off: np.ndarray) -> np.ndarray:
    """Per track slot of ``slots``: in how many distinct seconds of the query (anchor time // 1 s) its
    aligned landmarks lie (the hits of its best hypothesis within +-1 frame of its best offset). A true
    record through the room is heard all along (5-10 of 10 s); a chance alignment is a burst
    (1-3 s: one coincidence of a few peaks, matched by several pairs)."""
    out = np.zeros(len(slots), np.int64)
    if not len(slots):
        return out
    where = np.full(int(max(slots.max(), hit_slot.max())) + 1, -1, np.int64)
    where[slots] = np.arange(len(slots))
    rank = where[hit_slot]
    on = rank >= 0
    r = rank[on]
    on[on] = (hyp[on] == best_hyp[r]) & (np.abs(offset[on] - best_off[r]) <= 1)
    second = np.floor_divide(np.asarray(q_time[on], np.int64), int(round(fp.SR / fp.HOP)))
    pairs = np.unique(rank[on] * (1 << 32) + (second + (1 << 31)))
    np.add.at(out, pairs >> 32, 1)
    return out


def crowd_hits(hyp: np.ndarray, hit_slot: np.ndarray, weight: np.ndarray, slots: np.ndarray,
               best_hyp: np.ndarray) -> np.ndarray:
    """Per track slot of ``slots``: the weight of its hits under its best hypothesis ``best_hyp``, at any
    offset (the hits of the examined bins: ``hyp``, ``hit_slot``, ``weight`` per hit). The chance level
    of that track for this query: the more of them, the higher its best offset gets by chance."""
    if not len(slots):
        return np.zeros(0, np.float64)
    where = np.full(int(max(slots.max(), hit_slot.max())) + 1, -1, np.int64)
    where[slots] = np.arange(len(slots))
    rank = where[hit_slot]
    on = rank >= 0
    on[on] = hyp[on] == best_hyp[rank[on]]
    return np.bincount(rank[on], weights=np.asarray(weight, np.float64)[on], minlength=len(slots))


def crowded(best) -> bool:
    """Whether ``best`` (a ``Match``) is too few of its crowd to be named (:data:`CROWD_SHARE`;
    False when off, when its crowd was not counted, or from ``CROWD_STRONG`` aligned landmarks)."""
    return (CROWD_SHARE is not None and best.crowd > 0 and best.aligned < CROWD_STRONG
            and best.aligned < CROWD_SHARE * best.crowd)


def spread_evidence(best, runner) -> bool:
    """The weaker evidence :func:`~livedj.library.fingerprints.decide` also takes (``best``, ``runner``:
    its first two ``Match`` es, ``runner`` None when alone): fewer aligned landmarks (``SPREAD_ALIGNED``) than
    ``MIN_ALIGNED``, but spread over the query (``SPREAD_SECONDS`` distinct seconds, ``SPREAD_LEAD`` more
    than the runner-up's) and ``SPREAD_MARGIN`` times the runner-up's count. Through the room a record
    keeps a few landmarks in most seconds; a chance alignment (or another record sharing a sound) is a
    burst in one to three seconds (docs/fingerprints-log.md, "Booth misses")."""
    r_aligned, r_seconds = (runner.aligned, runner.seconds) if runner is not None else (0.0, 0)
    return (best.aligned >= SPREAD_ALIGNED and best.seconds >= SPREAD_SECONDS
            and best.seconds >= r_seconds + SPREAD_LEAD and best.aligned >= SPREAD_MARGIN * r_aligned)
