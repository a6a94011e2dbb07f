"""The one interface every encoder implements.

An encoder turns a mono float32 window at ``sample_rate`` Hz into a unit vector (and, when it
knows them, tag probabilities). Indexing and the live loop call the same encoder, so a track's
beginning vector and a live window are comparable by construction.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Embedding:
    """What one encoder pass over one window yields."""

    vector: np.ndarray  #: float32, shape (dim,), L2 norm 1
    tags: np.ndarray | None = None  #: float32 probabilities aligned with ``Encoder.tag_names``


@runtime_checkable
class Encoder(Protocol):
    name: str  #: config name, e.g. "musicnn" or "features"
    version: str  #: changes whenever the vectors it produces change (checked against the index)
    dim: int
    sample_rate: int  #: the rate ``analyze`` expects, Hz
    tag_names: tuple[str, ...]  #: empty when the encoder has no tags

    def analyze(self, audio: np.ndarray) -> Embedding:
        """Embed one mono float32 window (any length >= 1 s) in a single pass."""
        ...

    def analyze_many(self, windows: Sequence[np.ndarray]) -> list[Embedding]:
        """Embed several windows, in order: ``[analyze(w) for w in windows]``, batched where the
        encoder gains by it (musicnn: one forward pass for a track's beginning, ~0.7x the time)."""
        ...


def unit(vector: np.ndarray) -> np.ndarray:
    """Return ``vector`` scaled to unit L2 norm, as float32 (a zero vector stays zero)."""
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def top_tags(encoder: Encoder, probabilities: np.ndarray | None, n: int = 5) -> list[tuple[str, float]]:
    """The ``n`` most probable tags as (name, probability), most probable first."""
    if probabilities is None or not encoder.tag_names:
        return []
    order = np.argsort(probabilities)[::-1][:n]
    return [(encoder.tag_names[i], float(probabilities[i])) for i in order]
