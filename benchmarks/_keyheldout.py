"""The key benchmark's generated rows on a fresh held-out set: ``python -m benchmarks.key --generated-seed-base B
--generated-n N``.

The benchmark's own 60 generated tracks (seeds 0-59 of :func:`benchmarks._keydata.generated_track`) chose the
fourth revision's loop gate, so they are no longer clean held-out data. This renders tracks ``B`` .. ``B + N - 1``
of the same generator (cached under ``.bench/key-generated``), reads every 12-s window as
:func:`benchmarks.key.features` and :func:`benchmarks.key.live_windows` do (:func:`track_features`; also the rule
without the loop gate, for information) and reports :func:`benchmarks.key.accuracy`'s rows with bootstrap
intervals of the gaps. Options add the phrase-weighted windows' temperature (:func:`phrase_calibration`) and the
key shown by a listener joining mid-track (:func:`shown_from_later_starts`). Figures: docs/key.md ("A fresh
held-out set").
"""
from __future__ import annotations

import sys

import numpy as np

from benchmarks.common import cache_dir, row
from benchmarks.key import (FEATURES_VERSION, HOP_S, LIVE_S, LIVE_VERSION, MAX_WINDOWS, METHODS, MIREX, _posteriors,
                            _show, accuracy, ece_noise, features, live_windows, openings, relation, reliability,
                            scores)


def track_features(y: np.ndarray, sr: int = 16000) -> dict:
    """One excerpt's readings as :func:`features` and :func:`live_windows` make them (same code per window), plus
    ``nogate_windows`` (weighted wherever the tempo is confident, without the loop gate: the rule not shipped)."""
    from livedj.dsp.keyfind import chroma_features, phrase_chroma
    from livedj.dsp.rhythm import estimate_tempo
    from livedj.dsp.tonal import chroma_profile, key_chroma, phrase_period

    n, hop = int(LIVE_S * sr), int(HOP_S * sr)
    starts = list(range(0, len(y) - n + 1, hop))[-MAX_WINDOWS:] or [0]
    out = {k: np.zeros((MAX_WINDOWS, 2, 12)) for k in ("windows", "live_windows", "nogate_windows")}
    out["legacy_windows"] = np.zeros((MAX_WINDOWS, 12))
    out.update({k: np.zeros(MAX_WINDOWS) for k in ("live_bpm", "live_bpm_confidence")})
    out["whole"], out["tuning"] = chroma_features(y, sr)
    out["legacy_whole"], out["n_windows"] = chroma_profile(y, sr), len(starts)
    for j, s0 in enumerate(starts):
        stretch = y[s0:s0 + n]
        out["windows"][j] = chroma_features(stretch, sr)[0]
        out["legacy_windows"][j] = chroma_profile(stretch, sr)
        tempo, confidence = estimate_tempo(y[max(0, s0 - sr):s0 + n - sr], sr)
        out["live_bpm"][j], out["live_bpm_confidence"][j] = (tempo, confidence) if confidence > 0 else (0.0, 0.0)
        period = phrase_period(tempo if confidence > 0 else None, confidence)
        out["live_windows"][j] = key_chroma(stretch, sr, period=period)[0]
        out["nogate_windows"][j] = (phrase_chroma(stretch, sr, period)[1] if period is not None and period < LIVE_S
                                    else out["windows"][j])
    return out


