"""The key of a whole track (or of its beginning): its chroma and the chord it opens on.

Where the notes alone cannot tell a key from its relative (a minor loop i-VI-III-VII holds the same pitch classes
as its relative major's vi-IV-I-V), the chord a piece opens on says which: pieces tend to begin on the tonic. The
index's key is the key of a track's beginning, so its opening is at hand. The live loop hears an opening only when
a record starts after quiet (:func:`opening_onset`); then the key it shows uses it the same way
(:func:`break_relative_tie`, :class:`livedj.engine.listen.KeySmoother`). Chosen on development data (``python -m
benchmarks._keyopening``); docs/key.md, "The opening bars in the index's key" and "The opening in the key shown".
"""
from __future__ import annotations

import numpy as np
from scipy.special import softmax

from livedj.dsp.keyfind import KeyModel, chroma_features, key_posterior, load_model
from livedj.dsp.keyrelative import RELATIVE, share_relatives, temper

__all__ = ["OPENING_S", "OPENING_WEIGHT", "OPENING_TEMPERATURE", "INDEX_TEMPERATURE", "QUIET_S", "QUIET_LEVEL",
           "RELATIVE", "opening_chroma", "opening_onset", "break_relative_tie", "track_posterior"]

#: The opening's length, s, the exponent of its posterior and the temperature of the product (:func:`track_posterior`)
OPENING_S, OPENING_WEIGHT, OPENING_TEMPERATURE = 2.0, 0.5, 1.202
#: The temperature of the final posterior (:func:`track_posterior`): the opening rule left the index's confidence
#: under-confident; fitted by negative log-likelihood on development data only (``python -m benchmarks._keyopening
#: --fit-index-temperature``; docs/key.md, "Recalibrating the index's key"). A power of the posterior: the key
#: shown never changes, only its confidence.
INDEX_TEMPERATURE = 0.900
#: :func:`opening_onset`: sound that follows at least ``QUIET_S`` seconds under ``QUIET_LEVEL`` of the stretch's loud
#: part (-20 dB, as :func:`opening_chroma` finds a track's first sound) is a record starting, not a pause inside one
QUIET_S, QUIET_LEVEL = 2.0, 0.1
_BLOCK_S = 0.05


def _block_levels(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.floating | float, int]:
    """The RMS level of each 50-ms block of ``y`` (float32), the loud part's level (the 95th percentile of the
    blocks; 0 for silence or under one block) and the block's length in samples."""
    block = max(int(_BLOCK_S * sr), 1)
    n = len(y) // block
    level = np.sqrt(np.mean(y[:n * block].reshape(n, block) ** 2, axis=1))
    return level, (np.percentile(level, 95) if n else 0.0), block


def opening_chroma(y: np.ndarray, sr: int, *, tuning: float | None = None, seconds: float = OPENING_S) -> np.ndarray:
    """Shape (2, 12): the bass and treble chroma of the first ``seconds`` of sound of ``y``.

    Sound starts at the first 50-ms block within 20 dB of the loud part of the track (the 95th percentile of the
    blocks' level), so a lead-in of silence or a fade-in is skipped. ``tuning`` as in :func:`livedj.dsp.keyfind.semitone_energy`
    (pass the whole track's: a second or two is a poor read of it). All zeros for silence.
    """
    y = np.asarray(y, dtype=np.float32)
    level, loud, block = _block_levels(y, sr)
    if not loud > 0:
        return np.zeros((2, 12))
    start = int(np.argmax(level >= QUIET_LEVEL * loud)) * block
    return chroma_features(y[start:start + int(seconds * sr)], sr, tuning=tuning)[0]


def opening_onset(y: np.ndarray, sr: int, *, quiet_s: float = QUIET_S, seconds: float = OPENING_S) -> int | None:
    """The sample where a record starts inside ``y`` after quiet, or None.

    The live loop hears a record's opening only when it starts after quiet (the first record of the night, a
    record after a pause): the last run of at least ``quiet_s`` seconds of 50-ms blocks under :data:`QUIET_LEVEL`
    of ``y``'s loud part (the 95th percentile of the blocks' level, as :func:`opening_chroma`) that sound follows,
    with at least ``seconds`` of ``y`` after it (the opening must be heard whole). Sound from ``y``'s first block
    on is no onset: a listener that joins mid-record does not hear its opening.
    """
    level, loud, block = _block_levels(np.asarray(y, np.float32), sr)
    if not loud > 0:
        return None
    quiet = level < QUIET_LEVEL * loud
    need = int(round(quiet_s / _BLOCK_S))
    if len(level) <= need:
        return None
    # sound blocks that end a quiet run of at least `need` blocks (quiet blocks in each window of `need`, by cumsum)
    run = np.convolve(quiet, np.ones(need, dtype=int), mode="valid")[:-1]  # run[i]: blocks i .. i + need - 1
    starts = np.flatnonzero(~quiet[need:] & (run == need)) + need
    if len(starts) == 0:
        return None
    start = int(starts[-1]) * block
    return start if len(y) - start >= int(seconds * sr) else None


