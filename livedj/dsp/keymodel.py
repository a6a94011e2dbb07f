"""The learned key model: key profiles of one or more "experts", their calibration and gate, and the
posterior over the 24 keys they give a bass/treble chroma (step 3 of :mod:`livedj.dsp.keyfind`).

Key indices: ``pitch_class + 12 * is_minor`` (C..B major, then C..B minor).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).resolve().parents[1] / "data" / "key_model.npz"
WINDOW_SECONDS, WHOLE_SECONDS = 12.0, 30.0  #: the lengths the two calibrations were fitted at


@dataclass(frozen=True)
class KeyModel:
    """Key profiles of one or more "experts" (families of music), their calibration and a gate.

    Attributes
    ----------
    weights : np.ndarray
        Shape (experts, 2, 24): per expert and mode (major, minor), the bass (first 12) and treble
        (last 12) profile for tonic C.
    bias : np.ndarray
        Shape (experts, 2): per expert and mode.
    temperature : np.ndarray
        Shape (experts,): each expert's logits are divided by it before its softmax (fitted so that
        its posterior is calibrated), for a 12-s stretch (:data:`WINDOW_SECONDS`, the live estimate).
    gate : np.ndarray or None
        Shape (25,) with two experts: logistic-regression weights (24 features of
        :func:`style_features`, then the intercept) giving the probability that the second expert's
        music is playing; the posterior is the mixture of the experts' posteriors by it.
    temperature_whole : np.ndarray or None
        Shape (experts,): the same for :data:`WHOLE_SECONDS` or more (the index's estimate). A longer
        excerpt gives sharper chroma but a key as well defined as a 12-s window's only where the
        music does not modulate, so the two calibrate differently; between the two lengths the
        temperature is interpolated in log-length. None: ``temperature`` at every length.
    """

    weights: np.ndarray
    bias: np.ndarray
    temperature: np.ndarray
    gate: np.ndarray | None = None
    temperature_whole: np.ndarray | None = None

    def __post_init__(self):
        w = np.asarray(self.weights, np.float64)
        object.__setattr__(self, "weights", w.reshape(-1, 2, 24))
        object.__setattr__(self, "bias", np.asarray(self.bias, np.float64).reshape(-1, 2))
        t = np.broadcast_to(np.asarray(self.temperature, np.float64), (len(self.weights),)).copy()
        object.__setattr__(self, "temperature", t)
        if self.temperature_whole is not None:
            t = np.broadcast_to(np.asarray(self.temperature_whole, np.float64), (len(self.weights),)).copy()
            object.__setattr__(self, "temperature_whole", t)

    @property
    def experts(self) -> int:
        return len(self.weights)

    def temperature_at(self, seconds: float | None) -> np.ndarray:
        """Shape (experts,): the temperatures for an excerpt of ``seconds`` (None: a 12-s window)."""
        if self.temperature_whole is None or seconds is None:
            return self.temperature
        a = np.clip(np.log(seconds / WINDOW_SECONDS) / np.log(WHOLE_SECONDS / WINDOW_SECONDS), 0.0, 1.0)
        return np.exp((1 - a) * np.log(self.temperature) + a * np.log(self.temperature_whole))


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> KeyModel:
    """The shipped model (``livedj/data/key_model.npz``) or another written like it."""
    with np.load(path or MODEL_PATH) as f:
        gate = np.asarray(f["gate"], np.float64) if "gate" in f.files else None
        whole = np.asarray(f["temperature_whole"], np.float64) if "temperature_whole" in f.files else None
        return KeyModel(f["weights"], f["bias"], f["temperature"], gate, whole)


def _standardise(chroma: np.ndarray) -> np.ndarray:
    c = chroma - chroma.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(c, axis=-1, keepdims=True)
    return np.where(norm > 0, c / np.where(norm > 0, norm, 1), 0.0)


def rotations(chroma: np.ndarray) -> np.ndarray:
    """Shape (..., 12, 24): the standardised bass+treble chroma seen from each tonic 0..11.

    ``rotations(c)[..., t, :]`` is the 24-vector (bass, treble) rotated so that pitch class ``t``
    comes first: the feature a key with tonic ``t`` is scored on.
    """
    z = _standardise(np.asarray(chroma, np.float64))  # (..., 2, 12)
    idx = (np.arange(12)[:, None] + np.arange(12)[None, :]) % 12  # [t, j] -> pc t + j
    rolled = z[..., idx]  # (..., 2, 12 tonics, 12)
    return np.concatenate([rolled[..., 0, :, :], rolled[..., 1, :, :]], axis=-1)


def style_features(chroma: np.ndarray) -> np.ndarray:
    """Shape (..., 24): the standardised bass and treble chroma sorted by value.

    Sorting forgets the key and keeps the shape of the pitch distribution (how flat, how many
    strong pitch classes): what tells a tonal chorale's chroma from a four-chord loop's.
    """
    z = np.sort(_standardise(np.asarray(chroma, np.float64)), axis=-1)
    return z.reshape(*z.shape[:-2], 24)


def gate_probability(chroma: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """Shape (...,): probability of the second expert under the logistic ``gate``."""
    return 1.0 / (1.0 + np.exp(-(style_features(chroma) @ gate[:-1] + gate[-1])))


def key_logits(chroma: np.ndarray, model: KeyModel, expert: int = 0) -> np.ndarray:
    """Shape (..., 24): uncalibrated scores of the 24 keys (C..B major, C..B minor) by one expert."""
    r = rotations(chroma)  # (..., 12, 24)
    w, b = model.weights[expert], model.bias[expert]
    return np.concatenate([r @ w[0] + b[0], r @ w[1] + b[1]], axis=-1)


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=-1, keepdims=True)


def key_posterior(chroma: np.ndarray, model: KeyModel | None = None, seconds: float | None = None, *,
                  temperature_scale: float = 1.0) -> np.ndarray:
    """Shape (..., 24): calibrated probabilities of the 24 keys; uniform when there is no pitch.

    With two experts the posterior is their mixture, weighted by the gate's probability of each.
    ``seconds``: how long the excerpt the chroma was read from is (the calibration depends on it,
    see :meth:`KeyModel.temperature_at`); None for a 12-s window. ``temperature_scale`` multiplies
    the temperatures (below 1: sharper).
    """
    model = model or load_model()
    chroma = np.asarray(chroma, np.float64)
    temperature = model.temperature_at(seconds) * temperature_scale
    p = _softmax(key_logits(chroma, model, 0) / temperature[0])
    if model.experts > 1:
        g = gate_probability(chroma, model.gate)[..., None]
        p = (1 - g) * p + g * _softmax(key_logits(chroma, model, 1) / temperature[1])
    silent = ~np.any(chroma.reshape(*chroma.shape[:-2], 24) > 0, axis=-1)
    return np.where(silent[..., None], 1.0 / 24, p)
