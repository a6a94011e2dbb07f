"""One live update stage by stage, in process, on real parts.

A generated library is indexed in this process (``index_library``, musicnn, a real Annoy index and
real fingerprints on disk) and loaded with ``load_engine``; each test calls one stage of
:class:`livedj.engine.analyzer.Engine` (level, embed, listen, identify, query, rank, the whole
update) and checks what it owes the next one. No stage is faked.
"""
from __future__ import annotations

import numpy as np
import pytest

from livedj.config import defaults
from livedj.dsp import WINDOW_S
from livedj.dsp.level import first_sound, level_db, resample
from livedj.engine.analyzer import Engine, InlineExecutor
from livedj.engine.embed import Laps, StagedEmbedder, StreamingEmbedder, WindowEmbedder, make_embedder
from livedj.engine.loader import load_engine
from livedj.engine.now_playing import Match, NowPlaying, NowPlayingTracker
from livedj.engine.session import Ban, Pause, Played, Session, Skip
from livedj.library import index as annoy_index
from livedj.library.indexer import Settings, index_library
from livedj.synth import DEMO_TRACKS, build_demo_library

N_TRACKS = 4
SR = 16000


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """Four generated tracks indexed in this process; the engine loaded from that index."""
    from livedj.audio.decode import decode

    root = tmp_path_factory.mktemp("pipeline")
    paths = build_demo_library(root / "library", DEMO_TRACKS[:N_TRACKS], duration=20.0)
    (root / "library" / "broken.mp3").write_bytes(b"\x00not audio" * 100)
    progress = []
    report = index_library([root / "library"], str(root / "index"), Settings(), jobs=1,
                           progress=lambda event, done, total, path: progress.append(event))
    config = defaults()
    config["index"]["path"] = str(root / "index")
    engine = load_engine(config)
    audio = {str(p): decode(p, SR) for p in paths}
    return root, [str(p) for p in paths], report, progress, engine, audio


def track_id(engine: Engine, path: str) -> int:
    return next(t.id for t in engine.tracks.values() if t.path == path)


# -- indexer (in process) ---------------------------------------------------------------------
def test_indexer_in_process_indexes_skips_the_broken_file_and_reports_progress(indexed):
    root, paths, report, progress, engine, _ = indexed
    assert report.indexed == N_TRACKS and report.index_items == N_TRACKS
    assert [p for p, _ in report.skipped] == [str(root / "library" / "broken.mp3")]
    assert progress[0] == "scan" and progress.count("file") == N_TRACKS + 1 and progress[-1] == "build"
    assert engine.index.size == N_TRACKS and engine.index.fingerprints is not None
    again = index_library([root / "library"], str(root / "index"), Settings(), jobs=1)
    assert again.indexed == 0 and again.unchanged == N_TRACKS  # nothing new: nothing analysed
    assert "unchanged since it failed" in again.skipped[0][1]


# -- level ----------------------------------------------------------------------------------------
def test_level_first_sound_and_resample_are_known_answers():
    t = np.arange(SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    rms, peak = level_db(tone)
    assert rms == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)
    assert peak == pytest.approx(20 * np.log10(0.5), abs=0.05)
    assert level_db(np.zeros(0, np.float32)) == (-120.0, -120.0)
    assert first_sound(np.concatenate([np.zeros(SR, np.float32), tone]), SR) == pytest.approx(1.0, abs=0.13)
    down = resample(tone, SR, 8000)
    assert down.dtype == np.float32 and len(down) == 8000
    assert level_db(down)[0] == pytest.approx(rms, abs=0.1)  # a 440 Hz tone survives 8 kHz


# -- embed ----------------------------------------------------------------------------------------
def test_every_embedder_gives_the_encoders_vector_of_the_last_window(indexed):
    *_, engine, audio = indexed
    encoder = engine.encoder
    stream = next(iter(audio.values()))[: 12 * SR]
    expected = encoder.analyze(stream[-int(WINDOW_S * SR):]).vector
    assert isinstance(make_embedder(encoder, WINDOW_S), StagedEmbedder)  # musicnn: mel and network apart
    live = make_embedder(encoder, WINDOW_S, live=True)
    assert isinstance(live, StreamingEmbedder)
    for embedder in (WindowEmbedder(encoder, WINDOW_S), StagedEmbedder(encoder, WINDOW_S), live):
        laps = Laps()
        for end in (10 * SR, 11 * SR, 12 * SR):  # consecutive hops: the streaming one reuses its frames
            vector = embedder.embed(stream[:end], end, laps).vector
        assert set(laps.stages) == {"mel", "embed"}
        assert float(vector @ expected) > 0.9999, type(embedder).__name__
    short = stream[: 3 * SR]  # the first live updates: less than a window, embedded whole
    assert float(live.embed(short, 3 * SR, Laps()).vector @ encoder.analyze(short).vector) > 0.9999


