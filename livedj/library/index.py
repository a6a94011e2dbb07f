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
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class IndexUnusable(Exception):
    """The index cannot be used; ``str()`` is one line naming the directory/file and why."""


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    return crc


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


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


def build(directory: str | os.PathLike, items: Iterable[tuple[int, np.ndarray]], *, dim: int,
          encoder: str, n_trees: int = 16, extra: dict | None = None) -> dict:
    """Build the beginnings index from (id, vector) pairs and swap it in atomically.

    Returns the new manifest.
    """
    from annoy import AnnoyIndex  # imported here: only index builds and loads need it

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        generation = read_manifest(directory).get("generation", 0) + 1
    except IndexUnusable:
        generation = 1
    annoy = AnnoyIndex(dim, "angular")
    count = 0
    for track_id, vector in items:
        if vector.shape != (dim,):
            raise IndexUnusable(f"{directory}: vector of track {track_id} has shape {vector.shape}, expected ({dim},)")
        annoy.add_item(int(track_id), vector.tolist())
        count += 1
    annoy.set_seed(42)  # reproducible trees
    annoy.build(n_trees if count else 1, n_jobs=1)
    name = f"beginnings-{generation}.ann"
    tmp = directory / (name + ".tmp")
    annoy.save(str(tmp))
    annoy.unload()
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, directory / name)
    manifest = {
        "format": FORMAT_VERSION,
        "generation": generation,
        "encoder": encoder,
        "dim": dim,
        "metric": "angular",
        "n_trees": n_trees,
        "items": count,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "beginnings": {"file": name, "size": (directory / name).stat().st_size, "crc32": _crc32(directory / name)},
        **(extra or {}),
    }
    _write_atomic(directory / MANIFEST, json.dumps(manifest, indent=2))
    for old in directory.glob("beginnings-*.ann*"):  # earlier generations and stale temporaries
        if old.name != name:
            old.unlink(missing_ok=True)
    return manifest


@dataclass
class BeginningsIndex:
    """A loaded (memory-mapped) Annoy index and its manifest."""

    directory: Path
    manifest: dict
    annoy: object

    @property
    def size(self) -> int:
        return int(self.manifest["items"])

    def query(self, vector: np.ndarray, n: int, search_k: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` nearest track ids and their cosine similarities, nearest first."""
        if self.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        ids, distances = self.annoy.get_nns_by_vector(vector.tolist(), n, search_k=search_k, include_distances=True)
        distances = np.asarray(distances, dtype=np.float32)
        # Annoy's angular distance is sqrt(2 - 2 cos) between normalised vectors
        return np.asarray(ids, dtype=np.int64), 1.0 - distances**2 / 2.0


def load(directory: str | os.PathLike, *, encoder: str | None = None, dim: int | None = None,
         verify: bool = True) -> BeginningsIndex:
    """Open the index in ``directory``; refuse a missing, corrupt or mismatched one with a clear message."""
    from annoy import AnnoyIndex

    directory = Path(directory)
    manifest = read_manifest(directory)
    try:
        entry = manifest["beginnings"]
        path = directory / entry["file"]
        manifest_dim = int(manifest["dim"])
    except (KeyError, TypeError, ValueError):
        raise IndexUnusable(f"{directory / MANIFEST}: manifest lacks the beginnings entry; rebuild with `livedj index`") from None
    if encoder is not None and manifest.get("encoder") != encoder:
        raise IndexUnusable(f"{directory}: index built with encoder {manifest.get('encoder')!r}, but the config uses "
                          f"{encoder!r}; rebuild with `livedj index` or change analysis.encoder")
    if dim is not None and manifest_dim != dim:
        raise IndexUnusable(f"{directory}: index vectors have {manifest_dim} dimensions, the encoder makes {dim}")
    if not path.exists():
        raise IndexUnusable(f"{path}: missing (the manifest names it); rebuild with `livedj index`")
    size = path.stat().st_size
    if size != entry.get("size"):
        raise IndexUnusable(f"{path}: {size} bytes, manifest says {entry.get('size')}: truncated or replaced; "
                          f"rebuild with `livedj index`")
    if verify and _crc32(path) != entry.get("crc32"):
        raise IndexUnusable(f"{path}: checksum mismatch (corrupt file); rebuild with `livedj index`")
    annoy = AnnoyIndex(manifest_dim, "angular")
    if manifest["items"]:
        annoy.load(str(path))  # memory-mapped: pages come in as queries touch them
    return BeginningsIndex(directory, manifest, annoy)
