"""Measurement helper: the library fit with a room-nuisance term, judged on every booth preset.

    .venv/bin/python scripts/fit_booths.py C1.npz[+C1b.npz] C1-booths.npz C2.npz C2-booths.npz

Caches from scripts/fit_cache.py and scripts/fit_cache_booths.py. Per corpus, protocol (T:
fitted on all tracks; S: fitted on a random half, measured on the other, mean of 5 splits) and
setting: label P@10 of beginnings, the clean 40 % window, the standard booth (``booth``, the
figure the target is stated for) and the same window through each preset of
livedj.dsp.room.BOOTHS (``mean`` = their mean, ``std`` is the preset "standard" with other seeds).
Nuisance sources: ``own`` = the fitted tracks' own booth views (random booths, 3 windows per
track: what `livedj index` could compute at extra cost); ``other`` = the other corpus's;
``file`` = a nuisance matrix from an .npz (e.g. the one shipped in models/).
"""
from __future__ import annotations

import sys

import numpy as np

sys.path.insert(0, "scripts")
from fit_measure import label_p, load, unitn  # noqa: E402

from livedj.library.fit import fit_lda, room_nuisance, unit_rows  # noqa: E402

NB = 6  # 30-s beginnings


def load_corpus(cache, booths):
    from livedj.adapt.data import penultimate_from_pool
    from livedj.encoders.musicnn import load_musicnn

    labels, layers = load(cache)
    L = layers["penultimate"]
    paths = np.concatenate([np.load(p)["paths"] for p in cache.split("+")])
    z = np.load(booths)
    where = {p: i for i, p in enumerate(z["paths"])}
    idx = np.asarray([where[p] for p in paths])
    model, _ = load_musicnn()
    pq = z["preset_q"][idx]
    pen = penultimate_from_pool(model, pq.reshape(-1, pq.shape[-1])).reshape(*pq.shape[:2], -1)
    return {"labels": labels, "begin": unitn(L["begin"]), "clean": unitn(L["clean_q"])[:, 0],
            "booth": unitn(L["booth_q"])[:, 0], "begin_booth": unitn(L["begin_booth"]),
            "presets": [str(n) for n in z["presets"]], "preset_q": unit_rows(pen)}


def nuisance_of(C, tracks, presets=False):
    """Room nuisance from the random-booth views of ``tracks``' first 3 windows (and, with ``presets``,
    their 40 % window through every preset: the recipe of models/room_nuisance.safetensors)."""
    c = C["begin"][tracks, :3].reshape(-1, C["begin"].shape[-1])
    b = C["begin_booth"][tracks].reshape(-1, c.shape[-1])
    ok = ~np.isnan(c[:, 0]) & ~np.isnan(b[:, 0])
    c, b = c[ok], b[ok]
    if presets:
        k = C["preset_q"].shape[1]
        c = np.concatenate([c, np.repeat(C["clean"][tracks], k, axis=0)])
        b = np.concatenate([b, C["preset_q"][tracks].reshape(-1, c.shape[-1])])
    return room_nuisance(c, b)


def fit_windows(C, fit_tracks):
    """The windows the index-time fit sees (30-s beginnings) and their tracks."""
    w = C["begin"][fit_tracks, :NB].reshape(-1, C["begin"].shape[-1])
    g = np.repeat(fit_tracks, NB)
    ok = ~np.isnan(w[:, 0])
    return w[ok], g[ok]


def lda(C, fit_tracks, proj_kw, nuisance):
    w, g = fit_windows(C, fit_tracks)
    return fit_lda(w, g, nuisance=nuisance, min_tracks=2, **proj_kw)


def figures(C, tracks, fit_tracks, proj_kw, nuisance, make=None):
    begin = C["begin"]
    proj = None
    if make is not None:
        proj = make(C, fit_tracks, nuisance)
    elif proj_kw is not None:
        proj = lda(C, fit_tracks, proj_kw, nuisance)
    P = proj.apply if proj is not None else unit_rows

    b = begin[tracks, :NB]
    mask = ~np.isnan(b[..., 0])
    pb = P(np.nan_to_num(b).reshape(-1, b.shape[-1])).reshape(*b.shape[:2], -1) * mask[..., None]
    keys = unit_rows(pb.sum(1))
    lab = C["labels"][tracks]
    local = np.arange(len(tracks))
    out = {"begin": label_p(keys, local, keys, lab), "clean": label_p(P(C["clean"][tracks]), local, keys, lab),
           "booth": label_p(P(C["booth"][tracks]), local, keys, lab)}
    per = [label_p(P(C["preset_q"][tracks, j]), local, keys, lab) for j in range(len(C["presets"]))]
    out.update({n[:5]: v for n, v in zip(C["presets"], per)})
    out["mean"] = float(np.mean(per))
    return out


