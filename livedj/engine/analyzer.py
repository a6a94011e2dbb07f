"""One update: a window of audio -> level, embedding, tempo/key, now playing -> query -> ranked suggestions.

:class:`Engine` holds what every update needs, loaded once (:func:`livedj.engine.loader.load_engine`).
``livedj suggest`` calls :meth:`Engine.update` once on a file's window; the live loop calls it every
hop on the ring buffer's newest audio. Nothing here touches the disk. One update, stage by stage::

    level ─▶ embed (Embedder: whole window or streaming) ───────────────┐
          └▶ listen (LiveTempoKey) + hear (NowPlayingTracker.hear) ──────┤ on the helper thread
                                      identify (NowPlayingTracker.decide)┤
                                      query (Session.query_vector, index)┤
                                      rank (ranker.rank) ─▶ Update ◀─────┘
"""
from __future__ import annotations

import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from livedj.dsp import WINDOW_S
from livedj.dsp.level import level_db, resample, rms_db as rms_db_of
from livedj.dsp.rhythm import estimate_tempo
from livedj.dsp.tonal import estimate_key
from livedj.encoders.base import Embedding, Encoder, top_tags
from livedj.engine.context_term import NightFeedback, with_context
from livedj.engine.embed import Embedder, Laps, make_embedder
from livedj.engine.listen import LiveTempoKey
from livedj.engine.now_playing import Match, NowPlaying, NowPlayingTracker
from livedj.engine.ranker import Rules, Weights, rank, with_copies
from livedj.engine.session import Session
from livedj.engine.update import Suggestion, Update
from livedj.library.copies import recordings, track_pairs
from livedj.library.index import BeginningsIndex
from livedj.library.store import Track
from livedj.library.track_analysis import SILENT_DBFS


#: a window quieter than this (RMS, dBFS) is silence: the level below which the indexer calls a record's
#: beginning "not music" (a line input between records reads -90, a quiet room through a microphone -60)
SILENCE_DBFS = SILENT_DBFS


