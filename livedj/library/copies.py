"""One recording held twice in the library (a FLAC and an MP3 of it, an album and a compilation copy,
a file copied into two folders), found by `livedj index` from the fingerprints.

Every suggestion list shows one copy of a recording, and a recording played tonight (or on the
deck, banned) is never suggested under its other copy's name (:mod:`livedj.engine.ranker`). The
live matcher folds copies it happens to compare (:func:`livedj.library.fpsame.fold_copies`);
this finds them all, once, for every command that ranks.

1. *Candidates* (:func:`candidates`): a sample of a record's landmarks (the hashes
   ``h % SAMPLE == 0``: a copy keeps the same ones) looked up in the fingerprint index; another
   record that holds many of them at one time shift (2-s bins) is a candidate. Independent of tags
   and of the beginning vectors (a copy with a lead-in of silence or another level has the same
   landmarks, shifted), and incremental: only records new or changed since the last run look.
2. *Verdict* (:func:`compare`): both records' landmarks, whole; the shift from the histogram of
   time differences of equal hashes; then, 4-s block by block, the share of each record's landmarks
   the other holds at that shift (+-1 frame). The same recording agrees in (nearly) every block of
   *both* records; a shared loop or sample agrees in a few blocks, a radio edit against its
   extended mix covers only part of the longer one: neither is a copy.

The copies found are stored as pairs with both rows' ``indexed_at`` (:class:`livedj.library.store.Store`
reads only pairs whose rows are unchanged), and the records searched likewise, so a re-index looks
again only for what changed.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

__all__ = ["Verdict", "compare", "candidates", "find_copies", "Found", "METHOD", "recordings", "track_pairs",
           "recording_labels", "recordings_by_path"]

#: recorded in the store's meta: a new rule (these constants) searches every record again
METHOD = "copies-1"
META = "copies_method"
FRAME_S = 256 / 16000  #: one landmark frame, s (fingerprint.HOP / SR)
SAMPLE = 16            #: hashes h % SAMPLE == 0 look for candidates (~330 of a four-minute record)
VOTE_BIN = 128         #: frames of one shift bin of the candidate vote (2 s)
MIN_VOTES = 8          #: a candidate holds at least this many of the sample at one shift ...
MIN_VOTE_SHARE = 0.1   #: ... and this share of it: a pair the verdict takes holds >= ~12 % (15 % in 80 % of blocks);
                       #: copies on the dev corpora 65-100 %, other records <= 10 % (most < 3 %)
BLOCK_S = 4.0          #: the verdict's block
BLOCK_LEAST = 5        #: landmarks a block needs to count (a silent stretch has none: it is left out)
BLOCK_SHARED = 0.15    #: a block agrees when this share of its landmarks is held by the other at the shift
MIN_COVERED = 0.8      #: the same recording: this share of the blocks of *both* records agree
MAX_PER_HASH = 8       #: hashes held more often than this in one record are left out of the shift histogram


@dataclass(frozen=True)
class Verdict:
    """Whether two records are one recording, and what says so."""

    same: bool
    shift_s: float  #: time in the first record minus time in the second, of the same sound, s
    covered: tuple[float, float]  #: share of each record's blocks that agree at the shift
    shared: float  #: share of the second record's landmarks the first holds at the shift


def compare(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], *,
            min_covered: float = MIN_COVERED) -> Verdict:
    """The verdict on two records from their landmarks ``(hashes, frame times)`` (whole records).

    Parameters
    ----------
    a, b : tuple of np.ndarray
        Each record's landmark hashes and times (16-ms frames), as the store holds them.
    min_covered : float
        The share of each record's blocks that must agree.
    """
    (ha, ta), (hb, tb) = [(np.asarray(h, np.int64), np.asarray(t, np.int64)) for h, t in (a, b)]
    if len(ha) == 0 or len(hb) == 0:
        return Verdict(False, 0.0, (0.0, 0.0), 0.0)
    order = np.argsort(ha, kind="stable")
    hs, ts = ha[order], ta[order]
    lo, hi = np.searchsorted(hs, hb, "left"), np.searchsorted(hs, hb, "right")
    n = hi - lo
    ok = (n > 0) & (n <= MAX_PER_HASH)  # a hash held all over a record says nothing about the shift
    lo, n = lo[ok], n[ok]
    if not n.sum():
        return Verdict(False, 0.0, (0.0, 0.0), 0.0)
    pos = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
    dt = ts[pos] - np.repeat(tb[ok], n)
    first = int(dt.min())
    votes = np.convolve(np.bincount(dt - first), [1, 1, 1], "same")  # each record's peaks to +-1 frame
    shift = int(np.argmax(votes)) + first  # t_a = t_b + shift
    found_b = _held(hb, tb, ha, ta, shift)
    found_a = _held(ha, ta, hb, tb, -shift)
    covered = (_covered(ta, found_a), _covered(tb, found_b))
    return Verdict(min(covered) >= min_covered, shift * FRAME_S, covered, float(found_b.mean()))


def _held(h: np.ndarray, t: np.ndarray, h_other: np.ndarray, t_other: np.ndarray, shift: int) -> np.ndarray:
    """Which landmarks ``(h, t)`` the other record holds at ``t + shift`` (+-1 frame)."""
    other = np.unique((h_other << 32) | t_other)
    key = (h << 32) | t
    found = np.zeros(len(key), bool)
    for d in (shift - 1, shift, shift + 1):
        found |= np.isin(key + d, other)
    return found


def _covered(t: np.ndarray, found: np.ndarray) -> float:
    """The share of a record's blocks (with landmarks) whose landmarks agree."""
    block = (t - t.min()) // int(round(BLOCK_S / FRAME_S))
    total = np.bincount(block)
    agree = np.bincount(block, weights=found)
    used = total >= BLOCK_LEAST
    if not used.any():
        return 0.0
    return float(np.mean(agree[used] / total[used] >= BLOCK_SHARED))


