"""Measurement helper: label precision@10 of fit settings from scripts/fit_cache.py caches.

    .venv/bin/python scripts/fit_measure.py /tmp/fit-c1.npz /tmp/fit-c2.npz [--quick]

Per corpus and setting: beginnings -> beginnings, a clean 5-s window at 40 % -> beginnings of the
other tracks, the same through the standard booth; transductive (fit on every track, no labels)
and split (fit on half the tracks, measured on the other half; mean over 5 seeded splits).
"""
from __future__ import annotations

import itertools
import sys

import numpy as np

from livedj.library.fit import fit_lda, unit_rows

K = 10


def label_p(q, q_track, keys, labels, k=K):
    sims = q @ keys.T
    sims[np.arange(len(q)), q_track] = -np.inf
    k = min(k, len(keys) - 1)
    nearest = np.argsort(-sims, axis=1)[:, :k]
    return float(np.mean(labels[nearest] == labels[q_track][:, None]))


def load(path):
    from livedj.adapt.data import penultimate_from_pool
    from livedj.encoders.musicnn import load_musicnn

    parts = [np.load(p) for p in path.split("+")]  # a corpus cached in parts: a.npz+b.npz
    model, _ = load_musicnn()
    data = {k: np.concatenate([z[k] for z in parts]) for k in parts[0].files}
    layers = {}
    for name in ("begin", "clean_q", "booth_q", "begin_booth"):
        pool = data[name]
        shape = pool.shape[:-1]
        flat = np.nan_to_num(pool.reshape(-1, pool.shape[-1]))
        pen = penultimate_from_pool(model, flat).reshape(*shape, -1)
        nan = np.isnan(pool[..., 0])
        pen[nan] = np.nan
        layers.setdefault("penultimate", {})[name] = pen
        layers.setdefault("pool", {})[name] = pool
        layers.setdefault("mean753", {})[name] = pool[..., 1::2]
        layers.setdefault("max753", {})[name] = pool[..., 0::2]
    return data["labels"], layers


def unitn(x):
    out = unit_rows(np.nan_to_num(x))
    out[np.isnan(x[..., 0])] = np.nan
    return out


def evaluate(labels, L, *, begin_s=30, fit_s=45, transform="none", dims=32, shrink=0.1, booth_pos=False,
             tracks=None, fit_tracks=None):
    """Figures for one setting; ``tracks``: measured tracks; ``fit_tracks``: tracks the fit sees."""
    n = len(labels)
    tracks = np.arange(n) if tracks is None else tracks
    fit_tracks = tracks if fit_tracks is None else fit_tracks
    begin = unitn(L["begin"])  # [n, 12, d]
    nb, nf = begin_s // 5, fit_s // 5
    proj = None
    if transform != "none":
        w = begin[fit_tracks, :nf]
        g = np.repeat(fit_tracks, nf)
        w, g = w.reshape(-1, w.shape[-1]), g
        ok = ~np.isnan(w[:, 0])
        extra = None
        if booth_pos:
            bb = unitn(L["begin_booth"])[fit_tracks]
            e = bb.reshape(-1, bb.shape[-1])
            eg = np.repeat(fit_tracks, bb.shape[1])
            eok = ~np.isnan(e[:, 0])
            extra = (e[eok], eg[eok])
        if transform == "centre":
            proj = fit_lda(w[ok], g[ok], min_tracks=10**9)
        elif transform == "lda":
            proj = fit_lda(w[ok], g[ok], dims=dims, shrinkage=shrink, extra=extra, min_tracks=2)
        elif transform == "whiten":
            from livedj.library.fit import Projection
            x = w[ok].astype(np.float64)
            mu = x.mean(0)
            c = np.cov((x - mu).T)
            c = (1 - shrink) * c + shrink * np.trace(c) / len(c) * np.eye(len(c))
            vals, vecs = np.linalg.eigh(c)
            proj = Projection(mu.astype(np.float32), (vecs / np.sqrt(vals)).astype(np.float32), "whiten")

    def P(x):
        shape = x.shape
        flat = np.nan_to_num(x.reshape(-1, shape[-1]))
        out = proj.apply(flat) if proj is not None else unit_rows(flat)
        out = out.reshape(*shape[:-1], -1)
        out[np.isnan(x[..., 0])] = 0.0
        return out

    b = P(begin[tracks, :nb])
    keys = unit_rows(b.sum(axis=1))
    lab = labels[tracks]
    local = np.arange(len(tracks))
    clean = P(unitn(L["clean_q"])[tracks])  # [t, 3, d]
    booth = P(unitn(L["booth_q"])[tracks])
    return {
        "begin": label_p(keys, local, keys, lab),
        "clean40": label_p(clean[:, 0], local, keys, lab),
        "booth40": label_p(booth[:, 0], local, keys, lab),
    }


