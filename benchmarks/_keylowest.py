"""Choosing the live window's lowest-note cue (dev data only): ``python -m benchmarks._keylowest``.

Inside a 12-s window the notes of a key and of its relative are often the same (a loop i-VI-III-VII holds the notes
of vi-IV-I-V); the index breaks that tie by the chord a track opens on (:mod:`livedj.dsp.keyopening`), which a live
window, starting anywhere, does not have. :func:`livedj.dsp.keyrelative.lowest_note_tiebreak` breaks it from
inside the window instead: by how often each pair's tonic is the lowest sounding note
(:func:`livedj.dsp.keyrelative.lowest_notes`).
This prints, for a grid of its level, weight and floor, the MIREX of every 12-s window at a 6-s hop (``any``) on
four development sets, and for the chosen rule the key shown by the live smoother (``shown``, 2-s hop):

- ``scores``: the key benchmark's **training half** of rendered scores;
- ``gen5000``: the held-out generator's development draw, seeds 5000-5299 (used before for diagnosis only);
- ``styles``, ``loops``: livedj.synth fixed styles (seeds 7000+) and random loops (8000+), as
  :mod:`benchmarks._keyphrase`.

Never the benchmark's held-out sets. Choice and figures: docs/key.md, "The lowest note inside the window".
``--fit-temperature``: the temperature of the rule's posterior (:data:`livedj.dsp.keyrelative.LOWEST_NOTE_TEMPERATURE`)
fitted on the same four sets (docs/key.md, "A temperature for the live window").
"""
from __future__ import annotations

import sys

import numpy as np

SR = 16000
LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9)
WEIGHTS = (0.5, 1.0, 2.0, 3.0, 4.0)
FLOORS = (0.02, 0.05, 0.1)
VERSION = "v1"


def window_lowest(y: np.ndarray, starts, seconds: float = 12.0) -> np.ndarray:
    """Shape (windows, levels, 12): :func:`livedj.dsp.keyrelative.lowest_notes` of every window at every level."""
    from livedj.dsp.keyfind import semitone_frames
    from livedj.dsp.keyrelative import lowest_notes

    out = np.zeros((len(starts), len(LEVELS), 12))
    for j, s0 in enumerate(starts):
        per_frame, notes, _, _, _ = semitone_frames(y[s0:s0 + int(seconds * SR)], SR, None, 55.0, 2000.0, None)
        out[j] = [lowest_notes(per_frame, notes, level) for level in LEVELS]
    return out


def table_lowest(table: dict, root, excerpts, progress=None, levels: bool = True) -> np.ndarray:
    """Shape (n, MAX_WINDOWS, levels, 12) (or (n, MAX_WINDOWS, 12) at the shipped level with ``levels=False``): the
    lowest notes of every 12-s window of a key benchmark table (:func:`benchmarks.key.features`: 2-s hop, the newest
    :data:`benchmarks.key.MAX_WINDOWS`), cached under ``root``."""
    import hashlib

    from benchmarks._keydata import load
    from benchmarks.key import HOP_S, LIVE_S, MAX_WINDOWS
    from livedj.dsp.keyrelative import LOWEST_NOTE_LEVEL

    tag = hashlib.sha1("/".join(map(str, table["name"])).encode()).hexdigest()[:10]
    cached = root / f"lowest-{tag}-{VERSION}.npy"
    if not cached.exists():
        by_name = {ex.name: ex for ex in excerpts}
        out = np.zeros((len(table["name"]), MAX_WINDOWS, len(LEVELS), 12))
        n, hop = int(LIVE_S * SR), int(HOP_S * SR)
        for i, name in enumerate(table["name"]):
            y = load(root, by_name[str(name)])
            starts = list(range(0, len(y) - n + 1, hop))[-MAX_WINDOWS:] or [0]
            out[i, :len(starts)] = window_lowest(y, starts)
            if progress:
                progress("lowest notes", i + 1, len(out))
        np.save(cached, out)
    got = np.load(cached)
    return got if levels else got[:, :, LEVELS.index(LOWEST_NOTE_LEVEL)]


