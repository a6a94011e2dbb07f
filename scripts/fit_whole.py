"""Measurement helper: `livedj train --whole` recipes on corpus 2 (scripts/fit_cache_whole.py cache).

    .venv/bin/python scripts/fit_whole.py

Paths of the caches are those of docs/fit.md; the room of corpus 1 stands for the shipped one.
"""
import sys
sys.path.insert(0, "scripts")
import numpy as np
from fit_booths import load_corpus, fit_windows, nuisance_of, protocol, fmt
from fit_measure import unitn
from livedj.adapt.data import penultimate_from_pool
from livedj.encoders.musicnn import load_musicnn
from livedj.library.fit import fit_lda, room_nuisance
from livedj.library.contrastive import HeadConfig, train_projection
c1 = load_corpus("/tmp/fit-c1-0.npz+/tmp/fit-c1-1.npz", "/tmp/fit-c1-booths.npz")
c2 = load_corpus("/tmp/fit-c2.npz", "/tmp/fit-c2-booths.npz")
z = np.load("/tmp/fit-c2-whole.npz")
paths = np.load("/tmp/fit-c2.npz")["paths"]
where = {p: i for i, p in enumerate(z["paths"])}
idx = np.asarray([where[p] for p in paths])
model, _ = load_musicnn()
def pen(a):
    return penultimate_from_pool(model, a.reshape(-1, a.shape[-1])).reshape(*a.shape[:2], -1)
whole = unitn(pen(z["whole"][idx])); wb = unitn(pen(z["whole_booth"][idx]))
R = nuisance_of(c1, np.arange(len(c1["labels"])), presets=True)
kw = dict(dims=16, shrinkage=0.3, nuisance_weight=0.25, min_tracks=2)
def windows_of(ft, use_whole):
    w, g = fit_windows(c2, ft)
    if use_whole:
        w = np.concatenate([w, whole[ft].reshape(-1, w.shape[1])]); g = np.concatenate([g, np.repeat(ft, whole.shape[1])])
    return w, g
def own_room(ft):
    c = whole[ft][:, ::2].reshape(-1, whole.shape[-1]); b = wb[ft].reshape(-1, whole.shape[-1])
    return room_nuisance(c, b)
variants = {
  "beginnings, room other": lambda C, ft, nz: fit_lda(*windows_of(ft, False), nuisance=R, **kw),
  "+whole-track windows, room other": lambda C, ft, nz: fit_lda(*windows_of(ft, True), nuisance=R, **kw),
  "+whole windows, room other+own whole booth": lambda C, ft, nz: fit_lda(*windows_of(ft, True), nuisance=0.5 * (R + own_room(ft)), **kw),
  "+whole windows + head": lambda C, ft, nz: train_projection(*windows_of(ft, True), fit_lda(*windows_of(ft, True), nuisance=R, **kw), room=R),
  "+whole windows + head, anchor 1, 600 steps": lambda C, ft, nz: train_projection(*windows_of(ft, True), fit_lda(*windows_of(ft, True), nuisance=R, **kw), room=R, config=HeadConfig(anchor=1.0, steps=600)),
}
for name, make in variants.items():
    T, S = protocol(c2, None, None, c1, make=make)
    print(f"{name:45s} c2 T {fmt(T)}\n{'':45s} c2 S {fmt(S)}", flush=True)
