"""Measurement helper (not shipped behaviour): booth-preset views of each track's 40 % window.

    .venv/bin/python scripts/fit_cache_booths.py CORPUS_DIR OUT.npz

For each file under CORPUS_DIR/<label>/... (same files and order as scripts/fit_cache.py with one
part): the clean 5-s window at 40 % of the track (after its first sound) through every preset of
:data:`livedj.dsp.room.BOOTHS` (seeded by the file's name) -> musicnn pool features,
``preset_q`` [n, presets, 1506]. Used by scripts/fit_booths.py to judge a fit on booths it was not
tuned on.
"""
from __future__ import annotations

import sys
import zlib

import numpy as np

from _corpus import corpus_audio
from livedj.adapt.data import PREROLL_S
from livedj.commands.eval import labelled_files
from livedj.dsp.room import BOOTHS, booth_preset
from livedj.encoders.musicnn import MusicnnEncoder

SR, W = 16000, 80000
POSITION = 0.40


def main(root: str, out: str) -> None:
    enc = MusicnnEncoder(threads=1)
    names = list(BOOTHS)
    paths, feats = [], []
    files = labelled_files(root)
    for i, path, label, audio, start in corpus_audio(files, SR, W):
        p = start + int(POSITION * (len(audio) - start - W - 2000))
        pre = min(p, int(PREROLL_S * SR))
        seed = zlib.crc32(path.encode("utf-8", "surrogateescape"))
        views = [booth_preset(audio[p - pre:p + W], SR, name, seed=(seed + k) % 2**31)[pre:pre + W]
                 for k, name in enumerate(names)]
        views = [np.pad(v, (0, W - len(v))) for v in views]
        pool = enc.outputs_many(views)["pool"]
        paths.append(path), feats.append(pool.astype(np.float32))
        print(f"{i + 1}/{len(files)} {label}", flush=True)
    np.savez(out, paths=np.asarray(paths), presets=np.asarray(names), preset_q=np.stack(feats))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