def synth_set(kind: str, n: int = 96) -> dict[str, np.ndarray]:
    """``chroma``, ``lowest`` (levels) and ``key`` of every 12-s window at a 6-s hop of a livedj.synth dev set."""
    from benchmarks._keyphrase import tracks
    from benchmarks.common import cache_dir
    from livedj.dsp.keyfind import chroma_features

    cached = cache_dir("key") / f"lowest-dev-{kind}-{n}-{VERSION}.npz"
    if not cached.exists():
        cols = {"chroma": [], "lowest": [], "key": []}
        for y, key, _ in tracks(kind, n):
            starts = list(range(0, len(y) - 12 * SR + 1, 6 * SR))
            cols["chroma"] += [chroma_features(y[s:s + 12 * SR], SR)[0] for s in starts]
            cols["lowest"] += list(window_lowest(y, starts))
            cols["key"] += [key] * len(starts)
        np.savez(cached, **{k: np.asarray(v) for k, v in cols.items()})
    with np.load(cached) as f:
        return {k: f[k] for k in f.files}


def dev_sets(progress=None) -> dict[str, dict]:
    """The four dev sets: for each, the key benchmark-shaped table (scores' training half, 5000-5299) or windows."""
    from benchmarks._keydata import build
    from benchmarks._keyheldout import generated_table
    from benchmarks.common import cache_dir
    from benchmarks.key import features

    root = cache_dir("key")
    table = features(progress=progress)
    table["lowest"] = table_lowest(table, root, build(root), progress=progress)
    sel = (table["kind"] == "score") & (table["split"] == "train")
    out = {"scores": {k: v[sel] for k, v in table.items()}}
    from benchmarks._keydata import build_generated

    gen = generated_table(5000, 300, progress=progress)
    groot = cache_dir("key-generated")
    gen["lowest"] = table_lowest(gen, groot, build_generated(groot, range(5000, 5300)), progress=progress)
    out["gen5000"] = gen
    for kind in ("styles", "loops"):
        out[kind] = synth_set(kind)
    return out


