"""Now playing: which library record is on the deck, with a confidence, or "not in library".

This module owns the whole answer and its state; the engine calls it twice per update:

1. :meth:`NowPlayingTracker.hear` -- the evidence of this update: landmark fingerprints
   (:func:`livedj.library.fingerprints.identify`) over the last ``identify_s`` seconds, when the
   index has them. Reads only the index, so it runs on the helper thread while the network runs.
2. :meth:`NowPlayingTracker.decide` -- the rules over consecutive updates (analysis thread):

   - fingerprints, two decks (:class:`DeckConfirm`): during a blend two records are audible and
     both are heard. Each record becomes a confirmed *deck* after ``confirm`` updates in a row
     name it (as the winner or as the second deck; one update when it is already half as loud as
     the deck *now* beside it), and leaves after ``hold`` updates in a row without it (a noisy
     moment does not drop it). At most two decks; the newer deck becomes *now*
     (:attr:`NowPlaying.track_id`, the record the ranking follows) as soon as it is at least 0.45
     times as loud as the deck that was *now* (or, live, at least half as loud in the newest 3 s),
     while that one falls: the incoming record of a blend or a cut. A record that left and comes
     back within ``remember`` updates keeps its place (the outgoing record heard again late in a
     blend does not take "now" back). Different songs of one style never
     match by accident.
   - otherwise the segment index (a vector every few seconds over whole tracks): each track's
     best similarity is averaged over the last ``votes`` updates; the leader is identified when
     it reaches ``min_similarity`` with a ``min_margin`` over the runner-up. Embeddings cannot
     tell two songs of one style apart, so this is the fallback only (one deck).
   - each deck *now* for ``log_after`` updates: logged once as played, by sending the session a
     :class:`~livedj.engine.session.Played` command (so in the order played; a passage shared
     with another record, named as a second deck, is never logged).

The result, :class:`NowPlaying`, is a small value: the record *now* (or None), its confidence,
the confirmed decks (``decks``: now first, with their levels) and what this update heard
(``heard``: every :class:`Match`, with the playback speed the pitch fader gives it).
"""
from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from livedj.encoders.base import Encoder
from livedj.engine.session import Played, Session
from livedj.library.fingerprints import KEYLOCK_TEMPOS, MARGIN, MIN_ALIGNED, decide, decks
from livedj.library.fpstream import LiveMatcher
from livedj.library.index import BeginningsIndex


#: the fewest aligned landmarks in the newest seconds that count as hearing a record there (half of
#: :data:`~livedj.library.fingerprints.MIN_ALIGNED`, the whole window's minimum)
RECENT_LEAST = MIN_ALIGNED / 2


@dataclass(frozen=True)
class Match:
    """One record heard in the input (not yet confirmed)."""

    track_id: int
    confidence: float  #: 0..1
    speed: float = 1.0  #: playback speed relative to the record (the pitch fader), when known
    offset_s: float | None = None  #: position in the record of the start of what was heard, when known
    level: float | None = None  #: share of what was heard that is this record (0..1; the louder deck more)
    pitch_locked: bool = False  #: heard with key lock: the tempo moved (``speed``), the pitch did not
    #: other library records that are the same recording here (the same audio indexed twice): heard
    #: with this one, so never suggested while it plays; the play is this record's, logged once
    same: tuple[int, ...] = ()
    #: landmarks of this record aligned in the newest seconds heard (``NowPlayingTracker.recent_s``; the
    #: live matcher only, else None): its level *now*, where ``level`` is over the whole window
    recent: float | None = None

    @property
    def pitch_speed(self) -> float:
        """The frequency ratio heard: ``speed`` with the pitch fader, 1.0 with key lock."""
        return 1.0 if self.pitch_locked else self.speed


def both_halves(matches: list) -> list:
    """The top two records when neither beats the other by the margin but each, decided against
    the records below them alone, would be named: a cut or a blend halfway through the heard
    window, where neither deck holds twice the other's evidence (``decks`` then names none,
    and the incoming record would wait until it fills two thirds of the window)."""
    if len(matches) < 2:
        return []
    found = [decide([m, *matches[2:]]) for m in matches[:2]]
    return found if all(m is not None for m in found) else []


