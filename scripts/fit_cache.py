"""Measurement helper (not shipped behaviour): cache musicnn pool features of a labelled corpus.

    .venv/bin/python scripts/fit_cache.py CORPUS_DIR OUT.npz

For each file under CORPUS_DIR/<label>/...: 5-s windows back to back from the first sound over
the first 60 s (``begin``, [n, 9, 1506], NaN where the track is shorter), clean 5-s windows at
25/40/60 % of the track (``clean_q``), the same moments through the standard booth (``booth_q``)
and one random-booth view of each of the first 3 beginning windows (``begin_booth``). Labels
are only used by scripts/fit_measure.py to score; the fit never sees them.
"""
from __future__ import annotations

import sys
import zlib

import numpy as np

from _corpus import corpus_audio
from livedj.adapt.data import booth_params, booth_window
from livedj.commands.eval import labelled_files
from livedj.commands.eval_room import standard_booth
from livedj.encoders.musicnn import MusicnnEncoder

SR, W = 16000, 80000
N_BEGIN, N_BOOTH = 9, 3
POSITIONS = (0.40,)


def main(root: str, out: str, part: int = 0, parts: int = 1) -> None:
    enc = MusicnnEncoder(threads=1)
    files = labelled_files(root)[part::parts]
    paths, labels, begin, clean_q, booth_q, begin_booth = [], [], [], [], [], []
    for i, path, label, audio, start in corpus_audio(files, SR, W):
        wins = [audio[start + j * W:start + (j + 1) * W] for j in range(N_BEGIN)]
        n_ok = sum(len(w) == W for w in wins)
        wins = wins[:max(1, n_ok)]
        if len(wins[0]) < W:
            wins[0] = np.pad(wins[0], (0, W - len(wins[0])))
        rng = np.random.default_rng(zlib.crc32(path.encode("utf-8", "surrogateescape")))
        qpos = [start + int(p * (len(audio) - start - W - 2000)) for p in POSITIONS]
        cq = [audio[p:p + W] for p in qpos]
        bq = [booth_window(audio, p, standard_booth(rng)) for p in qpos]
        bb = [booth_window(audio, start + j * W, booth_params(rng)) for j in range(min(N_BOOTH, len(wins)))]
        every = wins + cq + bq + bb
        pool = np.concatenate([enc.outputs_many(every[s:s + 8])["pool"]
                               for s in range(0, len(every), 8)])
        b = np.full((N_BEGIN, pool.shape[1]), np.nan, np.float32)
        b[:len(wins)] = pool[:len(wins)]
        o = len(wins)
        bbv = np.full((N_BOOTH, pool.shape[1]), np.nan, np.float32)
        bbv[:len(bb)] = pool[o + 2 * len(POSITIONS):o + 2 * len(POSITIONS) + len(bb)]
        paths.append(path), labels.append(label), begin.append(b)
        q = len(POSITIONS)
        clean_q.append(pool[o:o + q]), booth_q.append(pool[o + q:o + 2 * q]), begin_booth.append(bbv)
        print(f"{i + 1}/{len(files)} {label} {len(wins)} windows", flush=True)
    np.savez(out, paths=np.asarray(paths), labels=np.asarray(labels), begin=np.stack(begin),
             clean_q=np.stack(clean_q), booth_q=np.stack(booth_q), begin_booth=np.stack(begin_booth))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:5]))
