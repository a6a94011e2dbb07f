"""What shapes an index vector, the per-window cache, and the fitted projection at `livedj index` time.

On disk, beside the Annoy files (see index.py)::

    windows.npz            per-window base vectors of every track's beginning (the fit's input;
                           a re-fit on an unchanged library reads this and decodes nothing)
    projection-<id>.npz    the projection fitted to this library (library/fit.py)

The manifest's ``vector`` entry records everything that shapes a beginning vector -- base encoder
id, window length, beginning length, projection id (or none) and the resulting dimension --
and :func:`check` (called by ``index.load``) refuses a live loop or `suggest` whose settings differ, with one line naming
the setting: unlike vectors are never compared silently.

Re-fit rule: the projection is fitted anew when there is none, when the fit settings or the base
encoder changed, when the last fit had too few tracks for LDA and now there are enough, or when
files added, changed or removed since the last fit reach :data:`REFIT_SHARE` of the tracks it was
fitted on. Otherwise new tracks are projected with the existing projection (what the `split`
protocol of `livedj eval` measures: not below the unadapted encoder).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from livedj.fsutil import atomic_write
from livedj.library import fit as fitting

WINDOWS_FILE = "windows.npz"
REFIT_SHARE = 0.25  #: changed files since the last fit, as a share of the tracks it saw, that trigger a re-fit


class VectorMismatch(Exception):
    """Live settings and the index's vectors differ; ``str()`` is one line naming the setting."""


@dataclass(frozen=True)
class FitSettings:
    kind: str = "lda"  #: "lda" (centring + LDA over tracks) or "none" (base vectors, as before)
    dims: int = fitting.DEFAULT_DIMS
    shrinkage: float = fitting.DEFAULT_SHRINKAGE
    room: float = fitting.DEFAULT_ROOM  #: weight of the shipped room nuisance (0: a fit that ignores the booth)


# -- the window cache -------------------------------------------------------------------------
def load_windows(directory: str | os.PathLike, encoder: str, beginning_s: float, name: str = WINDOWS_FILE
                 ) -> dict[bytes, np.ndarray]:
    """``{encoded path: (n, d) float32 windows}`` from ``windows.npz``; empty if absent, unreadable or
    made by another encoder or beginning length (those vectors are not comparable)."""
    path = Path(directory) / name
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("encoder") != encoder or float(meta.get("beginning_s", -1)) != float(beginning_s):
                return {}
            blob, ends, counts, windows = z["paths"].tobytes(), z["path_ends"], z["counts"], z["windows"]
    except (OSError, ValueError, KeyError):
        return {}
    if (windows.ndim != 2 or ends.ndim != 1 or ends.shape != counts.shape or ends.dtype.kind not in "iu"
            or counts.dtype.kind not in "iu" or (counts < 0).any() or counts.sum() != len(windows)
            or (np.diff(ends, prepend=0) < 0).any() or (len(ends) and ends[-1] != len(blob))):
        return {}  # not what save_windows writes (a damaged or foreign file): the cache is made again
    starts_p = np.concatenate([[0], ends[:-1]])
    starts_w = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return {blob[a:b]: windows[s:s + c].astype(np.float32) for a, b, s, c in zip(starts_p, ends, starts_w, counts)}


def save_windows(directory: str | os.PathLike, cache: dict[bytes, np.ndarray], encoder: str, beginning_s: float,
                 name: str = WINDOWS_FILE) -> None:
    """Write the cache atomically (float16: the fit does not need more, and it halves the file)."""
    keys = sorted(cache)
    blob = b"".join(keys)
    ends = np.cumsum([len(k) for k in keys]).astype(np.int64)
    counts = np.asarray([len(cache[k]) for k in keys], dtype=np.int32)
    dim = next((cache[k].shape[1] for k in keys), 0)
    windows = np.concatenate([cache[k] for k in keys]).astype(np.float16) if keys else np.zeros((0, dim), np.float16)
    meta = json.dumps({"encoder": encoder, "beginning_s": float(beginning_s), "window_s": 5.0})

    def write(f):
        np.savez(f, paths=np.frombuffer(blob, dtype=np.uint8), path_ends=ends, counts=counts, windows=windows,
                 meta=np.asarray(meta))

    atomic_write(Path(directory) / name, write)


