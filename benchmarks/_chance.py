"""The chance level of a query: what decides a name, measured apart from the matching (issue 16).

``python -m benchmarks._chance corpus --library c1|c2 --index-root DIR --out F``
``python -m benchmarks._chance scale --out F [--absent-draws 2 --per-corpus 6 --seed 11] [--indexes f4=DIR,f3=DIR]``
``python -m benchmarks._chance clean --library c1|c2 --index-roots f3=DIR,f4=DIR --out F``
``python -m benchmarks._chance summary F [F ...]``

Each query is matched once (the first pass, top 5) and, when its best match is heard in
``SECOND_PASS_SECONDS``, once more with the second pass's peaks, and written as one JSON line with
every match's count, seconds, copies, speed and *crowd* (its track's hits at its hypothesis in the
examined bins: :func:`livedj.library.fpspread.crowd_hits`) and the query's bucket occupancy (``W``:
the weighted hits all its lookups would read, ``T``: the timeline's frames). ``summary`` then decides
every query again offline, as :func:`livedj.library.fingerprints.match_audio` + ``decide`` would with
and without the crowd rule (the second pass included), per library, fanout and kind of query.

- ``corpus``: the booth queries of ``_booth_misses`` (its cached audio, ``/tmp/booth3-cache``: presets
  and the other simulation) against their own library, and the *other* corpus's booth queries as
  records not in the library (216 per library instead of 40).
- ``scale``: ``_booth_scale``'s queries (the same draws for the same ``--seed``), rendered once and
  cached (``--cache``), matched against each build of the 10k library given.
- ``clean``: clean 10-s and 5-s excerpts at 20 / 50 / 80 % and a random position of every record.

An index built with other fingerprint parameters (``INDEX_FANOUT`` 4) is opened with
:func:`benchmarks.common.index_of_other_params`. Never run by ``python -m benchmarks``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

SR = 16000
IN_ALL = False
CACHE = Path("/tmp/booth3-cache")


def _occupancy(index, y, dereverb=None) -> dict:
    from livedj.library import fingerprints as fpi
    from livedj.library.fpquery import hypotheses, query_hashes

    speeds, pitches = hypotheses(fpi.DEFAULT_SPEEDS, fpi.KEYLOCK_TEMPOS)
    hashes, _, _, _, n_pairs = query_hashes(y, SR, speeds, pitches, dereverb=dereverb)
    df = np.asarray(index.buckets[hashes + 1], np.int64) - np.asarray(index.buckets[hashes], np.int64)
    df[df > fpi.SKIP_DF * index.common] = 0
    return {"W": float(np.minimum(df, index.common).sum()), "T": int(index.frames), "n_hyp": int(len(speeds)),
            "pairs": int(n_pairs)}


def _m(ms) -> list:
    return [[int(m.track_id), round(float(m.aligned), 2), int(m.seconds), list(m.same), round(float(m.speed), 4),
             round(float(m.crowd), 2)] for m in ms]


def analyse(index, y) -> dict:
    """One query's first pass (and second pass when it would be tried), crowds counted."""
    from livedj.library import fingerprints as fpi
    from livedj.library import fpspread

    share, fpspread.CROWD_SHARE = fpspread.CROWD_SHARE, 0.0  # counted, never blocking: decided in summary
    try:
        once = (lambda d: fpi._match_once(y, SR, index, fpi.DEFAULT_SPEEDS, fpi.KEYLOCK_TEMPOS, 5,
                                          fpi.MAX_CANDIDATES, fpi.MAX_PER_TRACK, d))
        first = once(None)
        rec = {"st": _occupancy(index, y), "m": _m(first)}
        if first and first[0].seconds >= fpi.SECOND_PASS_SECONDS:
            rec["m2"] = _m(once(fpi.SECOND_PASS))
    finally:
        fpspread.CROWD_SHARE = share
    return rec


def open_index(path: Path):
    """The fingerprint index of a library folder (its manifest) or an index prefix, whatever its parameters."""
    from benchmarks.common import index_of_other_params

    path = Path(path)
    if (path / "manifest.json").exists():
        path = path / json.loads((path / "manifest.json").read_text())["fingerprints"]["prefix"]
    return index_of_other_params(path)


