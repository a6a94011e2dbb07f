"""The "features" encoder: classic descriptors, standardised with fixed constants, as a unit vector.

This is the baseline every quality figure is compared against. It needs no weights and no torch.

Standardisation
---------------
Each feature of :func:`livedj.dsp.descriptors.descriptor_vector` is z-scored with the FIXED
:data:`LOCATION` / :data:`SCALE` below (so vectors never depend on the library being indexed),
then every group (mfcc, chroma, spectral, zcr, onset) is divided by the square root of its size
so the groups weigh about equally in the cosine similarity, and the result is scaled to unit
norm. The constants are the per-feature median and 1.4826 x MAD (a robust mean/std) over
:func:`calibration_windows`: 5-s windows of generated audio at 16 kHz - synthetic tracks in
every :mod:`livedj.synth` style (random tempo, key and seed, none of them a demo track), white,
pink and brown noise, harmonic tones, chords and click tracks. Regenerate them with
``python -m livedj.encoders.descriptors`` (prints the two arrays); changing them changes
:data:`VERSION`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from livedj.dsp.descriptors import DIM as _DIM
from livedj.dsp.descriptors import GROUPS, descriptor_vector
from livedj.encoders.base import Embedding, unit

# fmt: off
# Output of ``python -m livedj.encoders.descriptors`` (descriptor order: FEATURE_NAMES).
LOCATION = np.array([-3.15149, 15.0199, 1.44464, 2.11765, 1.39231, 1.09703, 0.72863, 0.722525,
    1.064, 0.764201, 0.790029, 0.910066, 0.718367, 0.828834, 0.43401, 0.662437, 0.284205, 0.424603,
    0.143027, 0.253815, 8.22872, 4.35595, 2.86385, 2.03358, 1.70418, 1.45383, 1.55689, 1.57589,
    1.28201, 1.24605, 1.26663, 1.36694, 1.19352, 1.00845, 0.899462, 0.760463, 0.773998, 0.720399,
    0.743672, 0.711421, 0.612951, 0.600986, 0.600882, 0.614473, 0.604599, 0.573768, 0.5529,
    0.535061, 0.559985, 0.593479, 0.574717, 0.627812, 10.541, 0.445198, 10.8692, 0.223696, 11.6349,
    0.618467, 41.1311, 22.7447, 31.0991, 34.0449, 36.9847, 34.1628, 27.6849, 9.58317, 8.54177,
    8.55546, 8.90145, 7.61879, 6.54699, 5.54741, 0.0834043, 0.0297648, 0.468139, 0.728626,
    0.719209], dtype=np.float32)
SCALE = np.array([26.9589, 8.23773, 2.43743, 3.0089, 1.92844, 1.51211, 1.1795, 1.16732, 1.55323,
    1.04975, 1.07602, 1.12198, 0.926866, 1.15586, 0.635872, 0.964406, 0.674405, 0.597354, 0.708311,
    0.600031, 11.2063, 5.07612, 3.28762, 1.99166, 1.60543, 1.26365, 1.33291, 1.34148, 0.994971,
    0.95703, 0.96534, 1.13208, 0.901989, 0.666975, 0.531048, 0.66829, 0.618394, 0.838268, 0.776228,
    0.604407, 0.188723, 0.201501, 0.220693, 0.226257, 0.240216, 0.257347, 0.310592, 0.335698,
    0.33875, 0.302887, 0.337403, 0.270446, 1.22124, 0.41145, 0.470972, 0.29909, 1.26866, 0.853776,
    14.6612, 9.3313, 13.3513, 13.5982, 15.1578, 10.5432, 2.61098, 2.68737, 4.23175, 4.29332,
    4.87169, 5.12866, 5.5415, 2.76074, 0.0787513, 0.0262499, 0.302496, 0.976598, 0.309097],
    dtype=np.float32)
# fmt: on
if LOCATION.shape != (_DIM,) or SCALE.shape != (_DIM,):
    raise ImportError("LOCATION/SCALE do not match the descriptor set: re-run the calibration")

_GROUP_WEIGHT = np.concatenate(
    [np.full(len(names), 1.0 / np.sqrt(len(names))) for names in GROUPS.values()]).astype(np.float32)


class FeaturesEncoder:
    """Classic-descriptor encoder (see the module docstring); implements ``Encoder``.

    Parameters
    ----------
    threads : int, optional
        Accepted for interface compatibility with the other encoders; unused (numpy only).
    """

    name = "features"
    VERSION = "1"
    DIM = _DIM
    version = VERSION
    dim = DIM
    sample_rate = 16000
    tag_names: tuple[str, ...] = ()

    def __init__(self, threads: int | None = None):
        self.threads = threads
        # Build the filterbanks now (~1 s the first time librosa makes them), not on the
        # first live window.
        descriptor_vector(np.zeros(self.sample_rate, dtype=np.float32), self.sample_rate)

    def standardise(self, raw: np.ndarray) -> np.ndarray:
        """Z-score ``raw`` descriptors with the fixed constants and weigh the groups equally."""
        z = (np.asarray(raw, dtype=np.float32) - LOCATION) / SCALE
        # A feature far outside the calibrated range (e.g. silence) must not own the vector.
        return np.clip(z, -8.0, 8.0) * _GROUP_WEIGHT

    def analyze(self, audio: np.ndarray) -> Embedding:
        """Embed one mono float32 window at 16 kHz (any length; >= 1 s is meaningful)."""
        return Embedding(unit(self.standardise(descriptor_vector(audio, self.sample_rate))))

    def analyze_many(self, windows: Sequence[np.ndarray]) -> list[Embedding]:
        """Embed several windows (one after the other: the work is per window anyway)."""
        return [self.analyze(w) for w in windows]


# --- calibration (offline) --------------------------------------------------------------


def calibration_windows(n_tracks: int = 48, seed: int = 0, sr: int = 16000,
                        seconds: float = 5.0) -> list[np.ndarray]:
    """Generated 5-s windows the standardisation constants are derived from (deterministic)."""
    from livedj.synth import STYLES, TrackSpec, render_track

    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    out: list[np.ndarray] = []
    notes = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    styles = sorted(STYLES)
    for i in range(n_tracks):
        spec = TrackSpec("calibration", "livedj", float(rng.uniform(80, 176)),
                         f"{notes[rng.integers(12)]} {'minor' if rng.random() < 0.6 else 'major'}",
                         styles[i % len(styles)], int(1000 + i))
        y = render_track(spec, duration=seconds * 2 + 1.0, sample_rate=sr)
        start = int(rng.integers(sr, len(y) - n))
        out.append(y[start:start + n])
    for k in range(8):
        white = rng.standard_normal(n)
        spectrum = np.fft.rfft(white)
        f = np.maximum(np.fft.rfftfreq(n, 1 / sr), 1.0)
        for slope in (0.0, 0.5, 1.0):  # white, pink, brown
            out.append(np.fft.irfft(spectrum / f ** slope, n))
        f0 = 55.0 * 2 ** rng.uniform(0, 5)
        partials = int(rng.integers(1, 12))
        out.append(sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, partials + 1)
                       if f0 * h < sr / 2))
        chord = sum(np.sin(2 * np.pi * f0 * r * h * t) / h for r in (1, 1.26, 1.5)
                    for h in range(1, 6) if f0 * r * h < sr / 2)
        out.append(chord * (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * rng.uniform(0.5, 3) * t))))
        clicks = np.zeros(n)
        clicks[:: int(sr * 60 / rng.uniform(70, 180))] = 1.0
        out.append(np.convolve(clicks, np.exp(-np.arange(400) / 40.0), mode="same")
                   + 0.01 * rng.standard_normal(n))
    return [np.asarray(w, dtype=np.float32) for w in out]


def calibrate(windows: Sequence[np.ndarray] | None = None, sr: int = 16000) -> tuple[np.ndarray, np.ndarray]:
    """Robust location (median) and scale (1.4826 MAD) of each descriptor over ``windows``."""
    windows = calibration_windows(sr=sr) if windows is None else windows
    x = np.stack([descriptor_vector(w, sr) for w in windows]).astype(np.float64)
    location = np.median(x, axis=0)
    scale = 1.4826 * np.median(np.abs(x - location), axis=0)
    # Floor the scale: a feature nearly constant over the corpus must not blow up.
    scale = np.maximum(scale, 0.05 * np.maximum(x.std(axis=0), 1e-3))
    return location.astype(np.float32), scale.astype(np.float32)


def _format(name: str, values: np.ndarray) -> str:
    body = ", ".join(f"{v:.6g}" for v in values)
    return f"{name} = np.array([{body}], dtype=np.float32)"


if __name__ == "__main__":
    import textwrap

    loc, sc = calibrate()
    for name, values in (("LOCATION", loc), ("SCALE", sc)):
        print(textwrap.fill(_format(name, values), width=100, subsequent_indent="    "))

