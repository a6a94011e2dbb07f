"""DJ mixing rules: can this track be beat-matched and blended harmonically with what plays now?

Pure functions used by the ranker; no audio here.

Tempo curve
-----------
The pitch fader moves a track by at most ``pitch_range`` (a fraction, 0.08 = +-8 %). For a
required pitch change ``d`` (fraction), the score is a Gaussian in ``d / pitch_range``::

    score(d) = exp(-ln 2 * (d / pitch_range) ** 2)

so it is 1 at 0 %, 0.5 exactly at the edge of the range (``|d| == pitch_range``), 0.0625 at
twice the range and ~0 beyond. Hence ``score >= 0.5`` iff the track is reachable. Matching at
half or double time (ratio 0.5 or 2) is allowed and multiplied by ``HALF_DOUBLE_FACTOR`` (0.9):
it works on the floor, but less naturally than an exact match.

Key table (Camelot wheel, live key -> track key)
------------------------------------------------
========== ============================================ =======
relation   Camelot move                                 score
========== ============================================ =======
same       8A -> 8A                                     1.00
adjacent   +-1, same letter (8A -> 7A, 9A; 12A <-> 1A)  0.90
relative   same number, other letter (8A <-> 8B)        0.85
boost      +2, same letter (8A -> 10A, energy boost)    0.60
clash      anything else                                0.10
unknown    either key unknown                           0.50
========== ============================================ =======
"""
from __future__ import annotations

import math

from livedj.dsp.tonal import camelot_number, parse_key

HALF_DOUBLE_FACTOR = 0.9
NEUTRAL = 0.5

KEY_SCORES = {
    "same": 1.0,
    "adjacent": 0.9,
    "relative": 0.85,
    "boost": 0.6,
    "clash": 0.1,
    "unknown": NEUTRAL,
}
HARMONIC = frozenset({"same", "adjacent", "relative"})


def _known_bpm(bpm: float | None) -> bool:
    return bpm is not None and math.isfinite(bpm) and bpm > 0


def tempo_score(delta: float, pitch_range: float = 0.08) -> float:
    """Score 0..1 of a required pitch change ``delta`` (fraction): 1 at 0, 0.5 at the range edge."""
    if pitch_range <= 0:
        raise ValueError(f"pitch_range must be > 0, got {pitch_range}")
    return math.exp(-math.log(2.0) * (delta / pitch_range) ** 2)


def tempo_compatibility(bpm_live: float | None, bpm_track: float | None,
                        pitch_range: float = 0.08) -> tuple[float, float | None, float]:
    """How well a track's tempo can be matched to the live tempo with the pitch fader.

    Parameters
    ----------
    bpm_live : float or None
        Tempo heard now, BPM.
    bpm_track : float or None
        The candidate track's (unpitched) tempo, BPM.
    pitch_range : float
        Pitch fader range as a fraction (0.08 = +-8 %).

    Returns
    -------
    score : float
        0..1, see the module docstring; 0.5 (neutral) when a tempo is unknown (None, 0, NaN).
    delta_pct : float or None
        Signed pitch change, in percent of the track's tempo, that brings
        ``bpm_track * ratio`` onto ``bpm_live`` (positive: speed the track up).
    ratio : float
        1, 2 (the track is played double time: 64 -> 128) or 0.5 (half time: 174 -> 87).
    """
    if not _known_bpm(bpm_live) or not _known_bpm(bpm_track):
        return NEUTRAL, None, 1.0
    best: tuple[float, float | None, float] | None = None
    for ratio in (1.0, 2.0, 0.5):
        delta = bpm_live / (bpm_track * ratio) - 1.0
        score = tempo_score(delta, pitch_range)
        if ratio != 1.0:
            score *= HALF_DOUBLE_FACTOR
        if best is None or score > best[0]:
            best = (score, 100.0 * delta, ratio)
    return best