# -- listen (tempo/key) and hear (fingerprints) --------------------------------------------------
def test_listen_refreshes_tempo_then_key_and_hears_the_record(indexed):
    _, paths, _, _, engine, audio = indexed
    engine.listener.bpm = engine.listener.key = None
    excerpt = audio[paths[1]][4 * SR: 16 * SR]
    first, second = engine.listen(excerpt, SR), engine.listen(excerpt, SR)
    assert set(first.stage_ms) == {"tempo_key", "identify"}
    spec = DEMO_TRACKS[1]
    bpm = engine.listener.bpm
    assert bpm is not None and min(abs(bpm - spec.bpm * f) for f in (0.5, 1, 2)) < 0.03 * spec.bpm
    assert engine.listener.raw_key is not None and engine.listener.key is None  # one key turn: estimated, not shown
    engine.listen(excerpt, SR), engine.listen(excerpt, SR)
    assert engine.listener.key is not None  # a second window agrees: shown (a lone first window is not)
    assert [m.track_id for m in second.matches] == [track_id(engine, paths[1])]
    assert 0 < second.matches[0].confidence <= 1 and abs(second.matches[0].speed - 1) < 0.01
    assert engine.listen(np.zeros(12 * SR, np.float32), SR).matches == ()  # silence: nothing heard


# -- identify (now playing's rules) -------------------------------------------------------------
def test_now_playing_confirms_after_two_updates_and_logs_the_play_once(indexed):
    _, paths, _, _, engine, audio = indexed
    tracker = NowPlayingTracker(engine.index, log_after=3)
    session, logged = Session(), []
    session.on_played.append(lambda *a: logged.append(a))
    wanted = track_id(engine, paths[2])
    excerpt = audio[paths[2]][4 * SR: 16 * SR]
    heard = tracker.hear(excerpt, SR)
    vector = np.zeros(engine.encoder.dim, np.float32)  # fingerprints decide: the embedding is not read
    answers = [tracker.decide(heard, vector, excerpt, SR, session) for _ in range(5)]
    assert answers[0].track_id is None and answers[0].on_deck == {wanted}  # heard, not yet confirmed
    assert all(a.track_id == wanted for a in answers[1:])
    assert logged == [(wanted, "identified", pytest.approx(answers[3].confidence))]  # once: 3rd confirmed
    assert wanted in session.played
    for _ in range(3):  # three updates without it drop it
        now = tracker.decide((), vector, excerpt, SR, session)
    assert now == NowPlaying(None, 0.0, ())


def test_a_cut_halfway_through_the_heard_window_is_heard_as_both_decks(indexed):
    """5 s of one record then 5 s of another: neither has twice the other's landmarks, so the
    fingerprint match's ``decks`` alone names none; each decided against the rest, both are heard."""
    from livedj.library.fingerprints import decks, match_audio

    _, paths, _, _, engine, audio = indexed
    a, b = track_id(engine, paths[0]), track_id(engine, paths[3])
    tracker = NowPlayingTracker(engine.index, identify_s=10.0)
    heard_ids, decks_ids = [], []
    for split in (4.0, 5.0, 6.0):
        cut = np.concatenate([audio[paths[0]][int((14 - split) * SR): 14 * SR],
                              audio[paths[3]][4 * SR: int((14 - split) * SR)]])
        heard_ids.append({m.track_id for m in tracker.hear(cut, SR)})
        decks_ids.append({m.track_id for m in decks(match_audio(cut, SR, engine.index.fingerprints, top=3))})
    assert all(ids <= {a, b} for ids in heard_ids + decks_ids)  # both records of the cut, nothing else
    assert any(h == {a, b} and d != {a, b} for h, d in zip(heard_ids, decks_ids)), (heard_ids, decks_ids)


