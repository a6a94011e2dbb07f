"""The rules over consecutive updates: which records heard become confirmed decks, which deck is *now*,
when a play is logged (fingerprints: :class:`DeckConfirm`, or one deck: :class:`FingerprintConfirm`;
the embedding fallback: :class:`SegmentVote`). Each keeps its own state; :mod:`livedj.engine.now_playing`
feeds them one update at a time."""
from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from livedj.engine.heard import RECENT_LEAST, Match, beat_matched


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
    #: its aligned count (``Match.aligned``) in the first update of the run that confirmed it (None: not known)
    first_aligned: float | None = None


_REFERENCE = {"mean": lambda levels: sum(levels) / len(levels), "max": max, "min": min,  #: DeckConfirm.fade_below
              "heard": lambda levels: float(np.mean([v for v in levels if v > 0] or [0.0]))}  # unheard: no trend


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
    ``fade_below``, the updates that named it; below one of them until 2026-11-30): two records of one soundtrack (development corpus 2) share passages heard at 0.4-0.7
    of the level of the one that plays, but while it plays on its level does not fall; at a cut
    or in a blend the outgoing record's does (replays of the time_to_name mixes: 22 false NOW
    PLAYING updates and 2 wrong set logs on c2 -> 0, no record named later on any corpus).
    A record heard beside the deck that is *now* at ``prompt`` times its level or more (in the same
    update) is confirmed at once: the second update would only repeat what a cut or the second half
    of a blend already says (``python -m benchmarks.time_to_name``: 1 s sooner after a cut; no false
    name in the replays of docs/fingerprints-log.md, "Time to name").
    The live matcher also says how many landmarks each record aligns in the newest seconds
    (:attr:`Match.recent`): there a blend or a cut shows seconds before the whole window's levels
    do. With these counts a newer deck takes over also at ``recent_takeover`` of the playing deck's
    count there, a newcomer at ``recent_prompt`` of it is confirmed at once, and a takeover on the
    window's level needs ``recent_veto`` of it (a passage shared a few seconds ago keeps its level
    over the window, while neither record is heard there as the other). Tuned on one set of
    time_to_name mixes, checked on another (docs/fingerprints-log.md, "The newest seconds").
    A newer deck that took over gives *now* back when the deck it took over from plays on (no longer fades)
    and it is under ``give_back`` times that deck's level: a shared passage passed the takeover tests on a dip.
    A deck not heard in the newest seconds (``recent_heard``) counts as missed, though the whole window holds it.
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
    #: generated blend named 1 s later); ``"heard"`` (since 2026-11-30, branch ``blend2``): the mean of
    #: those at which it was heard: an update that named nothing says nothing about its trend, and its 0
    #: held two blends 2-3 s ("mean": 12.2 -> 9.2 s, 8.5 -> 5.5 s; no other change, no false name)
    fade_below: str = "heard"
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
    #: a newcomer with fewer aligned landmarks (``Match.aligned``, the whole window) than this becomes a deck
    #: beside the deck *now*, and takes over from it, only when it is heard at that deck's tempo
    #: (``beat_tolerance``, :func:`beat_matched`: the incoming record of a blend is), or once its count has
    #: grown past the one it had when first heard in its run of updates (a record that comes in keeps adding
    #: landmarks). A chance alignment (a sound two records share, e.g. a drum kit) is a burst of a few peaks,
    #: at any tempo, that only ages in the window (docs/fingerprints-log.md, "A burst is not a record"). None: no
    #: such check, as before 2026-11-30; counts unknown (``Match.aligned`` None): no check either
    grow_below: float | None = 20.0
    #: how far apart two tempos heard may be and still be one beat (:func:`beat_matched`)
    beat_tolerance: float = 0.03
    #: *now* goes back to the deck it took over from when that one no longer fades (heard at or above the
    #: ``fade_below`` reference of its last levels) and the newer deck is under this times its level (None: never).
    #: A passage two records share can pass every takeover test on the update the playing record dips (c2, two
    #: records of one soundtrack, at 0.5 of its level); then the record that plays on rises again and the passage
    #: stays where it was. The outgoing record of a cut or a blend keeps fading. Below ``takeover``, so that two
    #: levels within noise of each other do not flip *now* (replays of the nine time_to_name runs at 15 s: c2 seed 3,
    #: 12 false NOW PLAYING updates and a set-log line out of order -> 3 and none; no change in the other eight;
    #: docs/fingerprints-log.md, "Giving *now* back")
    give_back: float | None = 0.4
    #: a deck whose ``recent`` count (the newest seconds, live matcher) is under this is not heard in this update,
    #: though the whole window still holds it, and is not confirmed again until it is (None: the window decides
    #: alone). A record cut into one not in the library stayed *now* until it left the 15-s window: 13.6 s after
    #: the cut (median of 52 in the nine time_to_name runs), 16.7 s after a blend's crossover; with this, 4.9 and
    #: 9.1 s (docs/fingerprints-log.md, "Letting go of a record that stopped"). 4, under ``RECENT_LEAST`` (5, until the
    #: seventeenth session): through a room a record that plays aligns fewer landmarks there (c2 through the standard
    #: booth: under 5 in 13.6 % of its updates, under 4 in 6.7 %; clean 0.5 / 0.3 %), and at 5 it was dropped while it
    #: played; one that stopped has 2-2.9 at the median (docs/fingerprints-log.md, "Time to name through a room")
    recent_heard: float | None = 4.0
    _runs: dict = field(default_factory=dict)  #: track id -> updates in a row heard (not yet a deck too)
    _first: dict = field(default_factory=dict)  #: track id -> its aligned count in the first update of its run
    _decks: dict = field(default_factory=dict)  #: track id -> Deck
    _left: dict = field(default_factory=dict)  #: track id -> (Deck, update it left)
    _now: int | None = None
    _before: int | None = None  #: the deck that was *now* when the deck *now* took over from it
    _clock: int = 0

    def reset(self) -> None:
        self._runs, self._decks, self._left, self._now, self._clock = {}, {}, {}, None, 0
        self._first, self._before = {}, None

    def update(self, heard: tuple[Match, ...]) -> list[Deck]:
        """Add one update's matches; return the confirmed decks, *now* first, then the newer first."""
        self._clock += 1
        now = {m.track_id: m for m in heard}
        self._runs = {t: self._runs.get(t, 0) + 1 for t in now}
        self._first = {t: self._first[t] if self._runs[t] > 1 and t in self._first else m.aligned
                       for t, m in now.items()}
        playing = now.get(self._now)  # the deck that is *now*, as heard in this very update
        if self.prompt is not None and playing is not None and (playing.level or 0.0) > 0:
            # beside a record that is heard a chance match is weak, and a passage two records share
            # is at 0.25-0.33 of its level: a newcomer at `prompt` times its level is neither
            for track_id, match in now.items():
                if track_id not in self._decks and ((match.level or 0.0) >= self.prompt * playing.level
                                                    or self._recent_at(match, playing, self.recent_prompt)):
                    self._runs[track_id] = max(self._runs[track_id], self.confirm)
        for track_id, deck in list(self._decks.items()):
            if track_id in now and not self._unheard_now(now[track_id]):
                deck.match, deck.misses = now[track_id], 0
            else:
                deck.match, deck.misses = dataclasses.replace(deck.match, level=0.0), deck.misses + 1
                if deck.misses >= self.hold:
                    self._leave(track_id)
        for track_id, match in now.items():
            if track_id in self._decks or self._runs[track_id] < self.confirm or self._unheard_now(match):
                continue
            if (playing is not None and (playing.level or 0.0) > 0
                    and not self._evident(match, playing, self._first.get(track_id))):
                continue  # beside what plays, weak, neither beat-matched nor growing: a burst, not yet a deck
            if len(self._decks) >= self.max_decks:  # a third record: the deck missed longest leaves (the oldest on a tie)
                self._leave(max(self._decks, key=lambda t: (self._decks[t].misses, -self._decks[t].started)))
            back = self._left.pop(track_id, None)
            if back is not None and self._clock - back[1] <= self.remember:
                deck = dataclasses.replace(back[0], match=match, misses=0, first_aligned=self._first.get(track_id))
            else:
                deck = Deck(match, started=self._clock, first_aligned=self._first.get(track_id))
            self._decks[track_id] = deck
        self._left = {t: v for t, v in self._left.items() if self._clock - v[1] <= self.remember}
        now_before = self._now
        self._now = self._choose_now()
        if self._now != now_before:
            self._before = now_before if now_before in self._decks else None
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
        if self._given_back(playing):
            return self._before
        if self.fading and level > 0 and level >= _REFERENCE[self.fade_below](playing.levels or (0.0,)):
            return self._now  # what plays is not falling: a passage another record shares, not a cut or blend
        newer = [t for t, d in self._decks.items() if d.started > playing.started
                 and self._evident(d.match, playing.match, d.first_aligned)
                 and (((d.match.level or 0.0) >= self.takeover * level
                       and (self.recent_veto is None or d.match.recent is None or playing.match.recent is None
                            or self._recent_at(d.match, playing.match, self.recent_veto, 0.0)))
                      or self._recent_at(d.match, playing.match, self.recent_takeover))]
        return max(newer, key=lambda t: self._decks[t].started) if newer else self._now

    def _given_back(self, playing: Deck) -> bool:
        """Does *now* go back to the deck ``playing`` took over from? That one plays on (heard, not fading) and
        ``playing`` is under ``give_back`` times its level: a passage the two share, not the incoming record of a
        cut or a blend (whose outgoing record keeps fading)."""
        before = self._decks.get(self._before) if self._before is not None else None
        if self.give_back is None or before is None or before.started > playing.started:
            return False
        level = before.match.level or 0.0
        return (level > 0 and level >= _REFERENCE[self.fade_below](before.levels or (0.0,))
                and (playing.match.level or 0.0) < self.give_back * level)

    def _evident(self, match: Match, playing: Match, first: float | None) -> bool:
        """Is ``match`` (a newcomer beside ``playing``, the deck *now*) a record, not a burst: ``grow_below``
        aligned landmarks, or heard at ``playing``'s tempo, or grown past ``first`` (its count when first
        heard in its run of updates; a burst only ages in the window)?"""
        aligned = match.aligned
        if self.grow_below is None or aligned is None or aligned >= self.grow_below:
            return True
        if beat_matched(match.tempo, playing.tempo, self.beat_tolerance):
            return True
        return (match.level or 0.0) > 0 and first is not None and aligned > first

    def _unheard_now(self, match: Match) -> bool:
        """Is ``match`` (a deck's record, named over the whole window) absent from the newest seconds?"""
        return self.recent_heard is not None and match.recent is not None and match.recent < self.recent_heard

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