def _any_windows(data: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chroma, lowest, key) of every window at a 6-s hop."""
    if "windows" not in data:
        return data["chroma"], data["lowest"], data["key"]
    from benchmarks.key import HOP_S, MAX_WINDOWS

    valid = np.arange(MAX_WINDOWS)[None] < data["n_windows"][:, None]
    r, c = np.nonzero(valid & (np.arange(MAX_WINDOWS)[None] % int(round(6.0 / HOP_S)) == 0))
    return data["windows"][r, c], data["lowest"][r, c], data["key"][r]


def _smoothed(data: dict, p: np.ndarray, start: int) -> float:
    """MIREX of the key the live smoother shows at the end of every excerpt, fed the posteriors ``p`` (n, windows,
    24) from window ``start`` on (2 s each)."""
    from benchmarks.key import HOP_S, MIREX, relation
    from livedj.engine.listen import KeySmoother

    got = []
    for i in range(len(data["key"])):
        smoother = KeySmoother()
        for q in p[i, start:data["n_windows"][i]]:
            q = np.clip(q, 0, None) + 1e-9
            smoother.update(q / q.sum(), HOP_S)
        got.append(MIREX[relation(int(smoother.key), int(data["key"][i]))] if smoother.key is not None else 0.0)
    return float(np.mean(got))


def rule_posterior(chroma: np.ndarray, lowest: np.ndarray, weight: float, floor: float, min_loop: float,
                   temperature: float | None = None) -> np.ndarray:
    """The windows' posteriors under one rule (weight 0: plain), the gate read on each window's chroma; where the
    tie-break applies, tempered by ``temperature`` (None: the shipped
    :data:`~livedj.dsp.keyrelative.LOWEST_NOTE_TEMPERATURE`; 1: as the rule was chosen)."""
    from livedj.dsp.keyfind import gate_probability, key_posterior, load_model
    from livedj.dsp.keyrelative import LOWEST_NOTE_TEMPERATURE, lowest_note_tiebreak, temper

    p = key_posterior(chroma)
    if weight == 0:
        return p
    loop = gate_probability(chroma, load_model().gate)[..., None] >= min_loop
    shared = temper(lowest_note_tiebreak(p, lowest, weight=weight, floor=floor),
                    LOWEST_NOTE_TEMPERATURE if temperature is None else temperature)
    return np.where(loop, shared, p)


def figures(sets: dict, level: float, weight: float, floor: float, min_loop: float) -> dict[str, float]:
    """MIREX of every 12-s window (6-s hop) on the four sets, and of the key shown from 0 s and from 6 s in on the
    two sets with 2-s-hop windows."""
    from benchmarks.key import scores

    li, out = LEVELS.index(level), {}
    for name, data in sets.items():
        chroma, lowest, key = _any_windows(data)
        out[f"{name} any"] = scores(rule_posterior(chroma, lowest[:, li], weight, floor, min_loop).argmax(-1),
                                    key)["mirex"]
        if "windows" in data:
            p = rule_posterior(data["windows"], data["lowest"][:, :, li], weight, floor, min_loop)
            for start in (0, 3):
                out[f"{name} shown@{2 * start}s"] = _smoothed(data, p, start)
    return out


def fit_temperature(sets: dict) -> float:
    """The temperature of the tie-break's posterior (:data:`livedj.dsp.keyrelative.LOWEST_NOTE_TEMPERATURE`) minimising
    the negative log-likelihood of the true keys over every 12-s window at a 6-s hop, the mean of the sets' means."""
    from scipy.optimize import minimize_scalar

    from livedj.dsp.keyrelative import LOWEST_NOTE_FLOOR, LOWEST_NOTE_LEVEL, LOWEST_NOTE_MIN_LOOP, LOWEST_NOTE_WEIGHT

    li = LEVELS.index(LOWEST_NOTE_LEVEL)
    windows = [_any_windows(data) for data in sets.values()]

    def nll(log_t: float, only: int | None = None) -> float:
        total = []
        for i, (chroma, lowest, key) in enumerate(windows):
            if only is None or only == i:
                p = rule_posterior(chroma, lowest[:, li], LOWEST_NOTE_WEIGHT, LOWEST_NOTE_FLOOR, LOWEST_NOTE_MIN_LOOP,
                                   float(np.exp(log_t)))
                total.append(-np.mean(np.log(p[np.arange(len(key)), key] + 1e-12)))
        return float(np.mean(total))

    for i, name in enumerate(sets):
        alone = minimize_scalar(nll, bounds=(-2, 2), args=(i,), method="bounded").x
        print(f"  {name}: its own temperature would be {np.exp(alone):.3f}")
    best = minimize_scalar(nll, bounds=(-2, 2), method="bounded")
    print(f"  NLL at 1: {nll(0.0):.4f}, at the fit: {best.fun:.4f}")
    return float(np.exp(best.x))


def calibration(sets: dict, fitted: float) -> None:
    """Per dev set: ECE and reliability of every window's confidence at temperature 1, ``fitted`` and as shipped;
    asserts that no temperature moved a key."""
    from benchmarks.key import ece_noise, reliability
    from livedj.dsp.keyrelative import (LOWEST_NOTE_FLOOR, LOWEST_NOTE_LEVEL, LOWEST_NOTE_MIN_LOOP,
                                        LOWEST_NOTE_TEMPERATURE, LOWEST_NOTE_WEIGHT)

    li = LEVELS.index(LOWEST_NOTE_LEVEL)
    for name, data in sets.items():
        chroma, lowest, key = _any_windows(data)
        keys = None
        for label, t in (("1 (before)", 1.0), (f"{fitted:.3f} (fitted)", fitted),
                         (f"{LOWEST_NOTE_TEMPERATURE:.3f} (shipped)", LOWEST_NOTE_TEMPERATURE)):
            p = rule_posterior(chroma, lowest[:, li], LOWEST_NOTE_WEIGHT, LOWEST_NOTE_FLOOR, LOWEST_NOTE_MIN_LOOP, t)
            keys = p.argmax(-1) if keys is None else keys
            assert np.array_equal(keys, p.argmax(-1)), "a temperature moved a key"
            conf, right = p.max(-1), (p.argmax(-1) == key) * 1.0
            ece, lines = reliability(conf, right)
            print(f"{name} ({len(key)} windows), temperature {label}: ECE {ece:.3f} (noise "
                  f"{ece_noise(conf, draws=300):.3f}), says {conf.mean():.3f}, right {right.mean():.3f}\n"
                  + "\n".join("  " + line for line in lines))