# -- fit at index time ------------------------------------------------------------------------
def _previous(manifest: dict | None, directory: Path, encoder: str, fit: FitSettings) -> tuple[fitting.Projection | None, dict]:
    vec = (manifest or {}).get("vector")
    entry = (vec.get("projection") if _well_formed(vec) else None) or {}
    if not entry or entry.get("base") != encoder or entry.get("settings") != _settings_dict(fit, encoder):
        return None, {}
    try:
        return fitting.Projection.load(directory / entry["file"]), entry
    except (OSError, ValueError, KeyError):
        return None, {}


def _room(fit: FitSettings, encoder: str) -> tuple[np.ndarray, str] | None:
    """The shipped room nuisance when the fit uses one and it was estimated for ``encoder``'s vectors."""
    return fitting.load_room_nuisance(encoder) if fit.kind == "lda" and fit.room > 0 else None


def _settings_dict(fit: FitSettings, encoder: str = "") -> dict:
    out = {"kind": fit.kind, "dims": int(fit.dims), "shrinkage": float(fit.shrinkage)}
    room = _room(fit, encoder)
    if room is not None:  # a new shipped nuisance (or weight) is a new fit: the settings differ
        out["room"] = {"weight": float(fit.room), "id": room[1]}
    return out


def adapted_items(directory: str | os.PathLike, base_items: Iterable[tuple[int, np.ndarray]],
                  paths: dict[int, bytes], windows: dict[bytes, np.ndarray], *, encoder: str, beginning_s: float,
                  window_s: float, fit: FitSettings, manifest: dict | None, changed: int,
                  trained: fitting.Projection | None = None, recordings: dict[int, int] | None = None) -> tuple[list[tuple[int, np.ndarray]], int, dict]:
    """The beginning vectors for the Annoy index, their dimension and the manifest's ``vector`` entry.

    ``base_items`` are the store's (track id, base beginning vector); ``paths`` maps track ids to
    encoded paths, the keys of ``windows``; ``manifest`` is the previous one (for the re-fit rule)
    and ``changed`` the files added, changed or removed by this run. A track without cached
    windows (indexed by an older livedj) is projected from its stored base vector. ``trained``
    (`livedj train`) replaces the projection; later runs keep it until the re-fit rule fits anew.
    ``recordings`` (track id -> recording, :meth:`Store.recordings`) makes copies of one recording one
    class of the fit (a track not in it is its own).
    """
    directory = Path(directory)
    base_items = list(base_items)
    entry = {"encoder": encoder, "window_s": float(window_s), "beginning_s": float(beginning_s), "projection": None}
    if fit.kind == "none" or not base_items:
        dim = len(base_items[0][1]) if base_items else 0
        return base_items, dim, {**entry, "dim": dim}
    base_dim = len(base_items[0][1])  # a cached track of another dimension, or not finite, is projected from its base
    windows = {k: w for k, w in windows.items() if w.shape[1:] == (base_dim,) and len(w) and np.isfinite(w).all()}
    have = [(tid, windows[paths[tid]]) for tid, _ in base_items if paths.get(tid) in windows]
    projection, prev = _previous(manifest, directory, encoder, fit)
    changes = int(prev.get("changes", 0)) + int(changed)
    n = len(base_items)
    refit = (projection is None or changes >= REFIT_SHARE * max(1, int(prev.get("tracks", 0)))
             or (projection.kind == "centre" and len(have) >= fitting.MIN_TRACKS))
    if trained is not None:
        if trained.base != encoder or trained.in_dim != len(base_items[0][1]):
            raise ValueError(f"trained projection is for {trained.base!r} ({trained.in_dim}-d), the index holds "
                             f"{encoder!r} ({len(base_items[0][1])}-d) vectors")
        projection, refit, changes = trained, False, 0
    if refit and have:
        x = np.concatenate([w for _, w in have])
        recordings = recordings or {}  # copies: one class (the recording is the lowest id of its copies)
        groups = np.concatenate([np.full(len(w), recordings.get(tid, tid)) for tid, w in have])
        room = _room(fit, encoder)
        projection = fitting.fit_lda(x, groups, dims=fit.dims, shrinkage=fit.shrinkage, base=encoder,
                                     nuisance=None if room is None else room[0], nuisance_weight=fit.room)
        changes = 0
    if projection is None:  # no windows at all (an index of an older livedj): nothing to fit on
        dim = len(base_items[0][1])
        return base_items, dim, {**entry, "dim": dim}
    items = []
    for tid, base in base_items:
        w = windows.get(paths.get(tid, b""))
        v = projection.apply(w).sum(axis=0) if w is not None else projection.apply(base)
        items.append((tid, fitting.unit_rows(v)))
    name = f"projection-{projection.id}.npz"
    if refit or trained is not None or not (directory / name).exists():
        projection.save(directory / name)  # an earlier projection goes once the new manifest is written (index.build)
    info = {k: v for k, v in projection.info.items() if k in ("tracks", "windows")}
    from livedj.library.verify import crc32

    # size and CRC: the index's verification and its private copies (verify.file_entries) cover this file too
    entry["projection"] = {"id": projection.id, "file": name, "size": (directory / name).stat().st_size,
                           "crc32": crc32(directory / name), "kind": projection.kind, "base": encoder,
                           "settings": _settings_dict(fit, encoder), "tracks": int(info.get("tracks", n)),
                           "windows": int(info.get("windows", 0)), "changes": changes, "refitted": bool(refit or trained is not None)}
    return items, projection.dim, {**entry, "dim": projection.dim}


