"""Now playing per live update: :class:`~livedj.library.fpstream.LiveMatcher` against ``match_audio``.

The live loop hears the last 10 s every second. ``match_audio`` (stateless) reads every lookup's
index postings at each update; ``LiveMatcher`` reads only the new second's. Both run in the same
process on the same windows, so the ratio holds whatever else the machine runs.

Library: the ``identify_scale`` library (:func:`benchmarks.identify_scale.get_index`: 10,000
tracks; ``--copies 9``: ~100k), or one development corpus indexed by ``livedj index``
(``--library c1|c2``, :func:`benchmarks.identify_corpus.build`; its records not in the library are
the other corpus's). Streams: ``--n`` real records per condition, 26 s from a uniformly random
position (clean; standard booth at speed 1, +6 %, -6 %; key lock (Rubber Band, pitch unmoved) at
+6 % and -3 % through the standard booth; held-out records through the standard booth: any name is
a false one), on a stream clock that began an hour before; an update every ``--hop`` s from 10 s on.
Reported per condition: updates named right by each, wrong names; CPU
time (``time.thread_time``, one core) of one update: stateless, live per update (after the first
window), live first window (read whole).

``python -m benchmarks.identify_stream [--copies 9 | --library c1] [--n 12] [--conds clean,standard,...]``
(needs the development corpora; never run by ``python -m benchmarks``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import row
from benchmarks.identify_scale import SR, _query, get_index, scaled_index

IN_ALL = False
CONDITIONS = {"clean": (None, 1.0), "standard": ("standard", 1.0), "standard+6": ("standard", 1.06),
              "absent": ("standard", 1.0), "standard-6": ("standard", 0.94), "keylock+6": ("standard", 1.06),
              "keylock-3": ("standard", 0.97)}
DEFAULT_CONDS = ("clean", "standard", "standard+6", "absent", "standard-6", "keylock+6", "keylock-3")


def _key_locked(path: str, start: float, length: float, tempo: float, seed: int) -> np.ndarray:
    """``length`` s heard from ``start`` at ``tempo`` with key lock (Rubber Band: the pitch unmoved),
    through the standard booth."""
    import pedalboard

    from livedj.audio.decode import decode
    from livedj.dsp.room import booth_preset

    seg = decode(path, SR, offset=start, duration=length * tempo + 0.6)
    y = np.asarray(pedalboard.time_stretch(np.asarray(seg, np.float32)[None], SR, tempo)[0], np.float32)
    return np.asarray(booth_preset(y, SR, "standard", seed=seed)[:int(length * SR)], np.float32)


def _corpus_library(name: str):
    """(index, records in it, records not in it) of development corpus ``name`` indexed by ``livedj index``."""
    from benchmarks._fp_library import AUDIO_SUFFIXES
    from benchmarks.identify_corpus import CORPORA, build, load

    index, paths = load(build(name))
    real = [{"id": tid, "path": p} for tid, p in sorted(paths.items())]
    absent = [{"id": None, "path": str(p)} for k, root in CORPORA.items() if k != name
              for p in sorted(Path(root).rglob("*")) if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES]
    return index, real, absent


def _duration(r: dict) -> float:
    if "dur" not in r:
        from livedj.audio.decode import decode

        r["dur"] = len(decode(r["path"], SR)) / SR
    return r["dur"]


def run(quick: bool = False, copies: int = 0, n: int | None = None, conds=DEFAULT_CONDS[:4],
        hop: float = 1.0, length: float = 26.0, seed: int = 7, library: str | None = None) -> list[dict]:
    from livedj.library import fingerprints as fpi
    from livedj.library.fpstream import LiveMatcher

    n = n or (3 if quick else 12)
    if library:
        index, real, absent = _corpus_library(library)
    else:
        index, real, info, directory = get_index(10000)
        absent = info["absent"]
        if copies:
            index = scaled_index(index, len(real), copies, directory)
    rng = np.random.default_rng(seed)
    live = LiveMatcher(index)
    warm = (0.01 * rng.standard_normal(SR * 10)).astype(np.float32)
    fpi.match_audio(warm, SR, index)
    live.match(warm, SR, 1.0)
    res = defaultdict(lambda: [0, 0, 0, 0, 0])
    t_stateless, t_live, t_first = [], [], []
    for cond in conds:
        booth, speed = CONDITIONS[cond]
        pool = absent if cond == "absent" else real
        for qi in rng.choice(len(pool), min(n, len(pool)), replace=False):
            r = pool[qi]
            start = float(rng.uniform(0, max(0.0, _duration(r) - length * speed - 0.7)))
            if cond.startswith("keylock"):
                y = _key_locked(r["path"], start, length, speed, seed=int(qi))
            else:
                y = _query(r["path"], start, length, speed, booth, seed=int(qi))
            truth = None if cond == "absent" else r["id"]
            live.reset()
            clock = 3600.0 + 100.0 * int(qi)
            first = True
            for end in np.arange(10.0, length + 1e-9, hop):
                w = y[int((end - 10.0) * SR):int(end * SR)]
                t0 = time.thread_time()
                a = fpi.decide(fpi.match_audio(w, SR, index, top=2))
                t1 = time.thread_time()
                b = fpi.decide(live.match(w, SR, clock + end, top=2))
                t2 = time.thread_time()
                t_stateless.append(t1 - t0)
                (t_first if first else t_live).append(t2 - t1)
                first = False
                ga, gb = (a.track_id if a else None), (b.track_id if b else None)
                rr = res[cond]
                rr[0] += truth is not None and ga == truth
                rr[1] += truth is not None and gb == truth
                rr[2] += ga is not None and ga != truth
                rr[3] += gb is not None and gb != truth
                rr[4] += 1
                for who, g in (("stateless", ga), ("live", gb)):
                    if g is not None and g != truth:  # which stream, which record: a near-duplicate or a false name
                        print(f"  {cond} {Path(r['path']).name} at {end:.0f} s: {who} named {g} (truth {truth})",
                              file=sys.stderr)
    tracks = len(index.tracks)
    rows = []
    for cond, (ok_a, ok_b, wrong_a, wrong_b, updates) in res.items():
        rows.append(row(f"identify_stream.{cond}.named", f"updates named right, live ({updates} updates of {n} "
                        f"streams; stateless {ok_a}, wrong {wrong_a} -> live wrong {wrong_b})", ok_b / updates, "",
                        baseline=ok_a / updates, higher_is_better=True))
    rows.append(row("identify_stream.update.ms_p50", f"one live update, CPU ms p50 ({tracks} tracks; baseline: "
                    f"match_audio on the same windows)", float(np.median(t_live)) * 1000, "ms",
                    baseline=float(np.median(t_stateless)) * 1000, target=20.0 if tracks <= 10000 else 50.0))
    rows.append(row("identify_stream.update.ms_p95", "p95", float(np.percentile(t_live, 95)) * 1000, "ms",
                    baseline=float(np.percentile(t_stateless, 95)) * 1000))
    rows.append(row("identify_stream.first.ms_p50", "the first window after a (re)start, read whole, CPU ms p50",
                    float(np.median(t_first)) * 1000, "ms", baseline=float(np.median(t_stateless)) * 1000))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=0, help="the fillers this many more times (9: ~100k tracks)")
    ap.add_argument("--n", type=int, default=12, help="streams per condition")
    ap.add_argument("--library", choices=("c1", "c2"), help="a development corpus alone, indexed by livedj index")
    ap.add_argument("--conds", default=",".join(DEFAULT_CONDS))
    ap.add_argument("--hop", type=float, default=1.0)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rows = run(copies=a.copies, n=a.n, conds=tuple(a.conds.split(",")), hop=a.hop, library=a.library)
    from benchmarks.__main__ import print_rows

    print_rows(rows, title="the live matcher against match_audio")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