def main(argv: list[str] | None = None) -> int:
    import argparse
    import itertools

    from benchmarks.key import _show, reliability, scores
    from livedj.dsp.keyrelative import LOWEST_NOTE_FLOOR, LOWEST_NOTE_LEVEL, LOWEST_NOTE_MIN_LOOP, LOWEST_NOTE_WEIGHT

    parser = argparse.ArgumentParser(prog="python -m benchmarks._keylowest", description=__doc__.split("\n")[0])
    parser.add_argument("--fit-temperature", action="store_true", help="instead: fit the temperature of the "
                        "tie-break's posterior (LOWEST_NOTE_TEMPERATURE) on the four dev sets and print their "
                        "reliability")
    args = parser.parse_args(argv)
    sets = dev_sets(progress=_show)
    if args.fit_temperature:
        fitted = fit_temperature(sets)
        print(f"temperature of the tie-break's posterior, NLL over the {len(sets)} dev sets: {fitted:.3f}")
        calibration(sets, fitted)
        return 0
    base = figures(sets, LOWEST_NOTE_LEVEL, 0.0, 0.0, 0.0)
    print("plain 12 s: " + "  ".join(f"{k} {v:.3f}" for k, v in base.items()))
    print("first round (every window, no gate): the best mean of the four sets' any-window MIREX among rules where "
          "none loses more than 0.002 (chosen first, then not kept: it lost the scores' key shown from 0 s):")
    first = []
    for lv, fl, w in itertools.product(LEVELS, FLOORS, WEIGHTS):
        got = figures(sets, lv, w, fl, 0.0)
        anys = [k for k in base if k.endswith(" any")]
        if min(got[k] - base[k] for k in anys) >= -0.002:
            first.append((np.mean([got[k] for k in anys]), lv, fl, w, got))
    for _, lv, fl, w, got in sorted(first, key=lambda g: -g[0])[:3]:
        print(f"  level {lv} floor {fl} weight {w}: " + "  ".join(f"{k} {v - base[k]:+.3f}" for k, v in got.items()))
    print("second round: the best mean gain over all eight figures among rules where none loses more than 0.005:")
    grid = []
    for lv, fl, w, gate in itertools.product((0.6, 0.7, 0.8), (0.02, 0.05), (1.0, 2.0, 3.0), (0.0, 0.3, 0.5)):
        got = figures(sets, lv, w, fl, gate)
        gain = np.array([got[k] - base[k] for k in base])
        grid.append((gain.mean(), gain.min(), lv, fl, w, gate, got))
    for mean, low, lv, fl, w, gate, got in sorted([g for g in grid if g[1] >= -0.005], key=lambda g: -g[0])[:5]:
        print(f"  mean {mean:+.4f} (min {low:+.4f}) level {lv} floor {fl} weight {w} gate >= {gate}: "
              + "  ".join(f"{k} {v - base[k]:+.3f}" for k, v in got.items()))
    print(f"shipped: level {LOWEST_NOTE_LEVEL}, floor {LOWEST_NOTE_FLOOR}, weight {LOWEST_NOTE_WEIGHT}, gate >= "
          f"{LOWEST_NOTE_MIN_LOOP}")
    li = LEVELS.index(LOWEST_NOTE_LEVEL)
    for name, data in sets.items():
        chroma, lowest, key = _any_windows(data)
        for label, w in (("plain", 0.0), ("lowest", LOWEST_NOTE_WEIGHT)):
            p = rule_posterior(chroma, lowest[:, li], w, LOWEST_NOTE_FLOOR, LOWEST_NOTE_MIN_LOOP, 1.0)
            ece, _ = reliability(p.max(-1), (p.argmax(-1) == key) * 1.0)
            print(f"  {name} any, {label}: MIREX {scores(p.argmax(-1), key)['mirex']:.3f}, ECE {ece:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
