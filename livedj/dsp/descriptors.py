"""Classic hand-made audio descriptors of one window: the baseline the learned encoders must beat.

:func:`descriptor_vector` returns a fixed-length float32 vector (:data:`FEATURE_NAMES`,
grouped in :data:`GROUPS`):

========== ==== ==============================================================================
group      size content
========== ==== ==============================================================================
mfcc        40  mean and std over frames of 20 MFCCs (64-band log-mel, DCT-II ortho)
chroma      12  mean of per-frame max-normalised chroma (librosa's STFT chroma filters)
spectral    20  mean/std of log2 centroid, log2 bandwidth, log2 85 % roll-off (Hz), and of the
                spectral contrast (dB) in 7 octave bands (0-200-400-...-6400-Nyquist)
zcr          2  mean/std of the zero-crossing rate per frame
onset        3  mean and std of the log-mel spectral flux, and the highest autocorrelation of
                that flux at lags 0.25-1.5 s (how periodic the onsets are: tempo-ish)
========== ==== ==============================================================================

The window is scaled to unit RMS first, so the vector does not depend on the input gain (a
quiet microphone and a mastered file give the same description). STFT: 1024-point Hann window,
512 hop (64 / 32 ms at 16 kHz), no padding. Filterbanks are sparse matrices: dense products go
through multithreaded BLAS, whose wake-ups cost ~10 ms on a busy 2-core machine.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.sparse

from livedj.dsp.framing import frames as frame_signal
from livedj.dsp.mel import mel_filterbank

N_FFT = 1024
HOP = 512
N_MELS = 64
N_MFCC = 20
CONTRAST_EDGES = (0.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0)  # + Nyquist: 7 bands
CONTRAST_QUANTILE = 0.02
ROLLOFF = 0.85
ONSET_LAGS_S = (0.25, 1.5)

_SPECTRAL = (
    [f"log2_{n}_{s}" for n in ("centroid", "bandwidth", "rolloff") for s in ("mean", "std")]
    + [f"contrast{i}_{s}" for s in ("mean", "std") for i in range(len(CONTRAST_EDGES))]
)
GROUPS: dict[str, tuple[str, ...]] = {
    "mfcc": tuple(f"mfcc{i}_{s}" for s in ("mean", "std") for i in range(N_MFCC)),
    "chroma": tuple(f"chroma_{p}" for p in ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab",
                                             "A", "Bb", "B")),
    "spectral": tuple(_SPECTRAL),
    "zcr": ("zcr_mean", "zcr_std"),
    "onset": ("flux_mean", "flux_std", "flux_periodicity"),
}
FEATURE_NAMES: tuple[str, ...] = tuple(n for names in GROUPS.values() for n in names)
DIM = len(FEATURE_NAMES)  #: 77


#: ``librosa.filters.chroma(sr=16000, n_fft=1024, norm=None)`` as float32, shipped because
#: librosa's first filterbank costs ~1.5 s (imports, JIT) in every indexing worker; a test
#: checks it against librosa. Other rates ask librosa.
_CHROMA_FILE = Path(__file__).resolve().parent.parent / "data" / f"chroma_sr16000_nfft{N_FFT}.npy"


def chroma_filters(sr: int) -> np.ndarray:
    """librosa's STFT chroma filterbank (12 x bins, no normalisation) for ``sr`` and :data:`N_FFT`."""
    if sr == 16000 and _CHROMA_FILE.exists():
        return np.load(_CHROMA_FILE)
    import librosa

    return librosa.filters.chroma(sr=sr, n_fft=N_FFT, norm=None).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _filters(sr: int) -> dict:
    """Sparse mel / chroma filterbanks, the DCT basis and bin frequencies for ``sr``."""
    mel = mel_filterbank(sr, N_FFT, N_MELS)
    chroma = chroma_filters(sr)
    dct = scipy.fft.dct(np.eye(N_MELS), type=2, norm="ortho", axis=0)[:N_MFCC]
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sr)
    edges = list(CONTRAST_EDGES) + [sr / 2 + 1]
    bands = [np.flatnonzero((freqs >= lo) & (freqs < hi)) for lo, hi in zip(edges[:-1], edges[1:])]
    return {
        "mel": scipy.sparse.csr_matrix(mel.astype(np.float32)),
        "chroma": scipy.sparse.csr_matrix(chroma.astype(np.float32)),
        "dct": dct.astype(np.float32),
        "freqs": freqs.astype(np.float32),
        "bands": bands,
    }


