"""One update: a window of audio -> features -> embedding -> index query -> ranked suggestions.

:class:`Engine` holds what every update needs (encoder, memory-mapped index, track metadata in
memory), loaded once. ``livedj suggest`` calls :meth:`Engine.update` once on a file's window;
the daemon calls it every hop on the ring buffer's newest window. Nothing here touches the disk.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from livedj.encoders.base import top_tags
from livedj.engine.ranker import Rules, Weights, rank
from livedj.engine.identify import Identifier
from livedj.engine.listen import LiveTempoKey
from livedj.engine.session import Session
from livedj.engine.update import Update
from livedj.library.index import BeginningsIndex
from livedj.library.store import Track


def level_db(y: np.ndarray) -> tuple[float, float]:
    """RMS and peak level of ``y`` in dBFS (floored at -120)."""
    if len(y) == 0:
        return -120.0, -120.0
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    peak = float(np.max(np.abs(y)))
    return max(-120.0, 20 * np.log10(rms + 1e-12)), max(-120.0, 20 * np.log10(peak + 1e-12))


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling (soxr), float32 out; a no-op when the rates match."""
    if sr_in == sr_out:
        return np.asarray(y, dtype=np.float32)
    import soxr

    return soxr.resample(y, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


@dataclass
class Engine:
    encoder: object
    index: BeginningsIndex
    tracks: dict[int, Track]
    top: int = 10
    candidates: int = 50
    search_k: int = -1
    weights: Weights = field(default_factory=Weights)
    rules: Rules = field(default_factory=Rules)
    identifier: Identifier = field(default_factory=Identifier)
    listener: LiveTempoKey = field(default_factory=LiveTempoKey)
    segment_encoder: object | None = None  #: when the segment index was made by another encoder
    stream: object | None = None  #: StreamingMusicnn: reuses the overlap of consecutive live windows
    #: seconds the fingerprint match listens to: the evidence of the updates inside it pooled (real
    #: music through the standard booth, 36 tracks: 5 s named 67 % of queries, 10 s 96 %; none wrong)
    identify_window_s: float = 10.0
    helper: object | None = None  #: a one-thread executor for the work that does not need the embedding

    def update(self, audio: np.ndarray, sample_rate: int, *, window_s: float = 5.0, t: float = 0.0, seq: int = 0,
               session: Session | None = None) -> Update:
        """Analyse the newest audio (mono float32 at ``sample_rate``) into an :class:`Update`.

        ``audio`` may be longer than ``window_s``: the last ``window_s`` seconds are embedded, the
        last ~12 s feed tempo and key. ``session`` (now playing, played, lookback, drunk, pin) is
        read and updated when given.
        """
        session = session if session is not None else Session()
        stages: dict[str, float] = {}
        clock = time.perf_counter()
        began = clock

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            stages[name] = stages.get(name, 0.0) + (now - clock) * 1000.0
            clock = now

        session.apply_pending()
        rms_db, peak_db = level_db(audio[-sample_rate:])  # the level of the newest second
        if session.paused:
            return Update(seq=seq, t=t, suggestions=(), level_db=rms_db, peak_db=peak_db, status="paused",
                          latency_ms=(time.perf_counter() - began) * 1000.0)
        audio = resample(audio, sample_rate, self.encoder.sample_rate)
        sr = self.encoder.sample_rate
        window = audio[-int(window_s * sr):]
        heard_audio = audio[-int(max(window_s, self.identify_window_s) * sr):]  # what the fingerprints match
        side = None
        if self.helper is not None and self.index.fingerprints is not None:
            # tempo/key and the fingerprint match need no embedding: they run on the other core meanwhile
            side = self.helper.submit(self._listen_and_match, audio, heard_audio, sr)
        if self.stream is not None and session.streaming and len(window) == int(window_s * sr):
            # live: only the frames new since the last hop are computed (same vector as analyze)
            lap("mel")
            embedding = self.stream.embed(audio, int(round(t * sr)))
        elif hasattr(self.encoder, "preprocess"):  # split timing when the encoder exposes its stages
            features = self.encoder.preprocess(window)
            lap("mel")
            embedding = self.encoder.forward(features)
        else:
            lap("mel")
            embedding = self.encoder.analyze(window)
        lap("embed")
        if side is not None:
            heard, side_stages = side.result()
            self._identify(embedding.vector, window, sr, session, heard=heard, heard_audio=heard_audio)
            lap("identify")
            stages.update(side_stages)  # their own durations, overlapped with the embedding
        else:
            self.listener.update(audio, sr)
            lap("tempo_key")
            self._identify(embedding.vector, window, sr, session, heard_audio=heard_audio)
            lap("identify")
        query = session.query_vector(embedding.vector)
        exclude = session.excluded()
        ids, sims = self.index.query(query, self.candidates + len(exclude), self.search_k)
        lap("query")
        suggestions = rank(ids, sims, self.tracks, top=self.top, live_bpm=self.listener.bpm,
                           live_key=self.listener.key, exclude=exclude, weights=self.weights, rules=self.rules,
                           pinned=session.pinned)
        lap("rank")
        now = None
        if session.now_playing is not None and session.now_playing in self.tracks:
            track = self.tracks[session.now_playing]
            now = {"track_id": track.id, "path": track.path, "title": track.title, "artist": track.artist,
                   "confidence": round(session.now_playing_confidence, 3)}
        return Update(seq=seq, t=t, suggestions=tuple(suggestions),
                      tags=tuple(top_tags(self.encoder, embedding.tags)), level_db=rms_db, peak_db=peak_db,
                      stage_ms=stages, latency_ms=(time.perf_counter() - began) * 1000.0, now_playing=now,
                      live_bpm=self.listener.bpm, live_bpm_confidence=self.listener.bpm_confidence,
                      live_key=self.listener.camelot, live_key_name=self.listener.key_name,
                      live_key_confidence=self.listener.key_confidence, pinned=session.pinned)

    def _listen_and_match(self, audio: np.ndarray, heard_audio: np.ndarray, sr: int):
        """On the helper thread: tempo/key of the longer stretch, then the fingerprint match."""
        from livedj.library.fingerprints import identify

        began = time.perf_counter()
        self.listener.update(audio, sr)
        middle = time.perf_counter()
        heard = identify(heard_audio, sr, self.index.fingerprints)[:2]
        end = time.perf_counter()
        return heard, {"tempo_key": (middle - began) * 1000.0, "identify": (end - middle) * 1000.0}

    def warm_up(self) -> None:
        """Pay first-call costs now (the live loop does it while the ring buffer fills)."""
        warm_up(self.encoder)

    def enable_streaming(self, window_s: float) -> None:
        """Live-loop mode: reuse the overlap of consecutive windows (the same vectors, ~0.6x the time) and
        run tempo/key and the fingerprint match on the second core while the network runs."""
        from livedj.encoders.musicnn import MusicnnEncoder

        if type(self.encoder) is MusicnnEncoder and self.encoder.mode == "whole":
            from livedj.encoders.streaming import StreamingMusicnn

            self.stream = StreamingMusicnn(self.encoder, window_s)
        if self.helper is None:
            from concurrent.futures import ThreadPoolExecutor

            self.helper = ThreadPoolExecutor(1, thread_name_prefix="livedj-listen")

    def _identify(self, vector: np.ndarray, window: np.ndarray, sample_rate: int, session: Session,
                  heard: tuple | None = None, heard_audio: np.ndarray | None = None) -> None:
        if self.index.fingerprints is not None:
            from livedj.library.fingerprints import identify

            heard_audio = window if heard_audio is None else heard_audio
            heard, confidence = heard or identify(heard_audio, sample_rate, self.index.fingerprints)[:2]
            session.heard = heard
            track_id, confidence = self.identifier.update_fingerprint(heard, confidence)
        elif self.index.n_segments:
            if self.segment_encoder is not None:  # segments made by another (cheaper) encoder
                vector = self.segment_encoder.analyze(window).vector
            ids, _, sims = self.index.query_segments(vector, self.identifier.candidates, self.search_k)
            track_id, confidence = self.identifier.update(ids, sims)
        else:
            return
        session.now_playing_streak = (session.now_playing_streak + 1 if track_id is not None
                                      and track_id == session.now_playing else int(track_id is not None))
        session.now_playing, session.now_playing_confidence = track_id, confidence
        if session.now_playing_streak == self.identifier.log_after:  # identified on several updates in a row: log it once
            session.mark_played(track_id, "identified", confidence)


def warm_up(encoder) -> None:
    """Pay first-call costs (filterbanks, torch kernels) now, not in the first live updates."""
    from livedj.dsp.rhythm import estimate_tempo
    from livedj.dsp.tonal import estimate_key

    noise = np.random.default_rng(0).normal(0, 0.1, 5 * encoder.sample_rate).astype(np.float32)
    encoder.analyze(noise)
    estimate_tempo(noise, encoder.sample_rate)
    estimate_key(noise, encoder.sample_rate)


def load_engine(config: dict, *, index_dir: str | None = None, reuse: Engine | None = None) -> Engine:
    """Load encoder, index and track metadata as ``config`` says; raise with a one-line message if unusable.

    ``reuse``: a running engine whose encoder (and live tempo/key state) is kept when the config
    still names the same encoder -- a reload then only re-reads the index.
    """
    from livedj.encoders import encoder_dim, encoder_id, get_encoder
    from livedj.library import index as annoy_index
    from livedj.library.store import Store

    analysis, ranking = config["analysis"], config["ranking"]
    index_dir = index_dir or config["index"]["path"]
    index = annoy_index.load(index_dir, encoder=encoder_id(analysis["encoder"]), dim=encoder_dim(analysis["encoder"]))
    store = Store(index_dir, readonly=True)
    try:
        tracks = store.tracks()
    finally:
        store.close()
    if reuse is not None and reuse.encoder.name == analysis["encoder"]:
        encoder = reuse.encoder
    else:
        encoder = get_encoder(analysis["encoder"], threads=analysis["threads"])
    weights = Weights(ranking["weight_similarity"], ranking["weight_tempo"], ranking["weight_key"])
    rules = Rules(ranking["pitch_range"] or 1e-6, ranking["harmonic_only"], ranking["reachable_only"])
    segment_encoder = None
    if index.fingerprints is None and index.segment_encoder and index.segment_encoder != index.manifest["encoder"]:
        name = index.segment_encoder.split("/", 1)[0]
        segment_encoder = get_encoder(name, threads=1)
    engine = Engine(encoder=encoder, index=index, tracks=tracks, top=ranking["top"], segment_encoder=segment_encoder,
                    candidates=ranking["candidates"], search_k=ranking["search_k"], weights=weights, rules=rules,
                    identify_window_s=analysis["identify_s"])
    if reuse is not None:  # a reload: what is playing stays identified (track ids survive re-indexing)
        engine.identifier = reuse.identifier
    if reuse is not None and encoder is reuse.encoder:
        engine.listener = reuse.listener
    try:  # numpy may have been imported before livedj set OPENBLAS_NUM_THREADS (see livedj/__init__.py)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except ImportError:
        pass
    return engine
