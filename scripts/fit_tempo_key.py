"""Measurement helper: BPM and key of each cached track's beginning (as `livedj index` estimates them)
and of its first 5 s (what a live update on that window estimates), for the ranked-list figure.

    .venv/bin/python scripts/fit_tempo_key.py CACHE.npz[+PART.npz] OUT.npz
"""
from __future__ import annotations

import sys

import numpy as np

from livedj.dsp.rhythm import estimate_tempo
from livedj.dsp.tonal import estimate_key
from livedj.library.track_analysis import load_beginning


def main(cache: str, out: str) -> None:
    paths = np.concatenate([np.load(p)["paths"] for p in cache.split("+")])
    rows = []
    for i, path in enumerate(paths):
        head, _ = load_beginning(str(path), 15.0)
        bpm, _ = estimate_tempo(head, 16000)
        key, _ = estimate_key(head, 16000)
        qbpm, _ = estimate_tempo(head[:80000], 16000)
        qkey, _ = estimate_key(head[:80000], 16000)
        rows.append([bpm or np.nan, -1 if key is None else key, qbpm or np.nan, -1 if qkey is None else qkey])
        print(i, rows[-1], flush=True)
    np.save(out, np.asarray(rows, dtype=np.float64))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
