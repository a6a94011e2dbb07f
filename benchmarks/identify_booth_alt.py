"""Now playing through another booth simulation (:mod:`benchmarks._booth_alt`), never tuned on.

``python -m benchmarks.identify_booth_alt [--libraries c1,c2] [--per-corpus 12] [--root DIR]``:
each library indexed alone as :mod:`benchmarks.identify_corpus` does (the same ``build``, the
same index folders), then ``--per-corpus`` records (their own random generator), 10 s at a random
position through each variant of :data:`benchmarks._booth_alt.VARIANTS` at speed 1, +6 %, -6 %.
Reported as :mod:`benchmarks.identify_corpus` reports its conditions (named right / wrong, CPU time
per identification), per variant and speed, and over all of them.
Needs the development corpora; never run by ``python -m benchmarks``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks import identify_corpus as ic
from benchmarks._booth_alt import VARIANTS, alt_booth
from benchmarks.common import row

SR = ic.SR
IN_ALL = False  # needs the development corpora: run by name only


def pick_records(rng: np.random.Generator, name: str, paths: dict, per_corpus: int) -> list[int]:
    """``per_corpus`` track ids of each corpus of library ``name``, drawn from ``rng`` (which then draws the
    excerpts' positions: :mod:`benchmarks._booth_misses` replays the same queries by the same draws)."""
    ids = sorted(paths)
    chosen = []
    for c in ic.LIBRARIES[name]:
        members = [i for i in ids if paths[i].startswith(ic.CORPORA[c])]
        chosen += rng.choice(members, min(per_corpus, len(members)), replace=False).tolist()
    return chosen


def measure(name: str, *, per_corpus: int = 12, speeds=(1.0, 1.06, 0.94), root: Path | None = None,
            seed: int = 2) -> list[dict]:
    from livedj.audio.decode import decode

    index, paths = ic.load(ic.build(name, root))
    rng = np.random.default_rng(seed)
    chosen = pick_records(rng, name, paths, per_corpus)
    tally: dict[str, dict] = {}
    for k, tid in enumerate(chosen):
        audio = decode(paths[tid], SR)
        dur = len(audio) / SR
        for variant in VARIANTS:
            for speed in speeds:
                start = rng.uniform(0, max(0.0, dur - 10.0 * speed - 0.7))
                y = alt_booth(ic._excerpt(audio, start, 10.0 * speed + 0.6), SR, variant, speed=speed, seed=k)
                best, dt = ic._identify_match(np.asarray(y[:10 * SR], np.float32), index)
                same_r = None
                if best is not None and tid in best.same:  # named as a copy of the record: check the audio
                    same_r = ic.same_audio(audio, start, decode(paths[best.track_id], SR), best.offset_s, 10.0 * speed)
                ic.tally_add(tally, f"{variant}@{speed:g}", tid, best and best.track_id, dt, paths, same_r=same_r)
        print(f"  {name}: {k + 1}/{len(chosen)} records", file=sys.stderr)
    n, ok, wrong = (sum(t[k] for t in tally.values()) for k in ("n", "ok", "wrong"))
    return [*ic.tally_rows(f"identify_booth_alt.{name}", tally),
            row(f"identify_booth_alt.{name}.all.named", f"named right ({n} queries; wrong {wrong})", ok / max(1, n), "",
                higher_is_better=True)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--libraries", default="c1,c2")
    ap.add_argument("--per-corpus", type=int, default=12)
    ap.add_argument("--speeds", default="1,1.06,0.94")
    ap.add_argument("--root", default=None, help="where the index folders live (default .bench/)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rows = []
    for name in a.libraries.split(","):
        rows += measure(name, per_corpus=a.per_corpus, speeds=tuple(float(s) for s in a.speeds.split(",")),
                        root=Path(a.root) if a.root else None)
        if a.json:
            Path(a.json).write_text(json.dumps(rows, indent=2))
    from benchmarks.__main__ import print_rows

    print_rows(rows, title="now playing through the second booth simulation")


if __name__ == "__main__":
    main()
