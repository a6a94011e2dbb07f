"""Harmonics out of the chroma, on development data only: ``python -m benchmarks._keyharmonics --decay 0.6``.

With :data:`livedj.dsp.keyfind.HARMONIC_DECAY` set (each note's harmonics taken out of the semitone spectrum,
:func:`livedj.dsp.keyfind.remove_harmonics`), the key model is retrained (:mod:`benchmarks._keytrain`, its
5-fold cross-validation by piece) on features read that way, and the key shown is measured as
:mod:`benchmarks._keyshown` measures it on its four dev sets (the scores' training half, the held-out generator's
development draw 5000-5299, livedj.synth styles and loops): the whole track's key, the key shown at the end from the
first bar (``s0``) and for a listener who joins 6 s in (``s6``, the benchmark's ``shown6``), and every update from
10 s on (``during``). The smoother, the lowest-note tie-break, the opening and the confidence keep the shipped
settings (they were tuned on the shipped features).

The benchmarks' caches are not keyed by the decay, so each decay needs its own ``LIVEDJ_BENCH_DIR``:
``--link-from DIR`` fills it with links to the rendered audio of ``DIR`` (``DIR/key``, ``DIR/key-generated``) and
nothing else, so every feature is read again. ``--shipped`` measures the shipped model on whatever features the
bench dir holds (decay 0: the baseline). ``--screen``: only the score expert's cross-validation on the scores'
training half (:func:`screen`). ``--oof-scores L2``: after a run, the scores' figures with the score expert out of
fold (:func:`out_of_fold_scores`). ``--offsets 19,28``: only those partials; ``--whiten N``: the log semitone energy
whitened against its mean over +-N semitones instead (or as well). Docs: docs/key.md, "Harmonics out of the chroma".
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def link_audio(source: Path, target: Path) -> None:
    """Links in ``target`` to the rendered audio and score lists of ``source`` (no cached features)."""
    for sub, patterns in (("key", ("score-*.npy", "generated-*.npy", "manifest.json", "midi", "score_keys.json")),
                          ("key-generated", ("generated-*.npy",))):
        (target / sub).mkdir(parents=True, exist_ok=True)
        for pattern in patterns:
            for f in (source / sub).glob(pattern):
                link = target / sub / f.name
                if not link.exists():
                    link.symlink_to(f.resolve())


def dev_figures(sets: dict) -> dict[str, dict[str, float]]:
    """Per dev set: MIREX of the whole track's key, the key shown at the end from 0 s and from 6 s, and during."""
    from benchmarks._keyshown import _mirex, follow

    out = {}
    for name, d in sets.items():
        row = {"whole": float(np.mean([_mirex(k, t) for k, t in zip(d["whole_p"].argmax(-1), d["key"])]))}
        for label, start in (("s0", 0), ("s6", 3)):
            row[label] = float(np.mean([_mirex(k, t) for k, t in zip(follow(d, start)[0], d["key"])]))
        row["during"] = float(np.mean([_mirex(u[0], u[3]) for u in follow(d, 0)[1] if u[4] >= 5]))
        out[name] = row
    return out


def screen() -> str:
    """The quick screen: the score expert alone, refitted by 5-fold cross-validation by piece on the scores' training
    half read with these features (each excerpt whole and every 12-s window at a 2-s hop, at its own tuning); the
    out-of-fold MIREX of the whole excerpts, of every window and of the windows from 6 s on, at the best L2 weight (by
    the mean of the first two)."""
    import livedj.dsp.keyfind as keyfind
    from benchmarks._keydata import build, load
    from benchmarks._keytrain import L2_GRID, fit, folds_by
    from benchmarks.key import MIREX, relation
    from benchmarks.common import cache_dir

    root = cache_dir("key")
    rows, n, hop = [], 12 * 16000, 2 * 16000
    for ex in build(root):
        if ex.kind == "score" and ex.split == "train":
            y = load(root, ex)
            rows.append((keyfind.chroma_features(y, 16000)[0], ex.key, ex.piece, -1))
            rows += [(keyfind.chroma_features(y[s0:s0 + n], 16000)[0], ex.key, ex.piece, j)
                     for j, s0 in enumerate(range(0, len(y) - n + 1, hop))]
    chroma, keys = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    window, fold = np.array([r[3] for r in rows]), folds_by(np.array([r[2] for r in rows]))
    best = None
    for l2 in L2_GRID:
        oof = np.zeros((len(keys), 24))
        for f in range(5):
            oof[fold == f] = keyfind.key_logits(chroma[fold == f], fit(chroma[fold != f], keys[fold != f], l2))
        got = np.array([MIREX[relation(int(a), int(b))] for a, b in zip(oof.argmax(1), keys)])
        cells = (got[window < 0].mean(), got[window >= 0].mean(), got[window >= 3].mean())
        if best is None or np.mean(cells[:2]) > np.mean(best[1][:2]):
            best = (l2, cells)
    return (f"screen (score expert, out-of-fold by piece, scores' training half): L2 {best[0]:g}: whole "
            f"{best[1][0]:.3f}, 12-s windows {best[1][1]:.3f}, windows from 6 s {best[1][2]:.3f}")


