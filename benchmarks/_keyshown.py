"""The key shown by the live loop against the whole track, and its confidence (dev data only):
``python -m benchmarks._keyshown``.

Issue 17 asks the live key to stay within 0.05 (MIREX) of the whole track's. The key the live loop shows is
:class:`livedj.engine.listen.KeySmoother`'s: 12-s posteriors every 2 s, averaged over the last tens of seconds, with
hysteresis. This prints, on four development sets, the whole track's MIREX beside the key shown at the end (fed from
the first bar, ``s0``, and from 6 s in, ``s6``) and the mean over every update from 10 s on (``during``), for the
shipped smoother and for the alternatives tried (docs/key.md, "The key shown against the whole track"); then the
calibration of the confidence shown (:func:`livedj.engine.listen.shown_confidence`): its logistic map fitted by
log-loss over every update, and each set's ECE before and after, with the fit left out of that set.

Sets (never the benchmark's held-out ones): the scores' **training half** (the score expert learned its windows:
in-sample for the model), the held-out generator's development draw 5000-5299, livedj.synth fixed styles (seeds
7000+) and random loops (8000+), the last two as :mod:`benchmarks._keyphrase` renders them, here every 12-s window
at a 2-s hop (cached in ``.bench/key/shown-dev-*.npz``).
"""
from __future__ import annotations

import math
import sys

import numpy as np

SR = 16000
VERSION = "v1"


def synth_windows(kind: str, n: int = 96) -> dict[str, np.ndarray]:
    """A livedj.synth dev set as the key benchmark's tables: 12-s windows at a 2-s hop (chroma and lowest notes),
    the whole track's chroma and opening, the key."""
    from benchmarks._keyphrase import tracks
    from benchmarks.common import cache_dir
    from benchmarks.key import MAX_WINDOWS
    from livedj.dsp.keyfind import chroma_features
    from livedj.dsp.keyopening import opening_chroma
    from livedj.dsp.keyrelative import chroma_and_lowest

    cached = cache_dir("key") / f"shown-dev-{kind}-{n}-{VERSION}.npz"
    if not cached.exists():
        cols: dict[str, list] = {k: [] for k in ("windows", "lowest", "n_windows", "whole", "opening", "key",
                                                 "seconds")}
        for y, key, _ in tracks(kind, n):
            starts = list(range(0, len(y) - 12 * SR + 1, 2 * SR))[-MAX_WINDOWS:]
            win, low = np.zeros((MAX_WINDOWS, 2, 12)), np.zeros((MAX_WINDOWS, 12))
            for j, s0 in enumerate(starts):
                win[j], low[j], _ = chroma_and_lowest(y[s0:s0 + 12 * SR], SR)
            whole, tuning = chroma_features(y, SR)
            for k, v in (("windows", win), ("lowest", low), ("n_windows", len(starts)), ("whole", whole),
                         ("opening", opening_chroma(y, SR, tuning=tuning)), ("key", key), ("seconds", len(y) / SR)):
                cols[k].append(v)
        np.savez(cached, **{k: np.asarray(v) for k, v in cols.items()})
    with np.load(cached) as f:
        return {k: f[k] for k in f.files}


def dev_tables() -> dict[str, dict]:
    """The four dev sets, each with ``p`` (the live path's 12-s posteriors, as the smoother reads them: the
    lowest-note tie-break at temperature 1), ``whole`` (the index's posterior) and ``key``."""
    from benchmarks._keyheldout import generated_openings
    from benchmarks._keylowest import LEVELS, dev_sets, rule_posterior
    from benchmarks.key import _show, features, openings, whole_seconds
    from livedj.dsp.keyopening import track_posterior
    from livedj.dsp.keyrelative import LOWEST_NOTE_FLOOR, LOWEST_NOTE_LEVEL, LOWEST_NOTE_MIN_LOOP, LOWEST_NOTE_WEIGHT

    sets = dev_sets(progress=_show)
    out = {}
    for name in ("scores", "gen5000"):
        d = sets[name]
        if name == "gen5000":
            d["opening"] = generated_openings(d, 5000, 300)
        else:
            from benchmarks._keydata import build
            from benchmarks.common import cache_dir

            table, root = features(), cache_dir("key")
            d["opening"] = openings(table, root, build(root))[(table["kind"] == "score") & (table["split"] == "train")]
        d["lowest"] = d["lowest"][:, :, LEVELS.index(LOWEST_NOTE_LEVEL)]
        d["whole_p"] = track_posterior(d["whole"], d["opening"], whole_seconds(d))
        out[name] = d
    for kind in ("styles", "loops"):
        d = synth_windows(kind)
        d["whole_p"] = track_posterior(d["whole"], d["opening"], d["seconds"])
        out[kind] = d
    for d in out.values():
        d["p"] = rule_posterior(d["windows"], d["lowest"], LOWEST_NOTE_WEIGHT, LOWEST_NOTE_FLOOR, LOWEST_NOTE_MIN_LOOP,
                                1.0)
    return out


