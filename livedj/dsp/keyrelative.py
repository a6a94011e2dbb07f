"""A key or its relative: cues that share a pair's probability between the two.

A key and its relative (C major, A minor) hold the same notes, so a chroma profile often cannot tell them apart
(a loop i-VI-III-VII is a vi-IV-I-V in the relative major). Two cues decide within the pair, neither ever moving
probability to another pair (:func:`share_relatives`): the chord a track opens on (the index,
:mod:`livedj.dsp.keyopening`) and, inside a live window that starts anywhere, the note the bass rests on
(:func:`lowest_notes`, :func:`lowest_note_tiebreak`; docs/key.md, "The lowest note inside the window").
"""
from __future__ import annotations

import numpy as np

from livedj.dsp.keyfind import fold_pitch_classes, semitone_frames

__all__ = ["RELATIVE", "LOWEST_NOTE_LEVEL", "LOWEST_NOTE_WEIGHT", "LOWEST_NOTE_FLOOR", "LOWEST_NOTE_MIN_LOOP",
           "LOWEST_NOTE_TEMPERATURE", "share_relatives", "lowest_notes", "chroma_and_lowest", "lowest_note_tiebreak",
           "temper"]

#: each key's relative: C major (0) <-> A minor (21), A minor <-> C major
RELATIVE = np.array([(k + 9) % 12 + 12 for k in range(12)] + [(k + 3) % 12 for k in range(12)])

#: :func:`lowest_notes`: a semitone counts as sounding at this fraction of the frame's loudest (log-compressed) one
LOWEST_NOTE_LEVEL = 0.7
#: :func:`lowest_note_tiebreak`: the exponent of the lowest-note share and its floor, and the key model's gate
#: probability of loop music from which the live window uses it (chosen on development data, ``python -m
#: benchmarks._keylowest``; docs/key.md, "The lowest note inside the window")
LOWEST_NOTE_WEIGHT, LOWEST_NOTE_FLOOR, LOWEST_NOTE_MIN_LOOP = 2.0, 0.05, 0.3
#: The temperature of a live window's posterior after :func:`lowest_note_tiebreak` (:func:`temper`): the tie-break
#: sharpens a pair's split, which left the windows over-confident. Fitted by negative log-likelihood (the mean of the
#: sets' means) on development data only: every 12-s window at a 6-s hop of the scores' training half, the held-out
#: generator's draw 5000-5299, livedj.synth styles 7000+ and random loops 8000+, where the tie-break applies
#: (``python -m benchmarks._keylowest --fit-temperature``; docs/key.md, "A temperature for the live window").
#: A power of the posterior: no key changes.
LOWEST_NOTE_TEMPERATURE = 1.134


def share_relatives(p: np.ndarray, logit: np.ndarray) -> np.ndarray:
    """Shape (..., 24): each pair of relative keys keeps its probability in ``p``, shared between the two by
    ``logit`` (the key's share of its pair is ``sigmoid(logit[key] - logit[relative])``). The argmax can move only
    within a pair, or to another pair that held more in all."""
    share = 1.0 / (1.0 + np.exp(np.clip(logit[..., RELATIVE] - logit, -700, 700)))
    return (p + p[..., RELATIVE]) * share


def lowest_notes(per_frame: np.ndarray, notes: np.ndarray, level: float = LOWEST_NOTE_LEVEL) -> np.ndarray:
    """Shape (12,): how often each pitch class is the lowest sounding note, over frames (summing to 1, or 0).

    A frame's lowest sounding note is its lowest semitone within ``level`` of the frame's loudest (energies
    log-compressed as :func:`livedj.dsp.keyfind.semitone_energy` has them): the bass note, or a kick tuned to
    the key. The bass of tonal music rests on the tonic more than on any other note, which tells a key from its
    relative where their notes are the same (:func:`lowest_note_tiebreak`).

    Parameters
    ----------
    per_frame : np.ndarray
        Shape (frames, semitones): log-compressed energy per frame and semitone.
    notes : np.ndarray
        Shape (semitones,): their MIDI numbers.
    level : float
        Fraction of the frame's loudest semitone a note needs to count as sounding.
    """
    out = np.zeros(12)
    if per_frame.size == 0:
        return out
    loudest = per_frame.max(axis=1, keepdims=True)
    sounding = (per_frame >= level * loudest) & (loudest > 0)
    frames = sounding.any(axis=1)
    np.add.at(out, notes[np.argmax(sounding[frames], axis=1)] % 12, 1.0)
    total = out.sum()
    return out / total if total > 0 else out


def chroma_and_lowest(y: np.ndarray, sr: int, *, tuning: float | None = None
                      ) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`livedj.dsp.keyfind.chroma_features` of ``y`` and its :func:`lowest_notes`, from one STFT: (chroma,
    lowest, tuning)."""
    per_frame, notes, tuning, _, _ = semitone_frames(y, sr, None, 55.0, 2000.0, tuning)  # the chroma's STFT
    return fold_pitch_classes(per_frame.sum(axis=0), notes), lowest_notes(per_frame, notes), tuning


def lowest_note_tiebreak(p: np.ndarray, lowest: np.ndarray, *, weight: float = LOWEST_NOTE_WEIGHT,
                         floor: float = LOWEST_NOTE_FLOOR) -> np.ndarray:
    """Shape (..., 24): ``p`` with each pair of relative keys shared by how often their tonics are the lowest note.

    A key's share of its pair is proportional to ``p[key] * (lowest[tonic] + floor) ** weight``; each pair keeps
    its probability (:func:`share_relatives`), so the cue never moves a key to a fifth. A window whose notes
    cannot tell A minor from C major (a loop i-VI-III-VII, the notes of vi-IV-I-V) goes to the one whose tonic
    the bass rests on more. Without pitch (``lowest`` all 0) every pair keeps ``p``'s share.
    """
    lowest = np.asarray(lowest, np.float64)
    logit = np.log(np.asarray(p, np.float64) + 1e-12) + weight * np.log(lowest[..., np.arange(24) % 12] + floor)
    return share_relatives(p, logit)


def temper(p: np.ndarray, temperature: float = LOWEST_NOTE_TEMPERATURE) -> np.ndarray:
    """Shape (..., 24): ``p ** (1 / temperature)``, normalised (above 1 flatter, below 1 sharper). The order of the
    keys, hence the argmax, does not change."""
    logp = np.log(np.clip(np.asarray(p, np.float64), 1e-300, None)) / temperature
    q = np.exp(logp - logp.max(axis=-1, keepdims=True))
    return q / q.sum(axis=-1, keepdims=True)
