"""Keys, scales and chords."""
from __future__ import annotations

import numpy as np

__all__ = ["PITCH_CLASSES", "parse_key", "scale_notes", "triad"]

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
