"""The landmark-fingerprint index: the library's landmarks on disk, memory-mapped at run time.

On disk (``<prefix>`` chosen by the caller, e.g. ``<index dir>/fingerprints-<gen>``), format 2::

    <prefix>.buckets.npy   uint32 (2**HASH_BITS + 1)  start of each hash's run in ``times``
    <prefix>.times.npy     uint32 (n,)                 landmark anchor times on one *library timeline*
    <prefix>.tracks.npy    int64 (m, 2)                track id, first frame of the track on that timeline
    <prefix>.meta.json     {"params": fingerprint.PARAMS, "format": 2, "hashes": n, "tracks": m, "frames": ...}

The hash is not stored: it is the bucket a time sits in (a CSR layout). The track is not stored
either: the tracks are laid end to end on one timeline of 16-ms frames (``GAP`` frames apart),
so one uint32 says which track and where (up to ~795 days of audio). 4 bytes a landmark, ~35 kB
per four-minute track (format 1 stored hash + track + time: 12 bytes). Each file is written under a
temporary name, fsynced and renamed into place (``os.replace``); the caller lists them, with size
and CRC, in the manifest it swaps in last. :meth:`FingerprintIndex.load` memory-maps the arrays
and refuses truncated, mismatched or foreign files with :class:`FingerprintIndexError`; a format-1
index (``hashes.npy`` + ``entries.npy``) is converted in memory, once, at load.

Matching a query against it: :mod:`livedj.library.fingerprints`.
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

__all__ = ["FingerprintIndex", "FingerprintIndexError", "gather", "FORMAT", "GAP", "COMMON", "COARSE_SHIFT", "COARSE_BINS_LOG2"]

COMMON = 4.0             #: hits of a hash held more often than max(COMMON, mean) count that / df each
COARSE_BINS_LOG2 = 18    #: at most 2**18 coarse bins (2 MB of votes), folded beyond
COARSE_SHIFT = 7         #: coarse offset bins of 2**7 frames (2 s)
GAP = 2048               #: frames between tracks on the timeline (> a query at any speed + a coarse bin)
FORMAT = 2
SUFFIXES = (".buckets.npy", ".times.npy", ".tracks.npy", ".meta.json")
_OLD_SUFFIXES = (".hashes.npy", ".entries.npy")


class FingerprintIndexError(IndexUnusable):
    """The fingerprint files are missing, truncated or built with other parameters."""


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, array))


def _paths(prefix: Path, suffixes=SUFFIXES) -> list[Path]:
    prefix = Path(prefix)
    return [prefix.with_name(prefix.name + s) for s in suffixes]


@dataclass
class FingerprintIndex:
    """Landmark times in hash buckets on one library timeline, usually memory-mapped."""

    buckets: np.ndarray
    times: np.ndarray
    tracks: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.times)
        used = int(np.count_nonzero(np.diff(np.asarray(self.buckets)))) if n else 1
        #: df above which a hash counts as common: the mean df of a used hash, at least COMMON
        self.common = max(COMMON, n / max(1, used))
        self._bases = np.asarray(self.tracks[:, 1], np.int64) if len(self.tracks) else np.zeros(0, np.int64)
        self._ids = np.asarray(self.tracks[:, 0], np.int64) if len(self.tracks) else np.zeros(0, np.int64)
        self.frames = int(self.meta.get("frames", 0))
        #: fpsame's verdicts on pairs of records, remembered (:func:`livedj.library.fpsame.fold_copies`)
        self.same_cache: dict = {}
        #: first coarse bin of every track (folded as the votes are): the candidate stage's per-track cap
        self._bin_starts = np.unique(np.r_[0, (self._bases >> COARSE_SHIFT) & ((1 << COARSE_BINS_LOG2) - 1)])

    def __len__(self) -> int:
        return len(self.times)

    @staticmethod
    def build(items: Iterable[tuple[int, np.ndarray, np.ndarray]], path_prefix: Path) -> dict:
        """Write the index of ``items`` = (track id, hashes, times) under ``path_prefix``.

        Returns
        -------
        dict
            ``{"files": [file names], "hashes": n, "tracks": m, "params": fingerprint.PARAMS, ...}``;
            the caller adds size and CRC to its manifest.
        """
        buckets, times, tracks, frames = _pack(items)
        paths = _paths(path_prefix)
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        _save_npy(paths[0], buckets)
        _save_npy(paths[1], times)
        _save_npy(paths[2], tracks)
        meta = {"params": fp.PARAMS, "format": FORMAT, "hashes": int(len(times)), "tracks": int(len(tracks)),
                "frames": int(frames)}
        atomic_write(paths[3], lambda f: f.write(json.dumps(meta)), binary=False)
        return {"files": [p.name for p in paths], **meta}

    @classmethod
    def load(cls, path_prefix: Path, *, mmap: bool = True) -> "FingerprintIndex":
        """Open (memory-map) the index at ``path_prefix``; :class:`FingerprintIndexError` if unusable."""
        p_buckets, p_times, p_tracks, p_meta = _paths(path_prefix)
        try:
            meta = json.loads(p_meta.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FingerprintIndexError(f"{p_meta}: missing; rebuild with `livedj index`") from None
        except (OSError, ValueError) as exc:
            raise FingerprintIndexError(f"{p_meta}: unreadable ({exc}); rebuild with `livedj index`") from None
        if not isinstance(meta, dict) or meta.get("params") != fp.PARAMS:
            raise FingerprintIndexError(f"{p_meta}: built with other fingerprint parameters; rebuild with "
                                        f"`livedj index`")
        if meta.get("format", 1) == 1:
            return cls._from_format1(path_prefix, meta)
        if meta.get("format") != FORMAT:
            raise FingerprintIndexError(f"{p_meta}: fingerprint format {meta.get('format')!r}, this livedj reads "
                                        f"{FORMAT}; rebuild with `livedj index`")
        buckets, times, tracks = (_load_npy(p, mmap) for p in (p_buckets, p_times, p_tracks))
        n, m = meta.get("hashes"), meta.get("tracks")
        if (buckets.dtype != np.uint32 or buckets.shape != (2 ** fp.HASH_BITS + 1,) or times.dtype != np.uint32
                or times.shape != (n,) or tracks.dtype != np.int64 or tracks.shape != (m, 2)
                or (n and int(buckets[-1]) != n)):
            raise FingerprintIndexError(f"{p_meta.parent}: fingerprint arrays {buckets.shape}/{times.shape}/"
                                        f"{tracks.shape} do not match the {n} hashes and {m} tracks recorded; "
                                        f"rebuild with `livedj index`")
        return cls(buckets, times, tracks, meta)

    @classmethod
    def _from_format1(cls, path_prefix: Path, meta: dict) -> "FingerprintIndex":
        """A format-1 index (sorted hashes + (track, time) entries), converted in memory."""
        arrays = [_load_npy(p, True) for p in _paths(path_prefix, _OLD_SUFFIXES)]
        hashes, entries = arrays
        n = meta.get("hashes")
        if hashes.dtype != np.uint32 or hashes.shape != (n,) or entries.dtype != np.uint32 or entries.shape != (n, 2):
            raise FingerprintIndexError(f"{Path(path_prefix).parent}: fingerprint arrays {hashes.shape}/"
                                        f"{entries.shape} do not match the {n} hashes recorded; rebuild with "
                                        f"`livedj index`")
        track = np.asarray(entries[:, 0])
        order = np.argsort(track, kind="stable")
        ids, starts = np.unique(track[order], return_index=True)
        ends = np.r_[starts[1:], len(order)]
        hashes, times = np.asarray(hashes)[order], np.asarray(entries[:, 1])[order].astype(np.int64)
        items = [(int(t), hashes[a:b], times[a:b]) for t, a, b in zip(ids, starts, ends)]
        buckets, times, tracks, frames = _pack(items)
        return cls(buckets, times, tracks, {**meta, "format": FORMAT, "frames": frames, "converted_from": 1})

    def bin_starts_from(self, frame: float) -> np.ndarray:
        """The first coarse bin of every track, ascending, as bins of query times counted from ``frame`` see
        them (the live matcher's query times are stream frames): the starts moved by ``frame``, wrapped as
        the votes are."""
        n_bins = 1 << COARSE_BINS_LOG2
        k = (int(frame) >> COARSE_SHIFT) % n_bins
        p = int(np.searchsorted(self._bin_starts, k))
        moved = np.r_[self._bin_starts[p:] - k, self._bin_starts[:p] - k + n_bins]
        return moved if len(moved) and moved[0] == 0 else np.r_[0, moved]

    def slot_of(self, frame: np.ndarray) -> np.ndarray:
        """The track slot (row of ``tracks``) each timeline frame falls in: the last track starting at or before
        it (-1 before the first)."""
        return np.searchsorted(self._bases, frame, side="right") - 1

    def track_of(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(track id, frame within the track) of timeline frames."""
        k = np.clip(self.slot_of(frame), 0, max(0, len(self._bases) - 1))
        return self._ids[k], frame - self._bases[k]

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All landmarks whose hash equals one of ``hashes``.

        Returns
        -------
        query_pos : np.ndarray
            int64: for every hit, the position in ``hashes`` it answers.
        frame : np.ndarray
            int64: the hit's timeline frame (:meth:`track_of` names the track).
        df : np.ndarray
            int64: how many landmarks share the hit's hash (its document frequency).
        """
        hashes = np.asarray(hashes, dtype=np.int64)
        if len(self.times) == 0 or len(hashes) == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        lo = np.asarray(self.buckets[hashes], np.int64)
        counts = np.asarray(self.buckets[hashes + 1], np.int64) - lo
        return gather(self.times, lo, counts)


def _load_npy(path: Path, mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise FingerprintIndexError(f"{path}: missing; rebuild with `livedj index`") from None
    except (OSError, ValueError, EOFError) as exc:  # numpy: "mmap length is greater than file size"
        raise FingerprintIndexError(f"{path}: unreadable or truncated ({exc}); rebuild with `livedj index`") from None


def _pack(items) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(buckets, timeline times, tracks, frames) of (track id, hashes, times) items."""
    h_parts, t_parts, tracks = [], [], []
    base = GAP
    for track_id, hashes, times in items:
        hashes = np.asarray(hashes, dtype=np.uint32).reshape(-1)
        times = np.asarray(times, dtype=np.int64).reshape(-1)
        if len(hashes) != len(times):
            raise ValueError(f"track {track_id}: {len(hashes)} hashes but {len(times)} times")
        if len(times) and times.min() < 0:
            raise ValueError(f"track {track_id}: negative landmark time")
        if len(hashes) and int(hashes.max()) >= 2 ** fp.HASH_BITS:
            raise ValueError(f"track {track_id}: hash wider than {fp.HASH_BITS} bits")
        tracks.append((int(track_id), base))
        h_parts.append(hashes)
        t_parts.append(times + base)
        base += (int(times.max()) + 1 if len(times) else 0) + GAP
    if base >= 2 ** 32:
        raise ValueError(f"library too long for one fingerprint timeline ({base} frames of 16 ms)")
    hashes = np.concatenate(h_parts) if h_parts else np.zeros(0, np.uint32)
    counts = np.bincount(hashes, minlength=2 ** fp.HASH_BITS)
    # one in-place sort of (hash, time) words: times ascending within each bucket, no gather
    key = hashes.astype(np.uint64) << np.uint64(32)
    del hashes
    key |= np.concatenate(t_parts).astype(np.uint64) if t_parts else np.zeros(0, np.uint64)
    key.sort()
    times = (key & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    buckets = np.zeros(2 ** fp.HASH_BITS + 1, np.uint32)
    np.cumsum(counts, out=buckets[1:])
    track_arr = np.asarray(tracks, np.int64).reshape(-1, 2)
    return buckets, times, track_arr, base


def gather(values: np.ndarray, lo: np.ndarray, counts: np.ndarray):
    """(query pos, values[lo[q] : lo[q] + counts[q]] for every q, counts repeated)."""
    total = int(counts.sum())
    qpos = np.repeat(np.arange(len(lo)), counts)
    starts = np.cumsum(counts) - counts
    pos = np.repeat(lo - starts, counts) + np.arange(total)
    return qpos, np.asarray(values[pos], np.int64), np.repeat(counts, counts)
