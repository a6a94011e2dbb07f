"""Now playing: which library record is on the deck, with a confidence, or "not in library".

This module owns the whole answer and its state; the engine calls it twice per update:

1. :meth:`NowPlayingTracker.hear` -- the evidence of this update: landmark fingerprints
   (:func:`livedj.library.fingerprints.identify`) over the last ``identify_s`` seconds, when the
   index has them. Reads only the index, so it runs on the helper thread while the network runs.
2. :meth:`NowPlayingTracker.decide` -- the rules over consecutive updates (analysis thread):

   - fingerprints: a track becomes NOW PLAYING after ``confirm`` updates in a row name it, and
     stays until ``hold`` updates in a row do not (a noisy moment does not drop it). Different
     songs of one style never match by accident.
   - otherwise the segment index (a vector every few seconds over whole tracks): each track's
     best similarity is averaged over the last ``votes`` updates; the leader is identified when
     it reaches ``min_similarity`` with a ``min_margin`` over the runner-up. Embeddings cannot
     tell two songs of one style apart, so this is the fallback only.
   - NOW PLAYING ``log_after`` updates in a row: logged once as played, by sending the session
     a :class:`~livedj.engine.session.Played` command.

The result, :class:`NowPlaying`, is a small value: the confirmed track (or None), its confidence
and what this update heard (``heard``: every :class:`Match`, with the playback speed the pitch
fader gives it), so that a second deck can be added as a second match.
"""
from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from livedj.encoders.base import Encoder
from livedj.engine.session import Played, Session
from livedj.library.fingerprints import decks, match_audio
from livedj.library.index import BeginningsIndex


@dataclass(frozen=True)
class Match:
    """One record heard in the input (not yet confirmed)."""

    track_id: int
    confidence: float  #: 0..1
    speed: float = 1.0  #: playback speed relative to the record (the pitch fader), when known
    offset_s: float | None = None  #: position in the record of the start of what was heard, when known
    level: float | None = None  #: share of what was heard that is this record (0..1; the louder deck more)
    pitch_locked: bool = False  #: heard with key lock: the tempo moved (``speed``), the pitch did not


@dataclass(frozen=True)
class NowPlaying:
    """What is on the deck after one update."""

    track_id: int | None = None  #: the confirmed record; None: nothing identified (or not in the library)
    confidence: float = 0.0
    heard: tuple[Match, ...] = ()  #: this update's matches, best first (confirmed or not)

    @property
    def on_deck(self) -> frozenset[int]:
        """Every record heard or confirmed now: never suggested while it plays."""
        ids = {m.track_id for m in self.heard}
        if self.track_id is not None:
            ids.add(self.track_id)
        return frozenset(ids)


@dataclass
class FingerprintConfirm:
    """Fingerprint rule: ``confirm`` matches in a row make a track NOW PLAYING, ``hold`` misses drop it."""

    confirm: int = 2  #: updates in a row naming a track before it is NOW PLAYING
    hold: int = 3  #: updates in a row without it before it is dropped
    _candidate: int | None = None
    _candidate_runs: int = 0
    _current: int | None = None
    _misses: int = 0
    _confidence: float = 0.0

    def reset(self) -> None:
        self._candidate, self._candidate_runs, self._current, self._misses = None, 0, None, 0
        self._confidence = 0.0

    def update(self, track_id: int | None, confidence: float) -> tuple[int | None, float]:
        """Add one fingerprint match (track id or None); return (now playing or None, confidence)."""
        if track_id is not None and track_id == self._candidate:
            self._candidate_runs += 1
        else:
            self._candidate, self._candidate_runs = track_id, int(track_id is not None)
        if track_id is not None and self._candidate_runs >= self.confirm:
            self._current, self._misses, self._confidence = track_id, 0, confidence
        elif self._current is not None and track_id != self._current:
            self._misses += 1
            if self._misses >= self.hold:
                self._current, self._confidence = None, 0.0
        elif track_id == self._current and track_id is not None:
            self._misses, self._confidence = 0, confidence
        return self._current, self._confidence