def break_relative_tie(p: np.ndarray, opening: np.ndarray, *, weight: float = OPENING_WEIGHT,
                       temperature: float = OPENING_TEMPERATURE) -> np.ndarray:
    """Shape (..., 24): ``p`` with each pair of relative keys shared by the opening's posterior ``opening``.

    A key's share of its pair is proportional to ``(p[key] * opening[key] ** weight) ** (1 / temperature)``; each pair
    keeps its probability in ``p`` (:func:`livedj.dsp.keyrelative.share_relatives`), so the opening never moves
    probability to a fifth. A uniform ``opening`` (no pitch) changes nothing but the temperature of the split.
    """
    return share_relatives(p, _opening_logit(p, opening, weight, temperature))


def _opening_logit(p: np.ndarray, opening: np.ndarray, weight: float, temperature: float) -> np.ndarray:
    """``log(p * opening ** weight) / temperature``: the evidence of ``p`` and of the opening's posterior together."""
    return (np.log(np.asarray(p, np.float64) + 1e-12) + weight * np.log(np.asarray(opening, np.float64) + 1e-12)) \
        / temperature


def track_posterior(whole: np.ndarray, opening: np.ndarray, seconds: float | np.ndarray | None = None, *,
                    weight: float = OPENING_WEIGHT, temperature: float = OPENING_TEMPERATURE,
                    model: KeyModel | None = None, relatives_only: bool = True,
                    calibration: float = INDEX_TEMPERATURE) -> np.ndarray:
    """Shape (..., 24): the key of a whole track (or of its beginning) from its chroma and its opening's.

    Where the pitch content alone cannot tell a key from its relative (a minor loop i-VI-III-VII holds the same
    notes as its relative major's vi-IV-I-V), the chord a piece opens on says which: pieces tend to begin on
    the tonic (the old key-finding rule of Longuet-Higgins and Steedman, 1971, breaks ties by the first note).
    The opening is only a tie-breaker between a key and its relative: each pair (a major key and its relative
    minor: the same notes) keeps the probability the whole excerpt gives it, shared between the two in the
    proportion ``(p_whole * p_opening ** weight) ** (1 / temperature)``. So the opening never moves probability
    to a fifth or elsewhere (an intro on the dominant, a pickup); an opening without pitch (uniform posterior)
    changes nothing but the temperature. The result is then raised to the power ``1 / calibration`` and
    renormalised (a temperature that calibrates the confidence; it never changes the argmax). ``relatives_only=False``: the plain product ``p_whole * p_opening **
    weight`` over all 24 keys, renormalised, to the power ``1 / temperature`` (measured on development data,
    not used: on real music it moved a quarter of the keys, most to a fifth). Only for excerpts that start
    where the track starts.

    Parameters
    ----------
    whole, opening : np.ndarray
        Shape (..., 2, 12): :func:`livedj.dsp.keyfind.chroma_features` of the excerpt and :func:`opening_chroma` of it.
    seconds : float or np.ndarray, optional
        The excerpt's length (:func:`livedj.dsp.keyfind.key_posterior`); one per row, or one for all.
    weight, temperature : float
        The opening posterior's exponent and the temperature of the share within a pair (of the product).
    relatives_only : bool
        The opening decides between a key and its relative only (default), or among all keys.
    calibration : float
        The final posterior's temperature (:data:`INDEX_TEMPERATURE`); 1: the rule's posterior as it is (each
        pair then keeps exactly the whole excerpt's probability).
    """
    model = model or load_model()
    whole = np.asarray(whole, np.float64)
    if seconds is None or np.ndim(seconds) == 0:
        p_whole = key_posterior(whole, model, None if seconds is None else float(seconds))
    else:
        seconds = np.asarray(seconds, np.float64)
        p_whole = np.zeros(whole.shape[:-2] + (24,))
        for length in np.unique(seconds):
            p_whole[seconds == length] = key_posterior(whole[seconds == length], model, float(length))
    p_opening = key_posterior(opening, model)
    if relatives_only:
        p = break_relative_tie(p_whole, p_opening, weight=weight, temperature=temperature)
    else:
        p = softmax(_opening_logit(p_whole, p_opening, weight, temperature), axis=-1)
    if calibration != 1.0:
        p = temper(p, calibration)
    silent = ~np.any(whole.reshape(*whole.shape[:-2], 24) > 0, axis=-1)
    return np.where(silent[..., None], 1.0 / 24, p)
