"""A/B of fingerprint parameters in one process: before (index fanout 3; query 16 peaks/s in a
15 x 15 neighbourhood, fanout 8) against the current :mod:`livedj.dsp.fingerprint` settings, on
the same excerpts, each query run by both in turn (so that the machine's load falls on both alike).

``python -m benchmarks.identify_ab [--libraries c2,c1] [--clean-per-track 2] [--booth-records 8]``:
each library's records decoded (16 kHz), fingerprinted into two indexes (written by
``FingerprintIndex.build`` into a temporary folder and loaded as the daemon does); clean 10-s
excerpts at random positions of every record, and every booth preset of
:data:`livedj.dsp.room.BOOTHS` at speed 1, +6 %, -6 % on ``--booth-records`` records. Reported per
side: named right / wrong, and one identification's CPU time (``time.thread_time``) p50 / p95.
Needs the development corpora; never run by ``python -m benchmarks``.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import identify_corpus as ic

SR = ic.SR
IN_ALL = False  # needs the development corpora: run by name only
#: the parameters before this change (main of 2026-11-29)
BEFORE = {"index_fanout": 3, "QUERY_DENSITY": 16.0, "QUERY_FANOUT": 8, "QUERY_NEIGHBOURHOOD": (15, 15)}


@contextlib.contextmanager
def _query_params(side: str):
    from livedj.dsp import fingerprint as fp

    keys = ("QUERY_DENSITY", "QUERY_FANOUT", "QUERY_NEIGHBOURHOOD")
    saved = {k: getattr(fp, k) for k in keys}
    if side == "before":
        for k in keys:
            setattr(fp, k, BEFORE[k])
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(fp, k, v)


def _files(name: str) -> list[Path]:
    out = []
    for c in ic.LIBRARIES[name]:
        out += [p for p in sorted(Path(ic.CORPORA[c]).rglob("*")) if p.is_file()
                and p.suffix.lower() in (".ogg", ".flac", ".mp3", ".wav", ".m4a", ".opus")]
    return out


def measure(name: str, *, clean_per_track: int = 2, booth_records: int = 8, seed: int = 3) -> dict:
    from livedj.audio.decode import decode
    from livedj.dsp import fingerprint as fp
    from livedj.dsp.room import BOOTHS, booth_preset
    from livedj.library.fingerprints import FingerprintIndex, decide, match_audio

    audio, items = {}, {"before": [], "after": []}
    for tid, path in enumerate(_files(name), 1):
        try:
            y = decode(path, SR)
        except Exception as exc:  # noqa: BLE001 - a non-audio file in the corpus folder
            print(f"  {path}: {exc}", file=sys.stderr)
            continue
        audio[tid] = y
        items["before"].append((tid, *fp.landmarks(y, SR, fanout=BEFORE["index_fanout"])))
        items["after"].append((tid, *fp.landmarks(y, SR)))
    indexes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for side, its in items.items():
            FingerprintIndex.build(its, Path(tmp) / f"{side}")
            indexes[side] = FingerprintIndex.load(Path(tmp) / f"{side}", mmap=False)
    rng = np.random.default_rng(seed)
    queries = []
    for tid, y in audio.items():
        dur = len(y) / SR
        for _ in range(clean_per_track):
            a = int(rng.uniform(0, max(0.0, dur - 10)) * SR)
            queries.append(("clean10", tid, y[a:a + 10 * SR]))
    for tid in rng.choice(sorted(audio), min(booth_records, len(audio)), replace=False):
        y = audio[int(tid)]
        dur = len(y) / SR
        for booth in BOOTHS:
            for speed in (1.0, 1.06, 0.94):
                a = int(rng.uniform(0, max(0.0, dur - 10.0 * speed - 0.7)) * SR)
                q = booth_preset(y[a:a + int((10.0 * speed + 0.6) * SR)], SR, booth, speed=speed, seed=int(tid))
                queries.append((f"booth@{'1' if speed == 1 else '6'}", int(tid), np.asarray(q[:10 * SR], np.float32)))
    tally: dict = {}
    for k, (cond, tid, y) in enumerate(queries):
        for side in (("before", "after") if k % 2 else ("after", "before")):
            with _query_params(side):
                t0 = time.thread_time()
                best = decide(match_audio(y, SR, indexes[side], top=2))
                dt = time.thread_time() - t0
            t = tally.setdefault((side, cond), [0, 0, 0, []])
            got = best.track_id if best else None
            t[0] += 1
            t[1] += got == tid
            t[2] += got is not None and got != tid
            t[3].append(dt * 1000)
    out = {"landmarks": {s: len(ix) for s, ix in indexes.items()}, "tally": tally}
    for (side, cond), (n, ok, wrong, ms) in sorted(tally.items(), key=lambda x: (x[0][1], x[0][0])):
        print(f"{name} {cond:8s} {side:6s} named {ok}/{n} ({100 * ok / n:.1f} %) wrong {wrong}  "
              f"CPU ms p50 {np.median(ms):.1f} p95 {np.percentile(ms, 95):.1f}", flush=True)
    print(f"{name} landmarks: {out['landmarks']}", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--libraries", default="c2,c1")
    ap.add_argument("--clean-per-track", type=int, default=2)
    ap.add_argument("--booth-records", type=int, default=8)
    a = ap.parse_args(argv)
    for name in a.libraries.split(","):
        measure(name, clean_per_track=a.clean_per_track, booth_records=a.booth_records)


if __name__ == "__main__":
    main()