def protocol(C, proj_kw, source, other, seeds=5, make=None):
    n = len(C["labels"])
    every = np.arange(n)

    def nz(fit_tracks):
        if (proj_kw is None and make is None) or source is None:
            return None
        if source == "own":
            return nuisance_of(C, fit_tracks)
        if source == "other":  # estimated on the other corpus, as the shipped one is made
            return nuisance_of(other, np.arange(len(other["labels"])), presets=True)
        if source == "shipped":
            from livedj.library.fit import load_room_nuisance
            return load_room_nuisance("musicnn/musicnn-msd-0.1.0/penultimate/whole/mel-v1")[0]
        return np.load(source)["nuisance"]

    T = figures(C, every, every, proj_kw, nz(every), make)
    acc = []
    for s in range(seeds):
        perm = np.random.default_rng(s).permutation(n)
        fit_t, test_t = np.sort(perm[: n // 2]), np.sort(perm[n // 2:])
        acc.append(figures(C, test_t, fit_t, proj_kw, nz(fit_t), make))
    S = {k: float(np.mean([a[k] for a in acc])) for k in acc[0]}
    return T, S


def fmt(r):
    return " ".join(f"{k}={v:.3f}" for k, v in r.items())


def head(proj_kw, **config):
    """A ``make`` for :func:`protocol`: the LDA start, then `livedj train`'s contrastive head (defaults)."""
    from livedj.library.contrastive import HeadConfig, train_projection

    def make(C, fit_tracks, nuisance):
        w, g = fit_windows(C, fit_tracks)
        start = fit_lda(w, g, nuisance=nuisance, min_tracks=2, **proj_kw)
        return train_projection(w, g, start, room=nuisance, config=HeadConfig(**config))
    return make


def table(c1, c2, rows):
    """``rows``: (name, proj_kw or None, nuisance source, make or None)."""
    for name, kw, source, make in rows:
        for cname, C, O in (("c1", c1, c2), ("c2", c2, c1)):
            T, S = protocol(C, kw, source, O, make=make)
            print(f"{name:34s} {cname} T {fmt(T)}\n{'':34s} {cname} S {fmt(S)}", flush=True)


def main(argv):
    c1 = load_corpus(argv[0], argv[1])
    c2 = load_corpus(argv[2], argv[3])
    if "--grid" not in argv:
        lda16 = dict(dims=16, shrinkage=0.3)
        room = dict(lda16, nuisance_weight=0.25)
        raw = dict(lda16, unit_columns=False)
        table(c1, c2, [("30 s, no fit", None, None, None), ("LDA 16 (before)", raw, None, None),
                       ("LDA 16, unit columns", lda16, None, None),
                       ("LDA 16 + room of the other corpus, raw", dict(raw, nuisance_weight=0.25), "other", None),
                       ("LDA 16 + room of the other corpus", room, "other", None),
                       ("LDA 16 + room shipped (both corpora)", room, "shipped", None),
                       ("LDA 16 + room of own booth views", room, "own", None),
                       ("LDA 16 + room of the other corpus + contrastive head", room, "other", head(room))])
        return
    tw = [np.trace(nuisance_of(c, np.arange(len(c["labels"])))) for c in (c1, c2)]
    print("trace of nuisance c1 %.4f c2 %.4f" % tuple(tw))
    files = [a for a in argv[4:] if a.endswith(".npz")]
    settings = [("none", None, None, 0)]
    for dims in (16, 32):
        for shrink in (0.3, 0.1):
            settings.append((f"lda{dims} s{shrink}", dict(dims=dims, shrinkage=shrink), None, 0))
    for beta in (0.5, 1.0, 2.0, 4.0):
        for source in ["own", "other"] + files:
            for dims, shrink in ((16, 0.3), (32, 0.3), (32, 0.1)):
                settings.append((f"lda{dims} s{shrink} +{source} x{beta}",
                                 dict(dims=dims, shrinkage=shrink, nuisance_weight=beta), source, beta))
    for name, kw, source, _ in settings:
        for cname, C, O in (("c1", c1, c2), ("c2", c2, c1)):
            T, S = protocol(C, kw, source, O)
            print(f"{name:34s} {cname} T {fmt(T)}\n{'':34s} {cname} S {fmt(S)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