def recent_deck(matches: list, found: list, recent: dict[int, float], ratio: float, *,
                min_aligned: int = MIN_ALIGNED, margin: float = MARGIN) -> list:
    """``found`` (one deck) and the runner-up as the second deck when the newest seconds hear it at
    ``ratio`` times the winner's aligned count there (``recent``: track -> count): the incoming record
    of a blend, which over the whole window holds a tenth of the outgoing record's count for seconds
    (:func:`~livedj.library.fingerprints.decks` asks a fifth). It must still reach ``min_aligned`` over
    the window and ``margin`` times the count of the match after it (a chance match does not)."""
    if len(found) != 1 or len(matches) < 2:
        return found
    best = found[0]
    rest = [m for m in matches if m.track_id != best.track_id]
    second = rest[0]
    third = rest[1].aligned if len(rest) > 1 else 0.0
    here = recent.get(second.track_id, 0.0)
    if (second.aligned >= min_aligned and second.aligned >= margin * third and here >= RECENT_LEAST
            and here >= ratio * recent.get(best.track_id, 0.0)):
        second.confidence = float((1.0 - np.exp(-(second.aligned - min_aligned + 1) / 8.0)) * (1.0 - third / second.aligned))
        return [best, second]
    return found


@dataclass(frozen=True)
class NowPlaying:
    """What is on the deck after one update."""

    track_id: int | None = None  #: the record *now* (the deck confirmed last); None: nothing identified
    confidence: float = 0.0
    heard: tuple[Match, ...] = ()  #: this update's matches, best first (confirmed or not)
    #: the confirmed decks, *now* first (the incoming record of a blend once 0.45 times as loud), then the other;
    #: ``level`` is this update's share of what was heard (0 when the deck was not heard this time)
    decks: tuple[Match, ...] = ()

    @property
    def on_deck(self) -> frozenset[int]:
        """Every record heard or confirmed now: never suggested while it plays."""
        ids = {m.track_id for m in self.heard} | {m.track_id for m in self.decks}
        ids.update(t for m in (*self.heard, *self.decks) for t in m.same)  # copies of a record heard
        if self.track_id is not None:
            ids.add(self.track_id)
        return frozenset(ids)


@dataclass
class FingerprintConfirm:
    """One-deck fingerprint rule over single answers: ``confirm`` matches in a row make a track NOW
    PLAYING, ``hold`` misses drop it (offline evaluations; the live tracker uses :class:`DeckConfirm`)."""

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
class Deck:
    """A confirmed record on one deck (:class:`DeckConfirm`'s state)."""

    match: Match  #: the last time it was heard (level 0 while missed)
    started: int  #: the update it was first confirmed in: the order of the decks
    misses: int = 0  #: updates in a row without it
    updates: int = 0  #: updates as *now* (for the log rule)
    logged: bool = False
    levels: tuple[float, ...] = ()  #: its level in the last few updates before this one (is it fading?)


_REFERENCE = {"mean": lambda levels: sum(levels) / len(levels), "max": max, "min": min}  #: DeckConfirm.fade_below


