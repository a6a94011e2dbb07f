"""Choosing how much a track's opening bars count in its whole-track key (dev data only).

``python -m benchmarks._keyopening`` reads, for every track of three development sets, the chroma of the whole
excerpt and of its opening (:func:`livedj.dsp.keyopening.opening_chroma`, several lengths), and scores the rule
"whole-track posterior times the opening's posterior to the power ``weight``" (:func:`livedj.dsp.keyfind.
track_posterior`) for a grid of lengths and weights. The sets are those of :mod:`benchmarks._keyphrase`, never
the key benchmark's held-out sets:

- ``scores``: the benchmark's **training half** of rendered scores (the score expert learned from them: their
  figures are in-sample for the whole; the opening is new to the model);
- ``styles``: livedj.synth tracks of the 12 fixed styles (seeds 7000+, never trained on; every style's loop
  starts on the tonic);
- ``loops``: livedj.synth tracks with random diatonic four-chord loops (seeds 8000+; the first chord is the
  tonic only half the time): where the opening misleads, so a rule that leans on it too much loses here.

The held-out generator of :mod:`benchmarks._keydata` is not read for the choice. ``--generated B N`` prints the
same grid on its tracks ``B`` .. ``B + N - 1`` (the error analysis used seeds 5000-5299, never a measured set;
by mode and by progression): a diagnosis, not a choice. ``--fit-temperature``: the temperature that
calibrates the chosen rule's posterior, fitted on the same three sets (negative log-likelihood).
Figures and the choice: docs/key.md ("The opening bars").
"""
from __future__ import annotations

import sys

import numpy as np

SR = 16000
SETS = ("scores", "styles", "loops")
LENGTHS = (1.5, 2.0, 3.0, 4.0, 6.0)  #: opening lengths tried, s
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)  #: exponents of the opening's posterior tried
VERSION = "v1"


def collect(kind: str, n: int = 96, progress=None) -> dict[str, np.ndarray]:
    """Per track of one dev set: ``key``, ``whole`` (2, 12), ``seconds`` and ``opening`` (lengths, 2, 12), cached
    under ``.bench/key``."""
    from benchmarks._keyphrase import tracks
    from benchmarks.common import cache_dir
    from livedj.dsp.keyfind import chroma_features
    from livedj.dsp.keyopening import opening_chroma

    cached = cache_dir("key") / f"opening-dev-{kind}-{n}-{VERSION}.npz"
    if not cached.exists():
        cols = {"key": [], "whole": [], "seconds": [], "opening": []}
        for i, (y, key, _) in enumerate(tracks(kind, n), 1):
            whole, tuning = chroma_features(y, SR)
            cols["key"].append(key)
            cols["whole"].append(whole)
            cols["seconds"].append(len(y) / SR)
            cols["opening"].append([opening_chroma(y, SR, tuning=tuning, seconds=s) for s in LENGTHS])
            if progress:
                progress(kind, i)
        np.savez(cached, **{k: np.asarray(v) for k, v in cols.items()})
    with np.load(cached) as f:
        return {k: f[k] for k in f.files}


def collect_generated(base: int, n: int, progress=None) -> dict[str, np.ndarray]:
    """:func:`collect` for the held-out generator's tracks ``base`` .. ``base + n - 1`` (rendered as the benchmark
    does, cached under ``.bench/key-generated``), plus ``progression`` (the loop's index in its mode's list)."""
    from benchmarks._keydata import _stable_rng, build_generated, load
    from benchmarks.common import cache_dir
    from livedj.dsp.keyfind import chroma_features
    from livedj.dsp.keyopening import opening_chroma

    root = cache_dir("key-generated")
    cached = root / f"opening-{base}-{n}-{VERSION}.npz"
    if not cached.exists():
        cols = {"key": [], "whole": [], "seconds": [], "opening": [], "progression": []}
        for i, ex in enumerate(build_generated(root, range(base, base + n)), 1):
            y = load(root, ex)
            whole, tuning = chroma_features(y, SR)
            rng = _stable_rng("generated", base + i - 1)
            rng.integers(12), rng.uniform(90, 171)  # the draws before the progression's (see generated_track)
            for k, v in (("key", ex.key), ("whole", whole), ("seconds", len(y) / SR), ("progression", rng.integers(6)),
                         ("opening", [opening_chroma(y, SR, tuning=tuning, seconds=s) for s in LENGTHS])):
                cols[k].append(v)
            if progress:
                progress("generated", i)
        np.savez(cached, **{k: np.asarray(v) for k, v in cols.items()})
    with np.load(cached) as f:
        return {k: f[k] for k in f.files}


