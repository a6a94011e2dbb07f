"""Musical key: notation (names, Camelot, Open Key, parsing) and estimation from audio.

The estimation is in :mod:`livedj.dsp.keyestimate`; its names are importable from here too.

Key indices follow Mixxx's ``key_id - 1``: 0-11 are C..B major, 12-23 are C..B minor, i.e.
``index = pitch_class + 12 * is_minor``.

Camelot wheel: the number walks the circle of fifths, the letter is the mode (A minor, B major);
8B = C major, 8A = A minor (its relative minor). Open Key (Traktor) is the same wheel rotated so
that 1d = C major and 1m = A minor.
"""
from __future__ import annotations

import re

import numpy as np

from livedj.dsp.keyestimate import (DEFAULT_PROFILE, KRUMHANSL_MAJOR, KRUMHANSL_MINOR, PHRASE_BEATS,  # noqa: F401 (re-exported)
                                    PHRASE_MIN_LOOP, PHRASE_MIN_TEMPO_CONFIDENCE, PROFILES, TEMPERLEY_MAJOR,
                                    TEMPERLEY_MINOR, chroma_profile, estimate_key, estimate_key_sections, key_chroma,
                                    key_posterior_of, key_scores, live_key_posteriors, phrase_period, track_keys)

PITCH_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
KEY_NAMES = tuple(f"{p} major" for p in PITCH_NAMES) + tuple(f"{p} minor" for p in PITCH_NAMES)
KEY_NAMES_SHORT = tuple(PITCH_NAMES) + tuple(f"{p}m" for p in PITCH_NAMES)

_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _check_key(key: int) -> int:
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < 24:
        raise ValueError(f"key index must be an int in 0..23, got {key!r}")
    return int(key)


def camelot_number(key: int) -> int:
    """Camelot wheel number 1..12 of a key index (C major and A minor are 8)."""
    key = _check_key(key)
    pc, minor = key % 12, key >= 12
    # One step clockwise on the wheel is a fifth (7 semitones) up; a minor key sits with its
    # relative major (3 semitones up).
    n = (8 + 7 * ((pc + 3) % 12 if minor else pc)) % 12
    return 12 if n == 0 else n


def camelot(key: int) -> str:
    """Camelot notation of a key index: ``camelot(21) == "8A"`` (A minor), ``camelot(0) == "8B"``."""
    return f"{camelot_number(key)}{'A' if _check_key(key) >= 12 else 'B'}"


def open_key(key: int) -> str:
    """Open Key notation of a key index: C major is ``"1d"``, A minor ``"1m"``."""
    n = (camelot_number(key) - 8) % 12 + 1
    return f"{n}{'m' if key >= 12 else 'd'}"


def key_name(key: int) -> str:
    """Musical name of a key index, e.g. ``"A minor"``, ``"C major"``."""
    return KEY_NAMES[_check_key(key)]


def key_short(key: int) -> str:
    """Short musical name of a key index, e.g. ``"Am"``, ``"C"``, ``"F#m"``."""
    return KEY_NAMES_SHORT[_check_key(key)]


def from_camelot(number: int, letter: str) -> int:
    """Key index of a Camelot position (``number`` 1..12, ``letter`` "A" minor / "B" major)."""
    if not 1 <= number <= 12 or letter.upper() not in ("A", "B"):
        raise ValueError(f"not a Camelot position: {number}{letter}")
    minor = letter.upper() == "A"
    # Invert n = 8 + 7 * pc (mod 12); 7 is its own inverse mod 12.
    pc_major = (7 * (number - 8)) % 12
    return (pc_major - 3) % 12 + 12 if minor else pc_major