@dataclass
class SegmentVote:
    """Segment-index rule: each track's best similarity averaged over ``votes`` updates; the leader
    needs ``min_similarity`` and ``min_margin`` over the runner-up."""

    votes: int = 4  #: updates voted over
    candidates: int = 20  #: nearest segments fetched per update
    min_similarity: float = 0.93
    min_margin: float = 0.02
    _history: deque = field(default_factory=deque)

    def reset(self) -> None:
        self._history.clear()

    def update(self, track_ids: np.ndarray, similarities: np.ndarray) -> tuple[int | None, float]:
        """Add one update's nearest segments; return (track id or None, confidence 0..1)."""
        best: dict[int, float] = {}
        for track_id, sim in zip(track_ids.tolist(), similarities.tolist()):
            if sim > best.get(track_id, -1.0):
                best[track_id] = sim
        floor = float(min(similarities)) if len(similarities) else 0.0  # unseen tracks score at most this
        self._history.append((best, floor))
        while len(self._history) > self.votes:
            self._history.popleft()
        tracks = set().union(*(b for b, _ in self._history))
        if not tracks:
            return None, 0.0
        scores = {t: float(np.mean([b.get(t, f) for b, f in self._history])) for t in tracks}
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        top, s1 = ranked[0]
        s2 = ranked[1][1] if len(ranked) > 1 else floor
        margin = s1 - s2
        confidence = float(np.clip((s1 - self.min_similarity) / (1 - self.min_similarity), 0, 1)
                           * np.clip(margin / (2 * self.min_margin), 0, 1))
        if s1 < self.min_similarity or margin < self.min_margin:
            return None, confidence
        return top, confidence


@dataclass
class NowPlayingTracker:
    """Identifies the record on the deck from the live input, update after update.

    Parameters
    ----------
    index : BeginningsIndex
        The library index: its fingerprints when it has them, else its segment vectors.
    segment_encoder : Encoder, optional
        The encoder that made the segment vectors, when it is not the live encoder.
    identify_s : float
        Seconds the fingerprint match listens to: the evidence of the updates inside it pooled
        (real music through the standard booth, 36 tracks: 5 s named 67 % of queries, 10 s 96 %;
        none wrong).
    log_after : int
        NOW PLAYING this many updates in a row: logged as played (once).
    search_k : int
        Annoy's ``search_k`` for the segment query.
    """

    index: BeginningsIndex
    segment_encoder: Encoder | None = None
    identify_s: float = 10.0
    log_after: int = 4
    search_k: int = -1
    fingerprint: FingerprintConfirm = field(default_factory=FingerprintConfirm)
    segments: SegmentVote = field(default_factory=SegmentVote)
    current: NowPlaying = field(default_factory=NowPlaying)
    streak: int = 0  #: consecutive updates with the same confirmed record

    @property
    def updates_to_confirm(self) -> int:
        """Updates in a row a record must be heard before it is NOW PLAYING (offline commands run this many)."""
        return self.fingerprint.confirm if self.index.fingerprints is not None else self.segments.votes

    def rebind(self, index: BeginningsIndex, segment_encoder: Encoder | None = None, *,
               identify_s: float | None = None) -> "NowPlayingTracker":
        """The same state (what plays stays identified: track ids survive re-indexing) over a reloaded index."""
        return dataclasses.replace(self, index=index, segment_encoder=segment_encoder,
                                   identify_s=self.identify_s if identify_s is None else identify_s)

    def hear(self, audio: np.ndarray, sample_rate: int) -> tuple[Match, ...]:
        """This update's fingerprint evidence from the newest ``identify_s`` seconds of ``audio``.

        Touches no state: safe on the helper thread while the analysis thread embeds.
        """
        if self.index.fingerprints is None:
            return ()
        heard = audio[-int(self.identify_s * sample_rate):]
        # both decks during a blend (the winner first, as the confirm rule reads heard[0])
        found = decks(match_audio(heard, sample_rate, self.index.fingerprints, top=3))
        return tuple(Match(m.track_id, m.confidence, m.speed, m.offset_s, level=m.share, pitch_locked=m.pitch_locked)
                     for m in found)

    def decide(self, heard: tuple[Match, ...], vector: np.ndarray, window: np.ndarray, sample_rate: int,
               session: Session) -> NowPlaying:
        """Apply the confirm/hold (or segment vote) rule to this update; log a confirmed record once.

        ``vector`` is the live embedding of ``window``, used by the segment fallback only.
        """
        if self.index.fingerprints is not None:
            best = heard[0] if heard else None
            track_id, confidence = self.fingerprint.update(best and best.track_id, best.confidence if best else 0.0)
        elif self.index.n_segments:
            if self.segment_encoder is not None:  # segments made by another (cheaper) encoder
                vector = self.segment_encoder.analyze(window).vector
            ids, _, sims = self.index.query_segments(vector, self.segments.candidates, self.search_k)
            track_id, confidence = self.segments.update(ids, sims)
        else:
            return self.current  # nothing to identify with
        same = track_id is not None and track_id == self.current.track_id
        self.streak = self.streak + 1 if same else int(track_id is not None)
        self.current = NowPlaying(track_id, float(confidence), heard)
        if track_id is not None and self.streak == self.log_after:  # several updates in a row: log it once
            session.apply(Played(track_id, "identified", float(confidence)))
        return self.current
