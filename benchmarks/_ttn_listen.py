"""The listeners of :mod:`benchmarks.time_to_name`: a rendered mix through the live loop, or through the
live loop's naming only (``--matcher-only``), every update with its top matches kept for replays."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


def listen(mix: str, index: str, *, confirm: int | None = None, hold: int | None = None,
           identify_s: float | None = None, hop_s: float = 1.0, stream: bool = True) -> tuple[list, list]:
    """The live loop of ``livedj run --input MIX --fast`` over ``mix``: its updates and its plays
    (``stream``: ``analysis.stream_match``)."""
    from livedj.audio.capture import FileSource
    from livedj.audio.ringbuffer import RingBuffer
    from livedj.config import defaults
    from livedj.engine.daemon import LiveLoop
    from livedj.engine.loader import load_engine
    from livedj.engine.session import Session

    config = defaults()
    config["index"]["path"] = index
    config["analysis"]["stream_match"] = stream
    if identify_s is not None:
        config["analysis"]["identify_s"] = identify_s
    engine = load_engine(config)
    rule = getattr(engine.now_playing, "decks", None) or getattr(engine.now_playing, "fingerprint")
    rule.confirm = confirm if confirm is not None else rule.confirm
    rule.hold = hold if hold is not None else rule.hold
    sr = 16000
    ring = RingBuffer(int(config["audio"]["buffer_s"] * sr), sr)
    session = Session()
    plays = []
    session.on_played.append(lambda track_id, source, confidence: plays.append(track_id))
    raw = []  # every update's top matches before any decision (one call per update, in order)
    tracker = engine.now_playing
    hear = tracker.hear

    def hear_and_keep(audio, sample_rate, end_s=None):
        from livedj.library.fpstream import LiveMatcher

        match = LiveMatcher.match
        try:
            LiveMatcher.match = _keeping(raw, match)
            found = hear(audio, sample_rate, end_s)
            raw[-1] = (raw[-1], [dataclasses.astuple(m) for m in found])
            return found
        finally:
            LiveMatcher.match = match

    if tracker.index.fingerprints is not None:
        object.__setattr__(tracker, "hear", hear_and_keep)
    loop = LiveLoop(engine, ring, FileSource(ring, mix, realtime=False), hop_s=hop_s, fast=True,
                    history=1_000_000, session=session)
    loop.start()
    loop.finished.wait()
    loop.join(5)
    if loop.error is not None:
        raise loop.error
    updates = list(loop.history)
    for u, (matches, found) in zip(updates, raw[-len(updates):] if raw else []):
        object.__setattr__(u, "raw", matches)  # the top three matches
        object.__setattr__(u, "found", found)  # what ``hear`` made of them (Match fields), for replays
    return updates, plays


@dataclass(frozen=True)
class _Named:
    """The part of an :class:`~livedj.engine.update.Update` that naming fills (``matcher_only``)."""

    t: float
    now_playing: dict | None
    decks: tuple
    raw: list
    found: list


def listen_matcher_only(mix: str, index: str, *, confirm: int | None = None, hold: int | None = None,
                        identify_s: float | None = None, hop_s: float = 1.0, stream: bool = True) -> tuple[list, list]:
    """What :func:`listen` names, without the embedding and the ranking: the same audio windows (the
    mix decoded as ``FileSource`` does, ``context_s`` seconds read every hop from ``MIN_WINDOW_S`` on)
    through the same :class:`~livedj.engine.now_playing.NowPlayingTracker` ``hear`` and ``decide``.
    The naming depends on nothing else; ~4x faster on a shared machine. Falls back to :func:`listen`
    for an index without fingerprints."""
    from livedj.audio.decode import iter_blocks
    from livedj.config import defaults
    from livedj.engine.daemon import MIN_WINDOW_S
    from livedj.engine.now_playing import NowPlayingTracker, library_bpms
    from livedj.engine.session import Session
    from livedj.library.fpstream import LiveMatcher
    from livedj.library.index import load
    from livedj.library.store import Store

    config = defaults()
    analysis = config["analysis"]
    store = Store(index, readonly=True)  # the library's tempos, as load_engine gives the tracker
    try:
        bpms = library_bpms(store.tracks())
    finally:
        store.close()
    tracker = NowPlayingTracker(load(index), identify_s=analysis["identify_s"] if identify_s is None else identify_s,
                                key_lock=analysis["key_lock"], stream=stream, bpms=bpms)
    if tracker.index.fingerprints is None:
        return listen(mix, index, confirm=confirm, hold=hold, identify_s=identify_s, hop_s=hop_s, stream=stream)
    tracker.decks.confirm = confirm if confirm is not None else tracker.decks.confirm
    tracker.decks.hold = hold if hold is not None else tracker.decks.hold
    sr = 16000
    y = np.concatenate(list(iter_blocks(mix, sample_rate=sr)))
    hop = max(1, int(round(hop_s * sr)))
    context = int(round(max(config["audio"]["window_s"], 12.0) * sr))  # LiveLoop's context_s
    session, plays, updates, raw = Session(), [], [], []
    session.on_played.append(lambda track_id, source, confidence: plays.append(track_id))
    match = LiveMatcher.match
    LiveMatcher.match = _keeping(raw, match)
    try:
        position = max(hop, int(round(MIN_WINDOW_S * sr / hop)) * hop)
        while position <= len(y):
            # the stream time of the last sample, as the live loop gives it (Engine.update's t)
            found = tracker.hear(y[max(0, position - context): position], sr, position / sr)
            now = tracker.decide(found, None, None, sr, session)
            updates.append(_Named(position / sr, None if now.track_id is None else {"track_id": now.track_id},
                                  tuple({"track_id": d.track_id} for d in now.decks), raw[-1],
                                  [dataclasses.astuple(m) for m in found]))
            position += hop
    finally:
        LiveMatcher.match = match
    return updates, plays


def _keeping(store: list, match):
    """``LiveMatcher.match`` that keeps every answer in ``store`` (see :func:`_kept`)."""
    def kept_match(self, y, sr, end_s=None, **k):
        return _kept(store, match(self, y, sr, end_s, **k), self if end_s is not None else None)
    return kept_match


#: seconds of the newest audio whose aligned landmarks are kept per match (live matcher only), for replays
RECENT_S = (2.0, 3.0, 4.0, 5.0)


def _kept(store: list, matches: list, matcher=None) -> list:
    """Keep the top matches: (track, aligned, speed, key lock, offset s, share, copies, aligned in the
    newest s for s in RECENT_S (live matcher; [] otherwise))."""
    recent = [matcher.recent_aligned(s) for s in RECENT_S] if matcher is not None and matcher._end is not None else []
    store.append([(m.track_id, round(m.aligned, 1), round(m.speed, 3), m.pitch_locked, round(m.offset_s, 3),
                   round(m.share, 5), list(m.same), [round(r.get(m.track_id, 0.0), 1) for r in recent])
                  for m in matches])
    return matches
