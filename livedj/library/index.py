"""The Annoy index of song-beginning vectors and its manifest.

On disk, in the index directory::

    manifest.json              format, encoder name/version, dimension, the Annoy file's name,
                               size and CRC, item count, build time
    beginnings-<gen>.ann       Annoy (angular), item id = track id in library.sqlite
    library.sqlite             the metadata store (see store.py)

A build writes a new ``beginnings-<gen>.ann`` and then replaces ``manifest.json`` with an atomic
rename, so a reader sees either the old index or the new one, never half of one; a crash at any
point leaves the previous manifest and its file intact. Loading checks the manifest against the
file (size and CRC) *before* Annoy maps it: Annoy trusts its input and can crash on a truncated
or garbled file.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from livedj.fsutil import atomic_write
from livedj.library.errors import IndexUnusable
from livedj.library.fingerprints import FingerprintIndex
from livedj.library.verify import crc32

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAX_DIM = 65536  #: more dimensions than any encoder makes: a manifest saying so is damaged


def _write_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), binary=False)


def read_manifest(directory: str | os.PathLike) -> dict:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexUnusable(f"{directory}: no index here (build one with `livedj index PATH`)") from None
    except (OSError, ValueError) as exc:
        raise IndexUnusable(f"{path}: unreadable manifest ({exc}); rebuild with `livedj index`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise IndexUnusable(f"{path}: index format {manifest.get('format') if isinstance(manifest, dict) else '?'}, "
                          f"this livedj reads {FORMAT_VERSION}; rebuild with `livedj index`")
    return manifest


def _build_annoy(path: Path, items: Iterable[tuple[int, np.ndarray]], dim: int, n_trees: int) -> int:
    """Write an angular Annoy index of ``items`` to ``path`` (via a temporary name); return the count."""
    from annoy import AnnoyIndex  # imported here: only index builds and loads need it

    annoy = AnnoyIndex(dim, "angular")
    count = 0
    for item_id, vector in items:
        if vector.shape != (dim,):
            raise IndexUnusable(f"{path.parent}: vector of item {item_id} has shape {vector.shape}, expected ({dim},)")
        annoy.add_item(int(item_id), vector.tolist())
        count += 1
    annoy.set_seed(42)  # reproducible trees
    annoy.build(n_trees if count else 1, n_jobs=1)
    tmp = path.with_name(path.name + ".tmp")
    annoy.save(str(tmp))
    annoy.unload()
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return count


def _entry(path: Path, **extra) -> dict:
    return {"file": path.name, "size": path.stat().st_size, "crc32": crc32(path), **extra}


def _next_generation(directory: Path) -> int:
    """A generation number no file in ``directory`` has used: a new build never reuses a name."""
    import re

    try:
        last = read_manifest(directory).get("generation", 0)
    except IndexUnusable:
        last = 0
    # projection-<id>.npz is named by its content's hash, not a generation: an id of digits alone made the
    # next generation jump to it (beginnings-339443733309.ann)
    used = [int(m.group(1)) for p in directory.iterdir() if (m := re.match(r"(?!projection-)[a-z]+-(\d+)\.", p.name))]
    return max([last if isinstance(last, int) else 0, *used]) + 1


def build(directory: str | os.PathLike, items: Iterable[tuple[int, np.ndarray]], *, dim: int,
          encoder: str, n_trees: int = 16, segments: Iterable[tuple[int, float, np.ndarray]] | None = None,
          landmarks: Iterable[tuple[int, np.ndarray, np.ndarray]] | None = None, segment_encoder: str | None = None,
          segment_dim: int | None = None, extra: dict | None = None) -> dict:
    """Build the beginnings index (and the segment index) and swap them in atomically.

    ``items`` are (track id, beginning vector); ``segments`` are (track id, hop s, vectors (n,
    segment_dim)) made by ``segment_encoder`` (default: the same encoder and dimension).
    Returns the new manifest.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    generation = _next_generation(directory)
    beginnings = directory / f"beginnings-{generation}.ann"
    count = _build_annoy(beginnings, items, dim, n_trees)
    manifest = {
        "format": FORMAT_VERSION,
        "generation": generation,
        "encoder": encoder,
        "dim": dim,
        "metric": "angular",
        "n_trees": n_trees,
        "items": count,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "beginnings": _entry(beginnings),
        **(extra or {}),
    }
    if segments is not None:
        where: list[tuple[int, float]] = []  # segment item -> (track id, start s)

        def flat():
            for track_id, hop, vectors in segments:
                for i, vector in enumerate(vectors):
                    if not np.isfinite(vector).all():  # a silent segment: nothing to identify by
                        continue
                    where.append((track_id, i * hop))
                    yield len(where) - 1, vector

        seg_path = directory / f"segments-{generation}.ann"
        n_segments = _build_annoy(seg_path, flat(), segment_dim or dim, n_trees)
        map_path = directory / f"segments-{generation}.map.npy"
        atomic_write(map_path, lambda f: np.save(f, np.asarray(where, dtype=np.float64).reshape(-1, 2)))
        manifest["segments"] = _entry(seg_path, items=n_segments, map=_entry(map_path),
                                      encoder=segment_encoder or encoder, dim=segment_dim or dim)
    keep = {beginnings.name, *(
        [manifest["segments"]["file"], manifest["segments"]["map"]["file"]] if "segments" in manifest else [])}
    if landmarks is not None:
        info = FingerprintIndex.build(landmarks, directory / f"fingerprints-{generation}")
        manifest["fingerprints"] = {"prefix": f"fingerprints-{generation}", "hashes": info["hashes"],
                                    "tracks": info["tracks"], "files": [_entry(directory / f) for f in info["files"]]}
        keep |= set(info["files"])
    _write_atomic(directory / MANIFEST, json.dumps(manifest, indent=2))
    # only now that the new manifest is in place: a kill before this leaves the old one whole
    from livedj.library.verify import file_entries, generation_files

    keep |= {e["file"] for e in file_entries(manifest)}  # e.g. the fitted projection (library/vectors.py)
    for old in generation_files(directory):  # earlier generations, temporaries (nothing else: named by pattern)
        if old.name not in keep:
            old.unlink(missing_ok=True)
    return manifest


