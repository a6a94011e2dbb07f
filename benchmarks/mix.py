"""Rendering a mix: 10 generated records of 6 minutes (a 60-minute mix) to MP3, on this machine.

Target (issue 13): <= 1/10 of real time on 2 cores. Baseline, in the same process: decoding
the same records with :func:`livedj.mix.io.load_stereo` and encoding their plain concatenation
to MP3 (the I/O any renderer pays). Records are 64 bars of a generated style tiled to 6 minutes
(generating 6 minutes of synth audio ten times would take longer than the render). Peak memory
(RSS) shows the render streams. ``--quick``: 4 records of 3 minutes.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

from benchmarks.common import row

IN_ALL = False  # minutes: run it by name

STYLES = [("house", 124), ("disco", 126), ("techno", 128), ("trance", 130), ("electro", 128),
          ("house", 122), ("disco", 120), ("synthwave", 118), ("house", 124), ("techno", 127)]


def _records(folder: str, n: int, seconds: float) -> list[str]:
    from livedj.synth import TrackSpec, render_track, write_audio

    paths = []
    for i, (style, bpm) in enumerate(STYLES[:n]):
        spec = TrackSpec(f"bench {i}", "livedj", bpm, "A minor", style, i)
        loop_s = 64 * 4 * 60.0 / bpm
        y = render_track(spec, loop_s + 0.5, 44100)
        lead, loop = y[: int(0.5 * 44100)], y[int(0.5 * 44100): int((0.5 + loop_s) * 44100)]
        body = np.tile(loop, int(np.ceil(seconds / loop_s)))[: int(seconds * 44100)]
        path = os.path.join(folder, f"{i:02d}.mp3")
        write_audio(path, np.concatenate([lead, body]), 44100, spec.title, spec.artist)
        paths.append(path)
    return paths


def run(quick: bool = False) -> list[dict]:
    import psutil

    from livedj.mix.io import MixWriter, load_stereo
    from livedj.mix.make import make_mix

    n, seconds = (4, 180.0) if quick else (10, 360.0)
    with tempfile.TemporaryDirectory() as folder:
        paths = _records(folder, n, seconds)
        cpu0 = psutil.Process().cpu_times()
        t0 = time.perf_counter()
        with MixWriter(os.path.join(folder, "plain.mp3")) as w:
            for p in paths:
                w.write(load_stereo(p) * 0.5)
        baseline = time.perf_counter() - t0
        cpu1 = psutil.Process().cpu_times()
        baseline_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        proc = psutil.Process()
        cpu0 = proc.cpu_times()
        t0 = time.perf_counter()
        entries, stats = make_mix(paths, os.path.join(folder, "mix.mp3"), show_progress=False)
        render_s = time.perf_counter() - t0
        cpu1 = proc.cpu_times()
        cpu_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        rss = proc.memory_info().rss / 2 ** 20
        blends = sum(e.transition.startswith("blend") for e in entries)
    note = f"{n} records x {seconds / 60:.0f} min, {blends} blends of 16 bars, MP3 320k; {os.cpu_count()} cores"
    return [
        row("mix.render_s", "render the whole mix (decode, grids, loudness, stretch, limiter, MP3)", render_s, "s",
            baseline=baseline, note=note + "; baseline: decode + concatenate + encode"),
        row("mix.cpu_s", "CPU time of the render (user + system, all threads): what a busy machine hides",
            cpu_s, "s", baseline=baseline_cpu),
        row("mix.realtime_fraction", "render time / mix length", render_s / stats["duration"], "",
            target=0.1),
        row("mix.cpu_realtime_fraction", "CPU time / mix length: the wall time on free cores at most (the "
            "render is mostly one thread)", cpu_s / stats["duration"], "", target=0.1),
        row("mix.rss_mb", "resident memory after the render", rss, "MB",
            note="a 60-min stereo float32 mix would be 1270 MB"),
    ]


if __name__ == "__main__":
    from benchmarks.__main__ import print_rows

    print_rows(run(quick="--quick" in sys.argv), title="mix rendering")
