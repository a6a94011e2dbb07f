"""Musical key estimated from audio: the key (and its calibrated probability) of a window, of a
track's beginning and end, and the classic Krumhansl-Schmuckler baseline.

The features and the learned model are :mod:`livedj.dsp.keyfind` and :mod:`livedj.dsp.keymodel`;
the notation of the key indices returned (0-11 C..B major, 12-23 C..B minor) is :mod:`livedj.dsp.tonal`.
"""
from __future__ import annotations

import numpy as np

# Key profiles (C major / C minor, pitch classes C..B).
# Krumhansl & Kessler (1982) probe-tone ratings, as used by the Krumhansl-Schmuckler algorithm.
KRUMHANSL_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KRUMHANSL_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# Temperley (2001/2007), Kostka-Payne corpus based profiles.
TEMPERLEY_MAJOR = np.array([5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0])
TEMPERLEY_MINOR = np.array([5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0])
PROFILES = {
    "krumhansl": (KRUMHANSL_MAJOR, KRUMHANSL_MINOR),
    "temperley": (TEMPERLEY_MAJOR, TEMPERLEY_MINOR),
}
DEFAULT_PROFILE = "krumhansl"


def chroma_profile(y: np.ndarray, sr: int, *, n_fft: int | None = None,
                   fmin: float = 55.0, fmax: float = 2000.0) -> np.ndarray:
    """Overall pitch-class energy of ``y`` on the plain A440 grid: a length-12 vector (C..B) summing to 1.

    The chroma of the detector before issue 17 (Krumhansl-Schmuckler on it, :func:`key_scores`),
    kept as the key benchmark's baseline: :func:`livedj.dsp.keyfind.semitone_energy` with no tuning
    correction, all octaves folded together.
    """
    from livedj.dsp.keyfind import semitone_energy

    energy, notes, _ = semitone_energy(y, sr, n_fft=n_fft or 1 << int(np.round(np.log2(sr * 0.5))), fmin=fmin,
                                       fmax=fmax, tuning=0.0)
    chroma = np.zeros(12)
    np.add.at(chroma, notes % 12, energy)
    total = chroma.sum()
    return chroma / total if total > 0 else chroma


def key_scores(chroma: np.ndarray, profile: str = DEFAULT_PROFILE) -> np.ndarray:
    """Pearson correlation of a 12-bin chroma with all 24 rotated key profiles."""
    major, minor = PROFILES[profile]
    chroma = np.asarray(chroma, dtype=np.float64)
    templates = np.stack([np.roll(major, k) for k in range(12)]
                         + [np.roll(minor, k) for k in range(12)])
    t = templates - templates.mean(axis=1, keepdims=True)
    c = chroma - chroma.mean()
    denom = np.linalg.norm(t, axis=1) * np.linalg.norm(c)
    return (t @ c) / denom if denom.all() else np.zeros(24)


PHRASE_BEATS = 16  #: a phrase of four 4/4 bars: the length of the common chord loop
#: Below this tempo confidence (:func:`livedj.dsp.rhythm.estimate_tempo`) the live key reads its stretch
#: unweighted. Chosen on development data (``python -m benchmarks._keyphrase``: livedj.synth loops and the
#: scores' training half), where 0.5 gave up half the random loops' gain; docs/key.md.
PHRASE_MIN_TEMPO_CONFIDENCE = 0.3
#: ...and where the key model's gate gives loop music less than this probability (a score, a chorale).
PHRASE_MIN_LOOP = 0.5


def phrase_period(bpm: float | None, confidence: float = 1.0, *, beats: int = PHRASE_BEATS,
                  min_confidence: float = PHRASE_MIN_TEMPO_CONFIDENCE) -> float | None:
    """The loop period a live key estimate weights its stretch by: one phrase of ``beats`` at ``bpm``.

    A four-chord loop repeats every four bars, and 12 s hold 4.5 to 8.5 bars of it at DJ tempi, so
    one to three of its chords would count once more than the others (the relative key or the fifth
    wins where the tonic chord is played once a loop). Weighting the stretch's frames by their phase
    in this period (:func:`livedj.dsp.keyfind.phase_weights`) counts every bar once; only the tempo is
    needed, not the downbeat.

    Parameters
    ----------
    bpm : float or None
        Tempo, beats per minute; None when unknown.
    confidence : float
        The tempo's confidence, 0..1.
    beats : int
        Beats per phrase (16: four bars of 4/4).
    min_confidence : float
        Below this confidence the tempo is not trusted.

    Returns
    -------
    float or None
        ``beats * 60 / bpm`` seconds, or None (read the stretch unweighted).

    Examples
    --------
    >>> phrase_period(120.0, 0.6)  # four bars of 2 s
    8.0
    >>> phrase_period(120.0, 0.1) is None
    True
    """
    if bpm is None or not np.isfinite(bpm) or bpm <= 0 or confidence < min_confidence:
        return None
    return beats * 60.0 / float(bpm)