def _mirex(key, truth) -> float:
    from benchmarks.key import MIREX, relation

    return 0.0 if key is None else MIREX[relation(int(key), int(truth))]


def follow(d: dict, start: int, display=None, smoother=None, opening: bool = True) -> tuple[list, list]:
    """Feed every excerpt's windows from window ``start`` on (2 s apart) to a smoother. ``display(d, i, j, state)``,
    if given, turns them into the posterior shown (then only the hysteresis is the smoother's). From the first bar
    (``start`` 0) the listener hears the excerpt start after quiet, so the smoother hears its opening (``d["opening"]``,
    :meth:`livedj.engine.listen.KeySmoother.hear_opening`, as the live path does) unless ``opening`` is False (the
    live path before the opening counted). Returns the key shown at the end of each excerpt and, per update with a
    key shown, (key, probability, confidence, truth, window, excerpt)."""
    from livedj.dsp.keyfind import key_posterior
    from livedj.engine.listen import KeySmoother

    heard = key_posterior(np.asarray(d["opening"], np.float64)) if opening and start == 0 and "opening" in d else None
    ends, updates = [], []
    for i in range(len(d["key"])):
        s = smoother() if smoother else KeySmoother(tau_s=1e-6) if display else KeySmoother()
        if heard is not None:
            s.hear_opening(heard[i])
        state: dict = {}
        for j in range(min(start, d["n_windows"][i] - 1), d["n_windows"][i]):
            q = np.clip(display(d, i, j, state) if display else d["p"][i, j], 0, None) + 1e-9
            s.update(q / q.sum(), 2.0)
            if s.key is not None:
                updates.append((s.key, s.probability, s.confidence, int(d["key"][i]), j, i))
        ends.append(s.key)
    return ends, updates


def _averaged(weigh):
    """A display: the window posteriors averaged over a 30-s time constant, each weighted by ``weigh(p)``."""
    def display(d, i, j, state):
        p, a = d["p"][i, j], weigh(d["p"][i, j])
        state["w"] = math.exp(-2.0 / 30.0) * state.get("w", 0.0) + a
        state["m"] = p.copy() if "m" not in state else state["m"] + a * (p - state["m"]) / state["w"]
        return state["m"]
    return display


def _accumulated_chroma(tau: float | None):
    """A display: the posterior of the windows' chroma and lowest notes averaged (time constant ``tau``; None: all
    of them), read as one excerpt as long as the span they cover."""
    from livedj.dsp.keyfind import gate_probability, key_posterior, load_model
    from livedj.dsp.keyrelative import LOWEST_NOTE_MIN_LOOP, lowest_note_tiebreak

    def display(d, i, j, state):
        decay = math.exp(-2.0 / tau) if tau else 1.0
        state["w"] = decay * state.get("w", 0.0) + 1.0
        state["c"] = decay * state.get("c", 0.0) + d["windows"][i, j]
        state["l"] = decay * state.get("l", 0.0) + d["lowest"][i, j]
        chroma, lowest = state["c"] / state["w"], state["l"] / state["w"]
        p = key_posterior(chroma, seconds=12.0 + 2.0 * (state["w"] - 1))
        return lowest_note_tiebreak(p, lowest) if gate_probability(chroma, load_model().gate) >= LOWEST_NOTE_MIN_LOOP \
            else p
    return display


