"""Measurement helper: label P@10 of musicnn's other checkpoints, alone and concatenated with MSD_musicnn.

    .venv/bin/python scripts/fit_vgg_measure.py MSD.npz[+MSD2.npz] MTT.npz[+..]|- VGG.npz[+..] [MTT_WEIGHTS]

One corpus per call. ``MSD``: scripts/fit_cache.py with the shipped weights; ``MTT``: the same
with ``LIVEDJ_MODELS_DIR`` pointing at the converted MTT_musicnn weights (``MTT_WEIGHTS``, default
/tmp/mtt/mtt_musicnn.safetensors), or ``-``; ``VGG``: scripts/musicnn_vgg.py. Tracks are matched by
path and only those in every cache are measured. Vectors: the penultimate layer (musicnn) or pool5
(vgg), 30-s beginnings (6 windows of 5 s); combinations concatenate the per-window unit vectors.
Settings: no fit, and the default fit (LDA 16 dims, shrinkage 0.3, fitted on the 30-s windows);
T = transductive (fit on every track, no labels), S = split (fit on half, measured on the other
half, 5 seeds), as scripts/fit_measure.py.
"""
from __future__ import annotations

import sys

import numpy as np

from fit_measure import evaluate, split_base, split_eval, unitn

KEYS = ("begin", "clean_q", "booth_q")


def _concat(paths: str) -> dict:
    parts = [np.load(p) for p in paths.split("+")]
    return {k: np.concatenate([z[k] for z in parts]) for k in parts[0].files}


def musicnn_layer(paths: str, weights: str | None) -> tuple[np.ndarray, dict]:
    """(paths, {begin/clean_q/booth_q: penultimate}) of a fit_cache.py cache (first 6 beginning windows)."""
    from livedj.adapt.data import penultimate_from_pool
    from livedj.encoders.musicnn import load_musicnn

    data = _concat(paths)
    model, _ = load_musicnn(weights)
    out = {}
    for name in KEYS:
        pool = data[name][:, :6] if name == "begin" else data[name]
        pen = penultimate_from_pool(model, np.nan_to_num(pool.reshape(-1, pool.shape[-1]))).reshape(*pool.shape[:-1], -1)
        pen[np.isnan(pool[..., 0])] = np.nan
        out[name] = pen
    return data["paths"], out


def main(msd: str, mtt: str, vgg: str, mtt_weights: str = "/tmp/mtt/mtt_musicnn.safetensors") -> None:
    sources = {"MSD_musicnn": musicnn_layer(msd, None)}
    if mtt != "-":
        sources["MTT_musicnn"] = musicnn_layer(mtt, mtt_weights)
    v = _concat(vgg)
    for m in ("MSD_vgg", "MTT_vgg"):
        sources[m] = (v["paths"], {k: v[f"{m}_{k}"] for k in KEYS})
    msd_data = _concat(msd)
    common = [p for p in msd_data["paths"] if all(p in set(src[0]) for src in sources.values())]
    labels = np.asarray([msd_data["labels"][list(msd_data["paths"]).index(p)] for p in common])
    layers = {}
    for name, (paths, L) in sources.items():
        row = {p: i for i, p in enumerate(paths)}
        idx = np.asarray([row[p] for p in common])
        layers[name] = {k: L[k][idx] for k in KEYS}
    base = layers["MSD_musicnn"]
    for name in [n for n in layers if n != "MSD_musicnn"]:
        layers[f"MSD_musicnn + {name}"] = {k: np.concatenate([unitn(base[k]), unitn(layers[name][k])], -1)
                                           for k in KEYS}
    if "MTT_musicnn" in layers:
        layers["MSD_musicnn + MSD_vgg + MTT_musicnn + MTT_vgg"] = {
            k: np.concatenate([unitn(layers[n][k]) for n in ("MSD_musicnn", "MSD_vgg", "MTT_musicnn", "MTT_vgg")], -1)
            for k in KEYS}
    print(f"{len(common)} tracks, {len(set(labels))} labels; columns begin / clean40 / booth40")
    for name, L in layers.items():
        dim = L["begin"].shape[-1]
        none_t = evaluate(labels, L, begin_s=30, fit_s=30)
        none_s = split_base(labels, L, begin_s=30, fit_s=30)
        kw = dict(begin_s=30, fit_s=30, transform="lda", dims=16, shrink=0.3)
        lda_t, lda_s = evaluate(labels, L, **kw), split_eval(labels, L, **kw)
        cells = [" / ".join(f"{r[k]:.3f}" for k in ("begin", "clean40", "booth40"))
                 for r in (none_t, lda_t, none_s, lda_s)]
        print(f"| {name} ({dim}-d) | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
