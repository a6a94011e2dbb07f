"""The key shown's hysteresis on real music: stable on one record, quick on the next (dev corpora only).

``python -m benchmarks._keysmoothing DIR [DIR ...] [--draws 3] [--pairs 60]``

Issue 17 asks the displayed key of an unknown record to change at most once in 60 s; a DJ mixing an unknown record in
without a pause also wants the key shown to follow it. Both depend only on :class:`~livedj.engine.listen.KeySmoother`
once the 12-s posteriors it is fed are known, so this records those posteriors once (the live path itself:
:class:`~livedj.engine.listen.LiveTempoKey` every 1-s hop, key on every other; cached in ``.bench/key/smoothing-*``)
and replays them through smoothers with other settings:

- **stability**: every record of each folder, 60 s from 30 s in, through the booth simulator with ``--draws`` rooms
  and fader speeds (draw k is :mod:`benchmarks._keystability`'s ``--tracks 1000 --rooms 1000k``):
  changes of the key shown after it first appears, and when it first appears;
- **following**: ``--pairs`` pairs of records per folder cut one into the other without a pause (40 s of the first,
  then 60 s of the second, one room for both), for pairs whose records' keys differ (each the argmax of the mean
  posterior over the record's stretch, the second heard alone through the same room): how often the key shown is
  the second record's within 30 s of the cut, the key shown's MIREX against it 60 s on, and how often the key
  shown at the cut is still shown then;
- **after a record named**: the same cuts with the first record a library record named until 2, 6 or 10 s after the
  cut, when the live path starts the room's average afresh, against keeping it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks._keyshown import _mirex

SR = 16000
VERSION = "v1"
CUT_S = 40.0  #: seconds of the first record before a cut (then the second record's minute)
CUT_UPDATE = int((CUT_S - 6.0) / 2) + 1  #: the first key update reaching past the cut (updates end at 6, 8, ... s)


def _posteriors(heard: np.ndarray) -> np.ndarray:
    """The posteriors the live path feeds its smoother, one row per key update (NaN: a silent update)."""
    from livedj.engine.listen import KeySmoother, LiveTempoKey

    rows: list[np.ndarray] = []

    class Recording(KeySmoother):
        def update(self, posterior, dt_s):
            rows.append(np.asarray(posterior, np.float64).copy())
            return super().update(posterior, dt_s)

    listener = LiveTempoKey(smoother=Recording(), hear_openings=False)
    for end in np.arange(5.0, len(heard) / SR + 1e-9, 1.0):
        before = len(rows)
        listener.update(heard[max(0, int((end - 12) * SR)):int(end * SR)], SR)
        if listener._turn % 2 == 0 and len(rows) == before:
            rows.append(np.full(24, np.nan))
    return np.array(rows)


def _room(y: np.ndarray, seed: int) -> np.ndarray:
    from livedj.dsp.room import booth

    speed = float(np.random.default_rng(seed).uniform(0.94, 1.06))
    return booth(y, SR, rt60=0.5, snr_db=10.0, noise="crowd", speed=speed, seed=seed)


def _files(d: str) -> list[Path]:
    from benchmarks._keystability import AUDIO

    return sorted(p for p in Path(d).rglob("*") if p.suffix.lower() in AUDIO)


def record(d: str, draws: int, pairs: int) -> dict:
    """Posterior sequences of one folder (cached)."""
    from benchmarks.common import cache_dir
    from livedj.audio.decode import decode

    files = _files(d)
    cached = cache_dir("key") / f"smoothing-{Path(d).parent.name}-{len(files)}-{draws}-{pairs}-{VERSION}.npz"
    if cached.exists():
        z = np.load(cached, allow_pickle=True)
        return {k: z[k] for k in z.files}
    minutes = []
    for f in files:
        y = decode(str(f), SR, 30.0, 60.0)
        if len(y) < 54 * SR:
            y = decode(str(f), SR, 0.0, 60.0)
        minutes.append(y if len(y) >= 30 * SR else None)
    usable = [i for i, y in enumerate(minutes) if y is not None]
    stability = []
    for k in range(draws):
        for i in usable:
            stability.append(_posteriors(_room(minutes[i], 1000 * k + i)))
            print(f"draw {k} {files[i].name[:40]}", file=sys.stderr, flush=True)
    rng = np.random.default_rng(1717)
    follow, alone = [], []
    for p in range(pairs):
        a, b = rng.choice(usable, 2, replace=False)
        first, second = minutes[a][:int(CUT_S * SR)], minutes[b]
        seed = 50000 + p
        follow.append(_posteriors(_room(np.concatenate([first, second]), seed)))
        alone.append(np.nanmean(_posteriors(_room(second, seed)), axis=0))
        print(f"pair {p} {files[a].name[:30]} -> {files[b].name[:30]}", file=sys.stderr, flush=True)
    out = {"stability": np.array(stability, dtype=object), "follow": np.array(follow, dtype=object),
           "second": np.array([int(np.nanargmax(m)) for m in alone]),
           "first": np.array([int(np.nanargmax(np.nanmean(s[:CUT_UPDATE], axis=0))) for s in follow])}
    np.savez(cached, **out)
    return out


def replay(rows: np.ndarray, smoother, reset_at: int | None = None) -> list:
    """The key shown after each update of ``rows`` (the live path's posteriors) through ``smoother``, started afresh
    before update ``reset_at`` if given."""
    shown = []
    for j, p in enumerate(rows):
        if j == reset_at:
            smoother.reset()
        if not np.isnan(p).any():
            smoother.update(p, 2.0)
        shown.append(smoother.key)
    return shown


def measure(data: dict, make) -> dict:
    """Stability and following of one smoother setting (``make()`` builds a fresh smoother)."""
    changes, first = [], []
    for rows in data["stability"]:
        shown = replay(rows, make())
        known = [k for k in shown if k is not None]
        changes.append(sum(a != b for a, b in zip(known, known[1:])))
        first.append(next((6.0 + 2 * j for j, k in enumerate(shown) if k is not None), np.inf))
    lags, ends, stuck = [], [], 0
    cut = CUT_UPDATE
    for rows, a, b in zip(data["follow"], data["first"], data["second"]):
        if a == b:
            continue
        shown = replay(rows, make())
        lags.append(next((2.0 * (j - cut) + 2.0 for j in range(cut, len(shown)) if shown[j] == b), np.inf))
        ends.append(_mirex(shown[-1], b))
        stuck += shown[-1] is not None and shown[-1] == shown[cut - 1]
    changes, first, lags = np.array(changes), np.array(first), np.array(lags)
    return {"mean": changes.mean(), "max": int(changes.max()), "over1": int(np.sum(changes > 1)), "n": len(changes),
            "first_median": float(np.median(first)), "first_90": float(np.percentile(first, 90, method="higher")),
            "follow_median": float(np.median(lags)), "within30": float(np.mean(lags <= 30)),
            "end_mirex": float(np.mean(ends)), "stuck": int(stuck), "pairs": len(lags)}


def after_naming(data: dict, dropped_s: float | None) -> dict:
    """The cuts again with the first record named (a library record) until ``dropped_s`` after the cut: the shipped
    listener starts its average afresh then (:meth:`~livedj.engine.listen.LiveTempoKey.follow_record`); None: as if
    it kept the average (before). The key shown against the second record's 30 and 60 s after the cut."""
    from livedj.engine.listen import KeySmoother

    cut = CUT_UPDATE
    at30, at60, blank, stale = [], [], [], 0
    for rows, a, b in zip(data["follow"], data["first"], data["second"]):
        if a == b:
            continue
        drop = None if dropped_s is None else cut + int(dropped_s // 2)
        shown = replay(rows, KeySmoother(), drop)
        at30.append(_mirex(shown[cut + 14], b))
        at60.append(_mirex(shown[-1], b))
        stale += shown[-1] == shown[cut - 1]
        if drop is not None:
            blank.append(2.0 * next((k for k in range(len(shown) - drop) if shown[drop + k] is not None), np.inf))
    return {"at30": float(np.mean(at30)), "at60": float(np.mean(at60)), "stuck": int(stale), "pairs": len(at60),
            "blank_median": float(np.median(blank)) if blank else 0.0,
            "blank_90": float(np.percentile(blank, 90, method="higher")) if blank else 0.0}


def settings() -> dict:
    """name -> smoother factory: the shipped one and the grids tried (the first key waits as long as a change)."""
    from livedj.engine.listen import KeySmoother

    grid = {"shipped": KeySmoother}
    for tau in (15.0, 20.0, 30.0, 45.0):  # the margin alone (before: tau 30, margin 0.2, patience 5, first 1)
        for margin in (0.1, 0.15, 0.2):
            for patience in (3, 5, 7):
                for first in (1, 2):
                    grid[f"tau {tau:.0f} margin {margin} patience {patience} first {first}"] = (
                        lambda t=tau, m=margin, p=patience, f=first:
                        KeySmoother(tau_s=t, margin=m, patience=p, first_patience=p, first_updates=f, ratio=None,
                                    fast_ratio=None))
    for tau in (20.0, 30.0):  # a ratio beside the 0.2 margin
        for ratio in (2.0, 2.5, 3.0, 4.0):
            for patience in (5, 7):
                grid[f"tau {tau:.0f} ratio {ratio} patience {patience} first 2"] = (
                    lambda t=tau, r=ratio, p=patience:
                    KeySmoother(tau_s=t, ratio=r, patience=p, first_patience=p, first_updates=2, fast_ratio=None))
    for tau in (8.0, 10.0, 12.0, 15.0):  # the fast average that lets a key go (fifteenth session)
        for ratio in (4.0, 5.0, 6.0, 8.0):
            for patience in (4, 5, 6):
                grid[f"fast tau {tau:.0f} ratio {ratio} patience {patience}"] = (
                    lambda t=tau, r=ratio, p=patience: KeySmoother(fast_tau_s=t, fast_ratio=r, fast_patience=p))
    return grid


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._keysmoothing", description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--only", default=None, help="only the settings whose name contains this")
    args = parser.parse_args(argv)
    data = [record(d, args.draws, args.pairs) for d in args.dirs]
    for name, make in settings().items():
        if args.only and args.only not in name and name != "shipped":
            continue
        cells = []
        for d, one in zip(args.dirs, data):
            r = measure(one, make)
            cells.append(f"changes {r['mean']:.2f} max {r['max']} >1 {r['over1']}/{r['n']} "
                         f"first {r['first_median']:.0f}/"
                         f"{r['first_90']:.0f} s; after a cut: the next record's key within 30 s {r['within30']:.0%}, "
                         f"MIREX 60 s on {r['end_mirex']:.3f}, the old key still {r['stuck']}/{r['pairs']}")
        print(f"{name:42s} " + " | ".join(cells), flush=True)
    for dropped in (None, 2.0, 6.0, 10.0):
        cells = []
        for one in data:
            r = after_naming(one, dropped)
            cells.append(f"MIREX 30 s on {r['at30']:.3f}, 60 s on {r['at60']:.3f}, old key still {r['stuck']}/"
                         f"{r['pairs']}" + (f", no key for {r['blank_median']:.0f} s (90 %: {r['blank_90']:.0f} s)"
                                            if dropped is not None else ""))
        label = "named, average kept" if dropped is None else f"named until {dropped:.0f} s after, then afresh"
        print(f"{label:42s} " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
