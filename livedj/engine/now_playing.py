"""Now playing: which library record is on the deck, with a confidence, or "not in library".

This module owns the whole answer and its state; the engine calls it twice per update:

1. :meth:`NowPlayingTracker.hear` -- the evidence of this update: landmark fingerprints matched
   by :class:`~livedj.library.fpstream.LiveMatcher` over the last ``identify_s`` seconds, when the
   index has them (live it reads only each update's new audio; offline, or with ``stream`` off, the
   whole window each time). Touches only the index and the matcher, so it runs on the helper thread
   while the network runs.
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
from dataclasses import dataclass, field

import numpy as np

from livedj.encoders.base import Encoder
from livedj.engine.confirm import Deck, DeckConfirm, FingerprintConfirm, SegmentVote
from livedj.engine.heard import RECENT_LEAST, Match, NowPlaying, both_halves, recent_deck
from livedj.engine.session import Played, Session
from livedj.library.fingerprints import KEYLOCK_TEMPOS, decks
from livedj.library.fpstream import LiveMatcher
from livedj.library.index import BeginningsIndex

__all__ = ["RECENT_LEAST", "Deck", "DeckConfirm", "FingerprintConfirm", "Match", "NowPlaying", "NowPlayingTracker",
           "SegmentVote", "both_halves", "heard_tempo", "library_bpms", "plays_to_log", "recent_deck"]
# (the rules and values live in confirm.py and heard.py; tests and benchmarks import them from here too)


def plays_to_log(decks: list[Deck], log_after: int) -> list[Deck]:
    """The decks whose play is logged now, each marked logged: a deck *now* for ``log_after`` updates, once (a
    passage shared with another record, named beside the record that plays, never is)."""
    due = [deck for deck in decks if not deck.logged and deck.updates >= log_after]
    for deck in due:
        deck.logged = True
    return due


def library_bpms(tracks: dict) -> dict[int, float]:
    """Track id -> the library's tempo, BPM, of ``tracks`` (id -> :class:`~livedj.library.store.Track`), the
    known ones only: :attr:`NowPlayingTracker.bpms`."""
    return {int(t): float(track.bpm) for t, track in tracks.items()
            if getattr(track, "bpm", None) is not None and np.isfinite(track.bpm) and track.bpm > 0}


def heard_tempo(bpm: float | None, speed: float) -> float | None:
    """A record's tempo as heard, BPM: the library's tempo ``bpm`` (None, 0 or NaN: not known) times the
    playback ``speed`` (pitch fader or key lock alike: both move the tempo)."""
    return float(bpm) * float(speed) if bpm is not None and np.isfinite(bpm) and bpm > 0 else None


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
        Seconds the fingerprint match listens to: the evidence of the updates inside it pooled.
        Through a room only 10-20 % of a record's landmarks survive, so a longer window names more
        (both development corpora through the booth presets at +-6 %: 10 s 88 %, 15 s 92 %;
        ``python -m benchmarks.identify_window``); the median time to name a cut is unchanged
        (docs/fingerprints-log.md, "How long the match listens").
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
        A deck *now* for this many updates (counted while it is a deck; the segment fallback: in a row) is
        logged as played, once. 8, where it was 4 before: a
        passage two records share took *now* for up to 6 updates before it was given back, in 12 time_to_name
        runs on the development corpus of soundtracks; logged at 4, it wrote a record never played into the set
        log (docs/fingerprints-log.md, "More time_to_name runs, and a shared passage kept out of the set log").
    search_k : int
        Annoy's ``search_k`` for the segment query.
    """

    index: BeginningsIndex
    segment_encoder: Encoder | None = None
    identify_s: float = 15.0
    key_lock: bool = True
    stream: bool = True
    log_after: int = 8
    search_k: int = -1
    #: track id -> the library's tempo of the record, BPM (each match's tempo heard, :attr:`Match.tempo`:
    #: :class:`DeckConfirm` asks a weak newcomer to be beat-matched to what plays, or to grow)
    bpms: dict = field(default_factory=dict)
    #: the newest seconds whose aligned landmarks give each match's ``recent`` count (live matcher)
    recent_s: float = 3.0
    #: a deck's ``level`` is its share of the newest ``level_s`` seconds (live matcher; None or >= identify_s:
    #: of the whole window): the span the deck rules were tuned on (10 s) while the naming hears ``identify_s``
    level_s: float | None = 10.0
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
               stream: bool | None = None, bpms: dict | None = None) -> "NowPlayingTracker":
        """The same state (what plays stays identified: track ids survive re-indexing) over a reloaded index."""
        return dataclasses.replace(self, index=index, segment_encoder=segment_encoder,
                                   bpms=self.bpms if bpms is None else bpms,
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
        levels = (self._matcher.recent_share(self.level_s) if recent and self.level_s is not None
                  and self.level_s < self.identify_s else {})
        return tuple(Match(m.track_id, m.confidence, m.speed, m.offset_s, level=levels.get(m.track_id, m.share),
                           pitch_locked=m.pitch_locked,
                           same=m.same, recent=recent.get(m.track_id), aligned=float(m.aligned),
                           tempo=heard_tempo(self.bpms.get(m.track_id), m.speed)) for m in found)

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
        for deck in plays_to_log(decks, self.log_after):
            session.apply(Played(deck.match.track_id, "identified", float(deck.match.confidence)))
        on = tuple(d.match for d in decks)
        now = on[0] if on else None
        self.current = NowPlaying(now and now.track_id, float(now.confidence) if now else 0.0, heard, on)
        return self.current