def test_segment_fallback_votes_over_a_real_segment_index(tmp_path):
    # an index with segment vectors but no fingerprints (as built before fingerprints existed)
    rng = np.random.default_rng(3)
    base = rng.normal(size=(3, 8)).astype(np.float32)
    segments = [(i + 1, 5.0, base[i] + 0.01 * rng.normal(size=(4, 8)).astype(np.float32)) for i in range(3)]
    items = [(i + 1, base[i] / np.linalg.norm(base[i])) for i in range(3)]
    annoy_index.build(tmp_path, items, dim=8, encoder="test/1", segments=segments)
    index = annoy_index.load(tmp_path, encoder="test/1", dim=8)
    assert index.fingerprints is None and index.n_segments == 12
    tracker = NowPlayingTracker(index)
    assert tracker.hear(np.zeros(SR, np.float32), SR) == ()  # no fingerprints: nothing to hear
    session = Session()
    window = np.zeros(SR, np.float32)
    answers = [tracker.decide((), base[1] / np.linalg.norm(base[1]), window, SR, session) for _ in range(4)]
    assert answers[-1].track_id == 2 and answers[-1].confidence > 0.5
    assert tracker.updates_to_confirm == tracker.segments.votes


def test_the_loops_hop_reaches_the_key_smoother(indexed):
    """The smoother's averages are in seconds, counted as 2 x hop_s per key reading: at ``audio.hop_s = 0.5`` the
    listener kept its default 1 s, so its 30-s average acted over 15 s. The loop hands its hop to the engine when
    it goes live and to a reload's engine when that one takes over."""
    from livedj.audio.ringbuffer import RingBuffer
    from livedj.engine.daemon import LiveLoop
    from livedj.engine.update import Update

    *_, engine, _ = indexed
    engine.go_live(0.5)
    try:
        assert engine.listener.hop_s == 0.5
    finally:
        engine.helper.shutdown()
        engine.helper = InlineExecutor()

    class Fake:  # the loop's side is under test here: what each engine is told
        def __init__(self):
            self.hops = []

        def warm_up(self):
            pass

        def leave(self):
            self.left = True

        def go_live(self, hop_s):
            self.hops.append(hop_s)

        def update(self, audio, sr, *, t, seq, session):
            if seq == 0:
                loop.pending_engine = reloaded
            return Update(seq=seq, t=t, suggestions=())

    class Source:  # the audio is in the ring already
        overflows, error, can_be_lost = 0, None, False
        start = stop = lambda self: None
        ended = lambda self: False
        allow_until = lambda self, sample_index: None
        seconds_since_callback = lambda self: 0.0

    sr = 1000
    ring = RingBuffer(20 * sr, sr)
    ring.write(np.zeros(8 * sr, dtype=np.float32))
    first, reloaded = Fake(), Fake()
    loop = LiveLoop(first, ring, Source(), window_s=5.0, hop_s=0.5, duration_s=6.0, fast=True)
    loop.run()
    assert first.hops == [0.5] and reloaded.hops == [0.5]
    assert getattr(first, "left", False) and not getattr(reloaded, "left", False)  # the replaced one lets go


@pytest.mark.parametrize("can_be_lost", [False, True])
def test_a_file_starts_playing_after_the_warm_up_a_microphone_while_it(can_be_lost):
    """A file (``--input``, the demo) plays in real time from the source's start: warmed up after it, a fresh
    install's first-call costs (numba compiling the matcher, 11-12 s) played the first seconds unheard -- the
    demo's first update came at t=3 s, the next at t=9 s. Now a file starts once the engine is warm; a
    microphone still warms up while its first window arrives (it cannot be paused)."""
    from livedj.audio.ringbuffer import RingBuffer
    from livedj.engine.daemon import LiveLoop
    from livedj.engine.update import Update

    events = []

    class Fake:
        def warm_up(self):
            events.append("warm_up")

        def leave(self):
            pass

        def go_live(self, hop_s):
            pass

        def update(self, audio, sr, *, t, seq, session):
            return Update(seq=seq, t=t, suggestions=())

    class Source:
        overflows, error = 0, None
        stop = lambda self: None
        ended = lambda self: False
        allow_until = lambda self, sample_index: None
        seconds_since_callback = lambda self: 0.0

        def start(self):
            events.append("source")

    Source.can_be_lost = can_be_lost
    sr = 1000
    ring = RingBuffer(20 * sr, sr)
    ring.write(np.zeros(8 * sr, dtype=np.float32))
    loop = LiveLoop(Fake(), ring, Source(), window_s=5.0, hop_s=1.0, duration_s=4.0, fast=True)
    loop.start()
    assert loop.finished.wait(10) and loop.error is None
    loop.join(5)
    assert events == (["source", "warm_up"] if can_be_lost else ["warm_up", "source"])