def _pair_tiebreak(weight: float):
    """A display: the averaged posteriors' pairs of relatives shared once more by the lowest notes averaged over
    the same 30 s (a longer context for the tie-break)."""
    from livedj.dsp.keyfind import gate_probability, load_model
    from livedj.dsp.keyrelative import LOWEST_NOTE_MIN_LOOP, lowest_note_tiebreak

    average = _averaged(lambda p: 1.0)

    def display(d, i, j, state):
        mean = average(d, i, j, state)
        state["l"] = d["lowest"][i, j].copy() if "l" not in state else \
            state["l"] + (d["lowest"][i, j] - state["l"]) / state["w"]
        if gate_probability(d["windows"][i, j], load_model().gate) < LOWEST_NOTE_MIN_LOOP:
            return mean
        return lowest_note_tiebreak(mean, state["l"], weight=weight)
    return display


def variants() -> dict:
    """The shipped smoother and the alternatives measured: name -> (display, smoother factory)."""
    from livedj.engine.listen import KeySmoother

    def geometric(d, i, j, state):  # log-linear pooling: evidence multiplies, normalised by the weights
        state["w"] = math.exp(-2.0 / 30.0) * state.get("w", 0.0) + 1.0
        lp = np.log(d["p"][i, j] + 1e-12)
        state["m"] = lp if "m" not in state else state["m"] + (lp - state["m"]) / state["w"]
        q = np.exp(state["m"] - state["m"].max())
        return q / q.sum()

    return {"shipped (tau 30 s; from the first bar the opening breaks relative ties)": (None, None),
            "before the opening (keys7)": (None, None, False),
            "the hysteresis before the fourteenth session (margin only, 5 updates, first window alone)":
                (None, lambda: KeySmoother(patience=5, first_patience=5, first_updates=1, ratio=None)),
            "tau 15 s": (None, lambda: KeySmoother(tau_s=15.0)),
            "tau 60 s": (None, lambda: KeySmoother(tau_s=60.0)),
            "geometric mean": (geometric, None),
            "weighted by top probability": (_averaged(lambda p: float(p.max())), None),
            "chroma averaged, tau 20 s": (_accumulated_chroma(20.0), None),
            "chroma averaged, all": (_accumulated_chroma(None), None),
            "pairs by 30 s of lowest notes, weight 1": (_pair_tiebreak(1.0), None),
            "pairs by 30 s of lowest notes, weight 2": (_pair_tiebreak(2.0), None)}


def fit_shown_calibration(updates: dict[str, list]) -> tuple[float, float]:
    """(slope, offset) of :func:`livedj.engine.listen.shown_confidence` minimising the log-loss of "the key shown is
    exactly right" over ``updates`` (set -> :func:`follow`'s updates), the mean of the sets' means."""
    from scipy.optimize import minimize

    from livedj.engine.listen import shown_confidence

    def loss(x, names):
        out = []
        for name in names:
            prob = np.array([u[1] for u in updates[name]])
            right = np.array([u[0] == u[3] for u in updates[name]], float)
            c = np.clip(shown_confidence(prob, x[0], x[1]), 1e-9, 1 - 1e-9)
            out.append(-np.mean(right * np.log(c) + (1 - right) * np.log(1 - c)))
        return float(np.mean(out))

    return tuple(float(v) for v in minimize(loss, [1.0, 0.0], args=(list(updates),), method="Nelder-Mead").x)


