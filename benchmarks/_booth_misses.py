"""Which stage loses the booth queries that are not named (issue 16; docs/fingerprints-log.md, "Booth misses").

``python -m benchmarks._booth_misses --libraries c2,c1 [--per-corpus 8] [--alt-per-corpus 8] [--cache DIR]``

The queries are those of :mod:`benchmarks.identify_corpus` (every preset of
:data:`livedj.dsp.room.BOOTHS` at speed 1 / +6 % / -6 %, the same records, positions and booth seeds:
its random draws are replayed without decoding the other records) and of
:mod:`benchmarks.identify_booth_alt` (the other simulation), plus the records not in the library of
``identify_corpus`` (clean 10 s and standard booth). Each query is also rendered 4 s longer from the
same position (``stream``): five consecutive live updates (windows ending at 10..14 s) through
:class:`~livedj.library.fpstream.LiveMatcher`, as ``livedj run`` hears a record that keeps playing.

Audio is cached (``--cache``, default ``/tmp/booth3-cache``); per query one JSON line with the
default match (top 5: track, aligned, offset, speed), the exhaustive histogram's top 5 (every index hit
aligned: what the candidate stage lost), the live updates' decisions, and the class of a miss:

- ``cand``: the true track is not among the default matches (the candidate stage dropped it);
- ``min``: first, under ``MIN_ALIGNED``; ``margin``: first, under ``MARGIN`` x the runner-up's count;
- ``other``: another track first (the true track's count beside it).

Never run by ``python -m benchmarks`` (needs the development corpora).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks import identify_corpus as ic

SR = ic.SR
IN_ALL = False
STREAM_EXTRA_S = 4.0


def _draws_corpus(name: str, paths: dict, per_corpus: int, absent_n: int, seed: int = 0):
    """identify_corpus.measure's booth and absent queries: (cond, truth, k, path, start, speed, booth) rows."""
    from livedj.audio.decode import decode
    from livedj.dsp.room import BOOTHS

    rng = np.random.default_rng(seed)
    ids = sorted(paths)
    by_corpus = {c: [i for i in ids if paths[i].startswith(ic.CORPORA[c])] for c in ic.LIBRARIES[name]}
    booth_ids = set()
    for c, members in by_corpus.items():
        booth_ids |= set(rng.choice(members, min(per_corpus, len(members)), replace=False).tolist())
    out = []
    for k, tid in enumerate(ids):
        for _ in range(2):  # the clean excerpts at a random position (10 s, 5 s): one draw each
            rng.uniform(0, 1)
        if tid in booth_ids:
            dur = len(decode(paths[tid], SR)) / SR
            for booth in BOOTHS:
                for speed in (1.0, 1.06, 0.94):
                    start = rng.uniform(0, max(0.0, dur - 10.0 * speed - 0.7))
                    out.append((f"{booth}@{speed:g}", tid, k, paths[tid], start, speed, booth))
    others = [c for c in ic.CORPORA if c not in ic.LIBRARIES[name]]
    absent = [p for c in others for p in sorted(Path(ic.CORPORA[c]).rglob("*")) if p.is_file()]
    for k in rng.choice(len(absent), min(absent_n, len(absent)), replace=False):
        out.append(("absent.clean10", None, int(k), str(absent[k]), "half", 1.0, None))
        out.append(("absent.standard", None, int(k), str(absent[k]), "third", 1.0, "standard"))
    return out


def _draws_alt(name: str, paths: dict, per_corpus: int, seed: int = 2):
    """identify_booth_alt.measure's queries."""
    from benchmarks._booth_alt import VARIANTS
    from livedj.audio.decode import decode

    from benchmarks.identify_booth_alt import pick_records

    rng = np.random.default_rng(seed)
    chosen = pick_records(rng, name, paths, per_corpus)
    out = []
    for k, tid in enumerate(chosen):
        dur = len(decode(paths[tid], SR)) / SR
        for variant in VARIANTS:
            for speed in (1.0, 1.06, 0.94):
                start = rng.uniform(0, max(0.0, dur - 10.0 * speed - 0.7))
                out.append((f"alt.{variant}@{speed:g}", tid, k, paths[tid], start, speed, variant))
    return out


