"""Measurement helper: leave-one-preset-out -- the room nuisance estimated on the other corpus
without the booth preset it is then judged on (docs/fit.md).

    .venv/bin/python scripts/fit_lopo.py
"""
import sys
sys.path.insert(0, "scripts")
import numpy as np
from fit_booths import load_corpus, nuisance_of, protocol, fmt
from livedj.library.fit import room_nuisance
c1 = load_corpus("/tmp/fit-c1-0.npz+/tmp/fit-c1-1.npz", "/tmp/fit-c1-booths.npz")
c2 = load_corpus("/tmp/fit-c2.npz", "/tmp/fit-c2-booths.npz")
names = c1["presets"]
def preset_pairs(C, keep):
    c = np.repeat(C["clean"][:, None], len(keep), 1).reshape(-1, C["clean"].shape[-1])
    b = C["preset_q"][:, keep].reshape(-1, c.shape[-1])
    return c, b
def rand_pairs(C):
    c = C["begin"][:, :3].reshape(-1, C["begin"].shape[-1]); b = C["begin_booth"].reshape(-1, c.shape[-1])
    ok = ~np.isnan(c[:, 0]) & ~np.isnan(b[:, 0]); return c[ok], b[ok]
for beta in (0.5, 1.0):
  for cname, C, O in (("c1", c1, c2), ("c2", c2, c1)):
    for held in range(len(names)):
        keep = [j for j in range(len(names)) if j != held]
        pc, pb = preset_pairs(O, keep); rc, rb = rand_pairs(O)
        for src, (cc, bb) in (("presets-1", (pc, pb)), ("presets-1+random", (np.concatenate([pc, rc]), np.concatenate([pb, rb])))):
            R = room_nuisance(cc, bb)
            T, S = protocol(C, dict(dims=16, shrinkage=0.3, nuisance_weight=beta), None, O, make=lambda C_, ft, nz: __import__("fit_booths").lda(C_, ft, dict(dims=16, shrinkage=0.3, nuisance_weight=beta), R))
            print(f"x{beta} {cname} held={names[held]:12s} {src:17s} T {fmt(T)} | held {T[names[held][:5]]:.3f} S-held {S[names[held][:5]]:.3f} S {S['begin']:.3f}/{S['clean']:.3f}/{S['booth']:.3f}", flush=True)