def shown_calibration(table: dict, subset: str, which: str) -> list[dict]:
    """Rows for the key benchmark (:func:`benchmarks.key.accuracy`): the ECE of the confidence the dashboard and the
    ranking use, the key shown's (the live path, ``shown`` from the excerpt's first bar or ``shown6`` from 6 s in),
    at the excerpt's end and over every update with a key shown; each beside the averaged probability before the
    calibration (:func:`livedj.engine.listen.shown_confidence`) and the sampling noise."""
    from benchmarks._keylowest import rule_posterior
    from benchmarks.common import row
    from benchmarks.key import ece_noise, reliability
    from livedj.dsp.keyrelative import LOWEST_NOTE_FLOOR, LOWEST_NOTE_MIN_LOOP, LOWEST_NOTE_WEIGHT

    d = {"key": table["key"], "n_windows": table["n_windows"], **({"opening": table["opening"]} if "opening" in table
                                                                   else {}),
         "p": rule_posterior(table["windows"], table["lowest"], LOWEST_NOTE_WEIGHT, LOWEST_NOTE_FLOOR,
                             LOWEST_NOTE_MIN_LOOP, 1.0)}
    ends, updates = follow(d, 3 if which == "shown6" else 0)
    last = {u[5]: u for u in updates}  # each excerpt's last update: a key once shown stays, so the excerpt's end
    rows = []
    for span, got in (("end", list(last.values())), ("updates", updates)):
        prob = np.array([u[1] for u in got])
        conf = np.array([u[2] for u in got])
        right = np.array([u[0] == u[3] for u in got], float)
        ece, lines = reliability(conf, right)
        print(f"key benchmark: reliability of the key shown's confidence, {subset} {which} ({span}):\n"
              + "\n".join(lines), file=sys.stderr)
        what = "at the excerpt's end" if span == "end" else "at every update with a key shown"
        rows.append(row(f"key.{subset}.{which}_{span}.confidence.ece", f"ECE of the key shown's confidence ({which}, "
                        f"{what}, {len(got)}); baseline: sampling noise", ece, "fraction",
                        baseline=ece_noise(conf, draws=200), target=0.1))
        rows.append(row(f"key.{subset}.{which}_{span}.confidence.ece_before_recalibration", "the same for the "
                        "smoother's averaged probability (the confidence shown before keys7); baseline: sampling noise",
                        reliability(prob, right)[0], "fraction", baseline=ece_noise(prob, draws=200), target=0.1))
    return rows


def tiebreak_grid(sets: dict) -> None:
    """Print the key shown (s0 / s6 / during) on every dev set with the windows' lowest-note tie-break at weights 0-4
    and gates 0-0.7 (shipped: 2 at 0.3)."""
    from benchmarks._keylowest import rule_posterior
    from livedj.dsp.keyrelative import LOWEST_NOTE_FLOOR

    for weight in (0.0, 1.0, 2.0, 3.0, 4.0):
        for gate in (0.3,) if weight == 0 else (0.0, 0.2, 0.3, 0.5, 0.7):
            cells = []
            for name, d in sets.items():
                dd = {**d, "p": rule_posterior(d["windows"], d["lowest"], weight, LOWEST_NOTE_FLOOR, gate, 1.0)}
                got = [np.mean([_mirex(k, t) for k, t in zip(follow(dd, start)[0], d["key"])]) for start in (0, 3)]
                got.append(np.mean([_mirex(u[0], u[3]) for u in follow(dd, 0)[1] if u[4] >= 5]))
                cells.append(f"{name} " + "/".join(f"{v:.3f}" for v in got))
            print(f"weight {weight} gate {gate}: " + "  ".join(cells), flush=True)


