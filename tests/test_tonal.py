"""Key notation (Camelot, Open Key, parsing) and key estimation on synthesised chord progressions."""
import functools

import numpy as np
import pytest

from livedj.dsp.tonal import (
    KEY_NAMES, camelot, estimate_key, from_camelot, key_name, key_short, open_key, parse_key,
    relative_key,
)

SR = 16000


# --- notation ---------------------------------------------------------------------------

def test_key_names_layout():
    assert len(KEY_NAMES) == 24
    assert KEY_NAMES[0] == "C major" and KEY_NAMES[11] == "B major"
    assert KEY_NAMES[12] == "C minor" and KEY_NAMES[21] == "A minor"


@pytest.mark.parametrize("key, code", [
    (21, "8A"), (0, "8B"), (7, "9B"), (16, "9A"), (11, "1B"), (20, "1A"), (5, "7B"),
    (14, "7A"), (4, "12B"), (13, "12A"), (1, "3B"), (22, "3A"),
])
def test_camelot_known_positions(key, code):
    assert camelot(key) == code


def test_camelot_is_a_bijection_and_inverts():
    codes = {camelot(k) for k in range(24)}
    assert len(codes) == 24
    for k in range(24):
        c = camelot(k)
        assert from_camelot(int(c[:-1]), c[-1]) == k
        assert parse_key(c) == k
        assert parse_key(open_key(k)) == k
        assert parse_key(key_name(k)) == k
        assert parse_key(key_short(k)) == k


def test_open_key():
    assert open_key(0) == "1d" and open_key(21) == "1m" and open_key(7) == "2d"


def test_names():
    assert key_name(21) == "A minor" and key_name(0) == "C major"
    assert key_short(21) == "Am" and key_short(6) == "F#" and key_short(13) == "Dbm"


def test_relative_key():
    assert relative_key(0) == 21 and relative_key(21) == 0
    for k in range(24):
        assert relative_key(relative_key(k)) == k
        assert camelot(relative_key(k))[:-1] == camelot(k)[:-1]


@pytest.mark.parametrize("text, key", [
    ("Am", 21), ("A minor", 21), ("A min", 21), ("amin", 21), ("8A", 21), ("08A", 21),
    ("8a", 21), ("Abm", 20), ("G#m", 20), ("G#min", 20), ("C#", 1), ("Db major", 1),
    ("Dbmaj", 1), ("C", 0), ("C major", 0), ("CM", 0), ("1m", 21), ("1d", 0), ("01d", 0),
    ("2d", 7), ("12A", 13), ("Bb", 10), ("Bbm", 22), ("Cb", 11), ("E#", 5), ("F♯m", 18),
    ("E♭", 3), (" Am ", 21), ("Abm/G#m", 20), ("Bm", 23), ("B", 11), ("Fm", 17),
])
def test_parse_key(text, key):
    assert parse_key(text) == key


@pytest.mark.parametrize("text, key", [
    ("a", 21), ("A", 9), ("f#", 18), ("eb", 15), ("bb", 22), ("b", 23), ("c", 12), ("C", 0),
    ("a major", 9), ("amaj", 9), ("aM", 9), ("am", 21), ("a/A", 21),
])
def test_a_lower_case_letter_alone_is_minor(text, key):
    """`parse_key("a")` gave A major, the same as "A": a key written "a" (as in scores and key catalogues,
    "Sonata in a") is A minor. A letter alone: upper case major, lower case minor; a mode written out decides
    instead of the case (DJ software always writes it: "Am", "8A", "1m")."""
    assert parse_key(text) == key


@pytest.mark.parametrize("text", ["o", "", "  ", "13A", "0A", "H", "Xm", "8C", "C##", "key", None, 5, "1x"])
def test_parse_key_unknown_is_none(text):
    assert parse_key(text) is None


@pytest.mark.parametrize("bad", [-1, 24, 3.5, "8A"])
def test_camelot_rejects_bad_index(bad):
    with pytest.raises(ValueError):
        camelot(bad)


# --- estimation -------------------------------------------------------------------------

MAJ, MIN = (0, 4, 7), (0, 3, 7)


@functools.lru_cache(maxsize=None)
def _note(f, dur, n_partials=6):
    t = np.arange(int(dur * SR)) / SR
    y = sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, n_partials + 1) if f * h < SR / 2)
    return y * np.minimum(1.0, t / 0.01) * np.exp(-1.5 * t)


def _chord(root_pc, quality, dur):
    midi = [60 + root_pc + i for i in quality] + [36 + root_pc]  # triad + bass root
    return sum(_note(440 * 2 ** ((m - 69) / 12), dur) for m in midi)


