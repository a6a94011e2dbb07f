"""Why a lone 12-s key estimate of a generated track scores below the whole track's: a diagnosis.

``python -m benchmarks._keywindows`` reads the key benchmark's cached features (``python -m benchmarks
key`` builds them) and prints, for the 60 generated tracks (held out: this only *looks* at them with the
shipped model, it chooses nothing):

- the MIREX score of the 12-s windows by their position in the track (an outro would show at the end);
- the confusions (relative, fifth) of the whole track, the last 12 s and any 12-s window;
- the gate's probability of the loop expert on the whole and on the windows, and each expert alone;
- the windows' accuracy by whether the whole track is right, and by the track's chord loop;
- the correlation, within a track, between a window being right and the share of its bars on the tonic
  chord (a 12-s window holds 4.5-8.5 bars of a 4-bar loop: a partial loop weighs one chord more);
- the windows scored with the whole track's calibration, and read at A440 instead of their own tuning.
"""
from __future__ import annotations

import sys
from collections import Counter, defaultdict

import numpy as np

from benchmarks import key as K
from livedj.dsp import keyfind as kf


def _loop_degrees(i: int) -> tuple[tuple[int, ...], float]:
    """The generated track's chord loop (scale degrees of the pad's roots, one per bar) and its bar length (s)."""
    from benchmarks._keydata import MAJOR_SCALE, MINOR_SCALE, generated_track

    ex, pm, _ = generated_track(i)
    scale = MINOR_SCALE if ex.key >= 12 else MAJOR_SCALE
    pad = pm.instruments[0]  # one triad a bar
    starts = sorted({round(n.start, 6) for n in pad.notes})
    roots = [min(n.pitch for n in pad.notes if round(n.start, 6) == t) for t in starts[:4]]
    return tuple(scale.index((r - ex.key) % 12) for r in roots), starts[1] - starts[0]


def main() -> int:
    table = K.features()
    sel = np.nonzero(table["kind"] == "generated")[0]
    key, n_win = table["key"][sel], table["n_windows"][sel]
    if np.any(n_win != n_win[0]):
        raise RuntimeError("generated tracks of different lengths: rebuild the key benchmark's cache")
    model = kf.load_model()
    whole = kf.key_posterior(table["whole"][sel], seconds=60.0)
    win = kf.key_posterior(table["windows"][sel][:, :n_win[0]])  # (tracks, windows, 24)
    right = win.argmax(-1) == key[:, None]
    w_right = whole.argmax(-1) == key

    def mirex(est, truth):
        return K.scores(np.ravel(est), np.ravel(truth))["mirex"]

    print(f"whole: MIREX {mirex(whole.argmax(-1), key):.3f}; 12-s windows at a {K.HOP_S:.0f}-s hop, by start:")
    for j in range(n_win[0]):
        print(f"  {K.HOP_S * j:4.0f} s: MIREX {mirex(win[:, j].argmax(-1), key):.3f}, exact {right[:, j].mean():.2f}")
    for name, est, truth in (("whole", whole.argmax(-1), key), ("last 12 s", win[:, -1].argmax(-1), key),
                             ("every window", win.argmax(-1), np.repeat(key[:, None], n_win[0], 1))):
        count = Counter(K.relation(int(e), int(t)) for e, t in zip(np.ravel(est), np.ravel(truth)))
        print(f"{name}: " + ", ".join(f"{k} {count[k] / sum(count.values()):.0%}" for k in K.MIREX))
    chroma_w = table["windows"][sel][:, :n_win[0]]
    print(f"gate, P(loop expert): whole {kf.gate_probability(table['whole'][sel], model.gate).mean():.2f}, "
          f"windows {kf.gate_probability(chroma_w, model.gate).mean():.2f}")
    for e in range(model.experts):
        alone_whole = np.mean(kf.key_logits(table["whole"][sel], model, e).argmax(-1) == key)
        alone_win = np.mean(kf.key_logits(chroma_w, model, e).argmax(-1) == key[:, None])
        print(f"expert {e} alone, exact: whole {alone_whole:.2f}, windows {alone_win:.2f}")
    print(f"windows right: {right[w_right].mean():.2f} where the whole is right ({w_right.sum()} tracks), "
          f"{right[~w_right].mean():.2f} where it is not")
    by_loop, corr = defaultdict(list), []
    for r, i in enumerate(sel):
        degrees, bar = _loop_degrees(int(str(table["name"][i]).split("-")[1]))
        by_loop[("minor" if key[r] >= 12 else "major", degrees)].append(r)
        tonic = []
        for j in range(n_win[0]):  # seconds of the window on a tonic bar
            s0, s1 = K.HOP_S * j, K.HOP_S * j + K.LIVE_S
            tonic.append(sum(max(0.0, min((b + 1) * bar, s1) - max(b * bar, s0))
                             for b in range(int(s1 / bar) + 1) if degrees[b % 4] == 0))
        if right[r].std() > 0 and np.std(tonic) > 0:
            corr.append(np.corrcoef(tonic, right[r])[0, 1])
    print("by chord loop (scale degrees, one bar each): tracks, whole exact, windows exact")
    for (mode, degrees), rows in sorted(by_loop.items()):
        print(f"  {mode} {degrees}: {len(rows)}, {w_right[rows].mean():.2f}, {right[rows].mean():.2f}")
    print(f"within a track, correlation of a window being right with its seconds on the tonic chord: mean "
          f"{np.mean(corr):+.2f} over the {len(corr)} tracks whose windows disagree")
    every = np.repeat(key[:, None], n_win[0], 1)
    for seconds in (12.0, 60.0):
        est = kf.key_posterior(chroma_w, seconds=seconds).argmax(-1)
        print(f"windows with the calibration for {seconds:.0f} s: MIREX {mirex(est, every):.3f}")
    from benchmarks._keydata import build, load
    from benchmarks.common import cache_dir

    root = cache_dir("key")
    by_name = {ex.name: ex for ex in build(root)}
    own, a440 = [], []
    n, hop = int(K.LIVE_S * 16000), int(K.HOP_S * 16000)
    for r, i in enumerate(sel):  # every third window (a 6-s hop), as the benchmark's "any"
        y = load(root, by_name[str(table["name"][i])])
        for j in range(0, n_win[0], 3):
            for out, tuning in ((own, None), (a440, 0.0)):
                chroma = kf.chroma_features(y[j * hop:j * hop + n], 16000, tuning=tuning)[0]
                out.append(K.MIREX[K.relation(int(kf.key_posterior(chroma).argmax()), int(key[r]))])
    print(f"windows (6-s hop) read at their own tuning: MIREX {np.mean(own):.3f}; at A440: {np.mean(a440):.3f}")
    return 0


if __name__ == "__main__":
    from benchmarks.common import script

    sys.exit(script("_keywindows", "Why a lone 12-s key estimate of a generated track scores below the whole "
                    "track's: a diagnosis.", lambda args: main()))
