"""Oscillators, envelopes, filters and pitched instruments.

Every function is pure: it takes parameters and returns a new float64 array. Notes are short
(a few seconds at most), so per-note synthesis stays cheap; arrangement code caches them.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

__all__ = [
    "midi_to_hz", "adsr", "osc_sine", "osc_saw", "osc_square", "biquad_lowpass",
    "biquad_bandpass", "highpass", "sub_bass", "saw_bass", "square_bass", "acid_bass",
    "reese_bass", "wobble_bass", "pluck", "fm_bell", "epiano", "pad", "supersaw", "organ",
    "piano", "feedback_delay",
]


def midi_to_hz(note: float) -> float:
    """Equal-tempered frequency of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def adsr(n: int, sr: int, a: float = 0.005, d: float = 0.1, s: float = 0.7,
         r: float = 0.05) -> np.ndarray:
    """Linear-attack, exponential-decay envelope of ``n`` samples; release fades the tail.

    Parameters
    ----------
    n : int
        Length in samples (the release happens inside it).
    sr : int
        Sample rate.
    a, d, r : float
        Attack, decay time constant and release, in seconds.
    s : float
        Sustain level in [0, 1].
    """
    t = np.arange(n) / sr
    env = s + (1.0 - s) * np.exp(-np.maximum(t - a, 0.0) / max(d, 1e-4))
    na = max(1, int(a * sr))
    env[:na] *= np.linspace(0.0, 1.0, na, endpoint=False)[: min(na, n)]
    nr = min(n, max(1, int(r * sr)))
    env[n - nr:] *= np.linspace(1.0, 0.0, nr)
    return env


def _phase(freq: float | np.ndarray, n: int, sr: int, phase0: float = 0.0) -> np.ndarray:
    """Running phase in cycles, so frequency may vary per sample (vibrato, sweeps)."""
    f = np.broadcast_to(np.asarray(freq, dtype=np.float64), (n,))
    return phase0 + np.cumsum(f) / sr - f[0] / sr


def osc_sine(freq, n: int, sr: int, phase0: float = 0.0) -> np.ndarray:
    """Sine oscillator (``freq`` scalar or per-sample array)."""
    return np.sin(2 * np.pi * _phase(freq, n, sr, phase0))