def render_progression(tonic, progression, dur=8.0):
    """Twice through ``progression`` (scale degree in semitones, chord quality) in ``dur`` s."""
    seg = dur / (2 * len(progression))
    y = np.concatenate([_chord((tonic + d) % 12, q, seg) for _ in range(2) for d, q in progression])
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


PROGRESSIONS = {  # name: (progression, minor?)
    "I-IV-V-I": ([(0, MAJ), (5, MAJ), (7, MAJ), (0, MAJ)], False),
    "I-vi-IV-V": ([(0, MAJ), (9, MIN), (5, MAJ), (7, MAJ)], False),
    "I-V-vi-IV": ([(0, MAJ), (7, MAJ), (9, MIN), (5, MAJ)], False),
    "i-iv-V-i": ([(0, MIN), (5, MIN), (7, MAJ), (0, MIN)], True),
    "i-iv-i-V": ([(0, MIN), (5, MIN), (0, MIN), (7, MAJ)], True),
    "i-VII-VI-V": ([(0, MIN), (10, MAJ), (8, MAJ), (7, MAJ)], True),
}
TONICS = (0, 2, 4, 5, 7, 9, 10)


@pytest.mark.parametrize("name", ["I-IV-V-I", "i-iv-V-i"])
def test_cadences_exact(name):
    # The learned profiles (issue 17) are not tuned to this generator: one miss in seven is allowed
    # (measured: all 7 major, 6 of 7 minor - Bb minor heard as its subdominant), and it must be a
    # Camelot neighbour.
    progression, minor = PROGRESSIONS[name]
    misses = []
    for tonic in TONICS:
        key, confidence = estimate_key(render_progression(tonic, progression), SR)
        if key != tonic + 12 * minor:
            misses.append((tonic + 12 * minor, key))
        assert 0.0 < confidence <= 1.0
    assert len(misses) <= 1 and all(_neighbours(w, k) for w, k in misses), misses


def _neighbours(a, b):
    """Same, relative or adjacent on the Camelot wheel (a DJ-usable miss)."""
    (na, la), (nb, lb) = (int(camelot(a)[:-1]), camelot(a)[-1]), (int(camelot(b)[:-1]), camelot(b)[-1])
    step = (na - nb) % 12
    return step == 0 or (la == lb and step in (1, 11))


def test_accuracy_over_progressions():
    exact = relative = 0
    trials = 0
    misses = []
    for progression, minor in PROGRESSIONS.values():
        for tonic in TONICS:
            want = tonic + 12 * minor
            key, _ = estimate_key(render_progression(tonic, progression), SR)
            exact += key == want
            relative += key == relative_key(want)
            trials += 1
            if key != want:
                misses.append((want, key))
    # Measured: 39/42 exact; the misses are i-VII-VI-V heard in the dominant's key (Cm -> Gm).
    assert exact / trials >= 0.85, (exact, relative, trials)
    assert all(_neighbours(w, k) for w, k in misses), misses


def test_ambiguous_natural_minor_loop_is_at_least_relative():
    # i-VI-III-VII (Am F C G) is vi-IV-I-V of the relative major: either answer is a weaker hit.
    progression = [(0, MIN), (8, MAJ), (3, MAJ), (10, MAJ)]
    for tonic in (0, 9):
        key, _ = estimate_key(render_progression(tonic, progression), SR)
        assert key in (tonic + 12, relative_key(tonic + 12))


def test_transposition_moves_the_key():
    progression, _ = PROGRESSIONS["I-IV-V-I"]
    keys = [estimate_key(render_progression(t, progression), SR)[0] for t in range(12)]
    assert keys == list(range(12))


def test_silence_and_noise():
    key, confidence = estimate_key(np.zeros(SR * 5, dtype=np.float32), SR)
    assert confidence == 0.0 and 0 <= key < 24
    rng = np.random.default_rng(0)
    _, conf_noise = estimate_key(rng.standard_normal(SR * 5).astype(np.float32) * 0.1, SR)
    _, conf_chords = estimate_key(render_progression(0, PROGRESSIONS["I-IV-V-I"][0]), SR)
    assert conf_noise < conf_chords


def test_other_sample_rates():
    progression, minor = PROGRESSIONS["i-iv-V-i"]
    y = render_progression(9, progression)
    from scipy.signal import resample_poly
    y44 = resample_poly(y, 441, 160).astype(np.float32)
    assert estimate_key(y44, 44100)[0] == 21


def test_rejects_stereo():
    with pytest.raises(ValueError):
        estimate_key(np.zeros((2, SR), dtype=np.float32), SR)
