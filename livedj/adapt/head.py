"""The booth projection head: frozen musicnn features -> a small unit vector that survives the room.

A two-layer MLP (standardise -> Linear -> ReLU -> Linear -> L2 norm) on top of one musicnn layer
("pool", 1506-d, or "penultimate", 200-d). The input standardisation (mean/std of the training
features) is part of the module, so a saved head is self-contained.

Files are safetensors with string metadata: ``livedj_head`` (JSON: base layer, dims, what it was
trained on, the training figures). The head's *hash* is computed from its tensors on load, never
trusted from the file, and goes into the encoder's version, so an index built with one head refuses
vectors from another.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

BASE_DIMS = {"pool": 1506, "penultimate": 200}
FORMAT = "livedj-booth-head-1"


class HeadError(ValueError):
    """A head file is missing, unreadable or does not fit; ``str()`` is one line."""


@lru_cache(maxsize=1)
def _head_class() -> type:
    """Define ``BoothHead`` (deferred so that importing this module does not import torch)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class BoothHead(nn.Module):
        """``forward(features[B, in_dim]) -> [B, out_dim]`` unit vectors.

        Parameters
        ----------
        in_dim, hidden, out_dim : int
            Base feature size (1506 or 200), hidden width, embedding size.
        """

        def __init__(self, in_dim: int = 1506, hidden: int = 512, out_dim: int = 128):
            super().__init__()
            self.in_dim, self.hidden, self.out_dim = in_dim, hidden, out_dim
            self.register_buffer("mean", torch.zeros(in_dim))
            self.register_buffer("std", torch.ones(in_dim))
            self.fc1 = nn.Linear(in_dim, hidden)
            self.fc2 = nn.Linear(hidden, out_dim)

        def set_standardisation(self, features: np.ndarray) -> None:
            """Take the input mean/std from training features [N, in_dim] (std floored, no division by 0)."""
            x = np.asarray(features, dtype=np.float64)
            self.mean.copy_(torch.from_numpy(x.mean(axis=0)).float())
            self.std.copy_(torch.from_numpy(np.maximum(x.std(axis=0), 1e-3)).float())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = (x - self.mean) / self.std
            return F.normalize(self.fc2(F.relu(self.fc1(x))), dim=-1)

    BoothHead.__qualname__, BoothHead.__module__ = "BoothHead", __name__
    return BoothHead


def __getattr__(name: str) -> Any:  # PEP 562: ``from livedj.adapt.head import BoothHead``
    if name == "BoothHead":
        return _head_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_head(base: str = "pool", hidden: int = 512, out_dim: int = 128, seed: int = 0):
    """A freshly initialised head (deterministic for ``seed``) on the musicnn layer ``base``."""
    import torch

    if base not in BASE_DIMS:
        raise HeadError(f"unknown base layer {base!r}; choose one of {', '.join(BASE_DIMS)}")
    torch.manual_seed(seed)
    head = _head_class()(BASE_DIMS[base], hidden, out_dim)
    head.base = base
    return head


def head_hash(head) -> str:
    """12 hex digits of SHA-256 over the head's tensors (name, shape, float32 bytes), in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(head.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def save_head(head, path: str | os.PathLike, info: dict | None = None) -> str:
    """Write ``head`` to ``path`` (safetensors + JSON metadata), atomically. Returns its hash.

    Parameters
    ----------
    info : dict, optional
        Free-form description stored under ``"info"`` (training data, figures, ...).
    """
    from safetensors.torch import save_file

    digest = head_hash(head)
    meta = {"format": FORMAT, "base": getattr(head, "base", "pool"), "in_dim": head.in_dim,
            "hidden": head.hidden, "out_dim": head.out_dim, "hash": digest, "info": info or {}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tensors = {k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}
    try:
        save_file(tensors, str(tmp), metadata={"livedj_head": json.dumps(meta)})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a failed write leaves no stray copy beside the head
    return digest


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``livedj_head`` metadata of a head file (no weights loaded)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise HeadError(f"booth head not found: {path} (train one with `livedj train --booth-head`)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("livedj_head", "null"))
    except Exception as exc:  # a truncated or foreign file
        raise HeadError(f"{path}: not a safetensors head file ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise HeadError(f"{path}: not a livedj booth head (no {FORMAT!r} metadata)")
    return meta


def load_head(path: str | os.PathLike, base: str | None = None):
    """Load a head saved by :func:`save_head`; returns ``(head, metadata)`` with ``metadata["hash"]`` recomputed.

    Raises
    ------
    HeadError
        One line, for a missing file, a file that is no head, tensors whose shapes contradict the
        metadata, or a base layer other than ``base`` (when given).
    """
    from safetensors.torch import load_file

    meta = read_metadata(path)
    if meta.get("base") not in BASE_DIMS or meta.get("in_dim") != BASE_DIMS[meta.get("base")]:
        raise HeadError(f"{path}: head expects {meta.get('in_dim')}-d input from musicnn layer "
                        f"{meta.get('base')!r}, which has {BASE_DIMS.get(meta.get('base'), '?')} dims")
    if base is not None and meta["base"] != base:
        raise HeadError(f"{path}: head is for musicnn layer {meta['base']!r}, not {base!r}")
    tensors = load_file(str(path))
    head = _head_class()(int(meta["in_dim"]), int(meta["hidden"]), int(meta["out_dim"]))
    expected = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != found:
        wrong = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
        k = wrong[0]
        raise HeadError(f"{path}: wrong dims for {meta['in_dim']}->{meta['hidden']}->{meta['out_dim']} head: "
                        f"{k} is {found.get(k, 'missing')}, expected {expected.get(k, 'nothing')}")
    head.load_state_dict(tensors)
    head.eval().requires_grad_(False)
    head.base = meta["base"]
    meta = dict(meta, hash=head_hash(head))
    return head, meta


def apply_head(head, features: np.ndarray) -> np.ndarray:
    """Unit vectors [n, out_dim] (float32) of base features [n, in_dim] (or [in_dim] -> [out_dim])."""
    import torch

    x = np.asarray(features, dtype=np.float32)
    with torch.inference_mode():
        y = head(torch.from_numpy(x.reshape(-1, x.shape[-1]))).numpy()
    return y.reshape(x.shape[:-1] + (head.out_dim,))