def key_chroma(y: np.ndarray, sr: int, *, tuning: float | None = None,
               period: float | None = None) -> tuple[np.ndarray, float]:
    """The (bass, treble) chroma a key estimate of ``y`` reads, and the tuning used (semitones off A440).

    ``period``: a loop's length in seconds (:func:`phrase_period`). Where the key model's gate says
    loop music (probability >= :data:`PHRASE_MIN_LOOP`, on the plain chroma), every phase of the loop
    then counts once (:func:`livedj.dsp.keyfind.phrase_chroma`); a score's chroma is read plain (it
    does not loop, and weighting its phrases moved the estimate towards the window's most recent
    bars: scores' training half, ``python -m benchmarks._keyphrase``).
    """
    from livedj.dsp.keyfind import chroma_features, gate_probability, load_model, phrase_chroma

    if period is None or period >= len(y) / sr:
        return chroma_features(y, sr, tuning=tuning)
    plain, weighted, tuning = phrase_chroma(y, sr, period, tuning=tuning)
    gate = load_model().gate
    loop = gate is None or gate_probability(plain, gate) >= PHRASE_MIN_LOOP
    return (weighted if loop else plain), tuning


def key_posterior_of(y: np.ndarray, sr: int, *, tuning: float | None = None,
                     period: float | None = None, lowest_notes: bool = False) -> tuple[np.ndarray, float]:
    """Calibrated probabilities of the 24 keys for ``y`` and the tuning used (semitones off A440).

    See :mod:`livedj.dsp.keyfind`: tuned bass/treble chroma scored by profiles learned on rendered
    scores; uniform (1/24 each) for silence. ``period``: a loop's length in seconds
    (:func:`phrase_period`), whose every phase then counts once in loop music (:func:`key_chroma`).
    ``lowest_notes`` (the live window's rule; not with ``period``): :func:`live_key_posteriors`' calibrated one.
    """
    if not lowest_notes or (period is not None and period < len(y) / sr):
        from livedj.dsp.keyfind import key_posterior

        chroma, tuning = key_chroma(y, sr, tuning=tuning, period=period)
        return key_posterior(chroma, seconds=len(y) / sr), tuning
    _, calibrated, tuning = live_key_posteriors(y, sr, tuning=tuning)
    return calibrated, tuning


def live_key_posteriors(y: np.ndarray, sr: int, *, tuning: float | None = None
                        ) -> tuple[np.ndarray, np.ndarray, float]:
    """The live 12-s window's key posteriors: (shared, calibrated, tuning).

    Where the key model's gate gives loop music at least :data:`~livedj.dsp.keyrelative.LOWEST_NOTE_MIN_LOOP`, a key
    and its relative share their probability by how often their tonics are the lowest note sounding
    (:func:`~livedj.dsp.keyrelative.lowest_note_tiebreak`: the cue that tells a minor loop from its relative major
    inside the window, where the index reads the opening chord): ``shared``. ``calibrated`` is that posterior
    flattened by :data:`~livedj.dsp.keyrelative.LOWEST_NOTE_TEMPERATURE` (:func:`~livedj.dsp.keyrelative.temper`,
    fitted on dev data; the same keys), the confidence to report. The live smoother reads ``shared``: its margin
    was set on that scale, and the flatter posterior made the key shown from 6 s in worse on dev data (docs/key.md,
    "A temperature for the live window"). Elsewhere both are the plain posterior.
    """
    from livedj.dsp.keyfind import gate_probability, key_posterior, load_model
    from livedj.dsp.keyrelative import LOWEST_NOTE_MIN_LOOP, chroma_and_lowest, lowest_note_tiebreak, temper

    chroma, lowest, tuning = chroma_and_lowest(y, sr, tuning=tuning)
    p = key_posterior(chroma, seconds=len(y) / sr)
    gate = load_model().gate
    if gate is None or gate_probability(chroma, gate) >= LOWEST_NOTE_MIN_LOOP:
        p = lowest_note_tiebreak(p, lowest)
        return p, temper(p), tuning
    return p, p, tuning


