"""Ranking: nearest neighbours from the index -> the suggestions a DJ can reason about.

score = (w_sim * similarity + w_tempo * tempo score + w_key * key score [+ w_context * context])
        / (w_sim + w_tempo + w_key [+ w_context])

where similarity is the cosine of the embeddings (clipped to 0..1), and the tempo and key
scores come from :mod:`livedj.engine.rules` (neutral 0.5 when a tempo or key is unknown, so an
unknown never beats a good match nor sinks a track). An uncertain key counts less: the key score
is pulled towards neutral by the keys' calibrated confidence (live x track, see
:func:`~livedj.engine.rules.key_weighted`). Every suggestion carries the terms in
``why`` so the dashboard and OSC can say *why* it is there.

A recording the library holds more than once (``Track.recording``, found by `livedj index`:
:mod:`livedj.library.copies`) is one record here: excluding a copy excludes them all (played
tonight as an MP3, it is not suggested as the FLAC), and a list shows its best-scored copy once.

The context term (:mod:`livedj.engine.context_term`: the DJ's own playlists, crates and sets)
is added only when it is given: with no list imported it is left out, and every score is what
it was without it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livedj.dsp.tonal import camelot
from livedj.engine.rules import is_harmonic, key_relation, key_weighted, tempo_compatibility, tempo_weighted
from livedj.engine.update import Suggestion
from livedj.library.store import Track


@dataclass(frozen=True)
class Weights:
    similarity: float = 1.0
    tempo: float = 0.25
    key: float = 0.25
    context: float = 1.5


@dataclass(frozen=True)
class Rules:
    pitch_range: float = 0.08  #: the pitch fader's reach, as a fraction
    harmonic_only: bool = False  #: hard filter: keep only same/adjacent/relative keys
    reachable_only: bool = False  #: hard filter: keep only tempi the pitch fader reaches
    shortlist: int = 20  #: > 0: tempo and key choose among this many most similar candidates only (0: all)


class WithCopies(frozenset):
    """Track ids together with every other copy of their recordings, as :func:`with_copies` gives them:
    :func:`rank` leaves them out as they are, without looking for their copies again."""


def with_copies(ids: frozenset[int] | set[int], tracks: dict[int, Track],
                copies: dict[int, tuple[int, ...]]) -> WithCopies:
    """``ids`` and every other copy of their recordings (``copies``: recording -> its copies' ids,
    :func:`livedj.library.copies.recordings` of :func:`~livedj.library.copies.track_pairs` of ``tracks``)."""
    out = set(ids)
    for track_id in ids:
        recording = getattr(tracks.get(track_id), "recording", None)
        if recording is not None:
            out.update(copies.get(recording, ()))
    return WithCopies(out)


def rank(ids: np.ndarray, similarities: np.ndarray, tracks: dict[int, Track], *, top: int = 10,
         live_bpm: float | None = None, live_key: int | None = None, exclude: frozenset[int] | set[int] = frozenset(),
         weights: Weights = Weights(), rules: Rules = Rules(), pinned: int | None = None,
         context: tuple[np.ndarray, list] | None = None, live_key_confidence: float | None = None,
         live_bpm_confidence: float | None = None) -> list[Suggestion]:
    """Score the candidates ``ids`` (with their cosine ``similarities``) and return the best ``top``.

    Candidates missing from ``tracks`` (removed since the index was built) and those in
    ``exclude`` (now playing, already played), or copies of them (``Track.recording``; an ``exclude`` of
    :func:`with_copies` holds them already, as the live update's does), are dropped;
    of the copies of one recording only the best-scored is kept. A ``pinned`` track (the DJ's chosen
    next target) comes first whatever its score. ``context``: ``(scores, reasons)`` aligned with
    ``ids`` from :func:`~livedj.engine.context_term.context_scores`; ``None`` leaves the term out.
    ``live_key_confidence`` (0..1, None: certain) is the live key's calibrated confidence; a
    track's own ``key_confidence`` (if the store has one) counts the same way. ``live_bpm_confidence``
    (0..1, None: certain) pulls the tempo term towards neutral when the live tempo is doubtful
    (`rules.tempo_weighted`); whether a record is within the fader's reach (``why["reachable"]``) is
    still said.
    """
    use_context = context is not None and weights.context > 0
    total = weights.similarity + weights.tempo + weights.key + (weights.context if use_context else 0.0) or 1.0
    # the recordings excluded: any copy of them is (the caller's set may hold them all already)
    gone = frozenset() if isinstance(exclude, WithCopies) else \
        {r for t in exclude if (r := getattr(tracks.get(t), "recording", None)) is not None}

    def excluded(track: Track) -> bool:  # it, or another copy of its recording
        return track.id in exclude or getattr(track, "recording", None) in gone

    scored = []
    for n, (track_id, sim) in enumerate(zip(ids.tolist(), similarities.tolist())):
        track = tracks.get(track_id)
        if track is None or excluded(track):
            continue
        tempo_s, delta_pct, ratio = tempo_compatibility(live_bpm, track.bpm, rules.pitch_range)
        tempo_s = tempo_weighted(tempo_s, live_bpm_confidence)
        relation, key_s = key_relation(live_key, track.key)
        key_s = key_weighted(key_s, live_key_confidence, getattr(track, "key_confidence", None))
        if rules.harmonic_only and live_key is not None and not is_harmonic(relation):
            continue
        if rules.reachable_only and delta_pct is not None and abs(delta_pct) > rules.pitch_range * 100:
            continue
        similarity = max(0.0, min(1.0, float(sim)))
        score = (weights.similarity * similarity + weights.tempo * tempo_s + weights.key * key_s) / total
        why = {"similarity": round(float(sim), 4), "tempo": round(tempo_s, 3), "key_relation": relation,
               "key": round(key_s, 3)}
        if use_context:
            c = float(context[0][n])
            score += weights.context * c / total
            why["context"] = round(c, 3)
            if context[1][n]:
                why["context_why"] = context[1][n]
        if delta_pct is not None:
            why["bpm_delta_pct"] = round(delta_pct, 2)
            why["reachable"] = abs(delta_pct) <= rules.pitch_range * 100  # by the pitch fader alone
            if ratio != 1:
                why["bpm_ratio"] = ratio
        scored.append((score, track, float(sim), why))
    best: dict[int, tuple] = {}  # one copy of a recording: the best-scored (a wasted slot otherwise)
    for s in scored:
        if (r := getattr(s[1], "recording", None)) is not None and (r not in best or s[0] > best[r][0]):
            best[r] = s
    scored = [s for s in scored if getattr(s[1], "recording", None) is None or best[s[1].recording] is s]
    if rules.shortlist > 0:  # tempo and key choose among records that belong: the most similar ones, and
        # those the DJ's own lists vouch for (context candidates may sound unlike what plays)
        by_sound = sorted(scored, key=lambda s: s[2], reverse=True)
        kept = by_sound[:max(rules.shortlist, top)]
        scored = kept + [s for s in by_sound[len(kept):] if s[3].get("context", 0.0) > 0.0]
    scored.sort(key=lambda s: s[0], reverse=True)
    if pinned is not None and pinned in tracks and not excluded(tracks[pinned]):
        track = tracks[pinned]
        recording = getattr(track, "recording", None)
        scored = [s for s in scored if s[1].id != pinned and (recording is None or getattr(s[1], "recording", None) != recording)]
        tempo_s, delta_pct, _ = tempo_compatibility(live_bpm, track.bpm, rules.pitch_range)
        tempo_s = tempo_weighted(tempo_s, live_bpm_confidence)
        relation, key_s = key_relation(live_key, track.key)
        key_s = key_weighted(key_s, live_key_confidence, getattr(track, "key_confidence", None))
        why = {"pinned": True, "tempo": round(tempo_s, 3), "key_relation": relation, "key": round(key_s, 3)}
        # its similarity when it is among the candidates (it showed 0.00, as if unlike what plays); else 0
        sim = next((float(x) for i, x in zip(ids.tolist(), similarities.tolist()) if i == pinned), None)
        if sim is not None:
            why["similarity"] = round(sim, 4)
        if delta_pct is not None:
            why["bpm_delta_pct"] = round(delta_pct, 2)
            why["reachable"] = abs(delta_pct) <= rules.pitch_range * 100
        scored.insert(0, (scored[0][0] if scored else 1.0, track, 0.0 if sim is None else sim, why))
    return [
        Suggestion(rank=i, track_id=t.id, path=t.path, title=t.title, artist=t.artist, score=round(score, 4),
                   similarity=round(sim, 4), bpm=round(t.bpm, 2) if t.bpm else None, key=camelot(t.key) if t.key is not None else None, why=why)
        for i, (score, t, sim, why) in enumerate(scored[:top], 1)
    ]
