"""Adapting the embedding to the library it indexes, without labels: centring + LDA over tracks.

The only supervision is what the audio gives for free: the 5-s windows of one track are one
class, every other track is another. Linear discriminant analysis then finds the directions in
which windows of one record stay together while records differ -- on *this* library -- and drops
the rest (what all the DJ's records share, and what changes from bar to bar within one record).
Nothing here reads a tag, a file name or a folder.

    P(x) = unit((x - mu) @ W)        x: a unit base vector (musicnn penultimate), W: [d, k]

``mu`` is the mean of the track means (each track weighs the same, however many windows it has);
``W`` solves the generalised eigenproblem ``S_b w = lambda S_w w`` with the within-track scatter
``S_w`` shrunk towards a scaled identity (``(1 - alpha) S_w + alpha tr(S_w)/d I``), which keeps it
invertible and the fit stable for small libraries. A library with fewer than :data:`MIN_TRACKS`
tracks gets the centring alone (k = d, W = I): too few records to tell which directions matter,
while the library's mean is still worth removing.

Everything is a pure function over numpy arrays; a :class:`Projection` is a mean and a matrix,
saved as ``.npz`` and named by a hash of its values, which the index manifest records.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MIN_TRACKS = 40  #: below this: centring only (fitted on 38 tracks, LDA was no better than centring)
DEFAULT_DIMS = 16
DEFAULT_SHRINKAGE = 0.3
DEFAULT_ROOM = 0.25  #: weight of the shipped room nuisance in the within-track scatter (docs/fit.md)
ROOM_FILE = "room_nuisance.safetensors"  #: in models/: what booths do to the musicnn vectors


@dataclass(frozen=True)
class Projection:
    """``P(x) = unit((x - mean) @ matrix)``; ``kind`` says how it was made ("lda", "centre")."""

    mean: np.ndarray  #: (d,)
    matrix: np.ndarray  #: (d, k)
    kind: str = "lda"
    base: str = ""  #: ``encoder id`` of the vectors it applies to
    info: dict = field(default_factory=dict)  #: tracks, windows, shrinkage... (not part of the hash)

    @property
    def in_dim(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def id(self) -> str:
        """First 12 hex digits of the SHA-256 of kind, base, mean and matrix (float32 bytes)."""
        h = hashlib.sha256(f"{self.kind}|{self.base}|".encode())
        h.update(np.ascontiguousarray(self.mean, np.float32).tobytes())
        h.update(np.ascontiguousarray(self.matrix, np.float32).tobytes())
        return h.hexdigest()[:12]

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Project one vector (d,) or rows (n, d); unit L2 norm per row, float32."""
        return project(x, self.mean, self.matrix)

    def save(self, path: str | os.PathLike) -> None:
        from livedj.fsutil import atomic_write

        buf = io.BytesIO()
        np.savez(buf, mean=self.mean.astype(np.float32), matrix=self.matrix.astype(np.float32),
                 meta=np.asarray(json.dumps({"kind": self.kind, "base": self.base, "info": self.info})))
        atomic_write(Path(path), lambda f: f.write(buf.getvalue()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Projection":
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return cls(z["mean"].astype(np.float32), z["matrix"].astype(np.float32), meta["kind"],
                       meta.get("base", ""), meta.get("info", {}))


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def project(x: np.ndarray, mean: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``unit((x - mean) @ matrix)`` for a vector or rows."""
    return unit_rows((np.asarray(x, np.float32) - mean) @ matrix)


def track_means(x: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct group ids and the mean row of each group."""
    ids, inverse = np.unique(groups, return_inverse=True)
    sums = np.zeros((len(ids), x.shape[1]))
    np.add.at(sums, inverse, x)
    return ids, sums / np.bincount(inverse)[:, None]


def fit_lda(x: np.ndarray, groups: np.ndarray, *, dims: int = DEFAULT_DIMS, shrinkage: float = DEFAULT_SHRINKAGE,
            extra: tuple[np.ndarray, np.ndarray] | None = None, nuisance: np.ndarray | None = None,
            nuisance_weight: float = 1.0, unit_columns: bool = True, base: str = "",
            min_tracks: int | None = None) -> Projection:
    """Fit the label-free projection to a library's windows.

    Parameters
    ----------
    x : np.ndarray
        (n, d) unit base vectors of windows.
    groups : np.ndarray
        (n,) the track each window belongs to (any hashable ids; *not* a label).
    dims : int
        Output dimensions k (capped at tracks - 1 and d).
    shrinkage : float
        alpha in ``(1 - alpha) S_w + alpha tr(S_w)/d I``, 0..1.
    extra : (np.ndarray, np.ndarray), optional
        Further positives (e.g. booth views of the same windows) and their groups: they add to
        the within-track scatter only, so the projection learns to ignore what the booth changes.
    nuisance : np.ndarray, optional
        (d, d) second moment of what the room does to a window's base vector, ``E[(b - c)(b - c)^T]``
        for booth views ``b`` of clean windows ``c`` (:func:`room_nuisance`): added to the
        within-track scatter, times ``nuisance_weight``, so directions the booth moves are dropped.
    nuisance_weight : float
        Weight of ``nuisance`` (in the units of the unit base vectors, like the scatter).
    unit_columns : bool
        Scale each discriminant direction to unit length (instead of the generalised eigenvectors'
        ``w^T S_w w = 1``, which stretches the directions of least within-track spread the most):
        measured a little better on both dev corpora, and what `livedj train` starts from.
    base : str
        Encoder id of the vectors, recorded in the projection.
    min_tracks : int, optional
        Fewer tracks than this: the centring-only fallback; default :data:`MIN_TRACKS`.

    Returns
    -------
    Projection
    """
    from scipy.linalg import eigh

    x = np.asarray(x, dtype=np.float64)
    groups = np.asarray(groups)
    if x.ndim != 2 or len(x) != len(groups):
        raise ValueError(f"fit_lda: x must be (n, d) with one group per row, got {x.shape} and {groups.shape}")
    ids, means = track_means(x, groups)
    mu = means.mean(axis=0)
    n_tracks, d = len(ids), x.shape[1]
    info = {"tracks": int(n_tracks), "windows": int(len(x)), "shrinkage": float(shrinkage)}
    if n_tracks < (MIN_TRACKS if min_tracks is None else min_tracks):
        return Projection(mu.astype(np.float32), np.eye(d, dtype=np.float32), "centre", base, info)
    inverse = np.searchsorted(ids, groups)
    within = x - means[inverse]
    if extra is not None and len(extra[0]):
        ex, eg = np.asarray(extra[0], np.float64), np.asarray(extra[1])
        known = np.isin(eg, ids)
        within = np.concatenate([within, ex[known] - means[np.searchsorted(ids, eg[known])]])
        info["extra"] = int(known.sum())
    s_w = within.T @ within / len(within)
    if nuisance is not None and nuisance_weight > 0:
        if np.shape(nuisance) != (d, d):
            raise ValueError(f"fit_lda: nuisance must be ({d}, {d}), got {np.shape(nuisance)}")
        s_w = s_w + float(nuisance_weight) * np.asarray(nuisance, np.float64)
        info["nuisance_weight"] = float(nuisance_weight)
    centred = means - mu
    s_b = centred.T @ centred / n_tracks
    # one window per track gives no within-track scatter: then the ridge is scaled by the between-track one
    scale = max(np.trace(s_w), 1e-3 * np.trace(s_b), 1e-12) / d
    s_w = (1 - shrinkage) * s_w + max(shrinkage, 1e-3) * scale * np.eye(d)
    k = int(max(1, min(dims, n_tracks - 1, d)))
    values, vectors = eigh(s_b, s_w, subset_by_index=(d - k, d - 1))
    order = np.argsort(values)[::-1]
    info["eigenvalues"] = [round(float(v), 4) for v in values[order][:8]]
    matrix = vectors[:, order]
    if unit_columns:
        matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=0, keepdims=True), 1e-12)
    return Projection(mu.astype(np.float32), matrix.astype(np.float32), "lda", base, info)


def room_nuisance(clean: np.ndarray, heard: np.ndarray) -> np.ndarray:
    """Second moment ``E[(b - c)(b - c)^T]`` of the change the booth makes to unit base vectors.

    ``clean`` and ``heard`` are (n, d) base vectors of the same windows, clean and through a
    (simulated) booth; rows are made unit first, as the fit sees them. The mean change is kept in
    (not centred away): a shift that every booth query shares misleads the lookup as well.
    """
    diff = unit_rows(heard).astype(np.float64) - unit_rows(clean)
    if diff.ndim != 2 or len(diff) == 0:
        raise ValueError(f"room_nuisance: need (n, d) pairs, got {diff.shape}")
    return diff.T @ diff / len(diff)


def load_room_nuisance(encoder: str) -> tuple[np.ndarray, str] | None:
    """The shipped room nuisance for base encoder id ``encoder`` and a hash of it, or None.

    None when the file is missing or was estimated for other vectors (e.g. ``features`` or a
    booth head): the fit then runs without it rather than mixing spaces.
    """
    from livedj.resources import model_path

    path = model_path(ROOM_FILE)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            matrix = f.get_tensor("nuisance")
    except (OSError, ValueError, KeyError):
        return None
    if meta.get("encoder") != encoder or matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        return None
    digest = hashlib.sha256(np.ascontiguousarray(matrix, np.float32).tobytes()).hexdigest()[:12]
    return matrix.astype(np.float64), digest


def beginning_vectors(windows: np.ndarray, counts: np.ndarray, projection: Projection | None) -> np.ndarray:
    """Song-beginning vectors from consecutive per-track windows: the unit mean of the projected windows.

    ``windows`` (n, d) are the tracks' windows one track after another, ``counts`` how many each
    track has; without a projection, the unit mean of the base windows (what ``livedj index`` did).
    """
    v = projection.apply(windows) if projection is not None else unit_rows(windows)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
    return unit_rows(np.add.reduceat(v, starts, axis=0))