def _real(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and abs(x) < 1e9


def _well_formed(vec) -> bool:
    """Whether a manifest's ``vector`` entry has the fields :func:`adapted_items` writes, of their types."""
    if not isinstance(vec, dict) or not _real(vec.get("window_s", 5.0)) or not _real(vec.get("beginning_s", 0.0)):
        return False
    proj = vec.get("projection")
    counts = ("tracks", "changes")
    return proj is None or (isinstance(proj, dict) and isinstance(proj.get("file"), str)
                            and all(isinstance(proj.get(k, 0), int) for k in counts))


def stale(manifest: dict, encoder: str, beginning_s: float, fit: FitSettings) -> bool:
    """Whether the index's vectors were shaped by other settings than these (a rebuild is due)."""
    vec = manifest.get("vector")
    if not vec or not _well_formed(vec):  # a hand-edited or damaged entry: built again, not trusted
        return True
    if vec.get("encoder") != encoder or float(vec.get("beginning_s", -1)) != float(beginning_s):
        return True
    proj = vec.get("projection")
    if fit.kind == "none":
        return proj is not None
    return proj is None or proj.get("settings") != _settings_dict(fit, encoder)


# -- the query side ---------------------------------------------------------------------------
def check(manifest: dict, directory: str | os.PathLike, *, encoder: str, window_s: float
          ) -> fitting.Projection | None:
    """The projection live query vectors must go through, after checking the live settings.

    Raises :class:`VectorMismatch` (one line, naming the setting) when the index's vectors were
    made by another encoder or from windows of another length, or when its projection is
    missing, changed or fitted to another base encoder. Indexes from before this entry existed
    carry no ``vector``: their vectors are the base encoder's, from 5-s windows.
    """
    directory = Path(directory)
    vec = manifest.get("vector") or {"encoder": manifest.get("encoder"), "window_s": 5.0, "projection": None}
    if vec.get("encoder") != encoder:
        raise VectorMismatch(f"{directory}: index vectors are from encoder {vec.get('encoder')!r}, the live loop "
                             f"uses {encoder!r} (analysis.encoder); rebuild with `livedj index` or change it")
    if abs(float(vec.get("window_s", 5.0)) - float(window_s)) > 1e-6:
        raise VectorMismatch(f"{directory}: index vectors are from {vec.get('window_s'):g}-s windows, the live "
                             f"loop embeds {window_s:g}-s windows (audio.window_s); set audio.window_s = "
                             f"{vec.get('window_s'):g}")
    entry = vec.get("projection")
    if not entry:
        return None
    path = directory / entry["file"]
    try:
        projection = fitting.Projection.load(path)
    except (OSError, ValueError, KeyError) as exc:
        raise VectorMismatch(f"{path}: the index's projection is unreadable ({exc}); rebuild with `livedj index`") from None
    if projection.id != entry.get("id") or projection.base != encoder:
        raise VectorMismatch(f"{path}: projection {projection.id} (for {projection.base!r}) is not the one the index "
                             f"was built with ({entry.get('id')}); rebuild with `livedj index`")
    if projection.dim != int(manifest.get("dim", projection.dim)):
        raise VectorMismatch(f"{path}: projection makes {projection.dim}-d vectors, the index holds "
                             f"{manifest.get('dim')}-d; rebuild with `livedj index`")
    return projection

