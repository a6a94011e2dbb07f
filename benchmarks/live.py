"""The live update: per-stage latency of ``livedj run --input F --fast`` (mel, embed, query, rank, publish).

The real daemon loop (:class:`~livedj.engine.daemon.LiveLoop` with a fast :class:`FileSource`, the
ring buffer, the engine loaded by :func:`~livedj.engine.loader.load_engine` from an index of
``INDEX_TRACKS`` tracks, OSC over UDP to 127.0.0.1) runs over a generated MP3, one update per hop.
The encoder is wrapped so that the engine times the mel front end and the network separately.

Baseline: the same loop with librosa's ``melspectrogram`` as the front end. The two runs are
interleaved in rounds so that load from other processes hits both alike.

Targets (hop 1 s): the whole analysis of an update at median <= 1/20 of the hop (50 ms) and
p99 <= 1/10 (100 ms).
"""
from __future__ import annotations

import socket

import numpy as np

from benchmarks.common import cache_dir, fake_index, pct, row, synth_library

HOP_S = 1.0
INDEX_TRACKS = 10_000
STAGES = ("mel", "embed", "query", "rank", "publish")


def librosa_log_mel(audio: np.ndarray) -> np.ndarray:
    """musicnn's input computed the usual way: librosa melspectrogram (reflect padding), float16, log10."""
    import librosa

    power = librosa.feature.melspectrogram(y=audio, sr=16000, n_fft=512, hop_length=256, n_mels=96,
                                           pad_mode="reflect").T
    return np.log10(10000 * power.astype(np.float16).astype(np.float32) + 1).astype(np.float32)


class SplitEncoder:
    """An encoder whose mel front end and network the engine times apart (``preprocess``/``forward``).

    Parameters
    ----------
    encoder : MusicnnEncoder
        The real encoder; every other attribute is delegated to it.
    mel : callable, optional
        audio -> (frames, 96) log-mel; default the encoder's own (livedj.dsp.mel).
    """

    def __init__(self, encoder, mel=None):
        self._encoder = encoder
        self._mel = mel or encoder.logmel

    def __getattr__(self, name):
        return getattr(self._encoder, name)

    def preprocess(self, audio: np.ndarray) -> np.ndarray:
        return self._mel(np.asarray(audio, dtype=np.float32))

    def forward(self, logmel: np.ndarray):
        return self._encoder.forward(logmel)

    def analyze(self, audio: np.ndarray):
        return self.forward(self.preprocess(audio))


def _config(index_dir, osc_port: int | None = None) -> dict:
    from livedj.config import defaults

    config = defaults()
    if osc_port is not None:
        config["osc"]["targets"] = [{"host": "127.0.0.1", "port": osc_port}]
    config["analysis"].update(encoder="musicnn")  # the default threads (1): what a user runs
    config["audio"]["hop_s"] = HOP_S
    config["index"]["path"] = str(index_dir)
    return config


def run_loop(engine, config: dict, path, updates: int, skip: int = 2) -> list[dict]:
    """Run the daemon's loop over ``path`` as fast as analysis allows; stage_ms of each update after ``skip``."""
    from livedj.commands.run_parts import make_publishers, make_source
    from livedj.engine.daemon import LiveLoop

    ring, source, _ = make_source(config, str(path), True)
    osc = make_publishers(config)
    loop = LiveLoop(engine, ring, source, window_s=config["audio"]["window_s"], hop_s=HOP_S,
                    duration_s=None, publishers=[osc.publish] if osc else [], fast=True)
    loop.start()
    try:
        while not loop.finished.wait(0.05):
            if loop.stats.updates >= updates + skip:
                loop.stop()
    finally:
        loop.stop()
        loop.join(timeout=10)
        if osc:
            osc.close()
    if loop.error is not None:
        raise loop.error
    return [{**u.stage_ms, "total": u.latency_ms} for u in list(loop.history)[skip:]]


def run(quick: bool = False) -> list[dict]:
    """Per-stage p50/p99 of live updates as shipped vs whole-window analysis with librosa's mel (baseline)."""
    from livedj.engine.embed import make_embedder
    from livedj.engine.loader import load_engine

    updates = 6 if quick else 60
    rounds = 1 if quick else 2
    n_index = 1_000 if quick else INDEX_TRACKS
    track = synth_library(1, 20.0 if quick else 75.0, "mp3", name="live-quick" if quick else "live")[0]
    index_dir = fake_index(cache_dir("index", f"live-{n_index}"), n_index)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a receiver, so every send really goes out
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    config = _config(index_dir, sink.getsockname()[1])
    engine = load_engine(config)
    real = engine.encoder
    # ours: the daemon as shipped (streaming front end); baseline: every window analysed whole, librosa's mel
    ours_enc, base_enc = real, SplitEncoder(real, librosa_log_mel)
    ours: list[dict] = []
    base: list[dict] = []
    per_round = max(1, updates // rounds)
    # the file gives (duration - 3 s) updates per pass: a round starts the file over
    window_s = config["audio"]["window_s"]
    for _ in range(rounds):  # the loop's go_live() picks the embedder for the engine's encoder
        engine.embedder = make_embedder(ours_enc, window_s)
        ours += run_loop(engine, config, track, per_round)
        engine.embedder = make_embedder(base_enc, window_s)
        base += run_loop(engine, config, track, per_round)
    engine.embedder = make_embedder(real, window_s)
    sink.close()

    rows = []
    hop_ms = HOP_S * 1000
    for stage in ("total", *STAGES):
        a = [u.get(stage, 0.0) for u in ours]
        b = [u.get(stage, 0.0) for u in base]
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            target = None
            if stage == "total":
                target = hop_ms / 20 if q == 0.5 else hop_ms / 10
            what = "whole update (mel+embed+query+rank+publish)" if stage == "total" else f"stage {stage}"
            rows.append(row(f"live.{stage}.{name}", f"{what} {name}, {len(a)} updates, {n_index:,}-track index; "
                                                     f"baseline whole windows + librosa mel", pct(a, q), "ms",
                            baseline=pct(b, q), target=target))
    total50 = pct([u["total"] for u in ours], 0.5)
    rows.append(row("live.hop_share.p50", f"median update as a share of the {HOP_S:g}-s hop", 100 * total50 / hop_ms,
                    "%", baseline=100 * pct([u["total"] for u in base], 0.5) / hop_ms, target=5.0))
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import print_rows

    print_rows(run(quick="--quick" in sys.argv[1:]))
