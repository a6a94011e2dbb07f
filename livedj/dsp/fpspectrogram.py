"""The landmark fingerprints' power spectrogram: its rate, window, hop and band, and the STFT itself
(step 1 of :mod:`livedj.dsp.fingerprint`, whose peaks are picked from it).
"""
from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from livedj.dsp import fpkernels as kernels
from livedj.dsp.fpkernels import COMPILED

# all but FFT_BLOCK are in fingerprint.PARAMS: changing one re-fingerprints every library (raise its version)
SR = 16000            #: analysis rate, Hz
N_FFT = 1024          #: 64 ms window: 15.6 Hz bins
HOP = 256             #: 16 ms frames: the time unit of landmark times
FFT_BLOCK = 256       #: frames per FFT call (cache-sized; does not change any value)
F_MIN, F_MAX = 120.0, 5000.0   # index band; a query widens it by its speed range. 120 Hz since version 3 (was
# 150): records whose sound lies mostly low are named more often through rooms and sooner in blends; 100 Hz
# named a generated record while another that shares its drum kit played (docs/fingerprints-log.md, "Down to 120 Hz")


def _to_sr(y: np.ndarray, sr: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if sr != SR and len(y):
        import soxr

        y = soxr.resample(y, sr, SR).astype(np.float32)
    return y


def spectrogram(y: np.ndarray, sr: int = SR, band: tuple[float, float] = (F_MIN, F_MAX)
                ) -> tuple[np.ndarray, int]:
    """Power STFT of the analysis band, relative to a full-scale sine (1.0 = 0 dB).

    Power rather than dB: peak picking only compares values, and a log of the whole
    spectrogram would cost more than the FFT; :func:`livedj.dsp.fingerprint.peaks` takes logs of the few it keeps.

    Parameters
    ----------
    y : np.ndarray
        Mono audio.
    sr : int
        Its rate, Hz (resampled to :data:`SR` if different).
    band : (float, float)
        Frequency range kept, Hz.

    Returns
    -------
    P : np.ndarray
        float32, shape (n_frames, n_bins); frame ``i`` starts at sample ``i * HOP``.
    bin0 : int
        The FFT bin of column 0.
    """
    y = _to_sr(y, sr)
    b0 = max(1, int(np.ceil(band[0] * N_FFT / SR)))
    b1 = min(N_FFT // 2, int(np.floor(band[1] * N_FFT / SR))) + 1
    if len(y) < N_FFT:
        return np.zeros((0, b1 - b0), dtype=np.float32), b0
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP]
    power = np.empty((len(frames), b1 - b0), dtype=np.float32)
    windowed = np.empty((min(FFT_BLOCK, len(frames)), N_FFT), np.float32)
    # in blocks of frames that fit in cache: the same values, 2.4x faster than one whole-track
    # FFT (91 -> 38 ms for 4 minutes), which streams ~60 MB of windowed frames through memory
    for i in range(0, len(frames), FFT_BLOCK):
        block = frames[i:i + FFT_BLOCK]
        x = windowed[:len(block)]
        np.multiply(block, _WINDOW, out=x)
        spec = sfft.rfft(x, axis=1, overwrite_x=True)
        out = power[i:i + FFT_BLOCK]
        if COMPILED:  # re * re + im * im in float32 in one pass: numpy's two passes' values (tested)
            kernels.band_power(spec, b0, b1, out)
        else:
            spec = spec[:, b0:b1]
            np.multiply(spec.real, spec.real, out=out)
            out += spec.imag * spec.imag
    return power, b0


#: the analysis window; a full-scale sine through a Hann window peaks at N_FFT / 4 in magnitude: folded in
_WINDOW = (np.hanning(N_FFT + 1)[:-1] * (4.0 / N_FFT)).astype(np.float32)
_WINDOW.flags.writeable = False