@dataclass
class BeginningsIndex:
    """The loaded (memory-mapped) Annoy indexes and their manifest."""

    directory: Path
    manifest: dict
    annoy: object
    segment_annoy: object | None = None
    segment_map: np.ndarray | None = None  #: (n, 2): track id, start s
    fingerprints: FingerprintIndex | None = None  #: a FingerprintIndex, when the library has landmarks
    projection: object | None = None  #: the library's fitted projection (library/vectors.py): queries go through it

    @property
    def segment_encoder(self) -> str | None:
        """``name/version`` of the encoder that made the segment vectors."""
        seg = self.manifest.get("segments") or {}
        return seg.get("encoder", self.manifest.get("encoder")) if seg else None

    @property
    def size(self) -> int:
        return int(self.manifest["items"])

    @property
    def n_segments(self) -> int:
        return 0 if self.segment_map is None else len(self.segment_map)

    def project(self, vector: np.ndarray) -> np.ndarray:
        """A base encoder vector in the space the beginnings were indexed in (the library's fit)."""
        return self.projection.apply(vector) if self.projection is not None else vector

    def query(self, vector: np.ndarray, n: int, search_k: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` nearest track ids to the base encoder ``vector`` and their cosine similarities,
        nearest first."""
        if self.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        vector = self.project(vector)
        ids, distances = self.annoy.get_nns_by_vector(vector.tolist(), n, search_k=search_k, include_distances=True)
        return np.asarray(ids, dtype=np.int64), _cosine(distances)

    def query_segments(self, vector: np.ndarray, n: int, search_k: int = -1
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``n`` nearest segments: their track ids, start times (s) and cosine similarities."""
        if not self.n_segments:
            empty = np.zeros(0)
            return empty.astype(np.int64), empty, empty.astype(np.float32)
        items, distances = self.segment_annoy.get_nns_by_vector(vector.tolist(), n, search_k=search_k,
                                                                include_distances=True)
        where = self.segment_map[np.asarray(items, dtype=np.int64)]
        return where[:, 0].astype(np.int64), where[:, 1], _cosine(distances)


def _cosine(distances) -> np.ndarray:
    # Annoy's angular distance is sqrt(2 - 2 cos) between normalised vectors
    d = np.asarray(distances, dtype=np.float32)
    return 1.0 - d**2 / 2.0


def _checked(directory: Path, entry: dict, verify: bool) -> Path:
    path = directory / entry["file"]
    if not path.exists():
        raise IndexUnusable(f"{path}: missing (the manifest names it); rebuild with `livedj index`")
    size = path.stat().st_size
    if size != entry.get("size"):
        raise IndexUnusable(f"{path}: {size} bytes, manifest says {entry.get('size')}: truncated or replaced; "
                            f"rebuild with `livedj index`")
    if verify and crc32(path) != entry.get("crc32"):
        raise IndexUnusable(f"{path}: checksum mismatch (corrupt file); rebuild with `livedj index`")
    return path


def _annoy_load(annoy, path: Path) -> None:
    """``annoy.load`` with its error naming the file (Annoy's own names none)."""
    try:
        annoy.load(str(path))
    except OSError as exc:  # e.g. "Index size is not a multiple of vector size": read with another dim
        raise IndexUnusable(f"{path}: not readable as the manifest describes it ({exc}); "
                            f"rebuild with `livedj index`") from None


def load(directory: str | os.PathLike, *, encoder: str | None = None, dim: int | None = None,
         verify: bool = True, private: bool = True, window_s: float | None = None) -> BeginningsIndex:
    """Open the index in ``directory``; refuse a missing, corrupt or mismatched one with a clear message.

    ``private``: map private copies of the files (:mod:`livedj.library.snapshot`), so that a file
    overwritten in place later cannot crash this process with SIGBUS.
    """
    from livedj.library.snapshot import private_generation
    from livedj.library.verify import file_entries

    try:
        if not private:
            return _load(directory, encoder=encoder, dim=dim, verify=verify, window_s=window_s)
        manifest = read_manifest(directory)
        names = [MANIFEST, *{e["file"] for e in file_entries(manifest) if isinstance(e.get("file"), str)}]
        with private_generation(directory, names) as where:
            try:
                index = _load(where, encoder=encoder, dim=dim, verify=verify, window_s=window_s)
            except IndexUnusable as exc:  # name the user's file, not the private copy
                raise type(exc)(str(exc).replace(str(where), str(directory))) from None
        index.directory = Path(directory)
        return index
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:  # a manifest field missing or of another type
        raise IndexUnusable(f"{Path(directory) / MANIFEST}: malformed ({type(exc).__name__}: {exc}); "
                            f"rebuild with `livedj index`") from None


def _load(directory: str | os.PathLike, *, encoder: str | None = None, dim: int | None = None,
          verify: bool = True, window_s: float | None = None) -> BeginningsIndex:
    """Open the files of the index in ``directory`` (see :func:`load`).

    ``dim`` is the base encoder's: an index built with a fitted projection (its manifest's
    ``vector`` entry) loads that projection, and :meth:`BeginningsIndex.query` projects every
    query; ``window_s``, when given, must be the length of the windows the index was built from.
    """
    from annoy import AnnoyIndex

    directory = Path(directory)
    manifest = read_manifest(directory)
    for key, where in (("items", manifest), ("dim", manifest), ("items", manifest.get("segments") or {"items": 0})):
        if not isinstance(where.get(key), int) or isinstance(where.get(key), bool) or where[key] < 0:
            raise IndexUnusable(f"{directory / MANIFEST}: {key} is {where.get(key)!r}, not a count; "
                                f"rebuild with `livedj index`")
    try:
        entry = manifest["beginnings"]
        manifest_dim = int(manifest["dim"])
        entry["file"], entry["size"]
    except (KeyError, TypeError, ValueError):
        raise IndexUnusable(f"{directory / MANIFEST}: manifest lacks the beginnings entry; rebuild with `livedj index`") from None
    if encoder is not None and manifest.get("encoder") != encoder:
        raise IndexUnusable(f"{directory}: index built with encoder {manifest.get('encoder')!r}, but the config uses "
                            f"{encoder!r}; rebuild with `livedj index` or change analysis.encoder")
    from livedj.library.vectors import VectorMismatch, check

    vector = manifest.get("vector") or {}
    try:
        projection = check(manifest, directory, encoder=encoder or vector.get("encoder", manifest.get("encoder")),
                           window_s=window_s if window_s is not None else vector.get("window_s", 5.0))
    except VectorMismatch as exc:
        raise IndexUnusable(str(exc)) from None
    in_dim = projection.in_dim if projection is not None else manifest_dim
    if dim is not None and in_dim != dim and not manifest["items"]:  # built from a folder with no audio in it
        raise IndexUnusable(f"{directory}: the index is empty (no tracks yet): run `livedj index PATH` "
                            "on a folder of audio files")
    if dim is not None and in_dim != dim:
        raise IndexUnusable(f"{directory}: index vectors have {in_dim} dimensions, the encoder makes {dim}")
    path = _checked(directory, entry, verify)
    annoy = AnnoyIndex(manifest_dim, "angular")
    if manifest["items"]:
        _annoy_load(annoy, path)  # memory-mapped: pages come in as queries touch them
    index = BeginningsIndex(directory, manifest, annoy, projection=projection)
    seg = manifest.get("segments")
    if seg and seg.get("items"):
        seg_path = _checked(directory, seg, verify)
        map_path = _checked(directory, seg["map"], verify)
        try:
            seg_map = np.load(map_path, mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise IndexUnusable(f"{map_path}: unreadable ({exc}); rebuild with `livedj index`") from None
        if seg_map.shape != (seg["items"], 2):
            raise IndexUnusable(f"{map_path}: shape {seg_map.shape}, expected ({seg['items']}, 2); rebuild")
        seg_dim = seg.get("dim", manifest_dim)
        if not isinstance(seg_dim, int) or isinstance(seg_dim, bool) or not 0 < seg_dim <= MAX_DIM:
            raise IndexUnusable(f"{directory / MANIFEST}: segments dim is {seg_dim!r}, not a dimension; "
                                f"rebuild with `livedj index`")
        index.segment_annoy = AnnoyIndex(seg_dim, "angular")
        _annoy_load(index.segment_annoy, seg_path)
        if index.segment_annoy.get_n_items() != seg["items"]:  # read with another dim: the items come out wrong
            raise IndexUnusable(f"{seg_path}: holds {index.segment_annoy.get_n_items()} vectors of {seg_dim} "
                                f"dimensions, the manifest says {seg['items']}; rebuild with `livedj index`")
        index.segment_map = seg_map
    fp = manifest.get("fingerprints")
    if fp and fp.get("hashes"):
        for entry in fp["files"]:
            _checked(directory, entry, verify)
        index.fingerprints = FingerprintIndex.load(directory / fp["prefix"])
    return index