def test_an_engine_replaced_by_a_reload_lets_its_helper_thread_go(indexed):
    """Each SIGHUP reload left the old engine's helper thread (the second core's tempo/key and match) behind."""
    *_, engine, _ = indexed
    old = Engine(engine.embedder, engine.index, engine.tracks, NowPlayingTracker(engine.index))
    old.go_live(1.0)
    helper = old.helper
    assert not isinstance(helper, InlineExecutor)
    helper.submit(lambda: None).result()  # its thread runs
    threads = list(helper._threads)
    old.leave()
    for thread in threads:
        thread.join(5)
    assert not any(thread.is_alive() for thread in threads)


# -- query and rank ---------------------------------------------------------------------------
def test_query_and_rank_leave_out_what_is_on_deck_played_or_banned(indexed):
    _, paths, _, _, engine, audio = indexed
    ids = [track_id(engine, p) for p in paths]
    session = Session()
    session.apply(Played(ids[1], "osc"))
    session.apply(Ban(ids[2]))
    vector = engine.encoder.analyze(audio[paths[0]][4 * SR: 9 * SR])
    now = NowPlaying(None, 0.0, (Match(ids[0], 0.9),))
    exclude = session.excluded(now.on_deck)
    assert exclude == {ids[0], ids[1], ids[2]}
    found, sims = engine.query(vector, session, exclude)
    assert len(found) == N_TRACKS and found[0] == ids[0]  # the query itself is nearest ...
    ranked = engine.rank(found, sims, session, exclude)
    assert [s.track_id for s in ranked] == [ids[3]]  # ... but only the one left may be suggested
    session.exclude_now_playing = False
    assert session.excluded(now.on_deck) == {ids[1], ids[2]}  # the DJ asked to see the record on the deck


def test_a_skip_and_a_ban_reach_the_set_log_with_no_lists_imported(indexed):
    """The first night has no context model (no lists, no set log yet): its skips and bans were never handed to
    the set log, so the next build could not learn from them."""
    _, paths, _, _, engine, audio = indexed
    from livedj.engine.context_term import NightFeedback

    assert engine.context is None
    engine.night = NightFeedback()  # a fresh night (the module's engine ranked a ban before)
    ids = [track_id(engine, p) for p in paths]
    session = Session()
    logged: list = []
    session.on_feedback.append(lambda kind, track, playing: logged.append((kind, track, playing)))
    session.apply(Ban(ids[2]))
    session.apply(Skip(ids[3]))
    vector = engine.encoder.analyze(audio[paths[0]][4 * SR: 9 * SR])
    now = NowPlaying(ids[0], 0.9, (Match(ids[0], 0.9),))
    exclude = session.excluded(now.on_deck)
    engine.rank(*engine.query(vector, session, exclude), session, exclude, now)
    engine.rank(*engine.query(vector, session, exclude), session, exclude, now)  # each once
    assert sorted(logged) == [("ban", ids[2], ids[0]), ("skip", ids[3], ids[0])]


# -- the whole update ----------------------------------------------------------------------------
def test_update_runs_every_stage_and_names_the_record(indexed):
    _, paths, _, _, engine, audio = indexed
    engine.now_playing = NowPlayingTracker(engine.index)  # a fresh night
    session = Session()
    excerpt = audio[paths[3]][2 * SR: 14 * SR]
    updates = [engine.update(excerpt, SR, t=14.0, seq=i, session=session) for i in range(2)]
    last = updates[-1]
    assert {"mel", "embed", "tempo_key", "identify", "query", "rank"} <= set(last.stage_ms)
    assert last.latency_ms >= sum(v for k, v in last.stage_ms.items() if k not in ("tempo_key", "identify"))
    assert updates[0].now_playing is None and last.now_playing["path"] == paths[3]
    assert paths[3] not in [s.path for s in last.suggestions] and len(last.suggestions) == N_TRACKS - 1
    assert last.tags and last.live_bpm is not None and last.live_key is not None
    at_44k = resample(excerpt, SR, 44100)  # another input rate: resampled to the encoder's
    assert engine.update(at_44k, 44100, t=14.0, session=session).now_playing["path"] == paths[3]
    session.send(Pause(True))
    paused = engine.update(excerpt, SR, session=session)
    assert paused.status == "paused" and paused.suggestions == () and paused.level_db > -60