def out_of_fold_scores(model_path: Path, l2: float) -> dict[str, float]:
    """The scores' dev figures with the score expert out of fold: the training half's pieces in the 5 folds of
    :mod:`benchmarks._keytrain` (by piece), each fold's excerpts read by a model whose score expert (at the full
    model's L2 weight ``l2``) and gate learned without that fold; the loop expert and the temperatures are the full
    model's. On the training half the retrained models are otherwise measured on what they learned."""
    import livedj.dsp.keyfind as keyfind
    import livedj.dsp.keymodel as keymodel
    from benchmarks._keyshown import _mirex, dev_tables, follow
    from benchmarks._keytrain import fit, fit_gate, folds_by, score_windows, synth_windows
    from benchmarks.common import cache_dir

    root = cache_dir("key")
    full = keyfind.load_model(str(model_path))
    sc, sy = score_windows(root), synth_windows(root)
    fold = folds_by(sc[2])
    fold_of = dict(zip(sc[2], fold))
    got: dict[str, list] = {"whole": [], "s0": [], "s6": []}
    for f in range(5):
        keep = fold != f
        expert = fit(sc[0][keep], sc[1][keep], l2)
        rows = keep & sc[4]
        gate = fit_gate(np.concatenate([sc[0][rows], sy[0][sy[4]]]),
                        np.concatenate([np.zeros(int(rows.sum()), bool), np.ones(int(sy[4].sum()), bool)]))
        path = root / f"oof-model-{f}.npz"
        np.savez(path, weights=np.stack([expert.weights[0], full.weights[1]]),
                 bias=np.stack([expert.bias[0], full.bias[1]]), temperature=full.temperature, gate=gate,
                 temperature_whole=full.temperature_whole)
        keymodel.MODEL_PATH = path  # what load_model() reads
        keymodel.load_model.cache_clear()
        d = dev_tables()["scores"]
        mine = np.array([fold_of[p] == f for p in d["piece"]])
        sub = {k: v[mine] for k, v in d.items() if isinstance(v, np.ndarray) and len(v) == len(d["key"])}
        got["whole"] += [_mirex(k, t) for k, t in zip(sub["whole_p"].argmax(-1), sub["key"])]
        for label, start in (("s0", 0), ("s6", 3)):
            got[label] += [_mirex(k, t) for k, t in zip(follow(sub, start)[0], sub["key"])]
    return {k: float(np.mean(v)) for k, v in got.items()}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import os

    import livedj.dsp.keyfind as keyfind
    import livedj.dsp.keymodel as keymodel
    from benchmarks.common import cache_dir

    parser = argparse.ArgumentParser(prog="python -m benchmarks._keyharmonics", description=__doc__.split("\n")[0])
    parser.add_argument("--decay", type=float, default=0.0, help="partial k at decay ** (k - 1); 0: none")
    parser.add_argument("--offsets", type=lambda v: tuple(int(x) for x in v.split(",")),
                        help="only these partials, semitones above the note, e.g. 19,28 (default: 2nd-8th)")
    parser.add_argument("--whiten", type=int, default=0, help="instead or as well: whiten each frame's log "
                        "semitone energy against its mean over +-N semitones (keyfind.WHITEN_SEMITONES)")
    parser.add_argument("--oof-scores", type=float, metavar="L2", help="only the scores' figures out of fold "
                        "(see out_of_fold_scores()), for the model this decay's run retrained, its score expert's L2")
    parser.add_argument("--screen", action="store_true", help="only the quick screen (see screen())")
    parser.add_argument("--shipped", action="store_true", help="the shipped model, not one retrained")
    parser.add_argument("--link-from", type=Path, help="a bench dir whose rendered audio to link (see above)")
    args = parser.parse_args(argv)
    if not os.environ.get("LIVEDJ_BENCH_DIR"):
        parser.error("set LIVEDJ_BENCH_DIR to a bench dir of its own (its caches are read with this decay)")
    root = Path(os.environ["LIVEDJ_BENCH_DIR"])
    if args.link_from:
        link_audio(args.link_from, root)
    keyfind.HARMONIC_DECAY = args.decay
    keyfind.HARMONIC_REMOVED = args.offsets
    keyfind.WHITEN_SEMITONES = args.whiten
    tag = f"{args.decay:g}" + (f"-{'.'.join(map(str, args.offsets))}" if args.offsets else "") \
        + (f"-whiten{args.whiten}" if args.whiten else "")
    if args.screen:
        print(f"decay {tag}: {screen()}", flush=True)
        return 0
    if args.oof_scores is not None:
        got = out_of_fold_scores(cache_dir("key") / f"key_model-harmonics-{tag}.npz", args.oof_scores)
        print(f"decay {tag} scores out of fold: " + " ".join(f"{k} {v:.3f}" for k, v in got.items()), flush=True)
        return 0
    if not args.shipped:
        from benchmarks import _keytrain

        out = cache_dir("key") / f"key_model-harmonics-{tag}.npz"
        _keytrain.main(["--out", str(out)])
        keymodel.MODEL_PATH = out  # what load_model() reads
        keymodel.load_model.cache_clear()
    from benchmarks._keyshown import dev_tables

    figures = dev_figures(dev_tables())
    for name, row in figures.items():
        print(f"decay {tag} {'shipped' if args.shipped else 'retrained'} {name}: "
              + " ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    print(json.dumps({"decay": args.decay, "offsets": args.offsets, "whiten": args.whiten, "shipped": args.shipped,
                      "figures": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