def split_eval(labels, L, seeds=5, **kw):
    n = len(labels)
    acc = []
    for s in range(seeds):
        perm = np.random.default_rng(s).permutation(n)
        fit_t, test_t = np.sort(perm[: n // 2]), np.sort(perm[n // 2:])
        acc.append(evaluate(labels, L, tracks=test_t, fit_tracks=fit_t, **kw))
    return {k: float(np.mean([a[k] for a in acc])) for k in acc[0]}


def split_base(labels, L, seeds=5, **kw):
    n = len(labels)
    acc = []
    for s in range(seeds):
        perm = np.random.default_rng(s).permutation(n)
        test_t = np.sort(perm[n // 2:])
        acc.append(evaluate(labels, L, tracks=test_t, transform="none", **kw))
    return {k: float(np.mean([a[k] for a in acc])) for k in acc[0]}


def fmt(r):
    return " ".join(f"{k}={v:.3f}" for k, v in r.items())


def main(paths, quick=False):
    corpora = {p: load(p) for p in paths}
    settings = []
    for layer in ("penultimate", "pool", "mean753"):
        for begin_s in (15, 30, 45):
            settings.append(dict(layer=layer, begin_s=begin_s, transform="none"))
            settings.append(dict(layer=layer, begin_s=begin_s, transform="centre"))
    for layer, begin_s, fit_s, dims, shrink in itertools.product(
            ("penultimate", "pool"), (15, 30), (15, 30, 45), (16, 32, 64), (0.1, 0.3)):
        if quick and (shrink != 0.1 or fit_s == 45):
            continue
        settings.append(dict(layer=layer, begin_s=begin_s, transform="lda", fit_s=max(fit_s, begin_s), dims=dims,
                             shrink=shrink))
    for layer in ("penultimate",):
        for begin_s in (15, 30):
            settings.append(dict(layer=layer, begin_s=begin_s, transform="lda", fit_s=begin_s, dims=32, shrink=0.1,
                                 booth_pos=True))
            settings.append(dict(layer=layer, begin_s=begin_s, transform="whiten", fit_s=begin_s, shrink=0.1))
    for st in settings:
        kw = dict(st)
        layer = kw.pop("layer")
        line = [f"{layer:11s} " + " ".join(f"{k}={v}" for k, v in kw.items())]
        for name, (p, (labels, layers)) in enumerate(corpora.items(), 1):
            r = evaluate(labels, layers[layer], **kw)
            line.append(f"  T[{name}] {fmt(r)}")
            if kw["transform"] != "none" or True:
                s = split_eval(labels, layers[layer], **kw) if kw["transform"] != "none" else \
                    split_base(labels, layers[layer], **{k: v for k, v in kw.items() if k != 'transform'})
                line.append(f"  S[{name}] {fmt(s)}")
        print("\n".join(line), flush=True)


if __name__ == "__main__":
    main([a for a in sys.argv[1:] if not a.startswith("--")], quick="--quick" in sys.argv)


def ranked_figures(labels, L, tk, *, begin_s=15, proj_kw=None, pools=(0, 15, 20, 30), candidates=50, top=10):
    """Ranked (`suggest`: similarity, tempo and key) vs similarity-only P@10 for each track's first 5 s.

    ``tk`` rows: beginning BPM, key, first-5-s BPM, key (scripts/fit_tempo_key.py). ``pools``: 0 = the
    score over all ``candidates`` (as shipped); p = tempo and key re-rank only the p most similar.
    """
    from livedj.engine.ranker import Rules, rank
    from livedj.library.store import Track

    n = len(labels)
    begin = unitn(L["begin"])
    nb = begin_s // 5
    proj = None
    if proj_kw:
        w = begin[:, :nb].reshape(-1, begin.shape[-1])
        g = np.repeat(np.arange(n), nb)
        ok = ~np.isnan(w[:, 0])
        proj = fit_lda(w[ok], g[ok], **proj_kw)
    P = (lambda x: proj.apply(np.nan_to_num(x))) if proj is not None else (lambda x: unit_rows(np.nan_to_num(x)))
    keys = unit_rows(np.stack([np.nansum(P(begin[t, :nb]) * (~np.isnan(begin[t, :nb, :1])), axis=0) for t in range(n)]))
    q = P(begin[:, 0])
    tracks = {t: Track(t, str(t), str(t), "", "", None, None if np.isnan(tk[t, 0]) else float(tk[t, 0]), "audio",
                       None if tk[t, 1] < 0 else int(tk[t, 1]), "audio") for t in range(n)}
    sims = q @ keys.T
    out = {"similarity": [], **{f"ranked_pool{p}": [] for p in pools}}
    for t in range(n):
        order = np.argsort(-sims[t])
        order = order[order != t][:candidates]
        out["similarity"].append(np.mean(labels[order[:top]] == labels[t]))
        live_bpm = None if np.isnan(tk[t, 2]) else float(tk[t, 2])
        live_key = None if tk[t, 3] < 0 else int(tk[t, 3])
        for p in pools:
            got = rank(order, sims[t][order], tracks, top=top, live_bpm=live_bpm, live_key=live_key,
                       rules=Rules(shortlist=p))
            out[f"ranked_pool{p}"].append(np.mean([labels[s.track_id] == labels[t] for s in got]))
    return {k: float(np.mean(v)) for k, v in out.items()}
