"""Landmark-fingerprint "now playing": accuracy through the booth and the pitch fader, and speed.

Library: the 12 synthetic demo tracks (40 s; quick: 25 s). Queries: excerpts of the length the
daemon matches (``NowPlayingTracker.identify_s``, 10 s: the evidence of the last updates pooled) from several
positions, clean, through :func:`livedj.dsp.room.booth` (RT60 0.5 s, pink noise 10 dB SNR,
100-8000 Hz) at speed 1, 1.06 and 0.94. Not in the library: the same styles with another seed,
key and tempo x1.1 (other records), pink noise and the room's noise alone. Seed-only variants
(``replace(spec, seed=seed + 1000)``) are reported apart: they share bass, chords and drums
sample for sample with the library track (same record, other lead line).

``python -m benchmarks identify_fp`` or ``python -m benchmarks.identify_fp [--quick]``.
"""
from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import row
from livedj.dsp import fingerprint as fp
from livedj.dsp.room import booth, pink_noise, speed_change
from livedj.library.fingerprints import FingerprintIndex, identify
from livedj.synth import DEMO_TRACKS, render_track

SR = 16000


QUERY_S = 10.0  # livedj.engine.now_playing.NowPlayingTracker.identify_s (analysis.identify_s)


def _excerpt(y, start, speed=1.0, room=False, seed=0):
    seg = y[int(start * SR): int((start + QUERY_S * speed + 0.6) * SR)]
    x = booth(seg, SR, speed=speed, seed=seed) if room else speed_change(seg, speed, SR)
    return x[: int(QUERY_S * SR)]


def run(quick: bool = False) -> list[dict]:
    dur = 25.0 if quick else 40.0
    starts = (6.0, 11.0) if quick else (6.0, 10.0, 14.0, 19.0)
    lib = [render_track(s, dur, SR) for s in DEMO_TRACKS]
    t0 = time.perf_counter()
    items = [(i + 1, *fp.landmarks(y, SR)) for i, y in enumerate(lib)]
    per_s = (time.perf_counter() - t0) / (len(lib) * dur)
    n_hashes = sum(len(h) for _, h, _ in items)
    rows = [row("identify_fp.landmarks", "landmark extraction, ms per 4-min track (extrapolated)",
                per_s * 240 * 1000, "ms", target=150.0),
            row("identify_fp.hashes_per_s", "index hashes per second of audio", n_hashes / (len(lib) * dur),
                "1/s", target=40.0)]
    with tempfile.TemporaryDirectory() as tmp:
        info = FingerprintIndex.build(items, Path(tmp) / "fp")
        sizes = {f: (Path(tmp) / f).stat().st_size for f in info["files"]}
        fixed = sum(v for f, v in sizes.items() if f.endswith(".buckets.npy"))
        rows.append(row("identify_fp.bytes_per_track", "index bytes per 4-min track (extrapolated; without the "
                        f"hash buckets, a fixed {fixed / 2**20:.1f} MiB per library)",
                        (sum(sizes.values()) - fixed) / len(lib) * 240 / dur, "B", target=50_000))
        index = FingerprintIndex.load(Path(tmp) / "fp")
        times = []

        def ask(x):
            t = time.perf_counter()
            r = identify(x, SR, index)
            times.append(time.perf_counter() - t)
            return r

        for name, speed, room in (("clean", 1.0, False), ("room", 1.0, True), ("room_plus6", 1.06, True),
                                  ("room_minus6", 0.94, True)):
            ok = wrong = 0
            speed_err = []
            for i, y in enumerate(lib):
                for j, st in enumerate(starts):
                    track, _, est, _ = ask(_excerpt(y, st, speed, room, seed=10 * i + j))
                    ok += track == i + 1
                    wrong += track is not None and track != i + 1
                    if track == i + 1:
                        speed_err.append(abs(est - speed) / speed)
            n = len(lib) * len(starts)
            rows.append(row(f"identify_fp.top1.{name}", f"top-1 accuracy, {name} ({n} queries; {wrong} wrong "
                            f"records)", ok / n, "", target=1.0 if name == "clean" else 0.9, higher_is_better=True))
            if speed != 1.0:
                rows.append(row(f"identify_fp.speed_err.{name}", "max speed error of identified queries",
                                max(speed_err, default=float("nan")), "", target=0.01))
        false = n = 0
        for i, spec in enumerate(DEMO_TRACKS):
            other = dataclasses.replace(spec, seed=spec.seed + 1000, bpm=spec.bpm * 1.1,
                                        key=DEMO_TRACKS[(i + 3) % len(DEMO_TRACKS)].key)
            y = render_track(other, dur, SR)
            for j, st in enumerate(starts):
                for room in (False, True):
                    false += ask(_excerpt(y, st, 1.0, room, seed=j))[0] is not None
                    n += 1
        for k in range(12):
            x = pink_noise(5 * SR, k) * 0.1 if k % 2 else booth(np.zeros(5 * SR, np.float32), SR, seed=k)
            false += ask(np.asarray(x, np.float32))[0] is not None
            n += 1
        rows.append(row("identify_fp.false_rate", f"false 'now playing', other records + noise ({n} queries)",
                        false / n, "", target=0.02))
        same = n = 0
        for i, spec in enumerate(DEMO_TRACKS):
            y = render_track(dataclasses.replace(spec, seed=spec.seed + 1000), dur, SR)
            for j, st in enumerate(starts):
                for room in (False, True):
                    same += ask(_excerpt(y, st, 1.0, room, seed=j))[0] == i + 1
                    n += 1
        rows.append(row("identify_fp.seed_variant_match", "seed-only variants named as their library track "
                        "(they share its backing sample for sample)", same / n, ""))
        rows.append(row("identify_fp.query.p50", f"identify() of a {QUERY_S:.0f}-s query, all speed hypotheses, p50",
                        float(np.median(times)) * 1000, "ms", target=30.0))
    return rows


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(f"{r['benchmark']:<36} {r['value']!s:>10} {r['unit']:<3} target {r['target']!s:<6} ok {r['ok']}")
