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

    def update(self, window: np.ndarray, sample_rate: int, *, t: float = 0.0, seq: int = 0,
               exclude: frozenset[int] = frozenset(), live_bpm: float | None = None,
               live_key: int | None = None) -> Update:
        """Analyse one window (mono float32 at ``sample_rate``) into an :class:`Update`."""
        stages: dict[str, float] = {}
        clock = time.perf_counter()
        began = clock

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            stages[name] = stages.get(name, 0.0) + (now - clock) * 1000.0
            clock = now

        rms_db, peak_db = level_db(window[-sample_rate:])  # the level of the newest second
        audio = resample(window, sample_rate, self.encoder.sample_rate)
        if hasattr(self.encoder, "preprocess"):  # split timing when the encoder exposes its stages
            features = self.encoder.preprocess(audio)
            lap("mel")
            embedding = self.encoder.forward(features)
        else:
            lap("mel")
            embedding = self.encoder.analyze(audio)
        lap("embed")
        ids, sims = self.index.query(embedding.vector, self.candidates + len(exclude), self.search_k)
        lap("query")
        suggestions = rank(ids, sims, self.tracks, top=self.top, live_bpm=live_bpm, live_key=live_key,
                           exclude=exclude, weights=self.weights, rules=self.rules)
        lap("rank")
        return Update(seq=seq, t=t, suggestions=tuple(suggestions),
                      tags=tuple(top_tags(self.encoder, embedding.tags)), level_db=rms_db, peak_db=peak_db,
                      stage_ms=stages, latency_ms=(time.perf_counter() - began) * 1000.0)


def load_engine(config: dict, *, index_dir: str | None = None) -> Engine:
    """Load encoder, index and track metadata as ``config`` says; raise with a one-line message if unusable."""
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
    encoder = get_encoder(analysis["encoder"], threads=analysis["threads"])
    weights = Weights(ranking["weight_similarity"], ranking["weight_tempo"], ranking["weight_key"])
    rules = Rules(ranking["pitch_range"] or 1e-6, ranking["harmonic_only"], ranking["reachable_only"])
    return Engine(encoder=encoder, index=index, tracks=tracks, top=ranking["top"], candidates=ranking["candidates"],
                  search_k=ranking["search_k"], weights=weights, rules=rules)
