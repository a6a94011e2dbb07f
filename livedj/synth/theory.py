"""Keys, scales and chords, plus the two known-answer test signals (click track, chords)."""
from __future__ import annotations

import numpy as np

from .voices import piano

__all__ = ["PITCH_CLASSES", "parse_key", "scale_notes", "triad", "click_track",
           "chord_progression"]

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_ALIASES = {"DB": 1, "EB": 3, "GB": 6, "AB": 8, "BB": 10, "CB": 11, "FB": 4, "E#": 5, "B#": 0}
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor


def parse_key(key: str) -> tuple[int, str]:
    """Split ``"F# minor"`` / ``"Bb major"`` / ``"Am"`` into (tonic pitch class, mode).

    Returns
    -------
    tonic : int
        0 = C ... 11 = B.
    mode : str
        ``"major"`` or ``"minor"``.
    """
    parts = key.strip().split()
    name = parts[0]
    mode = parts[1].lower() if len(parts) > 1 else "major"
    if len(parts) == 1 and len(name) > 1 and name[-1] == "m" and name[:-1].upper() != "":
        name, mode = name[:-1], "minor"
    if mode in ("min", "m", "minor", "aeolian"):
        mode = "minor"
    elif mode in ("maj", "major", "ionian"):
        mode = "major"
    else:
        raise ValueError(f"unknown mode in key {key!r}")
    up = name[0].upper() + name[1:].upper().replace("♯", "#").replace("♭", "B")
    if up in PITCH_CLASSES:
        return PITCH_CLASSES.index(up), mode
    if up in _ALIASES:
        return _ALIASES[up], mode
    raise ValueError(f"unknown tonic in key {key!r}")


def scale_notes(key: str, octave_midi: int = 48) -> np.ndarray:
    """MIDI numbers of the 7 scale degrees starting at the tonic at or above ``octave_midi``."""
    tonic, mode = parse_key(key)
    base = octave_midi + (tonic - octave_midi) % 12
    return base + np.array(_MAJOR if mode == "major" else _MINOR)


def triad(key: str, degree: int, octave_midi: int = 48, seventh: bool = False,
          harmonic: bool = False) -> list[int]:
    """Diatonic triad (or seventh chord) on scale ``degree`` (0-based; may exceed 6).

    ``harmonic`` raises the leading tone in minor keys, so degree 4 becomes a major V.
    """
    tonic, mode = parse_key(key)
    sc = list(scale_notes(key, octave_midi))
    if harmonic and mode == "minor":
        sc[6] += 1
    idx = [degree, degree + 2, degree + 4] + ([degree + 6] if seventh else [])
    return [sc[i % 7] + 12 * (i // 7) for i in idx]


def click_track(bpm: float, duration: float, sample_rate: int = 22050,
                offset: float = 0.0) -> np.ndarray:
    """Metronome: a 5 ms, 1.5 kHz blip every beat (accented downbeat every 4).

    Parameters
    ----------
    bpm : float
        Tempo; clicks start exactly at ``offset`` seconds and are ``60 / bpm`` apart.
    duration : float
        Length in seconds.
    sample_rate : int
        Output rate.
    offset : float
        Time of the first click in seconds.

    Returns
    -------
    np.ndarray
        Mono float32 in [-1, 1].
    """
    n = int(round(duration * sample_rate))
    out = np.zeros(n, dtype=np.float64)
    m = int(0.03 * sample_rate)
    t = np.arange(m) / sample_rate
    blip = np.sin(2 * np.pi * 1500.0 * t) * np.exp(-t / 0.005)
    period = 60.0 / bpm
    for i, start in enumerate(np.arange(offset, duration, period)):
        s = int(round(start * sample_rate))
        seg = blip[: n - s] * (0.9 if i % 4 == 0 else 0.6)
        out[s: s + len(seg)] += seg
    return out.astype(np.float32)


def chord_progression(key: str, duration: float, sample_rate: int = 22050,
                      bpm: float = 100.0) -> np.ndarray:
    """I-vi-IV-V (major) or i-VI-iv-V (minor) piano chords, one chord per bar, with a bass.

    Every chord is held for a 4-beat bar and its root is doubled two octaves down, so the
    chroma is dominated by the key's tonic triad over a cycle.

    Returns
    -------
    np.ndarray
        Mono float32 in [-1, 1] of ``round(duration * sample_rate)`` samples.
    """
    _, mode = parse_key(key)
    degrees = (0, 5, 3, 4)  # I-vi-IV-V, in minor i-VI-iv-V (harmonic V)
    n = int(round(duration * sample_rate))
    bar = 4 * 60.0 / bpm
    out = np.zeros(n + int(bar * sample_rate) + 1)
    cache: dict[float, np.ndarray] = {}

    def note(midi: int) -> np.ndarray:
        if midi not in cache:
            cache[midi] = piano(440.0 * 2 ** ((midi - 69) / 12), bar, sample_rate)
        return cache[midi]

    for i, start in enumerate(np.arange(0.0, duration, bar)):
        chord = triad(key, degrees[i % 4], 60, harmonic=(mode == "minor"))
        s = int(round(start * sample_rate))
        for m in chord + [chord[0] - 24]:
            x = note(m)
            out[s: s + len(x)] += x
    out = out[:n] / 3.0
    fade = min(n, int(0.01 * sample_rate))
    out[n - fade:] *= np.linspace(1, 0, fade)
    peak = np.max(np.abs(out)) if n else 0.0
    return (out / peak * 0.8 if peak > 0 else out).astype(np.float32)
