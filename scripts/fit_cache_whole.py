"""Measurement helper (not shipped behaviour): windows from all over each track, for `livedj train`.

    .venv/bin/python scripts/fit_cache_whole.py CORPUS_DIR OUT.npz

For each file (same files as scripts/fit_cache_booths.py): clean 5-s windows at
:data:`FRACTIONS` of the track after its first sound (none between 33 and 50 %: the 40 % query
window of scripts/fit_booths.py stays unseen) -> ``whole`` [n, 10, 1506], and one random-booth
view (livedj.adapt.data.booth_params) of every other one -> ``whole_booth`` [n, 5, 1506].
"""
from __future__ import annotations

import sys
import zlib

import numpy as np

from _corpus import corpus_audio
from livedj.adapt.data import booth_params, booth_window
from livedj.commands.eval import labelled_files
from livedj.encoders.musicnn import MusicnnEncoder

SR, W = 16000, 80000
FRACTIONS = (0.05, 0.12, 0.19, 0.26, 0.55, 0.62, 0.69, 0.76, 0.83, 0.90)


def main(root: str, out: str, part: int = 0, parts: int = 1) -> None:
    enc = MusicnnEncoder(threads=1)
    paths, whole, whole_booth = [], [], []
    files = labelled_files(root)[part::parts]
    for i, path, label, audio, start in corpus_audio(files, SR, W):
        rng = np.random.default_rng(zlib.crc32(path.encode("utf-8", "surrogateescape")) + 1)
        at = [start + int(f * (len(audio) - start - W - 2000)) for f in FRACTIONS]
        views = [audio[p:p + W] for p in at] + [booth_window(audio, p, booth_params(rng)) for p in at[::2]]
        pool = enc.outputs_many(views)["pool"].astype(np.float32)
        paths.append(path), whole.append(pool[:len(at)]), whole_booth.append(pool[len(at):])
        print(f"{i + 1}/{len(files)} {label}", flush=True)
    np.savez(out, paths=np.asarray(paths), whole=np.stack(whole), whole_booth=np.stack(whole_booth))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:5]))
