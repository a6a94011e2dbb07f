"""Loudness of a signal: level in dBFS, where the sound starts, and rate conversion.

Pure functions over mono float arrays, used by indexing (where a song's beginning starts), the
live engine (the input level, the encoder's rate) and the booth-head training data.
"""
from __future__ import annotations

import numpy as np

SILENCE_FRAME = 2048  #: samples per frame when looking for the first sound
FLOOR_DB = -120.0


def rms_db(y: np.ndarray) -> float:
    """RMS level of ``y`` in dBFS (floored at -120; an empty ``y`` is at the floor).

    Parameters
    ----------
    y : np.ndarray
        Mono samples in [-1, 1].
    """
    if len(y) == 0:
        return FLOOR_DB
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    return max(FLOOR_DB, 20 * np.log10(rms + 1e-12))


def level_db(y: np.ndarray) -> tuple[float, float]:
    """RMS and peak level of ``y`` in dBFS (floored at -120).

    Parameters
    ----------
    y : np.ndarray
        Mono samples in [-1, 1].

    Returns
    -------
    rms_db, peak_db : float
    """
    if len(y) == 0:
        return FLOOR_DB, FLOOR_DB
    peak = float(np.max(np.abs(y)))
    return rms_db(y), max(FLOOR_DB, 20 * np.log10(peak + 1e-12))


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling (soxr, HQ), float32 out; a no-op when the rates match."""
    if sr_in == sr_out:
        return np.asarray(y, dtype=np.float32)
    import soxr

    return soxr.resample(y, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def first_sound(y: np.ndarray, sample_rate: int, floor_db: float = -50.0, below_peak_db: float = 40.0) -> float:
    """Seconds of leading silence in ``y``: where the first frame louder than both thresholds starts.

    A frame is sound when its RMS exceeds ``floor_db`` dBFS and is within ``below_peak_db`` of the
    loudest frame; all silence gives the length of ``y``. The last, partial frame counts only when
    no whole frame is sound (a short file whose sound is all in it; a file shorter than a frame).
    """
    n = len(y) // SILENCE_FRAME
    tail = y[n * SILENCE_FRAME:].astype(np.float64)
    tail_rms = float(np.sqrt(np.mean(tail ** 2) + 1e-20)) if len(tail) else 0.0
    frames = y[: n * SILENCE_FRAME].reshape(n, SILENCE_FRAME)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-20)
    loudest = rms.max() if n else tail_rms
    threshold = max(10 ** (floor_db / 20), loudest * 10 ** (-below_peak_db / 20))
    loud = np.flatnonzero(rms > threshold)
    if len(loud):
        return float(loud[0] * SILENCE_FRAME / sample_rate)
    if tail_rms > threshold:
        return float(n * SILENCE_FRAME / sample_rate)
    return float(len(y) / sample_rate)