def test_silence_holds_the_suggestions_of_the_last_music_and_says_so(indexed):
    """A pause between records (or the DJ on the mic in a quiet room) gave ten new suggestions "like" the
    silence every second, and the status promised to OSC peers (`silence`) was never sent."""
    _, paths, _, _, engine, audio = indexed
    engine.now_playing = NowPlayingTracker(engine.index)
    session = Session()
    music = audio[paths[0]][2 * SR: 14 * SR]
    heard = engine.update(music, SR, t=14.0, session=session)
    assert heard.status == "listening" and heard.suggestions
    quiet = np.concatenate([music, 1e-4 * np.random.default_rng(1).standard_normal(6 * SR).astype(np.float32)])
    paused = engine.update(quiet, SR, t=20.0, session=session)  # -80 dBFS of hiss: the last 5 s are silence
    assert paused.status == "silence"
    assert [s.track_id for s in paused.suggestions] == [s.track_id for s in heard.suggestions]
    banned = heard.suggestions[0].track_id
    session.send(Ban(banned))
    assert banned not in [s.track_id for s in engine.update(quiet, SR, t=21.0, session=session).suggestions]
    again = engine.update(audio[paths[1]][2 * SR: 14 * SR], SR, t=35.0, session=session)
    assert again.status == "listening" and banned not in [s.track_id for s in again.suggestions]
    root = indexed[0]
    config = defaults()
    config["index"]["path"] = str(root / "index")
    reloaded = load_engine(config, reuse=engine)  # SIGHUP in a silence: it held nothing (a fresh engine's list)
    held = reloaded.update(quiet, SR, t=40.0, session=session)
    assert held.status == "silence" and [s.track_id for s in held.suggestions] == [s.track_id for s in again.suggestions]


def test_go_live_moves_listening_to_the_second_core_and_streams_the_embedding(indexed):
    _, paths, _, _, engine, audio = indexed
    offline = Engine(engine.embedder, engine.index, engine.tracks, NowPlayingTracker(engine.index))
    live = Engine(make_embedder(engine.encoder, WINDOW_S), engine.index, engine.tracks,
                  NowPlayingTracker(engine.index))
    live.go_live()
    assert engine.index.fingerprints is not None  # so listening moves to its own thread
    assert isinstance(offline.helper, InlineExecutor) and not isinstance(live.helper, InlineExecutor)
    assert isinstance(live.embedder, StreamingEmbedder)
    try:
        stream = audio[paths[0]]
        for end in range(8, 13):
            a = offline.update(stream[:end * SR], SR, t=end, session=Session())
            b = live.update(stream[:end * SR], SR, t=end, session=Session())
            assert [s.track_id for s in a.suggestions] == [s.track_id for s in b.suggestions]
            assert [s.similarity for s in a.suggestions] == pytest.approx([s.similarity for s in b.suggestions],
                                                                          abs=1e-4)
    finally:
        live.helper.shutdown()


# -- indexer workers (separate processes) ----------------------------------------------------------
def by_path(index_dir) -> dict[str, np.ndarray]:
    from livedj.encoders import encoder_id
    from livedj.library.store import Store

    store = Store(index_dir, readonly=True)
    try:
        tracks = store.tracks()
        return {tracks[t].path: v for t, v in store.vectors(encoder_id("musicnn"))}
    finally:
        store.close()


def test_indexer_worker_processes_give_the_vectors_made_in_process(indexed, tmp_path):
    """Two spawned workers, set up by the pool's initializer from explicit settings only."""
    root, paths, *_ = indexed
    report = index_library([root / "library"], str(tmp_path / "index"), Settings(), jobs=2)
    assert report.indexed == N_TRACKS and len(report.skipped) == 1
    here, there = by_path(root / "index"), by_path(tmp_path / "index")
    assert sorted(here) == sorted(there) == sorted(paths)
    for path in paths:
        assert float(here[path] @ there[path]) > 0.9999, path


def test_index_workers_take_the_booth_head_from_their_settings(tmp_path, monkeypatch):
    from livedj.adapt.head import HeadError
    from livedj.library.indexer import Worker

    monkeypatch.delenv("LIVEDJ_BOOTH_HEAD", raising=False)  # nothing inherited: the settings name it
    with pytest.raises(HeadError, match="no-such-head"):
        Worker.load(Settings(encoder="musicnn-booth", head=str(tmp_path / "no-such-head.safetensors")))