def estimate_key(y: np.ndarray, sr: int, *, profile: str | None = None,
                 tuning: float | None = None) -> tuple[int, float]:
    """Estimate the key of ``y``.

    Parameters
    ----------
    y : np.ndarray
        Mono audio, a few seconds or more.
    sr : int
        Sample rate, Hz.
    profile : {None, "krumhansl", "temperley"}
        None (default): livedj's learned profiles over tuned bass and treble chroma
        (:mod:`livedj.dsp.keyfind`). A name: Krumhansl-Schmuckler correlation of that classic
        profile with the tuned chroma (for comparison).
    tuning : float, optional
        Known deviation from A440 in semitones; estimated from ``y`` when None.

    Returns
    -------
    key : int
        Key index 0..23.
    confidence : float
        0..1. With the learned profiles, the calibrated probability that ``key`` is exactly right
        (on the benchmark's held-out half, when it says 0.9 it is right about 9 times in 10);
        0 for silence. With a classic profile, the winning correlation.
    """
    if profile is None:
        p, _ = key_posterior_of(y, sr, tuning=tuning)
        if np.allclose(p, 1.0 / 24):
            return 0, 0.0
        best = int(np.argmax(p))
        return best, float(p[best])
    from livedj.dsp.keyfind import chroma_features

    chroma, _ = chroma_features(y, sr, tuning=tuning)
    if not chroma.any():
        return 0, 0.0
    r = key_scores(chroma.sum(axis=0), profile)
    best = int(np.argmax(r))
    return best, float(np.clip(r[best], 0, 1))


def estimate_key_sections(y: np.ndarray, sr: int, *, seconds: float = 30.0, whole: bool = True
                          ) -> dict[str, tuple[int | None, float]]:
    """Key of a track's beginning (for mixing in), its end (for mixing out) and of the whole.

    Parameters
    ----------
    y : np.ndarray
        The whole track, mono.
    sr : int
        Sample rate, Hz.
    seconds : float
        Length of the beginning and of the end considered.
    whole : bool
        Also the whole track's key. Without it the tuning is estimated from the beginning and the
        end alone (the indexer's case: a quarter of the chroma of a four-minute track).

    Returns
    -------
    dict
        ``{"begin": (key, confidence), "end": (key, confidence), "whole": (key, confidence)}``
        (``"whole"`` only when asked for); key None where there is no pitch. One tuning is used
        for all of them. The beginning and the whole also read the track's opening bars
        (:func:`livedj.dsp.keyopening.track_posterior`: a piece tends to open on its tonic, which tells
        a key from its relative where their notes are the same); the end does not.
    """
    from livedj.dsp.keyfind import chroma_features
    from livedj.dsp.keyopening import opening_chroma, track_posterior

    n = int(seconds * sr)
    heard = y if whole or len(y) <= 2 * n else np.concatenate([y[:n], y[-n:]])
    chroma, tuning = chroma_features(heard, sr)
    opening = opening_chroma(y[:n], sr, tuning=tuning)
    out = {}
    parts = {"begin": track_posterior(chroma_features(y[:n], sr, tuning=tuning)[0], opening, len(y[:n]) / sr),
             "end": key_posterior_of(y[-n:], sr, tuning=tuning)[0]}
    if whole:
        parts["whole"] = track_posterior(chroma, opening, len(heard) / sr)
    for name, p in parts.items():
        out[name] = (None, 0.0) if np.allclose(p, 1.0 / 24) else (int(np.argmax(p)), float(p.max()))
    return out


def track_keys(sound: np.ndarray, sr: int, *, whole_track: bool) -> tuple[tuple, tuple]:
    """The index's keys of a track: ((key, confidence) of its beginning, (key, confidence) of its end).

    ``sound`` starts where the track's sound starts; the end's key is known only where ``sound`` is the
    whole track (``whole_track``), else ``(None, None)``. Both from :func:`estimate_key_sections`.
    """
    sections = estimate_key_sections(sound, sr, whole=False)  # beginning and end: 1/4 of the chroma work
    return sections["begin"], sections["end"] if whole_track else (None, None)