def corpus(lib: str, root: Path, out) -> None:
    index = open_index(root / f"fp-corpus-{lib}")
    other = {"c1": "c2", "c2": "c1"}[lib]
    for src in (lib, other):
        for kind in ("booth", "alt"):
            rows = json.loads((CACHE / f"{src}-{kind}.json").read_text())
            z = np.load(CACHE / f"{src}-{kind}.npz")
            for i, (cond, truth, k, path, start, speed, booth) in enumerate(rows):
                if (src != lib and truth is None) or not len(z[f"q{i}"]):
                    continue  # the other corpus's own absent queries may be this library's records
                rec = analyse(index, z[f"q{i}"])
                rec.update(lib=lib, root=str(root), kind=kind, cond=cond, truth=truth if src == lib else None,
                           path=Path(path).name)
                out.write(json.dumps(rec) + "\n")
            print(f"  {lib} {root}: {src} {kind} done", file=sys.stderr, flush=True)


def scale(out, indexes: dict, cache: Path, absent_draws: int, per_corpus: int, seed: int) -> None:
    from benchmarks.identify_scale import _query, get_index
    from livedj.dsp.room import BOOTHS

    _, real, info, _ = get_index(10000)
    rng = np.random.default_rng(seed)
    conds = [(None, 1.0)] + [(b, s) for b in BOOTHS for s in (1.0, 1.06, 0.94)]
    rows = []  # the draws of _booth_scale, in its order
    for qi, r in enumerate(info["absent"]):
        for _ in range(absent_draws):
            for booth, speed in conds:
                rows.append(("absent", None, r["path"], float(rng.uniform(0, max(0.0, r["dur"] - 10 * speed - 0.7))),
                             speed, booth, qi))
    chosen = []
    for c in sorted({r["corpus"] for r in real}):
        members = [r for r in real if r["corpus"] == c]
        chosen += [members[k] for k in rng.choice(len(members), min(per_corpus, len(members)), replace=False)]
    for qi, r in enumerate(chosen):
        for booth, speed in conds[1:]:
            rows.append(("booth", r["id"], r["path"], float(rng.uniform(0, max(0.0, r["dur"] - 10 * speed - 0.7))),
                         speed, booth, qi))
    if cache.exists():
        z = np.load(cache)
        audio = [z[f"q{i}"] for i in range(len(rows))]
    else:
        audio = [_query(path, start, 10.0, speed, booth, seed=qi) for _, _, path, start, speed, booth, qi in rows]
        np.savez(cache, **{f"q{i}": q for i, q in enumerate(audio)})
    opened = {tag: open_index(Path(p)) for tag, p in indexes.items()}
    for i, ((kind, truth, path, start, speed, booth, qi), q) in enumerate(zip(rows, audio)):
        for tag, ix in opened.items():
            rec = analyse(ix, q)
            rec.update(lib="10k", root=tag, kind=kind, cond=f"{booth}@{speed:g}", truth=truth, path=Path(path).name, i=i)
            out.write(json.dumps(rec) + "\n")
        if i % 100 == 0:
            print(f"  10k: {i + 1}/{len(rows)}", file=sys.stderr, flush=True)


def clean(lib: str, roots: dict, out) -> None:
    from benchmarks import identify_corpus as ic
    from livedj.audio.decode import decode
    from livedj.library.store import Store

    opened = {tag: open_index(Path(p) / f"fp-corpus-{lib}") for tag, p in roots.items()}
    store = Store(Path(next(iter(roots.values()))) / f"fp-corpus-{lib}", readonly=True)
    try:
        paths = {t.id: t.path for t in store.tracks().values()}
    finally:
        store.close()
    rng = np.random.default_rng(5)
    for n, tid in enumerate(sorted(paths)):
        audio = decode(paths[tid], SR)
        dur = len(audio) / SR
        for length in (10.0, 5.0):
            for at in (0.2, 0.5, 0.8, None):
                start = rng.uniform(0, max(0.0, dur - length)) if at is None else max(0.0, at * dur - length / 2)
                q = ic._excerpt(audio, start, length)
                for tag, ix in opened.items():
                    if len(q):
                        rec = analyse(ix, q)
                        rec.update(lib=lib, root=tag, kind=f"clean{length:.0f}", cond=str(at), truth=int(tid),
                                   path=Path(paths[tid]).name)
                        out.write(json.dumps(rec) + "\n")
        print(f"  {lib} clean: {n + 1}/{len(paths)}", file=sys.stderr, flush=True)