class InlineExecutor(Executor):
    """Runs each submitted call at once on the calling thread (offline commands: no second core needed)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


@dataclass(frozen=True)
class Ranking:
    """How the index is asked and the answer ranked (config ``[ranking]``)."""

    top: int = 10  #: suggestions per update
    candidates: int = 50  #: nearest beginnings fetched before the DJ rules rank them
    search_k: int = -1  #: Annoy's search_k (-1: its default)
    weights: Weights = field(default_factory=Weights)
    rules: Rules = field(default_factory=Rules)


@dataclass(frozen=True)
class Heard:
    """What the helper thread found while the network ran: tempo/key refreshed, fingerprint matches."""

    matches: tuple[Match, ...]
    stage_ms: dict[str, float]


@dataclass
class Engine:
    """The analysis of one update, and what it needs loaded.

    Parameters
    ----------
    embedder : Embedder
        The embed stage (owns the encoder and the window length).
    index : BeginningsIndex
        Song-beginning vectors of the library (memory-mapped), with its fingerprints/segments.
    tracks : dict of int to Track
        Metadata of every indexed track, by id.
    now_playing : NowPlayingTracker
        Which record is on the deck (its own state: streak, confirm, log rule).
    ranking : Ranking
        Query size and ranking weights/rules.
    listener : LiveTempoKey
        Tempo and key of the last ~12 s.
    helper : concurrent.futures.Executor
        Where tempo/key and the fingerprint match run: inline by default, the second core once
        :meth:`go_live` is called.
    """

    embedder: Embedder
    index: BeginningsIndex
    tracks: dict[int, Track]
    now_playing: NowPlayingTracker
    ranking: Ranking = field(default_factory=Ranking)
    listener: LiveTempoKey = field(default_factory=LiveTempoKey)
    helper: Executor = field(default_factory=InlineExecutor)
    #: the DJ's playlists, crates and sets (livedj.library.context.ContextModel); None: the term is left out
    context: object | None = None
    night: NightFeedback = field(default_factory=NightFeedback)  #: tonight's skips/bans, as the context term sees them
    _query: np.ndarray | None = field(default=None, repr=False)
    #: consecutive updates are hops of one stream (:meth:`go_live`): the fingerprint match reads only the new audio
    streaming: bool = False
    #: the suggestions of the last window with music in it: held through silence (status "silence"), and
    #: carried over by a reload (livedj.engine.loader)
    heard_music: tuple = field(default=(), repr=False)

    @property
    def encoder(self) -> Encoder:
        return self.embedder.encoder

    @property
    def window_s(self) -> float:
        return self.embedder.window_s

    @cached_property
    def copies(self) -> dict[int, tuple[int, ...]]:
        """Recording -> its copies' track ids (the library's records held more than once): excluded together."""
        return recordings(track_pairs(self.tracks))

    def copies_of(self, track_id: int) -> tuple[int, ...]:
        """The ids of every copy of ``track_id``'s recording, its own included (``(track_id,)`` when the
        library holds it once)."""
        recording = getattr(self.tracks.get(track_id), "recording", None)
        return self.copies.get(recording, (track_id,)) if recording is not None else (track_id,)

    def update(self, audio: np.ndarray, sample_rate: int, *, t: float = 0.0, seq: int = 0,
               session: Session | None = None) -> Update:
        """Analyse the newest audio (mono float32 at ``sample_rate``) into an :class:`Update`.

        ``audio`` may be longer than the window: the last ``window_s`` seconds are embedded, the
        last ~12 s feed tempo and key, the last ``identify_s`` the fingerprint match. ``session``
        (played, lookback, drunk, pin) is read, and its pending commands applied, when given.
        """
        session = session if session is not None else Session()
        laps = Laps()
        session.apply_pending()
        rms_db, peak_db = level_db(audio[-sample_rate:])  # level: the newest second
        sr = self.encoder.sample_rate
        audio = resample(audio, sample_rate, sr)
        # listen + hear: on the second core when live; the stream time lets the match read only the new audio
        side = self.helper.submit(self.listen, audio, sr, t if self.streaming else None)
        embedding = self.embedder.embed(audio, int(round(t * sr)), laps)  # embed: "mel", "embed"
        heard = side.result()
        laps.skip()  # the wait for the helper is in latency_ms, not in a stage (its stages are its own)
        for name, ms in heard.stage_ms.items():  # their own durations, overlapped with the embedding
            laps.add(name, ms)
        now = self.identify(heard.matches, embedding, audio, session)
        self.follow_key(now)
        laps.lap("identify")
        if session.paused:  # the suggestions are held back; what plays is still named, and logged once played
            return replace(self._update(seq, t, embedding, now, [], rms_db, peak_db, laps, session), status="paused")
        # played, skipped, banned, and what is on the deck, under any of their copies' names: widened here, once
        # (the query's size, the context's candidates, rank and the suggestions held through silence use it)
        exclude = with_copies(session.excluded(now.on_deck), self.tracks, self.copies)
        if session.pinned is not None and not session.played.keys().isdisjoint(self.copies_of(session.pinned)):
            session.pinned = None  # a copy of the target was played: reached, as the target itself would be
        ids, sims = self.query(embedding, session, exclude)
        laps.lap("query")
        suggestions = self.rank(ids, sims, session, exclude, now)
        laps.lap("rank")
        update = self._update(seq, t, embedding, now, suggestions, rms_db, peak_db, laps, session)
        if rms_db_of(audio[-int(self.window_s * sr):]) >= SILENCE_DBFS:
            self.heard_music = tuple(suggestions)
            return update
        # a pause between records, the DJ on the mic in a quiet room: the suggestions of the last music heard
        # stay (those since played, banned or on the deck left out), not ones "like" the silence
        held = tuple(s for s in self.heard_music if s.track_id not in exclude and s.track_id in self.tracks)
        return replace(update, suggestions=held, status="silence")

    # -- the stages ------------------------------------------------------------------------
    def listen(self, audio: np.ndarray, sample_rate: int, end_s: float | None = None) -> Heard:
        """Tempo/key of the longer stretch, then the fingerprint match (needs no embedding); ``end_s``:
        stream time of the last sample, when updates are consecutive windows of one stream."""
        began = time.perf_counter()
        self.listener.update(audio, sample_rate)
        middle = time.perf_counter()
        matches = self.now_playing.hear(audio, sample_rate, end_s)
        end = time.perf_counter()
        return Heard(matches, {"tempo_key": (middle - began) * 1000.0, "identify": (end - middle) * 1000.0})

    def identify(self, matches: tuple[Match, ...], embedding: Embedding, audio: np.ndarray,
                 session: Session) -> NowPlaying:
        """Now playing after this update (the segment fallback uses the embedding of the window)."""
        window = audio[-int(self.window_s * self.encoder.sample_rate):]
        return self.now_playing.decide(matches, embedding.vector, window, self.encoder.sample_rate, session)

    def follow_key(self, now: NowPlaying) -> None:
        """An identified record's indexed key, moved by its pitch-fader speed, is the live key (issue 17);
        with key lock (the tempo moved, the pitch did not) the record's own key."""
        track = self.tracks.get(now.track_id) if now.track_id is not None else None
        if track is None or track.key is None:
            self.listener.follow_record(None)
            return
        speed = next((m.pitch_speed for m in now.heard if m.track_id == track.id), None)
        confidence = getattr(track, "key_confidence", None)
        self.listener.follow_record(track.key, speed, 1.0 if confidence is None else confidence)

    def query(self, embedding: Embedding, session: Session, exclude: frozenset[int]) -> tuple[np.ndarray, np.ndarray]:
        """Nearest beginnings to the session's query (lookback blend, drunk noise): ids, similarities.

        Fetches ``candidates`` more than ``exclude`` holds, so that enough are left to rank."""
        self._query = session.query_vector(embedding.vector)
        return self.index.query(self._query, self.ranking.candidates + len(exclude), self.ranking.search_k)

    def rank(self, ids: np.ndarray, sims: np.ndarray, session: Session, exclude: frozenset[int],
             now: NowPlaying | None = None) -> list[Suggestion]:
        """The DJ-aware ranking of the candidates: similarity, tempo reach, key, the DJ's context
        (which follows ``now``, the record on the deck), ``exclude`` left out, pin first."""
        r = self.ranking
        now = now if now is not None else NowPlaying()
        context = None
        # skips and bans go to the set log with or without lists tonight: the next build learns from them
        for kind, track_id in self.night.sync(session.skipped, session.banned, now.track_id):
            for callback in session.on_feedback:
                callback(kind, track_id, now.track_id)
        if self.context is not None:  # the DJ's own lists: candidates and a term beside similarity, tempo, key
            playing = self.tracks.get(now.track_id) if now.track_id is not None else None
            ids, sims, context = with_context(
                ids, sims, self.index.project(self._query), now.track_id, self.context, self.index.annoy.get_item_vector,
                exclude=exclude, feedback=self.night, titles={playing.id: playing.title} if playing else None)
        return rank(ids, sims, self.tracks, top=r.top, live_bpm=self.listener.bpm, live_key=self.listener.key,
                    exclude=exclude, weights=r.weights, rules=r.rules, pinned=session.pinned, context=context,
                    live_key_confidence=self.listener.key_confidence, live_bpm_confidence=self.listener.bpm_confidence)

    def _record(self, track_id: int, confidence: float) -> dict:
        """A library record as the outputs show it (NOW PLAYING, each deck)."""
        track = self.tracks[track_id]
        return {"track_id": track.id, "path": track.path, "title": track.title, "artist": track.artist,
                "confidence": round(float(confidence), 3)}

    def _update(self, seq: int, t: float, embedding: Embedding, now: NowPlaying, suggestions: list[Suggestion],
                rms_db: float, peak_db: float, laps: Laps, session: Session) -> Update:
        playing = None
        if now.track_id is not None and now.track_id in self.tracks:
            playing = self._record(now.track_id, now.confidence)
        decks = tuple({**self._record(d.track_id, d.confidence), "level": round(float(d.level or 0.0), 3),
                       "speed": round(float(d.speed), 4)}
                      for d in now.decks if d.track_id in self.tracks)
        listener = self.listener
        return Update(seq=seq, t=t, suggestions=tuple(suggestions), tags=tuple(top_tags(self.encoder, embedding.tags)),
                      level_db=rms_db, peak_db=peak_db, stage_ms=laps.stages, latency_ms=laps.total_ms(),
                      now_playing=playing, live_bpm=listener.bpm, live_bpm_confidence=listener.bpm_confidence,
                      live_key=listener.camelot, live_key_name=listener.key_name,
                      live_key_confidence=listener.key_confidence, pinned=session.pinned, decks=decks)

    # -- the live loop's hooks ------------------------------------------------------------
    def warm_up(self) -> None:
        """Pay first-call costs now (the live loop does it while the ring buffer fills)."""
        warm_up(self.encoder, self.window_s)
        if self.index.fingerprints is not None:  # the matcher's compiled loops (~1 s at their first call)
            from livedj.library.fpstream import warm_up as warm_up_matcher

            warm_up_matcher(self.index.fingerprints)

    def go_live(self, hop_s: float | None = None) -> None:
        """Live-loop mode: consecutive updates are consecutive hops of one stream, ``hop_s`` apart (the key
        smoother's clock; None: as it was). Reuse their overlap
        (the same vectors, ~0.6x the time) and, when the index has fingerprints, run tempo/key and
        the fingerprint match on the second core while the network runs.

        Also limits numpy's BLAS to one thread, process-wide: numpy may have been imported before
        livedj set ``OPENBLAS_NUM_THREADS`` (see ``livedj/__init__.py``), and spinning BLAS workers
        take the cores from torch's threads (measured 2x slower network passes).
        """
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=1, user_api="blas")
        except ImportError:  # optional: without it OPENBLAS_NUM_THREADS alone applies
            pass
        if hop_s is not None:
            self.listener.hop_s = hop_s
        self.embedder = make_embedder(self.encoder, self.window_s, live=True)
        self.streaming = True
        # with fingerprints only, as before: the match (~10-20 ms) is worth the hop to another thread;
        # tempo/key alone (~2-10 ms) showed no gain beside the network (benchmarks/live.py, busy 2 cores)
        if isinstance(self.helper, InlineExecutor) and self.index.fingerprints is not None:
            self.helper = ThreadPoolExecutor(1, thread_name_prefix="livedj-listen")

    def leave(self) -> None:
        """A reload's engine took over: let the helper thread go (one was left behind per reload)."""
        self.helper.shutdown(wait=False)


def warm_up(encoder: Encoder, window_s: float = WINDOW_S) -> None:
    """Pay first-call costs (filterbanks, torch kernels) now, not in the first live updates: on a window of
    the live one's length (``audio.window_s``)."""
    noise = np.random.default_rng(0).normal(0, 0.1, int(window_s * encoder.sample_rate)).astype(np.float32)
    encoder.analyze(noise)
    estimate_tempo(noise, encoder.sample_rate)
    estimate_key(noise, encoder.sample_rate)