def _as_key(key: int | str | None) -> int | None:
    if key is None:
        return None
    if isinstance(key, str):
        return parse_key(key)
    k = int(key)
    return k if 0 <= k < 24 else None


def key_relation(live_key: int | str | None, track_key: int | str | None) -> tuple[str, float]:
    """Relation of two keys on the Camelot wheel and its score (see the module table).

    Parameters
    ----------
    live_key, track_key : int, str or None
        Key index 0..23 (C..B major, C..B minor) or any text :func:`~livedj.dsp.tonal.parse_key`
        accepts ("8A", "Am"); ``None`` or unparsable -> unknown.

    Returns
    -------
    relation : str
        "same", "adjacent", "relative", "boost", "clash" or "unknown".
    score : float
        0..1.
    """
    a, b = _as_key(live_key), _as_key(track_key)
    if a is None or b is None:
        return "unknown", KEY_SCORES["unknown"]
    na, nb = camelot_number(a), camelot_number(b)
    same_letter = (a >= 12) == (b >= 12)
    step = (nb - na) % 12  # clockwise steps from live to track
    if same_letter and step == 0:
        relation = "same"
    elif same_letter and step in (1, 11):
        relation = "adjacent"
    elif not same_letter and step == 0:
        relation = "relative"
    elif same_letter and step == 2:
        relation = "boost"
    else:
        relation = "clash"
    return relation, KEY_SCORES[relation]


def key_weighted(score: float, *confidences: float | None) -> float:
    """A key score pulled towards :data:`NEUTRAL` by the keys' confidences (each 0..1; None: certain).

    ``NEUTRAL + c * (score - NEUTRAL)`` with ``c`` the product of the confidences: a key that is right
    half the time moves a suggestion half as much as a certain one; a key of confidence 0 is unknown.
    """
    c = 1.0
    for conf in confidences:
        if conf is not None and math.isfinite(conf):
            c *= min(1.0, max(0.0, float(conf)))
    return score if c >= 1.0 else NEUTRAL + c * (score - NEUTRAL)


#: how far a live tempo of confidence ``c`` (`livedj.dsp.rhythm.estimate_tempo`) is trusted: ``TEMPO_TRUST_FLOOR
#: + TEMPO_TRUST_SLOPE * c``, up to 1. Measured on 12-s windows of the key benchmark's rendered scores (no drums;
#: training half, 2,124 windows; the test half agrees): the tempo or its half/double is right 34 % of the time
#: below c = 0.05, 59 % at 0.05-0.1, 72 % at 0.1-0.15, 85 % at 0.15-0.2, 82-95 % above (music with drums:
#: always, at c > 0.3). `python -m benchmarks._tempotrust`
TEMPO_TRUST_FLOOR = 0.3
TEMPO_TRUST_SLOPE = 3.5


def tempo_trust(confidence: float | None) -> float:
    """How far the live tempo is trusted, 0.3..1, from its confidence (None or NaN: fully)."""
    if confidence is None or not math.isfinite(confidence):
        return 1.0
    return min(1.0, TEMPO_TRUST_FLOOR + TEMPO_TRUST_SLOPE * max(0.0, float(confidence)))


def tempo_weighted(score: float, confidence: float | None) -> float:
    """A tempo score pulled towards :data:`NEUTRAL` when the live tempo is doubtful (a breakdown, a beatless
    intro): ``NEUTRAL + t * (score - NEUTRAL)``, ``t`` = :func:`tempo_trust`. A tempo that is wrong half the
    time moved a suggestion as much as a sure one: records the fader reaches fell behind others for a
    tempo that was not playing."""
    return key_weighted(score, tempo_trust(confidence))  # the same pull towards neutral as an uncertain key


def is_harmonic(relation: str) -> bool:
    """True for relations that blend without a key clash: same, adjacent, relative.

    "boost" is a deliberate key change (a whole tone up), not a harmonic blend, so it is False.
    """
    return relation in HARMONIC