_CAMELOT_RE = re.compile(r"^0?(1[0-2]|[1-9])\s*([AB])$", re.IGNORECASE)
_OPENKEY_RE = re.compile(r"^0?(1[0-2]|[1-9])\s*([DM])$", re.IGNORECASE)
_MUSICAL_RE = re.compile(
    r"^([A-G])\s*(#|B|♯|♭|SHARP|FLAT|-SHARP|-FLAT)?\s*"
    r"(M|MIN|MINOR|MOLL|MAJ|MAJOR|DUR)?$",
    re.IGNORECASE,
)


def parse_key(text: str | None) -> int | None:
    """Parse a key written by a DJ tool or a tag into a key index; ``None`` when unknown.

    Accepts musical notation ("Am", "A minor", "A min", "Abm", "G#m", "C#", "Db major", "F#maj",
    "Bb", unicode sharps/flats), Camelot ("8A", "08A", "12B"), Open Key ("1m", "1d"), and ID3
    TKEY (musical, "o" = off key -> ``None``). Several candidates separated by "/" (e.g.
    "Abm/G#m") resolve to the first one that parses. Never raises.

    A note letter alone decides the mode by its case, the convention of scores, key catalogues and
    hand-written tags ("Sonata in a" is A minor): upper case is major, lower case minor -- "A" is
    A major, "a" A minor, "f#" F# minor, "eb" Eb minor. DJ software writes the mode out ("Am",
    "8A", "1m"), so this only decides a tag typed by hand; before, "a" read as A major. A mode
    written out decides instead of the case ("a major", "aMaj", "AM" = A major; "am", "Am" = A minor).

    Parameters
    ----------
    text : str or None
        The key as written.

    Returns
    -------
    int or None
        Key index 0..23 (C..B major, then C..B minor).
    """
    if not isinstance(text, str):
        return None
    s = text.strip()
    if not s:
        return None
    if "/" in s:
        for part in s.split("/"):
            k = parse_key(part)
            if k is not None:
                return k
        return None
    m = _CAMELOT_RE.match(s)
    if m:
        return from_camelot(int(m.group(1)), m.group(2))
    m = _OPENKEY_RE.match(s)
    if m:
        camel = (int(m.group(1)) - 1 + 7) % 12 + 1  # 1d = 8B
        return from_camelot(camel, "A" if m.group(2).lower() == "m" else "B")
    # Musical: a letter alone is major in upper case, minor in lower case; with a mode, the mode
    # decides (a lone "M" is the usual shorthand for major, so only lowercase "m" / "min..." mean minor).
    m = _MUSICAL_RE.match(s)
    if not m:
        return None
    letter, accidental, mode = m.group(1), m.group(2), m.group(3)
    pc = _LETTER_PC[letter.upper()]
    if accidental:
        a = accidental.lower()
        if a in ("#", "♯", "sharp", "-sharp"):
            pc += 1
        else:  # "b", "♭", "flat"
            pc -= 1
    minor = letter.islower()  # no mode written: "a" is A minor, "A" A major
    if mode:
        md = mode.lower()
        # "Am" is minor; a capital "M" is the usual shorthand for major ("AM"); maj/major/dur major
        minor = md in ("min", "minor", "moll") or mode == "m"
    return pc % 12 + (12 if minor else 0)


def relative_key(key: int) -> int:
    """The relative major of a minor key, or the relative minor of a major key."""
    key = _check_key(key)
    return (key - 12 + 3) % 12 if key >= 12 else (key + 9) % 12 + 12


def shift_key(key: int, semitones: int) -> int:
    """The key ``semitones`` higher (same mode): ``shift_key(21, 1) == 22`` (A minor -> Bb minor)."""
    key = _check_key(key)
    return (key % 12 + int(semitones)) % 12 + (12 if key >= 12 else 0)


def speed_semitones_exact(speed: float) -> float:
    """Semitones a turntable's pitch fader moves the key at playback ``speed`` (1.06 -> +1.01)."""
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    return float(12 * np.log2(speed))


def speed_semitones(speed: float) -> int:
    """:func:`speed_semitones_exact`, rounded (1.06 -> +1)."""
    return int(np.round(speed_semitones_exact(speed)))