def render(rows, cache: Path):
    """{i: (query 10 s, stream 14 s)} of every row, cached as one npz per corpus/simulation."""
    from benchmarks._booth_alt import alt_booth
    from livedj.audio.decode import decode
    from livedj.dsp.room import booth_preset

    if cache.exists():
        z = np.load(cache)
        return [(z[f"q{i}"], z[f"s{i}"]) for i in range(len(rows))]
    audio, out = {}, []
    for cond, truth, k, path, start, speed, booth in rows:
        if path not in audio:
            try:
                audio = {path: decode(path, SR)}
            except Exception:  # noqa: BLE001 - a non-audio file among the other corpus's (identify_corpus skips it)
                audio = {path: np.zeros(0, np.float32)}
        a = audio[path]
        if not len(a):
            out.append((a, a))
            continue
        # a record not in the library: identify_corpus's excerpts (clean at the middle, the booth at a third)
        start = {"half": max(0.0, len(a) / SR / 2 - 5), "third": max(0.0, len(a) / SR / 3)}.get(start, start)
        if booth is None:
            sim = (lambda y, L: y)
        elif cond.startswith("alt."):
            sim = (lambda y, L: alt_booth(y, SR, booth, speed=speed, seed=k))
        else:
            sim = (lambda y, L: booth_preset(y, SR, booth, speed=speed, seed=k))
        q = np.asarray(sim(ic._excerpt(a, start, 10.0 * speed + 0.6), 10)[:10 * SR], np.float32)
        L = 10.0 + STREAM_EXTRA_S
        s = np.asarray(sim(ic._excerpt(a, start, L * speed + 0.6), L)[:int(L * SR)], np.float32)
        out.append((q, s))
    np.savez(cache, **{f"q{i}": q for i, (q, _) in enumerate(out)}, **{f"s{i}": s for i, (_, s) in enumerate(out)})
    return out


def _m(matches):
    return [[int(m.track_id), round(float(m.aligned), 2), round(float(m.offset_s), 2), round(float(m.speed), 4),
             list(m.same), int(m.seconds)] for m in matches]


def classify(truth, matches, min_aligned, margin) -> str:
    """'ok', 'wrong', or the stage that lost a miss (module docstring)."""
    from livedj.library.fingerprints import decide

    best = decide(list(matches), min_aligned=min_aligned, margin=margin)
    got = best.track_id if best else None
    if got is not None:
        return "ok" if got == truth or truth in best.same else "wrong"
    if truth is None:
        return "none"
    rank = [k for k, m in enumerate(matches) if m.track_id == truth or truth in m.same]
    if not rank:
        return "cand"
    if rank[0] > 0:
        return "other"
    if matches[0].aligned < min_aligned:
        return "min"
    return "margin"


def analyse(name: str, rows, audio, out, *, exhaustive: bool = True, live_updates: bool = True):
    from livedj.library import fingerprints as fpi
    from livedj.library.fpstream import LiveMatcher

    index, _ = ic.load(ic.build(name))
    live = LiveMatcher(index)
    for i, ((cond, truth, k, path, start, speed, booth), (q, s)) in enumerate(zip(rows, audio)):
        if not len(q):
            continue
        m = fpi.match_audio(q, SR, index, top=5)
        rec = {"lib": name, "cond": cond, "truth": truth, "path": Path(path).name, "start": start, "speed": speed,
               "match": _m(m), "class": classify(truth, m, fpi.MIN_ALIGNED, fpi.MARGIN)}
        if exhaustive and rec["class"] not in ("ok", "none"):
            rec["exhaustive"] = _m(fpi.match_audio(q, SR, index, top=5, candidates=None))
        live.reset()
        ups = []
        if not live_updates:
            out.write(json.dumps(rec) + "\n")
            continue
        for end in np.arange(10.0, 10.0 + STREAM_EXTRA_S + 1e-9, 1.0):
            w = s[int((end - 10.0) * SR):int(end * SR)]
            lm = live.match(w, SR, 3600.0 + end, top=3)
            found = fpi.decks(lm)
            if not found:
                from livedj.engine.heard import both_halves
                found = both_halves(lm)
            ups.append({"match": _m(lm), "decks": [int(f.track_id) for f in found]})
        rec["live"] = ups
        out.write(json.dumps(rec) + "\n")
        out.flush()
        if i % 20 == 0:
            print(f"  {name}: {i + 1}/{len(rows)}", file=sys.stderr)


