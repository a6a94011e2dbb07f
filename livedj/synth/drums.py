"""Drum-machine voices, each a pure function returning one hit as a float64 array."""
from __future__ import annotations

import numpy as np

from .voices import biquad_bandpass, biquad_lowpass, highpass, osc_square

__all__ = ["kick", "snare", "clap", "hat", "shaker", "rim", "cowbell", "tom", "ride",
           "make_kit"]


def _noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, n)


def kick(sr: int, f0: float = 160.0, f1: float = 48.0, decay: float = 0.35,
         sweep: float = 0.04, click: float = 0.3, drive: float = 1.5) -> np.ndarray:
    """Sine with a falling pitch (the body) plus a short click; long ``decay`` = 808 boom."""
    n = int((decay * 3 + 0.02) * sr)
    t = np.arange(n) / sr
    f = f1 + (f0 - f1) * np.exp(-t / sweep)
    body = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / decay)
    clk = click * np.exp(-t / 0.003) * np.sin(2 * np.pi * 3000 * t)
    return np.tanh(drive * (body + clk)) / np.tanh(drive)


def snare(sr: int, seed: int, tone: float = 190.0, decay: float = 0.12,
          noise_mix: float = 0.7, bright: float = 4000.0) -> np.ndarray:
    """Tuned body plus band-passed noise (the wires)."""
    n = int(decay * 5 * sr)
    t = np.arange(n) / sr
    body = np.sin(2 * np.pi * tone * t) * np.exp(-t / (decay * 0.5))
    wires = biquad_bandpass(_noise(n, seed), bright, sr, 0.7) * np.exp(-t / decay)
    return (1 - noise_mix) * body + noise_mix * 2.0 * wires


def clap(sr: int, seed: int, tail: float = 0.12) -> np.ndarray:
    """Three fast noise bursts then a tail, band-passed around 1.2 kHz."""
    n = int((tail * 5 + 0.03) * sr)
    t = np.arange(n) / sr
    env = np.exp(-t / tail)
    for off in (0.0, 0.011, 0.022):
        env += np.where(t >= off, np.exp(-np.maximum(t - off, 0) / 0.004), 0.0)
    return 2.5 * biquad_bandpass(_noise(n, seed), 1200.0, sr, 1.5) * env / 2.0


def hat(sr: int, seed: int, decay: float = 0.035, cutoff: float = 7000.0) -> np.ndarray:
    """High-passed noise with metallic square partials; ``decay`` ~0.2 s is an open hat."""
    n = int(decay * 5 * sr)
    t = np.arange(n) / sr
    metal = sum(osc_square(f, n, sr) for f in (205.3, 304.4, 369.6, 522.7, 540.0, 800.0))
    x = 0.6 * _noise(n, seed) + 0.1 * metal
    return 1.2 * highpass(x, min(cutoff, 0.4 * sr), sr, 4) * np.exp(-t / decay)


def shaker(sr: int, seed: int) -> np.ndarray:
    """Soft noise swell (attack a few ms, 50 ms decay), band-passed high."""
    n = int(0.12 * sr)
    t = np.arange(n) / sr
    env = (1 - np.exp(-t / 0.008)) * np.exp(-t / 0.04)
    return 1.5 * biquad_bandpass(_noise(n, seed), 6000.0, sr, 1.0) * env


def rim(sr: int, seed: int, pitch: float = 1700.0) -> np.ndarray:
    """Rim shot / side-stick: very short high click with a woody resonance."""
    n = int(0.08 * sr)
    t = np.arange(n) / sr
    x = np.sin(2 * np.pi * pitch * t) * np.exp(-t / 0.012) + \
        0.5 * biquad_bandpass(_noise(n, seed), 2500, sr, 3) * np.exp(-t / 0.006)
    return x


def cowbell(sr: int) -> np.ndarray:
    """TR-808 cowbell: two detuned squares through a band-pass."""
    n = int(0.35 * sr)
    t = np.arange(n) / sr
    x = osc_square(540.0, n, sr) + osc_square(800.0, n, sr)
    env = 0.6 * np.exp(-t / 0.02) + 0.4 * np.exp(-t / 0.15)
    return 0.8 * biquad_bandpass(x, 800.0, sr, 2.0) * env