def candidates(index, track_id: int, hashes: np.ndarray, times: np.ndarray) -> list[int]:
    """Records of the fingerprint ``index`` that hold many of ``track_id``'s sampled landmarks at one
    time shift (2-s bins, two offset binnings so that a shift on a bin's edge is not split).

    Parameters
    ----------
    index : livedj.library.fpindex.FingerprintIndex
        The library's fingerprint index.
    hashes, times : np.ndarray
        The record's landmarks.
    """
    hashes, times = np.asarray(hashes, np.int64), np.asarray(times, np.int64)
    keep = hashes % SAMPLE == 0
    hashes, times = hashes[keep], times[keep]
    if len(hashes) == 0:
        return []
    qpos, frame, df = index.lookup(hashes)
    common = df <= max(4 * MAX_PER_HASH, 8 * index.common)  # a hash every record holds votes for all
    qpos, frame = qpos[common], frame[common]
    other, at = index.track_of(frame)
    mine = other != track_id
    other, shift = other[mine], at[mine] - times[qpos[mine]]
    least = max(MIN_VOTES, MIN_VOTE_SHARE * len(hashes))
    found: set[int] = set()
    for half in (0, VOTE_BIN // 2):
        key, votes = np.unique(other * (1 << 24) + ((shift + half) // VOTE_BIN), return_counts=True)
        found.update(int(k) for k in (key[votes >= least] + (1 << 23)) >> 24)  # the bin is >= -2**23
    return sorted(found)


@dataclass
class Found:
    """What :func:`find_copies` did."""

    searched: int = 0  #: records that looked for their copies (new or changed)
    verified: int = 0  #: candidate pairs compared landmark by landmark
    pairs: int = 0  #: of them, copies
    groups: list[tuple[int, ...]] = field(default_factory=list)  #: every recording held more than once (track ids)
    seconds: float = 0.0


def find_copies(store, index, params: str | None = None) -> Found:
    """Find the copies of the records new or changed since the last run and store them.

    Parameters
    ----------
    store : livedj.library.store.Store
        The library store, writable; committed here.
    index : livedj.library.fpindex.FingerprintIndex or None
        The fingerprint index just built (None: no fingerprints, nothing found).
    params : str, optional
        The fingerprint parameters of the index's landmarks (only such rows are read).
    """
    began = time.perf_counter()
    found = Found()
    db = store.db
    if store.get_meta(META) != METHOD:  # another rule: every record looks again
        db.execute("DELETE FROM copy_pairs")
        db.execute("DELETE FROM copy_searched")
        store.set_meta(META, METHOD)
    stamps = {int(i): at for i, at in db.execute("SELECT id, indexed_at FROM tracks WHERE status = 'ok'")}
    in_index = set(index._ids.tolist()) if index is not None and len(index) else set()  # noqa: SLF001
    searched = dict(db.execute("SELECT track_id, indexed_at FROM copy_searched"))
    todo = sorted(t for t in in_index if t in stamps and searched.get(t) != stamps[t])
    # pairs whose rows changed or left: searched again with the changed one, or gone with it
    for a, b, a_at, b_at in db.execute("SELECT a, b, a_at, b_at FROM copy_pairs").fetchall():
        if stamps.get(a) != a_at or stamps.get(b) != b_at:
            db.execute("DELETE FROM copy_pairs WHERE a = ? AND b = ?", (a, b))
    db.execute("DELETE FROM copy_searched WHERE track_id NOT IN (SELECT id FROM tracks WHERE status = 'ok')")
    landmarks = _Landmarks(store, params)
    done: set[tuple[int, int]] = set()
    for track_id in todo:
        mine = landmarks[track_id]
        for other in candidates(index, track_id, *mine):
            pair = (min(track_id, other), max(track_id, other))
            if pair in done or other not in stamps:
                continue
            done.add(pair)
            verdict = compare(landmarks[pair[0]], landmarks[pair[1]])
            if verdict.same:
                db.execute("INSERT OR REPLACE INTO copy_pairs (a, b, a_at, b_at, shift_s, covered) VALUES (?,?,?,?,?,?)",
                           (*pair, stamps[pair[0]], stamps[pair[1]], verdict.shift_s, min(verdict.covered)))
                found.pairs += 1
        db.execute("INSERT OR REPLACE INTO copy_searched (track_id, indexed_at) VALUES (?, ?)",
                   (track_id, stamps[track_id]))
    db.commit()
    found.searched, found.verified = len(todo), len(done)
    found.groups = sorted(recordings(store.recordings().items()).values())
    found.seconds = time.perf_counter() - began
    return found


def recordings(pairs: Iterable[tuple[int, int]]) -> dict[int, tuple[int, ...]]:
    """Group copies into recordings: the one place the library's copies become recordings.

    Copies of copies are one recording (``a``-``b`` and ``b``-``c``: ``a``, ``b`` and ``c``). A
    recording is named by the lowest track id of its copies: the ``Track.recording`` of each of them.

    Parameters
    ----------
    pairs : iterable of tuple of (int, int)
        Two track ids that hold one recording: a copy pair the store keeps (``copy_pairs``), or a
        track and its ``Track.recording`` (:func:`track_pairs`).

    Returns
    -------
    dict of int to tuple of int
        Recording -> the track ids of its copies, sorted (the recording's own id first), for every
        recording the pairs name.

    Examples
    --------
    >>> recordings([(7, 3), (9, 7), (5, 4)])
    {3: (3, 7, 9), 4: (4, 5)}
    """
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(int(a)), root(int(b))
        parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for track_id in sorted(parent):
        groups.setdefault(root(track_id), []).append(track_id)
    return {r: tuple(ids) for r, ids in groups.items()}


def track_pairs(tracks: Mapping) -> list[tuple[int, int]]:
    """``(track id, Track.recording)`` of every track of ``tracks`` (id -> Track, as
    :meth:`livedj.library.store.Store.tracks` gives them) held more than once: :func:`recordings` of them
    gives the groups back."""
    return [(int(t), int(r)) for t, track in dict(tracks).items() if (r := getattr(track, "recording", None)) is not None]


def recordings_by_path(tracks) -> dict[bytes, int]:
    """Encoded path (``store.encode_path``) -> the recording it holds, for the records held more than once
    (``Track.recording`` of :meth:`livedj.library.store.Store.tracks`); a record held once is not in it."""
    return {os.fsencode(tracks[t].path): r for r, ids in recordings(track_pairs(tracks)).items() for t in ids
            if t in tracks}


def recording_labels(keys, recording_of: dict) -> list[int]:
    """One class label (0, 1, ...) per key, in order, for a fit over tracks: keys that hold one recording
    (equal ``recording_of[key]``) share their label, so the fit never pushes two copies of a record apart;
    a key not in ``recording_of`` (a record held once) has a label of its own."""
    labels: dict = {}
    return [labels.setdefault(("recording", recording_of[k]) if k in recording_of else ("own", k), len(labels))
            for k in keys]


class _Landmarks:
    """Records' landmarks read from the store as they are asked for, the last few kept."""

    def __init__(self, store, params: str | None, keep: int = 256):
        self.store, self.params, self.keep = store, params, keep
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __getitem__(self, track_id: int) -> tuple[np.ndarray, np.ndarray]:
        if track_id not in self.cache:
            if len(self.cache) >= self.keep:
                self.cache.pop(next(iter(self.cache)))
            self.cache[track_id] = self.store.landmarks_of(track_id, self.params)
        return self.cache[track_id]