def _has(m, truth) -> bool:
    return m[0] == truth or truth in m[4]


def summary(path: str) -> None:
    """The table of docs/fingerprints-log.md ("Booth misses") from a ``--out`` file."""
    recs = [json.loads(line) for line in open(path)]
    print("| library, simulation | queries | named (one shot) | cand: exhaustive would name / weak / chance level "
          "| min: count median (runner) | margin | other | live confirmed (5 updates) |")
    print("|---|---|---|---|---|---|---|---|")
    for lib in dict.fromkeys(r["lib"] for r in recs):
        for sim in ("booth", "alt", "absent"):
            rs = [r for r in recs if r["lib"] == lib and (r["truth"] is None if sim == "absent" else
                  r["truth"] is not None and r["cond"].startswith("alt.") == (sim == "alt"))]
            if not rs:
                continue
            cls = {c: [r for r in rs if r["class"] == c] for c in ("ok", "wrong", "none", "cand", "min", "margin", "other")}
            cand = [0, 0, 0]
            for r in cls["cand"]:
                ex = r.get("exhaustive") or []
                first = bool(ex) and _has(ex[0], r["truth"])
                strong = first and ex[0][1] >= 10 and (len(ex) < 2 or ex[0][1] >= 2 * ex[1][1])
                cand[0 if strong else 1 if first else 2] += 1
            mins = cls["min"]
            mc = f"{len(mins)}: {np.median([r['match'][0][1] for r in mins]):.1f} ({np.median([r['match'][1][1] if len(r['match']) > 1 else 0 for r in mins]):.1f})" if mins else "0"

            def confirmed(r):
                d = [r["truth"] in set(u["decks"]) | {t for m in u["match"] if m[0] in u["decks"] for t in m[4]}
                     for u in r.get("live", [])]
                return any(a and b for a, b in zip(d, d[1:]))
            if sim == "absent":
                named = sum(r["class"] != "none" for r in rs)
                live = sum(any(u["decks"] for u in r.get("live", [])) for r in rs)
                print(f"| {lib}, not in the library | {len(rs)} | {named} named | | | | | {live} with a deck |")
                continue
            print(f"| {lib}, {sim} | {len(rs)} | {len(cls['ok'])} ({len(cls['wrong'])} wrong) | {len(cls['cand'])}: "
                  f"{cand[0]} / {cand[1]} / {cand[2]} | {mc} | {len(cls['margin'])} | {len(cls['other'])} | "
                  f"{sum(confirmed(r) for r in rs)} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--libraries", default="c2,c1")
    ap.add_argument("--per-corpus", type=int, default=8)
    ap.add_argument("--alt-per-corpus", type=int, default=8)
    ap.add_argument("--absent-n", type=int, default=20)
    ap.add_argument("--cache", default="/tmp/booth3-cache")
    ap.add_argument("--out", default="/tmp/booth3-cache/misses.jsonl", help="appended to")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--quick", action="store_true", help="the one-shot match only (no exhaustive histogram, no live)")
    ap.add_argument("--summary", default=None, metavar="FILE", help="print the table of a --out file and stop")
    ap.add_argument("--no-second-pass", action="store_true",
                    help="the matcher without its second pass (fingerprints.SECOND_PASS None): main's before it")
    a = ap.parse_args(argv)
    if a.no_second_pass:
        from livedj.library import fingerprints as fpi_
        fpi_.SECOND_PASS = None
    if a.summary:
        return summary(a.summary)
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    with open(a.out, "a") as out:
        for name in a.libraries.split(","):
            index_dir = ic.build(name)
            _, paths = ic.load(index_dir)
            for kind, rows in (("booth", _draws_corpus(name, paths, a.per_corpus, a.absent_n)),
                               ("alt", _draws_alt(name, paths, a.alt_per_corpus))):
                audio = render(rows, cache / f"{name}-{kind}.npz")
                (cache / f"{name}-{kind}.json").write_text(json.dumps(rows))
                if not a.render_only:
                    analyse(name, rows, audio, out, exhaustive=not a.quick, live_updates=not a.quick)


if __name__ == "__main__":
    main()