def _polyblep(t: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """PolyBLEP residual that rounds a step discontinuity at phase 0 (cuts aliasing)."""
    out = np.zeros_like(t)
    lo = t < dt
    x = t[lo] / dt[lo]
    out[lo] = x + x - x * x - 1.0
    hi = t > 1.0 - dt
    x = (t[hi] - 1.0) / dt[hi]
    out[hi] = x * x + x + x + 1.0
    return out


def osc_saw(freq, n: int, sr: int, phase0: float = 0.0) -> np.ndarray:
    """Band-limited (polyBLEP) sawtooth in [-1, 1]."""
    ph = _phase(freq, n, sr, phase0) % 1.0
    dt = np.broadcast_to(np.asarray(freq, dtype=np.float64) / sr, (n,))
    return 2.0 * ph - 1.0 - _polyblep(ph, dt)


def osc_square(freq, n: int, sr: int, phase0: float = 0.0, width: float = 0.5) -> np.ndarray:
    """Band-limited (polyBLEP) pulse wave with duty cycle ``width``."""
    ph = _phase(freq, n, sr, phase0) % 1.0
    dt = np.broadcast_to(np.asarray(freq, dtype=np.float64) / sr, (n,))
    sq = np.where(ph < width, 1.0, -1.0)
    return sq + _polyblep(ph, dt) - _polyblep((ph + 1.0 - width) % 1.0, dt)


def biquad_lowpass(x: np.ndarray, cutoff: float, sr: int, q: float = 0.707) -> np.ndarray:
    """RBJ-cookbook resonant low-pass; ``q`` > 1 gives the squelchy peak of an acid bass."""
    w0 = 2 * np.pi * min(cutoff, 0.45 * sr) / sr
    alpha = np.sin(w0) / (2 * q)
    c = np.cos(w0)
    b = np.array([(1 - c) / 2, 1 - c, (1 - c) / 2])
    a = np.array([1 + alpha, -2 * c, 1 - alpha])
    return signal.lfilter(b / a[0], a / a[0], x)


def biquad_bandpass(x: np.ndarray, center: float, sr: int, q: float = 1.0) -> np.ndarray:
    """RBJ-cookbook band-pass with 0 dB peak gain."""
    w0 = 2 * np.pi * min(center, 0.45 * sr) / sr
    alpha = np.sin(w0) / (2 * q)
    c = np.cos(w0)
    b = np.array([alpha, 0.0, -alpha])
    a = np.array([1 + alpha, -2 * c, 1 - alpha])
    return signal.lfilter(b / a[0], a / a[0], x)


def highpass(x: np.ndarray, cutoff: float, sr: int, order: int = 2) -> np.ndarray:
    """Butterworth high-pass."""
    sos = signal.butter(order, min(cutoff, 0.45 * sr), "highpass", fs=sr, output="sos")
    return signal.sosfilt(sos, x)


# --- bass voices -------------------------------------------------------------------------

def sub_bass(freq: float, dur: float, sr: int, drive: float = 1.0) -> np.ndarray:
    """Sine sub with a little saturation so it is audible on small speakers."""
    n = int(dur * sr)
    x = osc_sine(freq, n, sr) * adsr(n, sr, 0.005, 0.4, 0.8, 0.03)
    return np.tanh(drive * 1.5 * x) / np.tanh(drive * 1.5)


def saw_bass(freq: float, dur: float, sr: int, cutoff: float = 700.0) -> np.ndarray:
    """Plucky filtered saw (disco/house bass)."""
    n = int(dur * sr)
    x = osc_saw(freq, n, sr) + 0.6 * osc_sine(freq, n, sr)
    return biquad_lowpass(x, cutoff, sr, 1.2) * adsr(n, sr, 0.003, 0.15, 0.5, 0.02)


def square_bass(freq: float, dur: float, sr: int, width: float = 0.35) -> np.ndarray:
    """Hollow pulse bass (electro, synthwave)."""
    n = int(dur * sr)
    x = osc_square(freq, n, sr, width=width)
    return biquad_lowpass(x, 1800.0, sr, 0.9) * adsr(n, sr, 0.002, 0.12, 0.6, 0.02)


def acid_bass(freq: float, dur: float, sr: int, cutoff: float = 900.0, res: float = 8.0,
              accent: float = 0.0) -> np.ndarray:
    """TB-303 style: resonant low-pass saw whose filter envelope closes within the note.

    A time-varying biquad would need a per-sample loop; blending an open and a closed
    filtering by the envelope gives the same sweeping timbre at vector speed.
    """
    n = int(dur * sr)
    x = osc_saw(freq, n, sr)
    hi = biquad_lowpass(x, cutoff * (2.5 + 2 * accent), sr, res)
    lo = biquad_lowpass(x, cutoff * 0.5, sr, res * 0.5)
    fenv = np.exp(-np.arange(n) / (sr * 0.06))
    y = lo + fenv * (hi - lo)
    return np.tanh(1.8 * y) * adsr(n, sr, 0.002, 0.2, 0.7, 0.01)


def reese_bass(freq: float, dur: float, sr: int) -> np.ndarray:
    """Two detuned saws beating against each other, dark low-pass (drum and bass)."""
    n = int(dur * sr)
    x = osc_saw(freq * 0.995, n, sr) + osc_saw(freq * 1.005, n, sr, 0.3)
    x = biquad_lowpass(x, 420.0, sr, 1.0) + 0.8 * osc_sine(freq, n, sr)
    return np.tanh(x) * adsr(n, sr, 0.01, 0.5, 0.85, 0.05)


def wobble_bass(freq: float, dur: float, sr: int, lfo_hz: float) -> np.ndarray:
    """LFO-swept bass: cross-fade between a dark and a bright filtering of a square/saw."""
    n = int(dur * sr)
    x = osc_saw(freq, n, sr) + osc_square(freq * 0.5, n, sr)
    lfo = 0.5 - 0.5 * np.cos(2 * np.pi * lfo_hz * np.arange(n) / sr)
    dark = biquad_lowpass(x, 180.0, sr, 2.0)
    bright = biquad_lowpass(x, 2200.0, sr, 3.0)
    return np.tanh(dark + lfo * (bright - dark)) * adsr(n, sr, 0.01, 0.3, 0.9, 0.03)


# --- melodic and harmonic voices ---------------------------------------------------------

def pluck(freq: float, dur: float, sr: int, seed: int = 0, damping: float = 0.996,
          bright: float = 0.5) -> np.ndarray:
    """Karplus-Strong plucked string.

    The recursion y[i] = x[i] + g (y[i-N] + y[i-N-1]) / 2 only reaches back at least N
    samples, so it is evaluated N samples at a time instead of one by one.
    """
    n = int(dur * sr)
    period = max(2, int(round(sr / freq)))
    rng = np.random.default_rng(seed)
    burst = rng.uniform(-1, 1, period)
    burst = bright * burst + (1 - bright) * np.convolve(burst, np.ones(4) / 4, "same")
    y = np.zeros(n + period + 1)
    y[period + 1: 2 * period + 1] = burst[: n]
    for start in range(2 * period + 1, n + period + 1, period):
        stop = min(start + period, n + period + 1)
        y[start:stop] = damping * 0.5 * (y[start - period:stop - period]
                                         + y[start - period - 1:stop - period - 1])
    out = y[period + 1:]
    nr = min(n, int(0.02 * sr))
    out[n - nr:] *= np.linspace(1, 0, nr)
    return out


def fm_bell(freq: float, dur: float, sr: int, ratio: float = 3.5, index: float = 5.0,
            decay: float = 0.8) -> np.ndarray:
    """Two-operator FM with an inharmonic ratio: metallic, glassy bell."""
    n = int(dur * sr)
    t = np.arange(n) / sr
    idx = index * np.exp(-t / (decay * 0.4))
    mod = np.sin(2 * np.pi * freq * ratio * t)
    y = np.sin(2 * np.pi * freq * t + idx * mod)
    return y * np.exp(-t / decay) * adsr(n, sr, 0.001, 1.0, 1.0, 0.02)


def epiano(freq: float, dur: float, sr: int) -> np.ndarray:
    """Rhodes-like FM electric piano: 1:1 ratio body plus a fast 14:1 tine attack."""
    n = int(dur * sr)
    t = np.arange(n) / sr
    body = np.sin(2 * np.pi * freq * t + 1.2 * np.exp(-t / 0.5) * np.sin(2 * np.pi * freq * t))
    tine = np.sin(2 * np.pi * freq * 14 * t) * np.exp(-t / 0.03)
    return (body + 0.25 * tine) * np.exp(-t / 1.2) * adsr(n, sr, 0.002, 1, 1, 0.05)


def piano(freq: float, dur: float, sr: int) -> np.ndarray:
    """Additive piano-ish tone: decaying harmonics, higher ones dying faster."""
    n = int(dur * sr)
    t = np.arange(n) / sr
    y = np.zeros(n)
    for h in range(1, 8):
        if freq * h > 0.45 * sr:
            break
        y += (0.6 ** (h - 1)) * np.sin(2 * np.pi * freq * h * 1.0005 ** h * t) \
            * np.exp(-t * (1.5 + 1.2 * h))
    return y * adsr(n, sr, 0.002, 1, 1, 0.03)


def pad(freqs, dur: float, sr: int, detune: float = 0.006, cutoff: float = 1800.0,
        attack: float = 0.4, vibrato: float = 0.0) -> np.ndarray:
    """Slow-attack chord of detuned saws through a low-pass (strings/pads)."""
    n = int(dur * sr)
    t = np.arange(n) / sr
    vib = 1.0 + vibrato * np.sin(2 * np.pi * 5.0 * t)
    y = np.zeros(n)
    for i, f in enumerate(freqs):
        for k, d in enumerate((-detune, 0.0, detune)):
            y += osc_saw(f * (1 + d) * vib, n, sr, phase0=0.37 * (i + k))
    y = biquad_lowpass(y / (3 * len(freqs)), cutoff, sr, 0.8)
    return y * adsr(n, sr, attack, 1.0, 1.0, min(0.5, dur / 3))


def supersaw(freqs, dur: float, sr: int, cutoff: float = 5000.0) -> np.ndarray:
    """Seven detuned saws per note (trance chord), bright, medium attack."""
    n = int(dur * sr)
    y = np.zeros(n)
    for i, f in enumerate(freqs):
        for k, d in enumerate(np.linspace(-0.02, 0.02, 7)):
            y += osc_saw(f * (1 + d), n, sr, phase0=0.13 * (3 * i + k))
    y = biquad_lowpass(y / (7 * len(freqs)), cutoff, sr, 0.7)
    return y * adsr(n, sr, 0.05, 1.0, 1.0, 0.1)


def organ(freqs, dur: float, sr: int, short: bool = False) -> np.ndarray:
    """Drawbar-organ chord (sine partials 1, 2, 3, 4); ``short`` makes a skank/stab."""
    n = int(dur * sr)
    y = np.zeros(n)
    for i, f in enumerate(freqs):
        for h, g in ((0.5, 0.5), (1, 1.0), (2, 0.6), (3, 0.35), (4, 0.25)):
            y += g * osc_sine(f * h, n, sr, 0.11 * i)
    env = adsr(n, sr, 0.003, 0.08, 0.0, 0.01) if short else adsr(n, sr, 0.01, 1, 1, 0.05)
    return y / (2.7 * len(freqs)) * env


def feedback_delay(x: np.ndarray, delay_s: float, sr: int, feedback: float = 0.45,
                   repeats: int = 6, darken: float = 2500.0) -> np.ndarray:
    """Echo: a few decaying, progressively darker copies (cheaper than an IIR comb)."""
    d = int(delay_s * sr)
    out = x.copy()
    echo = x
    sos = signal.butter(1, darken, "lowpass", fs=sr, output="sos")
    for k in range(1, repeats + 1):
        if k * d >= len(x):
            break
        echo = signal.sosfilt(sos, echo)
        out[k * d:] += feedback ** k * echo[: len(x) - k * d]
    return out