def evaluate(data: dict, length_index: int, weight: float, temperature: float = 1.0,
             relatives_only: bool = True, calibration: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(posteriors, MIREX weight per track) of the rule on one set (``calibration``: the final temperature,
    :data:`livedj.dsp.keyopening.INDEX_TEMPERATURE`; 1 as the rule was chosen)."""
    from benchmarks.key import MIREX, relation
    from livedj.dsp.keyopening import track_posterior

    p = track_posterior(data["whole"], data["opening"][:, length_index], data["seconds"], weight=weight,
                        temperature=temperature, relatives_only=relatives_only, calibration=calibration)
    got = np.array([MIREX[relation(int(e), int(t))] for e, t in zip(p.argmax(axis=-1), data["key"])])
    return p, got


def fit_temperature(sets: dict, length_index: int, weight: float, relatives_only: bool = True) -> float:
    """The temperature minimising the negative log-likelihood of the true keys over all sets (mean per set)."""
    from scipy.optimize import minimize_scalar

    def nll(log_t):
        total = 0.0
        for data in sets.values():
            p, _ = evaluate(data, length_index, weight, float(np.exp(log_t)), relatives_only)
            total += -np.mean(np.log(p[np.arange(len(p)), data["key"]] + 1e-12))
        return total / len(sets)

    return float(np.exp(minimize_scalar(nll, bounds=(-2, 2), method="bounded").x))


def fit_index_temperature(sets: dict, length_index: int) -> float:
    """The final posterior's temperature (:data:`livedj.dsp.keyopening.INDEX_TEMPERATURE`) minimising the negative
    log-likelihood of the true keys, the mean of the sets' means, for the shipped rule (its length, weight and
    share temperature as they are). A power of the posterior: the keys do not change."""
    from scipy.optimize import minimize_scalar

    from livedj.dsp.keyopening import OPENING_TEMPERATURE, OPENING_WEIGHT

    def nll(log_t):
        total = 0.0
        for data in sets.values():
            p, _ = evaluate(data, length_index, OPENING_WEIGHT, OPENING_TEMPERATURE, calibration=float(np.exp(log_t)))
            total += -np.mean(np.log(p[np.arange(len(p)), data["key"]] + 1e-12))
        return total / len(sets)

    return float(np.exp(minimize_scalar(nll, bounds=(-2, 2), method="bounded").x))


def index_calibration(sets: dict, length_index: int, fitted: float) -> None:
    """Print, per set, the fitted temperature alone, and ECE / reliability at 1, at ``fitted`` and as shipped."""
    from benchmarks.key import ece_noise, reliability
    from livedj.dsp.keyopening import INDEX_TEMPERATURE, OPENING_TEMPERATURE, OPENING_WEIGHT

    for name, data in sets.items():
        alone = fit_index_temperature({name: data}, length_index)
        print(f"{name} ({len(data['key'])}): its own temperature would be {alone:.3f}")
        keys = None
        for label, t in (("1 (before)", 1.0), (f"{fitted:.3f} (fitted)", fitted),
                         (f"{INDEX_TEMPERATURE:.3f} (shipped)", INDEX_TEMPERATURE)):
            p, _ = evaluate(data, length_index, OPENING_WEIGHT, OPENING_TEMPERATURE, calibration=t)
            keys = p.argmax(axis=-1) if keys is None else keys
            assert np.array_equal(keys, p.argmax(axis=-1)), "a temperature moved a key"
            conf, right = p.max(axis=-1), (p.argmax(axis=-1) == data["key"]) * 1.0
            ece, lines = reliability(conf, right)
            print(f"  temperature {label}: ECE {ece:.3f} (noise {ece_noise(conf, draws=300):.3f}), says "
                  f"{conf.mean():.3f}, right {right.mean():.3f}\n" + "\n".join("  " + line for line in lines))


def diagnose(data: dict, relatives_only: bool = True) -> int:
    """The grid on one generated set, by mode and by progression (:func:`main` ``--generated``)."""
    from benchmarks.key import MIREX, relation

    minor = data["key"] >= 12
    for li, length in enumerate(LENGTHS):
        for weight in WEIGHTS:
            p, got = evaluate(data, li, weight, relatives_only=relatives_only)
            rel = np.array([relation(int(e), int(t)) for e, t in zip(p.argmax(axis=-1), data["key"])])
            parts = [f"all {got.mean():.3f}/{100 * np.mean(got == 1):.0f}%"]
            parts += [f"{m} {got[s].mean():.3f}/{100 * np.mean(got[s] == 1):.0f}%" for m, s in (("major", ~minor),
                                                                                              ("minor", minor))]
            parts.append("errors " + " ".join(f"{k} {np.sum(rel == k)}" for k in MIREX if k != "exact"))
            print(f"{length:4.1f} s x{weight:<4}: " + "  ".join(parts))
            if weight in (0.0, 0.5) and li == LENGTHS.index(2.0):
                for mode, sel in (("major", ~minor), ("minor", minor)):
                    print("      " + mode + " by progression: " + "  ".join(
                        f"{q}: {100 * np.mean(got[sel & (data['progression'] == q)] == 1):.0f}% of "
                        f"{np.sum(sel & (data['progression'] == q))}" for q in range(6)))
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    from benchmarks.key import reliability

    parser = argparse.ArgumentParser(prog="python -m benchmarks._keyopening", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=96, help="tracks per livedj.synth set")
    parser.add_argument("--fit-temperature", action="store_true", help="also fit the shipped rule's temperature")
    parser.add_argument("--fit-index-temperature", action="store_true",
                        help="instead: fit the final posterior's temperature (INDEX_TEMPERATURE) on the three dev sets "
                        "and the held-out generator's development draw 5000-5299, and print each set's reliability")
    parser.add_argument("--generated", nargs=2, type=int, metavar=("B", "N"),
                        help="instead: the grid on the held-out generator's tracks B..B+N-1 (a diagnosis; never a "
                        "measured set), by mode and by progression")
    parser.add_argument("--all-keys", action="store_true", help="the opening weighs on all 24 keys, not only between "
                        "a key and its relative (the first rule, not used)")
    args = parser.parse_args(argv)
    rel = not args.all_keys
    if args.generated:
        return diagnose(collect_generated(*args.generated, progress=lambda kind, i: i % 50 == 0 and print(
            f"{kind} {i}", file=sys.stderr, flush=True)), rel)
    sets = {k: collect(k, args.n, progress=lambda kind, i: i % 25 == 0 and print(f"{kind} {i}", file=sys.stderr,
                                                                                   flush=True)) for k in SETS}
    if args.fit_index_temperature:
        from livedj.dsp.keyopening import OPENING_S

        sets["generated 5000-5299 (dev draw)"] = collect_generated(5000, 300)
        li = LENGTHS.index(OPENING_S)
        fitted = fit_index_temperature(sets, li)
        print(f"final temperature, NLL over the {len(sets)} dev sets: {fitted:.3f}")
        index_calibration(sets, li, fitted)
        return 0
    print("MIREX / exact per set (mean of the three sets' MIREX last); rows: opening length, columns: weight")
    for li, length in enumerate(LENGTHS):
        for weight in WEIGHTS:
            got = {k: evaluate(d, li, weight, relatives_only=rel)[1] for k, d in sets.items()}
            line = "  ".join(f"{k} {v.mean():.3f}/{100 * np.mean(v == 1):.0f}%" for k, v in got.items())
            print(f"{length:4.1f} s x{weight:<4}: {line}  mean {np.mean([v.mean() for v in got.values()]):.3f}")
    if args.fit_temperature:
        from livedj.dsp.keyopening import OPENING_S, OPENING_WEIGHT

        li = LENGTHS.index(OPENING_S)
        t = fit_temperature(sets, li, OPENING_WEIGHT, rel)
        print(f"temperature for {OPENING_S} s, weight {OPENING_WEIGHT}: {t:.3f}")
        for k, d in sets.items():
            for name, temp in (("1", 1.0), (f"{t:.3f}", t)):
                p, _ = evaluate(d, li, OPENING_WEIGHT, temp, rel)
                ece, _ = reliability(p.max(axis=-1), (p.argmax(axis=-1) == d["key"]) * 1.0)
                print(f"  {k}: temperature {name}: ECE {ece:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