def generated_table(base: int, n: int, progress=None) -> dict[str, np.ndarray]:
    """The table of :func:`features` + :func:`live_windows` for the generated tracks ``base`` .. ``base + n - 1``
    (:func:`benchmarks._keydata.generated_track`; both modes alternate), cached under ``.bench/key-generated``.
    The benchmark's own 60 are 0-59; a fresh held-out set takes seeds never measured before."""
    from benchmarks._keydata import build_generated, load

    root = cache_dir("key-generated")
    cached = root / f"table-{base}-{n}-{FEATURES_VERSION}-{LIVE_VERSION}.npz"
    if cached.exists():
        with np.load(cached, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    excerpts = build_generated(root, range(base, base + n), progress=progress)
    cols: dict[str, list] = {}
    for i, ex in enumerate(excerpts, 1):
        got = track_features(load(root, ex))
        got.update(key=ex.key, split=ex.split, kind=ex.kind, piece=ex.piece, name=ex.name)
        for k, v in got.items():
            cols.setdefault(k, []).append(v)
        if progress:
            progress("features", i, len(excerpts))
    table = {k: np.asarray(v) for k, v in cols.items()}
    np.savez(cached, **table)
    return table


def generated_openings(table: dict, base: int, n: int) -> np.ndarray:
    """:func:`benchmarks.key.openings` of the generated tracks ``base`` .. ``base + n - 1``."""
    from benchmarks._keydata import build_generated

    root = cache_dir("key-generated")
    return openings(table, root, build_generated(root, range(base, base + n)), progress=_show)


def phrase_calibration(table: dict, subset: str, scale: float) -> list[dict]:
    """ECE of the phrase-weighted windows (``last``, ``any``; not shipped) with the weighted ones' temperatures times
    ``scale`` (:func:`benchmarks._keyphrase.fit_phrase_temperature`, fitted on dev data), beside as shipped."""
    from livedj.dsp.keyfind import key_posterior

    n = len(table["key"])
    post = key_posterior(table["live_windows"])
    weighted = np.any(table["live_windows"] != table["windows"], axis=(-2, -1))
    scaled = post.copy()
    scaled[weighted] = key_posterior(table["live_windows"][weighted], temperature_scale=scale)
    valid = np.arange(MAX_WINDOWS)[None, :] < table["n_windows"][:, None]
    picks = {"last": (np.arange(n), table["n_windows"] - 1),
             "any": np.nonzero(valid & (np.arange(MAX_WINDOWS)[None, :] % int(round(6.0 / HOP_S)) == 0))}
    rows = []
    for which, (r, c) in picks.items():
        truth = table["key"][r]
        for name, p in (("shipped", post), (f"x{scale:.3f}", scaled)):
            conf, right = p[r, c].max(axis=-1), (p[r, c].argmax(axis=-1) == truth) * 1.0
            ece, lines = reliability(conf, right)
            print(f"key benchmark: {subset} {which}, weighted windows' temperatures {name} "
                  f"({int(weighted[r, c].sum())} of {len(r)} weighted):\n" + "\n".join(lines), file=sys.stderr)
            rows.append(row(f"key.{subset}.{which}.learned.ece.phrase_{name}", f"ECE of the live path's {which} "
                            f"windows, the weighted ones' temperatures {name}; baseline: sampling noise",
                            ece, "fraction", baseline=ece_noise(conf), target=0.1))
            rows.append(row(f"key.{subset}.{which}.learned.mirex.phrase_{name}", f"MIREX of {which}, temperatures "
                            f"{name}", scores(p[r, c].argmax(axis=-1), truth)["mirex"], "fraction"))
    return rows


def shown_from_later_starts(table: dict, subset: str, starts=range(1, 8)) -> list[dict]:
    """The ``shown`` row with the smoother fed from window ``start`` on (2 s each) instead of the excerpt's first:
    a listener that joins mid-track, at another phase of the loop. Each method's mean over ``starts`` (default
    2-14 s: a whole phrase at 90-171 BPM), and the live path minus the plain 12 s, paired bootstrap by excerpt.
    (Added after the fresh run showed the key shown from 0 s worse: a diagnosis, the rule was not changed.)"""
    from livedj.engine.listen import KeySmoother

    def score(post, i, start):
        smoother = KeySmoother()
        for p in post[i, start:table["n_windows"][i]]:
            p = np.clip(p, 0, None) + 1e-9
            smoother.update(p / p.sum(), HOP_S)
        return MIREX[relation(int(smoother.key), int(table["key"][i]))] if smoother.key is not None else 0.0

    got = {}
    for method, windows in (("learned_phrase", "live_windows"), ("learned", "windows")):
        post = _posteriors(table[windows], table["legacy_windows"], "learned")
        got[method] = np.array([[score(post, i, s) for s in starts] for i in range(len(table["key"]))]).mean(axis=1)
    diff = got["learned_phrase"] - got["learned"]
    pick = np.random.default_rng(17).integers(len(diff), size=(2000, len(diff)))
    low, high = np.quantile(diff[pick].mean(axis=1), [0.025, 0.975])
    span = f"{HOP_S * min(starts):.0f}-{HOP_S * max(starts):.0f} s"
    return [row(f"key.{subset}.shown_from_later.{m}.mirex", f"the key shown at the end, the smoother fed from "
                f"{span} in (mean over starts)", float(v.mean()), "fraction") for m, v in got.items()] + [
        row(f"key.{subset}.shown_from_later.phrase_gain", f"learned_phrase minus learned (plain), shown from {span} in; "
            f"paired bootstrap 95 %: [{low:+.3f}, {high:+.3f}]", float(diff.mean()), "fraction")]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.key --generated-seed-base B --generated-n N``: the generated rows on a fresh set."""
    import argparse

    from benchmarks.__main__ import print_rows

    parser = argparse.ArgumentParser(prog="python -m benchmarks.key", description=main.__doc__.split(":")[0])
    parser.add_argument("--generated-seed-base", type=int, default=1000,
                        help="first generated track (the benchmark's own 60 are 0-59; default 1000: never measured "
                             "before the fresh held-out run of docs/key.md)")
    parser.add_argument("--generated-n", type=int, default=300, help="tracks (even: both modes alternate)")
    parser.add_argument("--phrase-temperature-scale", type=float, metavar="X",
                        help="also the ECE of the live windows with the phrase-weighted ones' temperatures times X "
                             "(the dev fit of python -m benchmarks._keyphrase --fit-temperature), on this set and "
                             "on the benchmark's own 60 generated tracks and scores' test half")
    parser.add_argument("--shown-from-later-starts", action="store_true",
                        help="also the key shown when the smoother starts 2-14 s into the track (a listener joining "
                             "mid-track), on this set and on the benchmark's own 60 generated tracks")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    table = generated_table(args.generated_seed_base, args.generated_n, progress=_show)
    table["opening"] = generated_openings(table, args.generated_seed_base, args.generated_n)
    from benchmarks._keydata import build_generated
    from benchmarks._keylowest import table_lowest

    groot = cache_dir("key-generated")
    base_n = range(args.generated_seed_base, args.generated_seed_base + args.generated_n)
    table["lowest"] = table_lowest(table, groot, build_generated(groot, base_n), progress=_show, levels=False)
    name = f"generated_{args.generated_seed_base}_{args.generated_n}"
    rows = accuracy(table, {name: np.ones(len(table["key"]), bool)}, METHODS + ("learned_nogate",))
    if args.phrase_temperature_scale or args.shown_from_later_starts:
        own = features(progress=_show)
        own.update(live_windows(own, progress=_show))
    if args.shown_from_later_starts:
        rows += shown_from_later_starts(table, name)
        sel = own["kind"] == "generated"
        rows += shown_from_later_starts({k: v[sel] for k, v in own.items()}, "generated")
    if args.phrase_temperature_scale:
        rows += phrase_calibration(table, name, args.phrase_temperature_scale)
        for subset, sel in (("generated", own["kind"] == "generated"),
                            ("scores", (own["kind"] == "score") & (own["split"] == "test"))):
            rows += phrase_calibration({k: v[sel] for k, v in own.items()}, subset, args.phrase_temperature_scale)
    print_rows(rows, title=f"key benchmark, generated tracks {args.generated_seed_base}.."
               f"{args.generated_seed_base + args.generated_n - 1}")
    if args.json:
        import json

        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