def live_check(n: int) -> None:
    """The key shown by the live path itself (:class:`livedj.engine.listen.LiveTempoKey`, one update a second on the
    newest 15 s, as the live loop) over 4 s of quiet then the excerpt, with and without the opening heard, for the first
    ``n`` excerpts of the two dev sets with audio (the scores' training half, 5000-5299): whether the tables' model of
    the key shown (:func:`follow`: full 12-s windows from the first bar, the opening given) says what the live path does."""
    from benchmarks._keydata import build, build_generated, load
    from benchmarks.common import cache_dir
    from benchmarks.key import features
    from livedj.engine.listen import LiveTempoKey

    sets = dev_tables()
    table, root = features(), cache_dir("key")
    by_name = {ex.name: ex for ex in build(root)}
    names = table["name"][(table["kind"] == "score") & (table["split"] == "train")]
    groot = cache_dir("key-generated")
    gen = build_generated(groot, range(5000, 5300))
    audio = {"scores": lambda i: load(root, by_name[str(names[i])]), "gen5000": lambda i: load(groot, gen[i])}
    for name, get in audio.items():
        d = sets[name]
        m = min(n, len(d["key"]))
        cells = {}
        for opening in (True, False):
            got = []
            for i in range(m):
                stream = np.concatenate([np.zeros(4 * SR, np.float32), get(i)])
                listener = LiveTempoKey(hear_openings=opening)
                for t in range(1, len(stream) // SR + 1):
                    listener.update(stream[max(0, (t - 15) * SR):t * SR], SR)
                got.append(_mirex(listener.key, d["key"][i]))
            sub = {k: v[:m] for k, v in d.items() if isinstance(v, np.ndarray) and len(v) == len(d["key"])}
            model = np.mean([_mirex(k, t) for k, t in zip(follow(sub, 0, opening=opening)[0], sub["key"])])
            cells[opening] = f"live path {np.mean(got):.3f}, tables' model {model:.3f}"
        print(f"{name} (first {m}): with the opening: {cells[True]}; without: {cells[False]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from benchmarks.key import ece_noise, reliability
    from livedj.engine.listen import SHOWN_CONFIDENCE_OFFSET, SHOWN_CONFIDENCE_SLOPE, shown_confidence

    parser = argparse.ArgumentParser(prog="python -m benchmarks._keyshown", description=__doc__.split("\n")[0])
    parser.add_argument("--fit-only", action="store_true", help="only the confidence's calibration")
    parser.add_argument("--tiebreak-grid", action="store_true", help="instead: the key shown with the windows' "
                        "lowest-note tie-break at other weights and gates (as the smoother would read them)")
    parser.add_argument("--live-check", type=int, metavar="N", help="instead: the live path itself on the first N "
                        "excerpts of the scores' training half and 5000-5299 against the tables' model")
    args = parser.parse_args(argv)
    if args.live_check:
        live_check(args.live_check)
        return 0
    sets = dev_tables()
    if args.tiebreak_grid:
        tiebreak_grid(sets)
        return 0
    if not args.fit_only:
        for label, (display, smoother, *heard) in variants().items():
            opening = heard[0] if heard else True
            cells = []
            for name, d in sets.items():
                whole = np.mean([_mirex(k, t) for k, t in zip(d["whole_p"].argmax(-1), d["key"])])
                got = []
                for start in (0, 3):
                    ends, updates = follow(d, start, display, smoother, opening)
                    got.append(np.mean([_mirex(k, t) for k, t in zip(ends, d["key"])]))
                during = np.mean([_mirex(u[0], u[3]) for u in follow(d, 0, display, smoother, opening)[1]
                                  if u[4] >= 5])
                cells.append(f"{name} whole {whole:.3f} s0 {got[0]:.3f} s6 {got[1]:.3f} during {during:.3f}")
            print(f"{label}:\n  " + "\n  ".join(cells), flush=True)
    updates = {(name, start): follow(d, start)[1] for name, d in sets.items() for start in (0, 3)}
    fitted = fit_shown_calibration({name: updates[(name, 0)] for name in sets})
    print(f"calibration of the confidence shown, fitted on every update from the first bar: slope {fitted[0]:.3f}, "
          f"offset {fitted[1]:.3f} (shipped {SHOWN_CONFIDENCE_SLOPE}, {SHOWN_CONFIDENCE_OFFSET})")
    for (name, start), got in updates.items():
        prob = np.array([u[1] for u in got])
        right = np.array([u[0] == u[3] for u in got], float)
        left_out = fit_shown_calibration({n: updates[(n, 0)] for n in sets if n != name})
        line = [f"{name} from {2 * start} s ({len(got)} updates): ECE averaged probability "
                f"{reliability(prob, right)[0]:.3f}"]
        for label, (a, b) in (("shipped", (SHOWN_CONFIDENCE_SLOPE, SHOWN_CONFIDENCE_OFFSET)),
                              (f"fitted without {name}", left_out)):
            conf = shown_confidence(prob, a, b)
            line.append(f"{label} {reliability(conf, right)[0]:.3f} (noise {ece_noise(conf, draws=100):.3f})")
        print(", ".join(line))
        print("\n".join(reliability(shown_confidence(prob), right)[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