# -- the decisions again, offline --------------------------------------------------------------
def _decide(m, *, share=None, strong=15.0, spread=True):
    """``fingerprints.decide`` over dumped matches ([track, aligned, seconds, same, speed, crowd])."""
    from livedj.library import fingerprints as fpi

    if not m:
        return None
    b, r = m[0], (m[1] if len(m) > 1 else [None, 0.0, 0, [], 1.0, 0.0])
    named = b[1] >= fpi.MIN_ALIGNED and b[1] >= fpi.MARGIN * r[1]
    if not named and spread:
        named = (b[1] >= fpi.SPREAD_ALIGNED and b[2] >= fpi.SPREAD_SECONDS and b[2] >= r[2] + fpi.SPREAD_LEAD
                 and b[1] >= fpi.SPREAD_MARGIN * r[1])
    if named and share is not None and b[5] > 0 and b[1] < strong and b[1] < share * b[5]:
        return None
    return b if named else None


def replay(rec, **rule):
    """The record ``match_audio`` + ``decide`` would name (the second pass included), or None."""
    from livedj.library import fingerprints as fpi

    m = rec["m"]
    d = _decide(m, **rule)
    if d is not None or "m2" not in rec:
        return d
    if len(m) > 1 and all(_decide([x, *m[2:]], spread=False, **rule) is not None for x in m[:2]):
        return None  # both halves: two decks, no second pass
    d2 = _decide(rec["m2"], **rule)
    return d2 if d2 is not None and d2[2] >= fpi.SECOND_PASS_NAME_SECONDS else None


def tally(recs, **rule) -> dict:
    """{(library, index, kind): [named right, named wrong or falsely, queries]}."""
    out = defaultdict(lambda: [0, 0, 0])
    for r in recs:
        key = (r["lib"], Path(r["root"]).name, "absent" if r["truth"] is None else r["kind"])
        d = replay(r, **rule)
        out[key][2] += 1
        right = d is not None and r["truth"] is not None and (d[0] == r["truth"] or r["truth"] in d[3])
        out[key][0 if right else 1] += d is not None
    return dict(out)


def summary(files, rules) -> None:
    recs = [json.loads(line) for f in files for line in open(f)]
    keys = sorted({(r["lib"], Path(r["root"]).name, "absent" if r["truth"] is None else r["kind"]) for r in recs})
    print("| rule | " + " | ".join(f"{a} {b} {c}" for a, b, c in keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for label, rule in rules:
        t = tally(recs, **rule)
        cells = [f"{t[k][1]} of {t[k][2]} named" if k[2] == "absent" else f"{t[k][0]} / {t[k][1]} wrong of {t[k][2]}"
                 for k in keys]
        print(f"| {label} | " + " | ".join(cells) + " |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("corpus", "scale", "clean", "summary"))
    ap.add_argument("files", nargs="*")
    ap.add_argument("--library", default="c2")
    ap.add_argument("--index-root", default=None, help="corpus: the folder holding fp-corpus-<library>")
    ap.add_argument("--index-roots", default=None, help="clean: tag=folder,... (each holding fp-corpus-<library>)")
    ap.add_argument("--indexes", default=None, help="scale: tag=fp-scale folder's index prefix,...")
    ap.add_argument("--cache", default="/tmp/chance-scale.npz")
    ap.add_argument("--absent-draws", type=int, default=2)
    ap.add_argument("--per-corpus", type=int, default=6)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    if a.mode == "summary":
        return summary(a.files, [("shipped (fixed thresholds)", {})]
                       + [(f"crowd share {s}, strong {g}", {"share": s, "strong": g})
                          for s, g in ((0.04, 15), (0.05, 15), (0.06, 15), (0.05, 20), (0.08, 15))])

    def pairs(text):
        return dict(x.split("=", 1) for x in text.split(","))
    with open(a.out, "a") as out:
        if a.mode == "corpus":
            corpus(a.library, Path(a.index_root), out)
        elif a.mode == "clean":
            clean(a.library, pairs(a.index_roots), out)
        else:
            from benchmarks.identify_scale import get_index

            default = {"f3": str(get_index(10000)[3] / "fp")}
            scale(out, pairs(a.indexes) if a.indexes else default, Path(a.cache), a.absent_draws, a.per_corpus, a.seed)


if __name__ == "__main__":
    main()
