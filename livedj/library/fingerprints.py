"""The landmark-fingerprint index and live "now playing" identification.

On disk (``<prefix>`` chosen by the caller, e.g. ``<index dir>/fingerprints-<gen>``)::

    <prefix>.hashes.npy    uint32 (n,)     landmark hashes, sorted
    <prefix>.entries.npy   uint32 (n, 2)   parallel: track id, anchor time (frames of 16 ms)
    <prefix>.meta.json     {"params": fingerprint.PARAMS, "hashes": n, "tracks": m}

Each file is written under a temporary name, fsynced and renamed into place (``os.replace``),
the pattern of :mod:`livedj.library.index`; the caller lists them, with size and CRC, in the
manifest it swaps in last. :meth:`FingerprintIndex.load` memory-maps the arrays (start-up reads
no data) and refuses truncated, mismatched or foreign files with :class:`FingerprintIndexError`.

Identification (:func:`identify`): peaks of the query once, pairs once, then for every speed
hypothesis the pairs re-hashed in speed-1 units; one vectorised lookup of all of them, raw hits
counted per track, and for the best ``MAX_CANDIDATES`` tracks a histogram of
``db_time - query_time * speed`` per (track, speed), +-1 frame. A hit whose hash the index holds
``df`` > ``COMMON`` times weighs ``COMMON / df`` (drum sounds and loop repeats are weak evidence).
A track is "now playing" when its best bin weighs at least ``min_aligned`` and ``margin`` times
the best other track's; the speed is refined by a parabola over the neighbouring hypotheses.
Loop-based music repeats itself: the offset is then right up to a whole number of phrases.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from livedj.dsp import fingerprint as fp
from livedj.fsutil import atomic_write
from livedj.library.errors import IndexUnusable

__all__ = ["FingerprintIndex", "FingerprintIndexError", "identify", "DEFAULT_SPEEDS", "MIN_ALIGNED"]

#: pitch-fader hypotheses: 1 % apart over +-8 % (a DJ's +-6 % range plus margin, so that +-6 % is
#: never at the edge, where the parabolic refinement of the speed has no neighbour)
DEFAULT_SPEEDS = tuple(np.round(np.arange(0.92, 1.0801, 0.01), 4))
MIN_ALIGNED = 10         #: (weighted) landmarks that must agree on one (track, offset, speed)
MARGIN = 2.0             #: and the winner must have this many times the runner-up's count
COMMON = 4.0            #: hits of a hash held more often than this count COMMON / df each
MAX_CANDIDATES = 24      #: tracks whose offset histograms are examined
SUFFIXES = (".hashes.npy", ".entries.npy", ".meta.json")


class FingerprintIndexError(IndexUnusable):
    """The fingerprint files are missing, truncated or built with other parameters."""


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, array))


def _paths(prefix: Path) -> list[Path]:
    prefix = Path(prefix)
    return [prefix.with_name(prefix.name + s) for s in SUFFIXES]


@dataclass
class FingerprintIndex:
    """Sorted landmark hashes and their (track id, time) entries, usually memory-mapped."""

    hashes: np.ndarray
    entries: np.ndarray
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.hashes)

    @staticmethod
    def build(items: Iterable[tuple[int, np.ndarray, np.ndarray]], path_prefix: Path) -> dict:
        """Write the index of ``items`` = (track id, hashes, times) under ``path_prefix``.

        Returns
        -------
        dict
            ``{"files": [file names], "hashes": n, "tracks": m, "params": fingerprint.PARAMS}``;
            the caller adds size and CRC to its manifest.
        """
        h_parts, e_parts, tracks = [], [], 0
        for track_id, hashes, times in items:
            hashes = np.asarray(hashes, dtype=np.uint32).reshape(-1)
            times = np.asarray(times).reshape(-1)
            if len(hashes) != len(times):
                raise ValueError(f"track {track_id}: {len(hashes)} hashes but {len(times)} times")
            if len(times) and times.min() < 0:
                raise ValueError(f"track {track_id}: negative landmark time")
            e = np.empty((len(hashes), 2), dtype=np.uint32)
            e[:, 0], e[:, 1] = int(track_id), times
            h_parts.append(hashes)
            e_parts.append(e)
            tracks += 1
        hashes = np.concatenate(h_parts) if h_parts else np.zeros(0, np.uint32)
        entries = np.concatenate(e_parts) if e_parts else np.zeros((0, 2), np.uint32)
        order = np.argsort(hashes, kind="stable")
        hashes, entries = hashes[order], entries[order]
        p_hashes, p_entries, p_meta = _paths(path_prefix)
        p_hashes.parent.mkdir(parents=True, exist_ok=True)
        _save_npy(p_hashes, hashes)
        _save_npy(p_entries, entries)
        meta = {"params": fp.PARAMS, "hashes": int(len(hashes)), "tracks": tracks}
        atomic_write(p_meta, lambda f: f.write(json.dumps(meta)), binary=False)
        return {"files": [p.name for p in (p_hashes, p_entries, p_meta)], **meta}

    @classmethod
    def load(cls, path_prefix: Path, *, mmap: bool = True) -> "FingerprintIndex":
        """Open (memory-map) the index at ``path_prefix``; :class:`FingerprintIndexError` if unusable."""
        p_hashes, p_entries, p_meta = _paths(path_prefix)
        try:
            meta = json.loads(p_meta.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FingerprintIndexError(f"{p_meta}: missing; rebuild with `livedj index`") from None
        except (OSError, ValueError) as exc:
            raise FingerprintIndexError(f"{p_meta}: unreadable ({exc}); rebuild with `livedj index`") from None
        if not isinstance(meta, dict) or meta.get("params") != fp.PARAMS:
            raise FingerprintIndexError(f"{p_meta}: built with other fingerprint parameters; rebuild with "
                                        f"`livedj index`")
        mode = "r" if mmap else None
        arrays = []
        for path in (p_hashes, p_entries):
            try:
                arrays.append(np.load(path, mmap_mode=mode, allow_pickle=False))
            except FileNotFoundError:
                raise FingerprintIndexError(f"{path}: missing; rebuild with `livedj index`") from None
            except (OSError, ValueError, EOFError) as exc:  # numpy: "mmap length is greater than file size"
                raise FingerprintIndexError(f"{path}: unreadable or truncated ({exc}); rebuild with "
                                            f"`livedj index`") from None
        hashes, entries = arrays
        n = meta.get("hashes")
        if (hashes.dtype != np.uint32 or hashes.shape != (n,) or entries.dtype != np.uint32
                or entries.shape != (n, 2)):
            raise FingerprintIndexError(f"{p_hashes.parent}: fingerprint arrays {hashes.shape}/{entries.shape} "
                                        f"do not match the {n} hashes recorded; rebuild with `livedj index`")
        return cls(hashes, entries, meta)

    def lookup(self, hashes: np.ndarray, *, with_counts: bool = False):
        """All index entries whose hash equals one of ``hashes``.

        Returns
        -------
        query_pos : np.ndarray
            int64: for every hit, the position in ``hashes`` it answers.
        entry_pos : np.ndarray
            int64: the hit's row in :attr:`entries`.
        """
        hashes = np.asarray(hashes, dtype=np.uint32)
        if len(self.hashes) == 0 or len(hashes) == 0:
            empty = np.zeros(0, np.int64)
            return (empty, empty, empty) if with_counts else (empty, empty)
        lo = np.searchsorted(self.hashes, hashes, side="left")
        hi = np.searchsorted(self.hashes, hashes, side="right")
        counts = hi - lo
        total = int(counts.sum())
        query_pos = np.repeat(np.arange(len(hashes)), counts)
        # entry_pos = lo[q] + (rank of the hit within its query's run)
        starts = np.cumsum(counts) - counts
        entry_pos = np.repeat(lo - starts, counts) + np.arange(total)
        if with_counts:  # how many entries share each hit's hash (its document frequency)
            return query_pos, entry_pos, np.repeat(counts, counts)
        return query_pos, entry_pos

    def match(self, hashes: np.ndarray, times: np.ndarray, *, min_aligned: int = MIN_ALIGNED
              ) -> list[tuple[int, int, float]]:
        """Tracks with at least ``min_aligned`` landmarks at one time offset, best first.

        ``times`` are query anchor times in speed-1 frames (float allowed). Returns
        (track id, aligned count, offset s = position of query time 0 in the track).
        """
        cands = _histogram(self, np.asarray(hashes, np.uint32), np.asarray(times, np.float64),
                           np.zeros(len(hashes), np.int64), 1)
        return [(t, c, o) for t, c, o, _, _ in cands if c >= min_aligned]


def _histogram(index: FingerprintIndex, hashes: np.ndarray, times: np.ndarray, hyp: np.ndarray,
               n_hyp: int) -> list[tuple[int, float, float, int, np.ndarray]]:
    """Per track: its best (aligned count, offset s, hypothesis) and its best count under every
    hypothesis; tracks by descending count."""
    qpos, epos, df = index.lookup(hashes, with_counts=True)
    if len(qpos) == 0:
        return []
    order = np.argsort(epos, kind="stable")
    ent = np.asarray(index.entries[epos[order]])  # sorted gather: sequential pages of the mmap
    qpos = qpos[order]
    # a hash the index holds many times (a drum sound, a common interval) is weak evidence
    weight = np.minimum(1.0, COMMON / df[order])
    track = ent[:, 0].astype(np.int64)
    # cheap pre-selection: raw hit counts per track, then histograms for the best few only
    ids, inv, raw = np.unique(track, return_inverse=True, return_counts=True)
    top = np.argsort(-raw, kind="stable")[:MAX_CANDIDATES]
    rank = np.full(len(ids), -1)
    rank[top] = np.arange(len(top))
    r = rank[inv]
    sel = r >= 0
    offset = ent[sel, 1].astype(np.int64) - np.rint(times[qpos[sel]]).astype(np.int64)
    span = 1 << 24  # offsets shifted to non-negative; tracks up to ~37 h
    key = (r[sel] * n_hyp + hyp[qpos[sel]]) * span + (offset + span // 2)
    keys, inv_k = np.unique(key, return_inverse=True)
    counts = np.bincount(inv_k, weights=weight[sel])
    # +-1 frame tolerance: rounding of rescaled times splits a true offset over two bins
    left = np.searchsorted(keys, keys - 1)
    right = np.searchsorted(keys, keys + 1)
    c3 = counts.copy()
    has_l = (left < len(keys)) & (keys[np.minimum(left, len(keys) - 1)] == keys - 1)
    has_r = (right < len(keys)) & (keys[np.minimum(right, len(keys) - 1)] == keys + 1)
    c3[has_l] += counts[left[has_l]]
    c3[has_r] += counts[right[has_r]]
    cand = keys // (span * n_hyp)
    per_hyp = np.zeros((len(top), n_hyp))  # best count of each candidate under each hypothesis
    np.maximum.at(per_hyp, (cand, (keys // span) % n_hyp), c3)
    best: dict[int, tuple[float, float, int, np.ndarray]] = {}
    for k in np.lexsort((-c3, cand))[np.r_[True, np.diff(np.sort(cand)) != 0]]:
        off = int(keys[k] % span) - span // 2
        best[int(ids[top[cand[k]]])] = (float(c3[k]), float(fp.frames_to_s(off)), int((keys[k] // span) % n_hyp),
                                        per_hyp[cand[k]])
    return sorted(((t, *v) for t, v in best.items()), key=lambda x: (-x[1], x[0]))


def identify(y: np.ndarray, sr: int, index: FingerprintIndex, *, speeds: Iterable[float] = DEFAULT_SPEEDS,
             min_aligned: int = MIN_ALIGNED, margin: float = MARGIN
             ) -> tuple[int | None, float, float, float]:
    """Which library record is playing in ``y`` (a few seconds from the booth microphone)?

    Parameters
    ----------
    y : np.ndarray
        Mono audio, typically the last 5 s.
    sr : int
        Its rate, Hz.
    index : FingerprintIndex
        The library's landmarks.
    speeds : iterable of float
        Pitch-fader hypotheses (playback speed relative to the record).
    min_aligned : int
        Landmarks that must agree on one (track, offset, speed).
    margin : float
        The winner's count over the runner-up track's must be at least this.

    Returns
    -------
    track_id : int or None
        None: not in the library (or nothing to hear).
    confidence : float
        0..1, grows with the aligned count and the margin over the runner-up.
    speed : float
        Estimated playback speed (1.0 when None).
    offset_s : float
        Position in the track, s, of the start of ``y`` (0.0 when None).
    """
    speeds = np.asarray(list(speeds), dtype=np.float64)
    # the index band as the pitch fader moves it: a record's 150 Hz is 140 Hz at -7 %
    band = (fp.F_MIN * speeds.min(), fp.F_MAX * speeds.max())
    t, f = fp.peaks(y, sr, density=fp.QUERY_DENSITY, band=band)
    # rescaled dt can reach DT_MAX / min(speed): pair with a zone that covers every hypothesis
    i, j = fp.pairs(t, f, fanout=fp.QUERY_FANOUT, dt_max=fp.DT_MAX / speeds.min())
    if len(i) == 0:
        return None, 0.0, 1.0, 0.0
    hs, ts, hyp = [], [], []
    for k, s in enumerate(speeds):
        h, tt, valid = fp.hash_pairs(t, f, i, j, s, probe=True)
        hs.append(h[valid])
        ts.append(tt[valid])
        hyp.append(np.full(int(valid.sum()), k))
    cands = _histogram(index, np.concatenate(hs), np.concatenate(ts), np.concatenate(hyp), len(speeds))
    if not cands:
        return None, 0.0, 1.0, 0.0
    track, count, offset_s, k, per_hyp = cands[0]
    runner = cands[1][1] if len(cands) > 1 else 0
    if count < min_aligned or count < margin * runner:
        return None, 0.0, 1.0, 0.0
    speed = float(speeds[k])
    if 0 < k < len(speeds) - 1:  # a parabola through the neighbouring hypotheses' counts
        a, b, c = per_hyp[k - 1], per_hyp[k], per_hyp[k + 1]
        if a - 2 * b + c < 0:
            speed += float(np.clip(0.5 * (a - c) / (a - 2 * b + c), -0.5, 0.5)) * (speeds[k + 1] - speeds[k - 1]) / 2
    confidence = float((1.0 - np.exp(-(count - min_aligned + 1) / 8.0)) * (1.0 - runner / count))
    return int(track), confidence, speed, float(offset_s)
