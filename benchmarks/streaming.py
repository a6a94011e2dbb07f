"""Streaming musicnn (reuse of the 80% overlap between live windows) against the per-window encoder.

A generated track is played as the live loop sees it: every hop the newest 12 s of the stream end
at ``end_sample`` and the 5-s window ending there is embedded, by ``StreamingMusicnn.embed`` and by
``MusicnnEncoder.analyze`` (the baseline), interleaved on the same windows in one process, 2 threads.
Times are per hop, wall clock; the first hop of each frame grid (two with 1-s hops: 16000 samples is
62.5 frames) computes a whole window and is included in p99. The baseline runs with numpy's BLAS on
one thread, as the streaming mel does: with the default two, OpenBLAS threads busy-wait after the
log-mel matmul and take the cores from torch (``streaming.analyze_default_blas.p50`` shows the cost
in this process). Agreement rows compare the vectors
(cosine) and the top-5 tags of the two; the streaming output is meant to equal the per-window one.

Run ``python -m benchmarks streaming`` (``--quick`` for a smoke run).
"""
from __future__ import annotations

import time

import numpy as np

from benchmarks.common import THREADS, pct, row

SR = 16000
WINDOW_S, CONTEXT_S = 5.0, 12.0
TARGET_MS = 30.0  #: embedding budget inside the 50-ms live update (~10 ms go to other stages)


def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _play(encoder, streaming, audio: np.ndarray, hop: int, hops: int) -> dict[str, list[float]]:
    """Embed ``hops`` windows both ways; per-hop times (ms), cosines and top-5 agreement."""
    window, context = int(WINDOW_S * SR), int(CONTEXT_S * SR)
    out = {"stream": [], "window": [], "cos": [], "top5": []}
    first_end = context
    for i in range(hops):
        end = first_end + i * hop
        chunk = audio[end - context:end]
        began = time.perf_counter()
        got = streaming.embed(chunk, end)
        mid = time.perf_counter()
        with _one_blas_thread():  # as StreamingMusicnn runs its mel (see the module docstring)
            want = encoder.analyze(chunk[-window:])
        out["stream"].append((mid - began) * 1e3)
        out["window"].append((time.perf_counter() - mid) * 1e3)
        out["cos"].append(float(got.vector @ want.vector))
        out["top5"].append(float(set(np.argsort(got.tags)[-5:]) == set(np.argsort(want.tags)[-5:])))
    return out


def run(quick: bool = False) -> list[dict]:
    """Per-hop embedding time of streaming vs per-window musicnn, and their agreement.

    Parameters
    ----------
    quick : bool
        12 hops instead of 60 (a smoke run); the figures are then rougher.

    Returns
    -------
    list of dict
        Rows from :func:`benchmarks.common.row`; ``baseline`` is ``MusicnnEncoder.analyze`` on the
        same windows.
    """
    import torch

    from livedj.encoders.musicnn import MusicnnEncoder
    from livedj.encoders.streaming import StreamingMusicnn
    from livedj.synth import DEMO_TRACKS, render_track

    hops = 12 if quick else 60
    previous = torch.get_num_threads()
    try:
        encoder = MusicnnEncoder(threads=THREADS)
        audio = render_track(DEMO_TRACKS[1], duration=CONTEXT_S + hops + 1, sample_rate=SR)
        encoder.analyze(audio[:int(WINDOW_S * SR)])  # warm-up: allocator, kernel selection
        res = _play(encoder, StreamingMusicnn(encoder, WINDOW_S), audio, SR, hops)
        aligned_hop = 256 * 62  # 0.992 s: a whole number of frames, so one grid suffices
        res_aligned = _play(encoder, StreamingMusicnn(encoder, WINDOW_S), audio, aligned_hop, hops)
        default_blas = []
        for i in range(6 if quick else 20):  # the baseline as the live loop runs it today
            began = time.perf_counter()
            encoder.analyze(audio[i * SR:i * SR + int(WINDOW_S * SR)])
            default_blas.append((time.perf_counter() - began) * 1e3)
    finally:
        torch.set_num_threads(previous)
    s, w = res["stream"], res["window"]
    note = f"{hops} hops of 1 s, 5-s window, {THREADS} threads; baseline MusicnnEncoder.analyze, same windows"
    rows = [
        row("streaming.embed.p50", "streaming musicnn per hop, median", pct(s, 0.5), "ms",
            baseline=pct(w, 0.5), target=TARGET_MS, note=note),
        row("streaming.embed.p99", "streaming musicnn per hop, p99 (incl. the 2 grid starts)", pct(s, 0.99), "ms",
            baseline=pct(w, 0.99)),
        row("streaming.embed.steady_p99", "streaming musicnn per hop, p99 after the 2 grid starts",
            pct(s[2:], 0.99), "ms", baseline=pct(w[2:], 0.99)),
        row("streaming.embed.aligned_p50", "streaming musicnn per hop, median, hop 15872 samples (62 frames)",
            pct(res_aligned["stream"], 0.5), "ms", baseline=pct(res_aligned["window"], 0.5), target=TARGET_MS),
        row("streaming.analyze_default_blas.p50", "MusicnnEncoder.analyze per window, numpy BLAS threads left at "
            "the default (baseline: with one BLAS thread)", pct(default_blas, 0.5), "ms", baseline=pct(w, 0.5)),
        row("streaming.cosine.min", "cosine streaming vs per-window vector, worst hop",
            min(res["cos"] + res_aligned["cos"]), "", target=0.99, higher_is_better=True),
        row("streaming.cosine.median", "cosine streaming vs per-window vector, median hop",
            float(np.median(res["cos"] + res_aligned["cos"])), "", target=0.99, higher_is_better=True),
        row("streaming.top5_agree", "share of hops whose top-5 tags equal the per-window ones",
            float(np.mean(res["top5"] + res_aligned["top5"])), "", target=0.95, higher_is_better=True),
    ]
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import print_rows

    print_rows(run(quick="--quick" in sys.argv), title="streaming musicnn")