@dataclass
class DeckConfirm:
    """Fingerprint rule for two decks: a record heard ``confirm`` updates in a row (as either deck)
    is confirmed, ``hold`` updates in a row without it drop it; at most ``max_decks``.

    *Now* is the newer deck as soon as its level reaches ``takeover`` times the level of the deck
    that was *now* (at once when that one is not heard), and stays so: the incoming record of a
    blend or a cut once it is named and at least 0.45 times as loud. Not simply the newest deck: two
    records of one album may share a passage, and while one plays the other is named as a second
    deck at 0.25-0.33 of its level (measured, development corpus 2, two records of one soundtrack);
    it must neither become *now* nor be logged. Not simply the louder deck either: the two levels
    are within noise of each other for several updates of a blend, and *now* would flip.
    And only while the deck *now* fades (its level below the mean of its last ``fading`` levels,
    ``fade_below``; below one of them until 2026-11-30): two records of one soundtrack (development corpus 2) share passages heard at 0.4-0.7
    of the level of the one that plays, but while it plays on its level does not fall; at a cut
    or in a blend the outgoing record's does (replays of the time_to_name mixes: 22 false NOW
    PLAYING updates and 2 wrong set logs on c2 -> 0, no record named later on any corpus).
    A record heard beside the deck that is *now* at ``prompt`` times its level or more (in the same
    update) is confirmed at once: the second update would only repeat what a cut or the second half
    of a blend already says (``python -m benchmarks.time_to_name``: 1 s sooner after a cut; no false
    name in the replays of docs/fingerprints.md, "Time to name").
    The live matcher also says how many landmarks each record aligns in the newest seconds
    (:attr:`Match.recent`): there a blend or a cut shows seconds before the 10-s window's levels
    do. With these counts a newer deck takes over also at ``recent_takeover`` of the playing deck's
    count there, a newcomer at ``recent_prompt`` of it is confirmed at once, and a takeover on the
    window's level needs ``recent_veto`` of it (a passage shared a few seconds ago keeps its level
    over the window, while neither record is heard there as the other). Tuned on one set of
    time_to_name mixes, checked on another (docs/fingerprints.md, "The newest seconds").
    A record dropped and confirmed again within ``remember`` updates is the same play: it keeps
    its place in the order and its logged flag (the outgoing record of a long blend may fade
    under the detection threshold and come back).
    """

    confirm: int = 2  #: updates in a row naming a record before it is a confirmed deck
    hold: int = 3  #: updates in a row without it before it leaves
    max_decks: int = 2
    remember: int = 120  #: updates a record that left keeps its place and logged flag
    #: a newer deck is *now* from this fraction of the current one's level (0.5 until the mean rule
    #: below; 0.4 until 2026-11-30, when fresh c2 mixes gave 5 false NOW PLAYING updates at 0.4 with
    #: either matcher, a record sharing passages with the playing one at 0.43-0.46 of its level; 0.35
    #: gave 21 on c2's first mixes)
    takeover: float = 0.45
    #: a record heard beside the deck that is *now* at this many times its level is confirmed in one
    #: update (None: never): already as loud as what plays, it is the incoming record of a cut or a
    #: blend, which would wait one more update for nothing (see :meth:`update`)
    prompt: float | None = 0.5
    #: a newer deck takes over only while the deck *now* fades: below its level in the last ``fading``
    #: updates (or unheard); 0: at any level trend
    fading: int = 3
    #: fading means below the ``"mean"`` of those levels; ``"max"``: below one of them (the rule until
    #: 2026-11-30), which a wobbling level meets most of the time (c2 replays with takeover 0.4: 9 false
    #: NOW PLAYING updates with "max", 0 with "mean"); ``"min"``: below each of them (0 too, but a
    #: generated blend named 1 s later)
    fade_below: str = "mean"
    #: a newer deck is *now* also when its ``recent`` count (the newest seconds, live matcher) reaches this
    #: times the ``recent`` count of the deck *now*, while that one fades (None: never): the window still
    #: holds seconds of the outgoing record at full level, its newest seconds do not
    recent_takeover: float | None = 0.5
    #: as ``prompt``, on the ``recent`` counts: a record heard beside the deck *now* at this many times
    #: its count in the newest seconds is confirmed in one update (None: never)
    recent_prompt: float | None = 0.5
    #: a newer deck takes over on the whole window's level only when its ``recent`` count is at least this
    #: times the one of the deck *now* (known counts only; None: no such check): a passage another record
    #: shared a few seconds ago keeps its level over the window while it is no longer heard
    recent_veto: float | None = 0.5
    _runs: dict = field(default_factory=dict)  #: track id -> updates in a row heard (not yet a deck too)
    _decks: dict = field(default_factory=dict)  #: track id -> Deck
    _left: dict = field(default_factory=dict)  #: track id -> (Deck, update it left)
    _now: int | None = None
    _clock: int = 0

    def reset(self) -> None:
        self._runs, self._decks, self._left, self._now, self._clock = {}, {}, {}, None, 0

    def update(self, heard: tuple[Match, ...]) -> list[Deck]:
        """Add one update's matches; return the confirmed decks, *now* first, then the newer first."""
        self._clock += 1
        now = {m.track_id: m for m in heard}
        self._runs = {t: self._runs.get(t, 0) + 1 for t in now}
        playing = now.get(self._now)  # the deck that is *now*, as heard in this very update
        if self.prompt is not None and playing is not None and (playing.level or 0.0) > 0:
            # beside a record that is heard a chance match is weak, and a passage two records share
            # is at 0.25-0.33 of its level: a newcomer at `prompt` times its level is neither
            for track_id, match in now.items():
                if track_id not in self._decks and ((match.level or 0.0) >= self.prompt * playing.level
                                                    or self._recent_at(match, playing, self.recent_prompt)):
                    self._runs[track_id] = max(self._runs[track_id], self.confirm)
        for track_id, deck in list(self._decks.items()):
            if track_id in now:
                deck.match, deck.misses = now[track_id], 0
            else:
                deck.match, deck.misses = dataclasses.replace(deck.match, level=0.0), deck.misses + 1
                if deck.misses >= self.hold:
                    self._leave(track_id)
        for track_id, match in now.items():
            if track_id in self._decks or self._runs[track_id] < self.confirm:
                continue
            if len(self._decks) >= self.max_decks:  # a third record: the deck missed longest leaves (the oldest on a tie)
                self._leave(max(self._decks, key=lambda t: (self._decks[t].misses, -self._decks[t].started)))
            back = self._left.pop(track_id, None)
            if back is not None and self._clock - back[1] <= self.remember:
                deck = dataclasses.replace(back[0], match=match, misses=0)
            else:
                deck = Deck(match, started=self._clock)
            self._decks[track_id] = deck
        self._left = {t: v for t, v in self._left.items() if self._clock - v[1] <= self.remember}
        self._now = self._choose_now()
        for deck in self._decks.values():
            deck.levels = (*deck.levels, deck.match.level or 0.0)[-self.fading:] if self.fading else ()
        if self._now is None:
            return []
        self._decks[self._now].updates += 1
        rest = sorted((d for t, d in self._decks.items() if t != self._now), key=lambda d: d.started, reverse=True)
        return [self._decks[self._now], *rest]

    def _choose_now(self) -> int | None:
        """The deck that was *now*, unless a newer one reached ``takeover`` of its level."""
        if not self._decks:
            return None
        if self._now not in self._decks:
            return max(self._decks, key=lambda t: self._decks[t].started)
        playing = self._decks[self._now]
        level = playing.match.level or 0.0
        if self.fading and level > 0 and level >= _REFERENCE[self.fade_below](playing.levels or (0.0,)):
            return self._now  # what plays is not falling: a passage another record shares, not a cut or blend
        newer = [t for t, d in self._decks.items() if d.started > playing.started
                 and (((d.match.level or 0.0) >= self.takeover * level
                       and (self.recent_veto is None or d.match.recent is None or playing.match.recent is None
                            or self._recent_at(d.match, playing.match, self.recent_veto, 0.0)))
                      or self._recent_at(d.match, playing.match, self.recent_takeover))]
        return max(newer, key=lambda t: self._decks[t].started) if newer else self._now

    @staticmethod
    def _recent_at(match: Match, playing: Match, ratio: float | None, least: float = RECENT_LEAST) -> bool:
        """``match`` heard in the newest seconds at ``ratio`` times ``playing`` or more, and at least ``least``
        landmarks (False: no ratio, no counts; two records both unheard there say nothing)."""
        return (ratio is not None and match.recent is not None and playing.recent is not None
                and match.recent >= max(least, ratio * playing.recent))

    def _leave(self, track_id: int) -> None:
        self._left[track_id] = (self._decks.pop(track_id), self._clock)


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
    key_lock : bool
        Also listen for records played with key lock (the tempo moved, the pitch did not): the
        fingerprint match's :data:`~livedj.library.fingerprints.KEYLOCK_TEMPOS` hypotheses
        (about 1.5x the match's time); False: pitch-fader hypotheses only.
    stream : bool
        Live (a stream time given to :meth:`hear`), read only each update's new audio
        (:class:`~livedj.library.fpstream.LiveMatcher`), and each match's count in the newest
        ``recent_s`` seconds is known (the default, as config ``analysis.stream_match``); False: the
        whole window every update, and the rules on the newest seconds are off.
    log_after : int
        NOW PLAYING this many updates in a row: logged as played (once).
    search_k : int
        Annoy's ``search_k`` for the segment query.
    """

    index: BeginningsIndex
    segment_encoder: Encoder | None = None
    identify_s: float = 10.0
    key_lock: bool = True
    stream: bool = True
    log_after: int = 4
    search_k: int = -1
    #: the newest seconds whose aligned landmarks give each match's ``recent`` count (live matcher)
    recent_s: float = 3.0
    #: the runner-up is the second deck when the newest seconds hear it at this times the winner's count
    #: (:func:`recent_deck`; live matcher; None: the whole window's rule alone)
    recent_deck: float | None = 0.5
    decks: DeckConfirm = field(default_factory=DeckConfirm)
    segments: SegmentVote = field(default_factory=SegmentVote)
    current: NowPlaying = field(default_factory=NowPlaying)
    streak: int = 0  #: consecutive updates with the same record identified by the segment fallback
    _matcher: LiveMatcher | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def updates_to_confirm(self) -> int:
        """Updates in a row a record must be heard before it is NOW PLAYING (offline commands run this many)."""
        return self.decks.confirm if self.index.fingerprints is not None else self.segments.votes

    def rebind(self, index: BeginningsIndex, segment_encoder: Encoder | None = None, *,
               identify_s: float | None = None, key_lock: bool | None = None,
               stream: bool | None = None) -> "NowPlayingTracker":
        """The same state (what plays stays identified: track ids survive re-indexing) over a reloaded index."""
        return dataclasses.replace(self, index=index, segment_encoder=segment_encoder,
                                   identify_s=self.identify_s if identify_s is None else identify_s,
                                   key_lock=self.key_lock if key_lock is None else key_lock,
                                   stream=self.stream if stream is None else stream)

    def hear(self, audio: np.ndarray, sample_rate: int, end_s: float | None = None) -> tuple[Match, ...]:
        """This update's fingerprint evidence from the newest ``identify_s`` seconds of ``audio``.

        ``end_s``: stream time of the last sample when updates are consecutive windows of one stream
        (the live loop): the match then reads only the new audio (:class:`LiveMatcher`). Touches no
        state but the matcher's, which only this method uses: safe on the helper thread while the
        analysis thread embeds.
        """
        if self.index.fingerprints is None:
            return ()
        heard = audio[-int(self.identify_s * sample_rate):]
        tempos = KEYLOCK_TEMPOS if self.key_lock else ()
        if self._matcher is None or self._matcher.index is not self.index.fingerprints or self._matcher.tempos != tempos:
            self._matcher = LiveMatcher(self.index.fingerprints, tempos=tempos)
        matches = self._matcher.match(heard, sample_rate, end_s if self.stream else None, top=3)
        found = decks(matches) or both_halves(matches)  # both decks during a blend, the louder first
        recent = self._matcher.recent_aligned(self.recent_s) if self.stream and end_s is not None else {}
        if recent and self.recent_deck is not None:
            found = recent_deck(matches, found, recent, self.recent_deck)
        return tuple(Match(m.track_id, m.confidence, m.speed, m.offset_s, level=m.share, pitch_locked=m.pitch_locked,
                           same=m.same, recent=recent.get(m.track_id)) for m in found)

    def decide(self, heard: tuple[Match, ...], vector: np.ndarray, window: np.ndarray, sample_rate: int,
               session: Session) -> NowPlaying:
        """Apply the confirm/hold (or segment vote) rule to this update; log a confirmed record once.

        ``vector`` is the live embedding of ``window``, used by the segment fallback only.
        """
        if self.index.fingerprints is not None:
            return self._decide_decks(heard, session)
        if self.index.n_segments:
            if self.segment_encoder is not None:  # segments made by another (cheaper) encoder
                vector = self.segment_encoder.analyze(window).vector
            ids, _, sims = self.index.query_segments(vector, self.segments.candidates, self.search_k)
            track_id, confidence = self.segments.update(ids, sims)
        else:
            return self.current  # nothing to identify with
        same = track_id is not None and track_id == self.current.track_id
        self.streak = self.streak + 1 if same else int(track_id is not None)
        deck = (Match(track_id, float(confidence)),) if track_id is not None else ()
        self.current = NowPlaying(track_id, float(confidence), heard, deck)
        if track_id is not None and self.streak == self.log_after:  # several updates in a row: log it once
            session.apply(Played(track_id, "identified", float(confidence)))
        return self.current

    def _decide_decks(self, heard: tuple[Match, ...], session: Session) -> NowPlaying:
        """Both decks by fingerprints; each play logged once, in the order the decks were confirmed."""
        decks = self.decks.update(heard)
        for deck in decks:  # a deck *now* for log_after updates: the play is logged (a shared passage never is)
            if not deck.logged and deck.updates >= self.log_after:
                deck.logged = True
                session.apply(Played(deck.match.track_id, "identified", float(deck.match.confidence)))
        on = tuple(d.match for d in decks)
        now = on[0] if on else None
        self.current = NowPlaying(now and now.track_id, float(now.confidence) if now else 0.0, heard, on)
        return self.current