def tom(sr: int, pitch: float = 120.0) -> np.ndarray:
    """Electronic tom: pitched-down sine."""
    n = int(0.4 * sr)
    t = np.arange(n) / sr
    f = pitch * (1 + 0.6 * np.exp(-t / 0.05))
    return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.12)


def ride(sr: int, seed: int) -> np.ndarray:
    """Long, bright, shimmering cymbal."""
    n = int(1.0 * sr)
    t = np.arange(n) / sr
    metal = sum(osc_square(f, n, sr) for f in (437.0, 583.0, 791.0, 1093.0))
    x = highpass(0.4 * _noise(n, seed) + 0.2 * metal, 5000.0, sr, 2)
    return 0.6 * x * np.exp(-t / 0.3)


def make_kit(sr: int, seed: int, kind: str = "standard", tonic: int = 7) -> dict[str, np.ndarray]:
    """A complete set of one-shot samples; ``kind`` changes the character of the kit.

    The kick's tail, snare body and toms are tuned to the track's ``tonic`` pitch class
    (0 = C), as producers do, so the drums reinforce the key rather than blur it.

    Kinds: ``standard`` (punchy, house/techno), ``808`` (long booming kick, electro/hip hop),
    ``lofi`` (dull, low-passed boom-bap), ``dnb`` (tight, bright break-beat kit),
    ``soft`` (gentle, for dub/ambient).
    """
    s = seed * 101
    root = 32.703 * 2 ** (tonic / 12)            # tonic in octave 1 (C1 = 32.7 Hz)
    root = root * 2 if root < 40 else root       # 40-65 Hz: where kick tails sit
    fifth = root * 4 * 1.4983                    # snare body on the fifth, ~180-360 Hz
    fifth = fifth / 2 if fifth > 260 else fifth
    kit = {
        "kick": kick(sr, f1=root),
        "snare": snare(sr, s + 1, tone=fifth),
        "clap": clap(sr, s + 2),
        "hat": hat(sr, s + 3),
        "ohat": hat(sr, s + 4, decay=0.18),
        "shaker": shaker(sr, s + 5),
        "rim": rim(sr, s + 6, pitch=fifth * 8 if fifth * 8 < 2400 else fifth * 4),
        "cowbell": cowbell(sr),
        "tom": tom(sr, root * 2.0),
        "tomlo": tom(sr, root * 1.4983),
        "ride": ride(sr, s + 7),
    }
    if kind == "808":
        kit["kick"] = kick(sr, f0=120.0, f1=root, decay=0.6, sweep=0.03, click=0.15, drive=2.0)
        kit["snare"] = snare(sr, s + 1, tone=root * 4, decay=0.15, noise_mix=0.8, bright=6000.0)
    elif kind == "lofi":
        kit = {k: biquad_lowpass(v, 3500.0, sr) for k, v in kit.items()}
        kit["kick"] = biquad_lowpass(kick(sr, f0=110, f1=root, decay=0.25, click=0.5), 2500, sr)
        kit["snare"] = biquad_lowpass(snare(sr, s + 1, tone=fifth, decay=0.18), 5000, sr)
    elif kind == "dnb":
        kit["kick"] = kick(sr, f0=200.0, f1=root, decay=0.2, sweep=0.02, click=0.5)
        kit["snare"] = snare(sr, s + 1, tone=root * 4, decay=0.1, noise_mix=0.65, bright=5000.0)
        kit["hat"] = hat(sr, s + 3, decay=0.02, cutoff=9000.0)
    elif kind == "soft":
        kit["kick"] = kick(sr, f0=100.0, f1=root, decay=0.3, click=0.05, drive=1.0)
        kit["snare"] = snare(sr, s + 1, tone=fifth, decay=0.2, noise_mix=0.5, bright=2500.0)
    return kit