def _mean_std(x: np.ndarray) -> np.ndarray:
    """Per-column mean then std of a (frames, k) array, concatenated."""
    return np.concatenate([x.mean(axis=0), x.std(axis=0)])


def _contrast(mag: np.ndarray, bands: list[np.ndarray]) -> np.ndarray:
    """Spectral contrast (dB): per band and frame, peak minus valley (top/bottom quantile means)."""
    out = np.empty((mag.shape[0], len(bands)), dtype=np.float32)
    for j, idx in enumerate(bands):
        sub = np.sort(mag[:, idx], axis=1)
        k = max(1, int(round(CONTRAST_QUANTILE * len(idx))))
        valley = sub[:, :k].mean(axis=1)
        peak = sub[:, -k:].mean(axis=1)
        out[:, j] = 20.0 * (np.log10(peak + 1e-10) - np.log10(valley + 1e-10))
    return out


def _periodicity(flux: np.ndarray, fps: float) -> float:
    """Highest normalised autocorrelation of ``flux`` at lags ``ONSET_LAGS_S``; 0 when flat."""
    x = flux - flux.mean()
    lo, hi = (int(round(s * fps)) for s in ONSET_LAGS_S)
    if len(x) <= lo + 2:
        return 0.0
    spectrum = scipy.fft.rfft(x, 2 * len(x))
    r = scipy.fft.irfft(np.abs(spectrum) ** 2)[: min(hi, len(x) - 1) + 1]
    if r[0] <= 0:
        return 0.0
    # Unbiased: the biased estimate shrinks with lag, and windows are only a few seconds.
    lags = np.arange(len(r))
    r = r / r[0] * len(x) / (len(x) - lags)
    return float(np.clip(r[lo:].max(), -1.0, 1.0))


def descriptor_vector(y: np.ndarray, sr: int = 16000) -> np.ndarray:
    """Fixed-length classic-descriptor vector of one mono window (see the module table).

    Parameters
    ----------
    y : np.ndarray
        Mono audio, at least ``N_FFT`` samples to be meaningful (shorter is zero-padded).
    sr : int
        Sample rate, Hz.

    Returns
    -------
    np.ndarray
        float32, shape ``(DIM,)``, ordered as :data:`FEATURE_NAMES`; finite even for silence.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono audio (1-D), got shape {y.shape}")
    if y.size == 0:
        raise ValueError("empty audio window")
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    y = y / rms if rms > 1e-8 else np.zeros_like(y)
    f = _filters(sr)
    frames = frame_signal(y, N_FFT, HOP)
    spec = scipy.fft.rfft(frames * np.hanning(N_FFT).astype(np.float32), axis=1)
    power = spec.real ** 2 + spec.imag ** 2  # (frames, bins)
    mag = np.sqrt(power)

    logmel = np.log(np.asarray((f["mel"] @ power.T).T) + 1e-6)  # (frames, mels)
    mfcc = logmel @ f["dct"].T

    chroma = np.asarray((f["chroma"] @ power.T).T)
    chroma = chroma / (chroma.max(axis=1, keepdims=True) + 1e-10)

    freqs = f["freqs"]
    total = mag.sum(axis=1) + 1e-10
    centroid = (mag @ freqs) / total
    bandwidth = np.sqrt(np.maximum((mag * (freqs[None, :] - centroid[:, None]) ** 2).sum(axis=1)
                                   / total, 0.0))
    cumulative = np.cumsum(mag, axis=1)
    rolloff = freqs[np.minimum((cumulative < ROLLOFF * cumulative[:, -1:]).sum(axis=1), len(freqs) - 1)]
    # log2 Hz: timbre differences are about ratios, not absolute Hz.
    logs = np.log2(np.stack([centroid, bandwidth, rolloff], axis=1) + 20.0)
    spectral = np.concatenate([
        np.stack([logs.mean(axis=0), logs.std(axis=0)], axis=1).ravel(),
        _mean_std(_contrast(mag, f["bands"])),
    ])

    signs = np.signbit(frames)
    zcr = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)

    flux = np.maximum(np.diff(logmel, axis=0), 0.0).mean(axis=1) if len(logmel) > 1 else np.zeros(1)
    onset = [flux.mean(), flux.std(), _periodicity(flux, sr / HOP)]

    vec = np.concatenate([_mean_std(mfcc), chroma.mean(axis=0), spectral,
                          [zcr.mean(), zcr.std()], onset]).astype(np.float32)
    return np.nan_to_num(vec, nan=0.0, posinf=0.0, neginf=0.0)
