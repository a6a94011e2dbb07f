"""Encoder speed per 5-s window on 2 threads: mel front end and the torch musicnn variants.

Every figure is the best (minimum) wall time over interleaved repetitions, so that load from other
processes, which only ever adds time, disturbs the comparison as little as possible; one row gives
single-thread CPU time, which such load hardly touches. ``ratio`` is ``value / baseline``: below 1
is faster than the baseline measured in the same run.

Run ``python -m benchmarks.encoders`` (``--quick`` for a smoke run).
"""
from __future__ import annotations

import sys
import time
from typing import Callable

import numpy as np

THREADS = 2
WINDOW_S = 5.0


def _window(seconds: float = WINDOW_S, sr: int = 16000) -> np.ndarray:
    """A deterministic music-like test window (kick, noise hats, a chord)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    beat = (t * 2.0) % 0.5
    y = np.sin(2 * np.pi * 60 * t) * np.exp(-beat * 12) + 0.1 * rng.standard_normal(t.size)
    y += sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63))
    return (0.3 * y).astype(np.float32)


def _best_times(cases: dict[str, Callable[[], object]], repeats: int,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Minimum time (s, wall clock by default) of each case, interleaved so drifting load hits them alike."""
    for fn in cases.values():
        fn()  # warm-up: allocator, oneDNN kernel selection
    best = {name: float("inf") for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = clock()
            fn()
            best[name] = min(best[name], clock() - start)
    return best


def _row(name: str, figure: str, value_s: float, baseline_s: float) -> dict:
    value, baseline = value_s * 1e3, baseline_s * 1e3
    return {"name": name, "figure": figure, "value": round(value, 3), "unit": "ms",
            "baseline": round(baseline, 3), "ratio": round(value / baseline, 3)}


def run(quick: bool = False) -> list[dict]:
    """Time the musicnn encoder per 5-s window on 2 threads.

    Parameters
    ----------
    quick : bool
        Fewer repetitions (a smoke run for CI); the figures are then rougher.

    Returns
    -------
    list of dict
        Rows with keys name, figure, value, unit, baseline, ratio (``value / baseline``).
    """
    import librosa
    import torch

    from livedj.dsp.mel import log_mel
    from livedj.encoders.musicnn import PATCH_FRAMES, MusicnnEncoder, load_musicnn, patch_starts

    repeats = 3 if quick else 15
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        audio = _window()
        rows = []

        def librosa_log_mel() -> np.ndarray:
            power = librosa.feature.melspectrogram(y=audio, sr=16000, n_fft=512, hop_length=256, n_mels=96,
                                                   pad_mode="reflect").T
            return np.log10(10000 * power.astype(np.float16).astype(np.float32) + 1)

        t = _best_times({"ours": lambda: log_mel(audio), "librosa": librosa_log_mel}, repeats * 3)
        rows.append(_row("musicnn.mel", "log-mel of a 5-s window (numpy) vs librosa", t["ours"], t["librosa"]))

        fast, _ = load_musicnn(reorder=True)
        plain, _ = load_musicnn(reorder=False)
        logmel = torch.from_numpy(log_mel(audio))
        one = logmel[None]
        starts = patch_starts(logmel.shape[0])
        patches = torch.stack([logmel[s:s + PATCH_FRAMES] for s in starts])
        batch2, batch10 = one.expand(2, -1, -1).contiguous(), one.expand(10, -1, -1).contiguous()
        with torch.inference_mode():
            t = _best_times({
                "plain": lambda: plain(one), "fast": lambda: fast(one), "patches": lambda: fast(patches),
                "batch2": lambda: fast(batch2), "batch10": lambda: fast(batch10),
            }, repeats)
        rows.append(_row("musicnn.model.plain", "network, whole 313-frame window, literal graph order",
                         t["plain"], t["plain"]))
        rows.append(_row("musicnn.model.reordered", "network, pool-first front end vs literal",
                         t["fast"], t["plain"]))
        rows.append(_row("musicnn.model.patches", f"{len(starts)} x {PATCH_FRAMES}-frame patches vs one "
                         "whole-window pass", t["patches"], t["fast"]))
        rows.append(_row("musicnn.model.batch2", "per window in a batch of 2 vs batch 1",
                         t["batch2"] / 2, t["fast"]))
        rows.append(_row("musicnn.model.batch10", "per window in a batch of 10 vs batch 1",
                         t["batch10"] / 10, t["fast"]))

        # CPU time of one thread: the work itself, insensitive to other processes sharing the cores
        torch.set_num_threads(1)
        with torch.inference_mode():
            t = _best_times({"plain": lambda: plain(one), "fast": lambda: fast(one),
                             "patches": lambda: fast(patches)}, repeats, time.thread_time)
        torch.set_num_threads(THREADS)
        rows.append(_row("musicnn.model.reordered.cpu", "network CPU time on 1 thread, pool-first vs literal",
                         t["fast"], t["plain"]))
        rows.append(_row("musicnn.model.patches.cpu", "CPU time on 1 thread, 2 patches vs whole window",
                         t["patches"], t["fast"]))

        encoder = MusicnnEncoder()

        def naive() -> object:  # librosa pre-processing + literal network, batch 1
            with torch.inference_mode():
                return plain(torch.from_numpy(librosa_log_mel())[None])

        t = _best_times({"analyze": lambda: encoder.analyze(audio), "naive": naive}, repeats)
        rows.append(_row("musicnn.analyze", "MusicnnEncoder.analyze vs librosa mel + literal network",
                         t["analyze"], t["naive"]))
        return rows
    finally:
        torch.set_num_threads(previous_threads)


def format_rows(rows: list[dict]) -> str:
    """A fixed-width table of benchmark rows."""
    lines = [f"{'name':26} {'value':>10} {'baseline':>10} {'ratio':>7}  figure"]
    for r in rows:
        lines.append(f"{r['name']:26} {r['value']:>8.2f}{r['unit']:>2} {r['baseline']:>8.2f}{r['unit']:>2} "
                     f"{r['ratio']:>7.3f}  {r['figure']}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_rows(run(quick="--quick" in sys.argv[1:])))
