"""The spread rule (:func:`livedj.library.fingerprints.spread_evidence`) at library scale: false names.

``python -m benchmarks._booth_scale [--tracks 10000] [--absent-draws 4] [--per-corpus 4] [--copies 0]``

On the ``identify_scale`` library (:func:`benchmarks.identify_scale.get_index`: 10,000 tracks, cached
under ``$LIVEDJ_BENCH_DIR``), every held-out record (not in the library) ``--absent-draws`` times at a
random position through every booth preset of :data:`livedj.dsp.room.BOOTHS` (speed 1, +6 %, -6 %) and
clean; and ``--per-corpus`` real records of each corpus through every preset and speed. Each query is
decided twice from one match, with and without the spread rule (``decide(..., spread=False)``): names
of records not in the library, right and wrong names. Chance alignments are likelier at 10k tracks
than in one corpus (more tracks, more offsets), which is what this checks.

``--before DIR``: another build of the same library (an ``fp-scale-*`` directory, e.g. one built with
other fingerprint parameters: the real records keep their track ids) is matched on the same rendered
queries in the same process; its tallies are printed under ``before.``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

import numpy as np

from benchmarks.identify_scale import SR, _query, get_index, scaled_index

IN_ALL = False


def main(argv=None):
    from livedj.dsp.room import BOOTHS
    from livedj.library.fingerprints import decide, match_audio

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=10000)
    ap.add_argument("--copies", type=int, default=0)
    ap.add_argument("--absent-draws", type=int, default=4)
    ap.add_argument("--per-corpus", type=int, default=4)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--dump", default=None, help="every query's top two (aligned, seconds) as JSON lines")
    ap.add_argument("--before", default=None, metavar="DIR",
                    help="an fp-scale directory of another build of the library, matched on the same queries")
    ap.add_argument("--no-second-pass", action="store_true",
                    help="the matcher without its second pass (fingerprints.SECOND_PASS None): main's before it")
    a = ap.parse_args(argv)
    if a.no_second_pass:
        from livedj.library import fingerprints as fpi_
        fpi_.SECOND_PASS = None
    index, real, info, directory = get_index(a.tracks)
    if a.copies:
        index = scaled_index(index, len(real), a.copies, directory)
    indexes = {"": index}
    if a.before:
        from pathlib import Path

        from benchmarks.common import index_of_other_params

        saved = json.loads((Path(a.before) / "real.json").read_text())
        if [r["id"] for r in saved["real"]] != [r["id"] for r in real]:
            raise SystemExit(f"{a.before}: its real records have other track ids than this library's")
        indexes["before."] = index_of_other_params(Path(a.before) / "fp")
    rng = np.random.default_rng(a.seed)
    conds = [(None, 1.0)] + [(b, s) for b in BOOTHS for s in (1.0, 1.06, 0.94)]
    tally: Counter = Counter()
    dump = open(a.dump, "a") if a.dump else None

    def keep(kind, truth, cond, m):
        if dump:
            dump.write(json.dumps({"kind": kind, "truth": truth, "cond": cond, "match": [
                [x.track_id, round(x.aligned, 2), x.seconds, list(x.same)] for x in m]}) + "\n")
            dump.flush()
    absent = info["absent"]
    for qi, r in enumerate(absent):
        for _ in range(a.absent_draws):
            for booth, speed in conds:
                start = float(rng.uniform(0, max(0.0, r["dur"] - 10 * speed - 0.7)))
                y = _query(r["path"], start, 10.0, speed, booth, seed=qi)
                for tag, ix in indexes.items():
                    m = match_audio(y, SR, ix, top=2)
                    keep(f"{tag}absent", None, f"{booth}@{speed:g}", m)
                    strict, spread = decide(list(m), spread=False), decide(list(m))
                    tally[f"{tag}absent"] += 1
                    tally[f"{tag}absent.false.strict"] += strict is not None
                    tally[f"{tag}absent.false.spread"] += spread is not None
                    if spread is not None:
                        print(f"  {tag}FALSE {r['path']} {booth}@{speed:g} at {start:.1f}: {spread.track_id} aligned "
                              f"{spread.aligned:.2f} seconds {spread.seconds}; runner {m[1:]}", file=sys.stderr)
        print(f"  absent {qi + 1}/{len(absent)}: {dict(tally)}", file=sys.stderr)
    corpora = sorted({r["corpus"] for r in real}) if real and "corpus" in real[0] else [None]
    chosen = []
    for c in corpora:
        members = [r for r in real if c is None or r["corpus"] == c]
        chosen += [members[k] for k in rng.choice(len(members), min(a.per_corpus, len(members)), replace=False)]
    for qi, r in enumerate(chosen):
        for booth, speed in conds[1:]:
            start = float(rng.uniform(0, max(0.0, r["dur"] - 10 * speed - 0.7)))
            y = _query(r["path"], start, 10.0, speed, booth, seed=qi)
            for tag, ix in indexes.items():
                m = match_audio(y, SR, ix, top=2)
                keep(f"{tag}booth", r["id"], f"{booth}@{speed:g}", m)
                for rule, best in (("strict", decide(list(m), spread=False)), ("spread", decide(list(m)))):
                    got = best.track_id if best else None
                    ok = got == r["id"] or (best is not None and r["id"] in best.same)
                    tally[f"{tag}booth.{rule}.ok"] += ok
                    tally[f"{tag}booth.{rule}.ok@{speed:g}"] += ok
                    tally[f"{tag}booth.{rule}.other"] += got is not None and got != r["id"] and r["id"] not in best.same
                tally[f"{tag}booth"] += 1
        print(f"  real {qi + 1}/{len(chosen)}: {dict(tally)}", file=sys.stderr)
    print(dict(tally))


if __name__ == "__main__":
    main()
