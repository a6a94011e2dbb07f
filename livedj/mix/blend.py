"""The signal side of a transition: key-locked time-stretch, bass swap, equal-power crossfade,
loudness. Pure functions over ``(channels, samples)`` float arrays."""
from __future__ import annotations

import numpy as np
from scipy import signal

__all__ = ["stretch", "split_bands", "crossfade", "loudness", "true_peak_db", "CROSSOVER_HZ"]

#: where the bass swap splits the spectrum, Hz (kick and bass below, everything else above)
CROSSOVER_HZ = 180.0


def stretch(x: np.ndarray, sr: int, speed: float | np.ndarray) -> np.ndarray:
    """Change the tempo of ``x`` by ``speed`` without changing its pitch (Rubber Band).

    Parameters
    ----------
    x : np.ndarray
        Audio, shape ``(channels, n)``.
    sr : int
        Sample rate, Hz.
    speed : float or np.ndarray
        Playback speed: 1.05 plays 5 % faster (output ``n / 1.05`` samples). An array (one
        value per input sample) varies the speed along the input.

    Returns
    -------
    np.ndarray
        The stretched audio, ``(channels, m)``, float32.
    """
    from pedalboard import time_stretch

    if np.isscalar(speed) and abs(float(speed) - 1.0) < 1e-6:
        return np.asarray(x, dtype=np.float32)
    factor = np.asarray(speed, dtype=np.float64) if not np.isscalar(speed) else float(speed)
    # "crisp" transients keep kicks sharp (the beat grid stays on them); the long FFT window
    # smears drums, so it stays off
    return time_stretch(np.ascontiguousarray(x, dtype=np.float32), float(sr), stretch_factor=factor,
                        high_quality=True, transient_mode="crisp", use_long_fft_window=False)


def split_bands(x: np.ndarray, sr: int, crossover_hz: float = CROSSOVER_HZ) -> tuple[np.ndarray, np.ndarray]:
    """Split ``x`` into lows and the rest; ``low + high == x`` exactly.

    A zero-phase Butterworth low-pass (applied forwards and backwards) gives the lows, and the
    rest is the difference, so turning both up restores the record sample for sample.
    """
    sos = signal.butter(4, crossover_hz, "lowpass", fs=sr, output="sos")
    low = signal.sosfiltfilt(sos, x, axis=-1).astype(np.float32)
    return low, (x - low).astype(np.float32)


def crossfade(outgoing: np.ndarray, incoming: np.ndarray, sr: int, swap_at: int,
              swap_len: int, bass_swap: bool = True) -> np.ndarray:
    """Blend two beat-aligned segments of equal length the way a DJ does.

    Mids and highs cross with an equal-power curve (``cos``/``sin`` of a quarter turn: the
    summed power stays constant for unrelated material) over the whole segment. The lows
    swap: the incoming record's lows stay cut until ``swap_at`` (a bar line), then within
    ``swap_len`` samples (one beat) the outgoing lows go and the incoming lows come, so two
    kicks and two basslines never play together.

    Parameters
    ----------
    outgoing, incoming : np.ndarray
        ``(channels, n)`` each, already gain-matched and tempo-matched.
    sr : int
        Sample rate, Hz.
    swap_at, swap_len : int
        Start and length of the bass swap, samples.
    bass_swap : bool
        False: a plain equal-power crossfade of the whole spectrum.

    Returns
    -------
    np.ndarray
        The blend, ``(channels, n)``.
    """
    n = outgoing.shape[1]
    if incoming.shape[1] != n:
        raise ValueError(f"segments differ in length: {n} vs {incoming.shape[1]}")
    t = np.arange(n) / max(n - 1, 1)
    high_out, high_in = np.cos(0.5 * np.pi * t), np.sin(0.5 * np.pi * t)
    if not bass_swap:
        return (outgoing * high_out + incoming * high_in).astype(np.float32)
    swap = np.clip((np.arange(n) - swap_at) / max(swap_len, 1), 0.0, 1.0)
    low_in = np.sin(0.5 * np.pi * swap)
    low_out = np.cos(0.5 * np.pi * swap)
    lo_a, hi_a = split_bands(outgoing, sr)
    lo_b, hi_b = split_bands(incoming, sr)
    return (hi_a * high_out + lo_a * low_out + hi_b * high_in + lo_b * low_in).astype(np.float32)


def loudness(x: np.ndarray, sr: int) -> float:
    """Integrated loudness of ``x`` (``(channels, n)``), LUFS (EBU R128 / ITU-R BS.1770-4).

    -inf for silence.
    """
    import pyloudnorm

    meter = pyloudnorm.Meter(sr)
    with np.errstate(divide="ignore"):
        return float(meter.integrated_loudness(np.ascontiguousarray(np.asarray(x).T, dtype=np.float64)))


def true_peak_db(x: np.ndarray, oversample: int = 4) -> float:
    """True peak of ``x`` (``(channels, n)``) in dBTP: the peak of a 4x oversampled copy."""
    if x.size == 0:
        return -np.inf
    up = signal.resample_poly(x, oversample, 1, axis=-1)
    peak = float(np.max(np.abs(up)))
    return 20 * np.log10(peak) if peak > 0 else -np.inf
