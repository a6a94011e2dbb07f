"""musicnn's input representation as pure numpy: 16 kHz mono -> log-compressed mel power spectrogram.

This reproduces what musicnn 0.1.0 (``extractor.batch_data``) and its training pipeline fed the
network: ``librosa.feature.melspectrogram(y, sr=16000, n_fft=512, hop_length=256, n_mels=96)``
with the defaults of the librosa it was trained with (0.6/0.7: periodic Hann window, centred frames
padded by *reflection*, power 2, Slaney mel scale with Slaney area normalisation), transposed to
(frames, 96), rounded to float16, then ``log10(10000 * x + 1)``.

The log is taken in float32 after the float16 rounding. That is what musicnn's
``np.log10(10000 * x + 1)`` on a float16 array computed under numpy 1.x (value-based casting
promotes ``10000 * float16`` to float32; checked with numpy 1.26); under numpy >= 2 (NEP 50) the
same expression stays float16 and overflows to ``inf`` for any mel power above 6.55.

Note that librosa >= 0.9 pads with zeros (``pad_mode="constant"``) by default, so to compare with
librosa today pass ``pad_mode="reflect"``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

SR = 16000  #: sample rate musicnn expects, Hz
N_FFT = 512  #: FFT size (= window length), samples
HOP = 256  #: hop between frames, samples
N_MELS = 96  #: mel bands


def hz_to_mel_slaney(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (Auditory Toolbox): linear below 1 kHz (3 bands per 200 Hz), logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    log_part = min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log_part, f / f_sp)


def mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel_slaney`."""
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_frequencies(n_mels: int, fmax: float, fmin: float = 0.0) -> np.ndarray:
    """``n_mels`` frequencies (Hz) evenly spaced on the Slaney mel scale from ``fmin`` to ``fmax``."""
    return mel_to_hz_slaney(np.linspace(hz_to_mel_slaney(fmin), hz_to_mel_slaney(fmax), n_mels))


@lru_cache(maxsize=8)
def mel_filterbank(sr: int = SR, n_fft: int = N_FFT, n_mels: int = N_MELS, fmax: float | None = None) -> np.ndarray:
    """Triangular Slaney mel filters with area normalisation, shape (n_mels, 1 + n_fft // 2), float32.

    Same definition as ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmax=fmax,
    htk=False, norm="slaney")`` (fmin 0, fmax default sr/2), bit for bit; here because importing
    librosa and building its first filterbank costs ~1.5 s, paid by every indexing worker.
    Cached and read-only.
    """
    fft_freqs = np.linspace(0.0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_frequencies(n_mels + 2, sr / 2 if fmax is None else fmax)
    f_diff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / f_diff[:-1, None]
    upper = ramps[2:] / f_diff[1:, None]
    # round the triangles to float32 before scaling, as librosa does: the result is then bit-identical
    weights = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]  # Slaney norm: each filter has unit area
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=8)
def hann_periodic(n_fft: int = N_FFT) -> np.ndarray:
    """Periodic ("DFT-even") Hann window of length ``n_fft``, float64, read-only (scipy ``get_window('hann', n)``)."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
    window.setflags(write=False)
    return window


def mel_power(y: np.ndarray, sr: int = SR, n_fft: int = N_FFT, hop: int = HOP, n_mels: int = N_MELS) -> np.ndarray:
    """Mel power spectrogram with librosa-0.7 defaults, shape (frames, n_mels), float32.

    Parameters
    ----------
    y : np.ndarray
        Mono signal at ``sr`` Hz, shape (n_samples,), any float dtype; at least ``n_fft // 2 + 1``
        samples (reflection padding needs them).
    sr, n_fft, hop, n_mels : int
        STFT and mel parameters; musicnn uses 16000, 512, 256, 96.

    Returns
    -------
    np.ndarray
        ``(mel_basis @ |STFT|**2).T``, frames centred on ``t * hop`` with reflect padding.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"mel_power: expected a mono 1-D signal, got shape {y.shape}")
    if y.size <= n_fft // 2:
        raise ValueError(f"mel_power: need more than {n_fft // 2} samples for reflect padding, got {y.size}")
    padded = np.pad(y, n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]  # a view, no copy
    # float64 FFT as librosa does (float32 samples x float64 window), then complex64 -> float32 power
    spectrum = np.fft.rfft(frames * hann_periodic(n_fft), axis=1).astype(np.complex64)
    power = spectrum.real**2 + spectrum.imag**2
    return power @ mel_filterbank(sr, n_fft, n_mels).T


def log_compress(mel: np.ndarray) -> np.ndarray:
    """musicnn's ``logC`` compression: round to float16 (as musicnn stored it), then log10(10000 x + 1) in float32."""
    # held at float16's largest value first: only input far beyond full scale gets there, and it would cast to inf
    rounded = np.minimum(np.asarray(mel), np.finfo(np.float16).max).astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000.0) * rounded + np.float32(1.0))


def log_mel(y: np.ndarray, sr: int = SR) -> np.ndarray:
    """musicnn's network input for a 16 kHz mono window: shape (1 + len(y) // 256, 96), float32.

    Parameters
    ----------
    y : np.ndarray
        Mono float signal sampled at 16 kHz.
    sr : int
        Must be 16000: the model was trained at that rate; resample before calling.
    """
    if sr != SR:
        raise ValueError(f"log_mel: musicnn needs {SR} Hz audio, got {sr} Hz (resample first)")
    return log_compress(mel_power(y))
