"""Measurement helper: `livedj train --whole` recipes (scripts/fit_cache_whole.py caches).

    .venv/bin/python scripts/fit_whole.py C1.npz[+..] C1-booths.npz C1-whole.npz C2.npz C2-booths.npz C2-whole.npz

Each corpus is measured on the tracks its whole-track cache holds (all of corpus 2; the half of
corpus 1 cached in time), beginnings-only and with the whole-track windows side by side; the
room of the *other* corpus stands for the shipped one.
"""
from __future__ import annotations

import sys

import numpy as np

sys.path.insert(0, "scripts")
from fit_booths import fit_windows, fmt, load_corpus, nuisance_of, protocol  # noqa: E402
from fit_measure import unitn  # noqa: E402

from livedj.adapt.data import penultimate_from_pool  # noqa: E402
from livedj.encoders.musicnn import load_musicnn  # noqa: E402
from livedj.library.contrastive import HeadConfig, train_projection  # noqa: E402
from livedj.library.fit import fit_lda, room_nuisance  # noqa: E402

KW = dict(dims=16, shrinkage=0.3, nuisance_weight=0.25, min_tracks=2)


def with_whole(C, cache, whole_path, model):
    z = np.load(whole_path)
    paths = np.concatenate([np.load(p)["paths"] for p in cache.split("+")])
    where = {p: i for i, p in enumerate(z["paths"])}
    keep = np.asarray([i for i, p in enumerate(paths) if p in where])
    idx = np.asarray([where[paths[i]] for i in keep])

    def pen(a):
        return unitn(penultimate_from_pool(model, a.reshape(-1, a.shape[-1])).reshape(*a.shape[:2], -1))

    sub = {k: (v[keep] if isinstance(v, np.ndarray) and len(v) == len(paths) else v) for k, v in C.items()}
    sub["whole"], sub["whole_booth"] = pen(z["whole"][idx]), pen(z["whole_booth"][idx])
    return sub


def variants(C, R):
    def windows_of(ft, use_whole):
        w, g = fit_windows(C, ft)
        if use_whole:
            w = np.concatenate([w, C["whole"][ft].reshape(-1, w.shape[1])])
            g = np.concatenate([g, np.repeat(ft, C["whole"].shape[1])])
        return w, g

    def own(ft):
        return room_nuisance(C["whole"][ft][:, ::2].reshape(-1, C["whole"].shape[-1]),
                             C["whole_booth"][ft].reshape(-1, C["whole"].shape[-1]))

    return {
        "beginnings, room other": lambda C_, ft, nz: fit_lda(*windows_of(ft, False), nuisance=R, **KW),
        "+whole-track windows, room other": lambda C_, ft, nz: fit_lda(*windows_of(ft, True), nuisance=R, **KW),
        "+whole, room other+own (train default fit)":
            lambda C_, ft, nz: fit_lda(*windows_of(ft, True), nuisance=0.5 * (R + own(ft)), **KW),
        "+whole, room other+own, + head (train default)":
            lambda C_, ft, nz: train_projection(*windows_of(ft, True), fit_lda(
                *windows_of(ft, True), nuisance=0.5 * (R + own(ft)), **KW), room=0.5 * (R + own(ft)),
                config=HeadConfig()),
    }


def main(argv):
    model, _ = load_musicnn()
    corpora = []
    for cache, booths, whole in (argv[0:3], argv[3:6]):
        corpora.append((cache, load_corpus(cache, booths), whole))
    rooms = [nuisance_of(corpora[1][1], np.arange(len(corpora[1][1]["labels"])), presets=True),
             nuisance_of(corpora[0][1], np.arange(len(corpora[0][1]["labels"])), presets=True)]
    for name, (cache, C, whole), R in zip(("c1", "c2"), corpora, rooms):
        sub = with_whole(C, cache, whole, model)
        print(f"{name}: {len(sub['labels'])} tracks with whole-track windows", flush=True)
        for label, make in variants(sub, R).items():
            T, S = protocol(sub, None, None, None, make=make)
            print(f"{label:48s} {name} T {fmt(T)}\n{'':48s} {name} S {fmt(S)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
