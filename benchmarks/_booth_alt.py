"""Another booth simulation, written apart from :mod:`livedj.dsp.room` and never tuned on.

The fingerprints' peak picker was chosen on the presets of ``livedj.dsp.room.BOOTHS``; this chain
checks that what was learnt there is not the simulator's. Each part differs from ``room``:

- **IR**: a diffuse tail whose decay depends on frequency (three bands: lows ring ~1.6x longer
  than mids, highs ~0.5x, as in most rooms), a handful of strong early reflections at 2-35 ms
  (the booth's walls, the mixer desk), and a direct-to-reverberant ratio drawn per query.
- **Noise**: a mixture drawn per query of mains hum (50 Hz and harmonics), HVAC / fan noise
  (brown below 300 Hz plus a white hiss), talking near the mic (speech-shaped noise with
  syllable bursts), and cheering (noise bursts with a slow swell), at 5-12 dB SNR.
- **Microphone**: a 120 Hz low cut, a presence peak (+4..+8 dB around 2.5-5 kHz) and a preamp
  that soft-clips (tanh) the loud parts.

Pure numpy/scipy; deterministic for a given seed.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

from livedj.dsp.room import speed_change

__all__ = ["alt_booth", "VARIANTS"]

#: (RT60 mid s, direct-to-reverb dB range, SNR dB range, noise kinds)
VARIANTS = {
    "bar": (0.6, (0.0, 6.0), (7.0, 12.0), ("hum", "talk", "hvac")),
    "hall": (1.2, (-3.0, 2.0), (6.0, 10.0), ("cheer", "hvac")),
    "basement": (0.4, (2.0, 8.0), (5.0, 9.0), ("hum", "hvac", "cheer", "talk")),
}


def _band_tail(n: int, sr: int, rt60: float, rng) -> np.ndarray:
    t = np.arange(n) / sr
    out = np.zeros(n)
    edges = ((None, 300.0, 1.6), (300.0, 3000.0, 1.0), (3000.0, None, 0.5))
    for lo, hi, k in edges:
        if lo is None:
            sos = signal.butter(3, hi, btype="lowpass", fs=sr, output="sos")
        elif hi is None:
            sos = signal.butter(3, lo, btype="highpass", fs=sr, output="sos")
        else:
            sos = signal.butter(3, [lo, hi], btype="bandpass", fs=sr, output="sos")
        out += signal.sosfilt(sos, rng.standard_normal(n)) * np.exp(-6.9078 * t / (rt60 * k))
    return out


def _ir(sr: int, rt60: float, drr_db: float, rng) -> np.ndarray:
    n = int(1.5 * rt60 * 1.6 * sr)
    tail = _band_tail(n, sr, rt60, rng)
    onset = int(0.004 * sr)  # the diffuse field builds up after the first reflections
    tail[:onset] *= np.linspace(0, 1, onset)
    for _ in range(rng.integers(3, 7)):
        at = int(rng.uniform(0.002, 0.035) * sr)
        tail[at] += rng.uniform(0.3, 0.8) * rng.choice([-1.0, 1.0]) * np.sqrt(np.sum(tail ** 2) / 50)
    tail *= np.sqrt(10 ** (-drr_db / 10) / max(float(np.sum(tail ** 2)), 1e-20))
    tail[0] += 1.0
    return tail


def _noise(kind: str, n: int, sr: int, rng) -> np.ndarray:
    t = np.arange(n) / sr
    if kind == "hum":
        f0 = 50.0 * rng.uniform(0.995, 1.005)
        y = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) for k in range(1, 8))
    elif kind == "hvac":
        brown = np.cumsum(rng.standard_normal(n))
        brown = signal.sosfilt(signal.butter(2, [20.0, 300.0], btype="bandpass", fs=sr, output="sos"), brown)
        brown /= max(float(np.std(brown)), 1e-12)
        y = brown + 0.15 * rng.standard_normal(n)
    elif kind == "talk":
        y = np.zeros(n)
        for _ in range(3):  # a few voices near the mic, with formant-like peaks
            v = rng.standard_normal(n)
            for fc in (rng.uniform(300, 800), rng.uniform(900, 2200), rng.uniform(2300, 3200)):
                b, a = signal.iirpeak(fc, 4.0, fs=sr)
                y += signal.lfilter(b, a, v) * np.clip(np.sin(2 * np.pi * rng.uniform(2.5, 5.5) * t
                                                              + rng.uniform(0, 6.3)), 0, None) ** 1.5
    elif kind == "cheer":
        swell = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t + rng.uniform(0, 6.3))
        bursts = np.repeat(rng.gamma(0.7, 1.0, n // 800 + 1), 800)[:n]
        y = signal.sosfilt(signal.butter(2, [500.0, 6000.0], btype="bandpass", fs=sr, output="sos"),
                           rng.standard_normal(n)) * bursts * swell
    else:
        raise ValueError(kind)
    return y / max(float(np.sqrt(np.mean(y ** 2))), 1e-12)


def alt_booth(y: np.ndarray, sr: int, variant: str, *, speed: float = 1.0, seed: int = 0) -> np.ndarray:
    """``y`` at ``speed`` (pitch fader) as a microphone in room ``variant`` of :data:`VARIANTS` hears it."""
    rt60, drr, snr, kinds = VARIANTS[variant]
    rng = np.random.default_rng([seed, sorted(VARIANTS).index(variant)])
    x = speed_change(np.asarray(y, np.float32), speed, sr).astype(np.float64)
    n = len(x)
    x = signal.fftconvolve(x, _ir(sr, rt60 * rng.uniform(0.8, 1.25), rng.uniform(*drr), rng))[:n]
    picked = rng.choice(kinds, size=rng.integers(1, len(kinds) + 1), replace=False)
    noise = sum(rng.uniform(0.5, 1.0) * _noise(k, n, sr, rng) for k in picked)
    p_sig, p_noise = float(np.mean(x ** 2)), float(np.mean(noise ** 2))
    if p_sig > 0 and p_noise > 0:
        x = x + noise * np.sqrt(p_sig / (p_noise * 10 ** (rng.uniform(*snr) / 10)))
    x = signal.sosfilt(signal.butter(2, 120.0, btype="highpass", fs=sr, output="sos"), x)
    b, a = signal.iirpeak(rng.uniform(2500.0, 5000.0), 1.2, fs=sr)  # the capsule's presence peak
    x = x + (10 ** (rng.uniform(4.0, 8.0) / 20) - 1) * signal.lfilter(b, a, x)
    drive = rng.uniform(1.5, 4.0) / max(float(np.percentile(np.abs(x), 99.5)), 1e-9)
    return (np.tanh(x * drive) / np.tanh(drive)).astype(np.float32)
