"""How often the live tempo is right, by its confidence: the measurement behind `livedj.engine.rules.tempo_trust`.

12-s windows every 3 s of the key benchmark's rendered excerpts (``.bench/key``: build it with
``python -m benchmarks._keydata``), each excerpt's tempo known from its rendering. A window's tempo
(:func:`livedj.dsp.rhythm.estimate_tempo`) counts as right when within 4 % of the excerpt's, or within 8 % of
its half or double (the ranker matches half and double time). Printed per confidence band, for the
scores' training and test halves and the generated tracks, beside the trust the ranker gives that band.

``python -m benchmarks._tempotrust``
"""
from __future__ import annotations

import numpy as np

from benchmarks import _keydata
from benchmarks.common import cache_dir

BANDS = ((0, .05), (.05, .1), (.1, .15), (.15, .2), (.2, .3), (.3, .4), (.4, .5), (.5, .7), (.7, 1.01))


def windows(excerpts, root, sr: int = 16000):
    """(set, confidence, right) per 12-s window at a 3-s hop."""
    from livedj.dsp.rhythm import estimate_tempo

    for ex in excerpts:
        y = _keydata.load(root, ex)
        name = "generated" if ex.kind == "generated" else f"scores {ex.split}"
        for start in range(0, 19, 3):
            seg = y[start * sr:(start + 12) * sr]
            if len(seg) < 8 * sr or not ex.bpm:
                continue
            bpm, confidence = estimate_tempo(seg, sr)
            r = bpm / ex.bpm
            yield name, float(confidence), abs(r - 1) < 0.04 or min(abs(r - 2), abs(r - 0.5)) < 0.08


def main() -> None:
    from livedj.engine.rules import tempo_trust

    root = cache_dir("key")
    excerpts = _keydata.build(root)
    rows = list(windows(excerpts, root))
    for name in ("scores train", "scores test", "generated"):
        got = [(c, ok) for n, c, ok in rows if n == name]
        print(f"{name}: {len(got)} windows")
        conf = np.array([c for c, _ in got])
        right = np.array([ok for _, ok in got])
        for lo, hi in BANDS:
            s = (conf >= lo) & (conf < hi)
            if s.any():
                print(f"  confidence {lo:.2f}-{min(hi, 1):.2f}: n={int(s.sum()):5d}  right (or half/double) "
                      f"{right[s].mean():.2f}  trusted {tempo_trust((lo + min(hi, 1)) / 2):.2f}")


if __name__ == "__main__":
    import sys

    from benchmarks.common import script

    sys.exit(script("_tempotrust", "How often the live tempo is right, by its confidence (the key benchmark's "
                    "excerpts).", lambda args: main()))
