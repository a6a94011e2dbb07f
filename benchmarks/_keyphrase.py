"""Choosing the live key's window: the last 12 s, or the last whole 4-bar phrases in it (dev data only).

``python -m benchmarks._keyphrase`` compares window rules for the live key estimate on data that is *not*
the key benchmark's held-out sets:

- ``styles``: livedj.synth tracks of the 12 fixed styles (seeds 7000+, never rendered for training; the
  loop expert learned other tracks of the same styles), 85-175 BPM, 40 s;
- ``loops``: livedj.synth tracks with random diatonic four-chord loops and mixed voices
  (:func:`benchmarks._keytrain.loop_variant`, seeds 8000+; the shipped model never learned such loops,
  many hold the tonic once in four bars: the case a partial loop hurts), 40 s;
- ``scores``: the key benchmark's **training half** of rendered scores (no 4-bar loops; here a rule
  must not lose).

For every 12-s window at a 6-s hop (and the last), the tempo is estimated as the live loop has it then
(:func:`livedj.dsp.rhythm.estimate_tempo` on the 12 s ending 1 s earlier: tempo and key alternate), and
each rule picks the span the key is read from (:func:`phrase_seconds`, or the whole 12 s
weighted by :func:`livedj.dsp.tonal.phrase_period`: what the live path does). Printed per set
and rule: MIREX and exact of the last window and of every window, against the whole track's estimate,
and the expected calibration error of every window.

Rules: the last whole 4-bar phrases that fit (:func:`phrase_seconds`, the first idea: it loses, a 6-8-s span
is noisier than 12 s), the 12 s phase-weighted (:func:`livedj.dsp.keyfind.phase_weights`), with tempo
confidence and loop-gate thresholds, and both with the true tempo (``oracle``). The shipped rule
(:func:`livedj.dsp.tonal.key_chroma` with :func:`livedj.dsp.tonal.phrase_period`) is the one marked
``shipped``; the figures and the choice are in docs/key.md ("Fourth revision").

``--fit-temperature`` (:func:`fit_phrase_temperature`): the factor on the 12-s temperatures that would calibrate
the windows the shipped rule weights, fitted on these dev sets (x1.110; not adopted: docs/key.md, "A temperature
for the phrase-weighted windows").
"""
from __future__ import annotations

import sys

import numpy as np

SR = 16000


def tracks(kind: str, n: int):
    """(audio, key) pairs of one dev set."""
    if kind == "scores":
        from benchmarks._keydata import build, load
        from benchmarks.common import cache_dir

        root = cache_dir("key")
        for ex in build(root):
            if ex.kind == "score" and ex.split == "train":
                yield load(root, ex), int(ex.key), None
        return
    from benchmarks._keytrain import loop_variant
    from livedj.synth import STYLES, TrackSpec, render_track
    from livedj.synth.theory import PITCH_CLASSES

    names, rng = sorted(STYLES), np.random.default_rng(7017 if kind == "styles" else 8017)
    for i in range(n):
        minor, tonic = i % 2, int(rng.integers(12))
        bpm = float(rng.uniform(85, 175))
        style = loop_variant(rng, bool(minor)) if kind == "loops" else None
        spec = TrackSpec("dev", "livedj.synth", bpm, f"{PITCH_CLASSES[tonic]} {'minor' if minor else 'major'}",
                         names[i % 12] if kind == "styles" else "house", (7000 if kind == "styles" else 8000) + i)
        yield render_track(spec, 40.0, SR, style=style)[8000:], tonic + 12 * minor, bpm


def phrase_seconds(bpm: float | None, seconds: float = 12.0, *, min_seconds: float = 6.0) -> float:
    """The most whole 4-bar phrases at ``bpm`` that fit in ``seconds`` (the truncation rule, not kept); ``seconds``
    when the tempo is unknown or the span would be shorter than ``min_seconds``."""
    if not bpm:
        return seconds
    phrase = 16 * 60.0 / bpm
    span = np.floor(seconds / phrase + 1e-9) * phrase
    return float(span) if span >= min_seconds and span > 0 else seconds


RULES = {  # name: (min phrase span s, tempo confidence needed, weighted)
    "plain 12 s": None,
    "phrase, min 6 s": (6.0, 0.0, False),
    "phrase, min 7 s": (7.0, 0.0, False),
    "phrase, min 8 s": (8.0, 0.0, False),
    "phrase, min 6 s, tempo conf >= 0.3": (6.0, 0.3, False),
    "phrase, min 6 s, tempo conf >= 0.5": (6.0, 0.5, False),
    "weighted 12 s": (0.0, 0.0, True),
    "weighted 12 s, tempo conf >= 0.3": (0.0, 0.3, True),
    "weighted 12 s, tempo conf >= 0.5": (0.0, 0.5, True),
    "shipped: weighted, tempo conf >= 0.3, loop gate >= 0.5": (0.0, 0.3, "gate 0.5"),
    "weighted 12 s, tempo conf >= 0.3, loop gate >= 0.3": (0.0, 0.3, "gate 0.3"),
    "oracle tempo: phrase, min 6 s": (6.0, -1, False),
    "oracle tempo: weighted 12 s": (0.0, -1, True),
}


def measure(kind: str, n: int) -> dict:
    from benchmarks.key import reliability, scores
    from livedj.dsp.keyfind import chroma_features, gate_probability, key_posterior, load_model
    from livedj.dsp.rhythm import estimate_tempo
    from livedj.dsp.tonal import phrase_period

    win, hop = 12 * SR, 6 * SR
    est = {r: {"last": [], "any": [], "conf": []} for r in RULES}
    truth_last, truth_any, whole, spans, confs = [], [], [], [], []
    octave = []
    for i, (y, key, true_bpm) in enumerate(tracks(kind, n)):
        whole.append(int(key_posterior(chroma_features(y, SR)[0], seconds=len(y) / SR).argmax()))
        truth_last.append(key)
        ends = sorted(set(range(win, len(y) + 1, hop)) | {len(y)})
        for e in ends:
            tempo, tconf = estimate_tempo(y[max(0, e - win - SR):e - SR], SR)
            confs.append(tconf)
            if true_bpm:
                octave.append(np.round(np.log2(tempo / true_bpm), 1))
            truth_any.append(key)
            stretch = y[e - win:e]
            for name, rule in RULES.items():
                if rule is None:
                    c = chroma_features(stretch, SR)[0]
                    span = 12.0
                else:
                    min_s, need, weighted = rule
                    bpm = tempo if tconf >= need and tconf > 0 else None
                    if need < 0:
                        if not true_bpm:
                            continue
                        bpm = true_bpm
                    if isinstance(weighted, str):  # weighted only where the model's gate says loop music
                        plain = chroma_features(stretch, SR)[0]
                        loop = gate_probability(plain, load_model().gate) >= float(weighted.split()[1])
                        c = chroma_features(stretch, SR, period=phrase_period(bpm))[0] if loop else plain
                        span = 12.0
                    elif weighted:
                        c = chroma_features(stretch, SR, period=phrase_period(bpm))[0]
                        span = 12.0
                    else:
                        span = phrase_seconds(bpm, 12.0, min_seconds=min_s)
                        c = chroma_features(stretch[-int(span * SR):], SR)[0]
                if name == "phrase, min 6 s":
                    spans.append(span)
                p = key_posterior(c, seconds=span)
                est[name]["any"].append(int(p.argmax()))
                est[name]["conf"].append(float(p.max()))
                if e == ends[-1]:
                    est[name]["last"].append(int(p.argmax()))
        print(f"  {kind} {i + 1}", file=sys.stderr, end="\r")
    w = scores(np.array(whole), np.array(truth_last))
    print(f"\n{kind}: {len(truth_last)} tracks, whole MIREX {w['mirex']:.3f} / exact {w['exact']:.0%}; tempo "
          f"confidence p10/p50/p90 {np.percentile(confs, [10, 50, 90]).round(2)}; phrase span (min 6 s) "
          f"p10/p50/p90 {np.percentile(spans, [10, 50, 90]).round(1)} s")
    if octave:
        values, counts = np.unique(octave, return_counts=True)
        print("  tempo estimate / true, log2 (rounded to 0.1): " + ", ".join(f"{v:+.1f}: {c}" for v, c in zip(values, counts)))
    out = {}
    for name in RULES:
        if not est[name]["any"]:
            continue
        last = scores(np.array(est[name]["last"]), np.array(truth_last))
        every = scores(np.array(est[name]["any"]), np.array(truth_any))
        ece, _ = reliability(np.array(est[name]["conf"]), (np.array(est[name]["any"]) == np.array(truth_any)) * 1.0)
        out[name] = (last["mirex"], every["mirex"], ece)
        print(f"  {name:38s} last {last['mirex']:.3f} / {last['exact']:.0%} (gap {w['mirex'] - last['mirex']:+.3f}), "
              f"any {every['mirex']:.3f} / {every['exact']:.0%} (gap {w['mirex'] - every['mirex']:+.3f}), "
              f"ECE any {ece:.3f}")
    return out


def shipped_windows(kind: str, n: int, progress=None) -> dict[str, np.ndarray]:
    """Every 12-s window (6-s hop, and the last) of one dev set as the live path reads it: ``plain`` and
    ``shipped`` (:func:`livedj.dsp.tonal.key_chroma` with the tempo of the 12 s ending 1 s earlier) chroma,
    ``weighted`` (whether the shipped rule weighted it), ``key``, ``track``. Cached under ``.bench/key``."""
    from benchmarks.common import cache_dir
    from livedj.dsp.keyfind import chroma_features
    from livedj.dsp.rhythm import estimate_tempo
    from livedj.dsp.tonal import key_chroma, phrase_period

    cached = cache_dir("key") / f"phrase-dev-{kind}-{n}-v1.npz"
    if not cached.exists():
        win, hop = 12 * SR, 6 * SR
        cols = {k: [] for k in ("plain", "shipped", "weighted", "key", "track")}
        for i, (y, key, _) in enumerate(tracks(kind, n)):
            for e in sorted(set(range(win, len(y) + 1, hop)) | {len(y)}):
                tempo, tconf = estimate_tempo(y[max(0, e - win - SR):e - SR], SR)
                stretch = y[e - win:e]
                plain = chroma_features(stretch, SR)[0]
                shipped = key_chroma(stretch, SR, period=phrase_period(tempo if tconf > 0 else None, tconf))[0]
                for k, v in (("plain", plain), ("shipped", shipped), ("weighted", bool(np.any(shipped != plain))),
                             ("key", key), ("track", i)):
                    cols[k].append(v)
            if progress:
                progress(kind, i + 1)
        np.savez(cached, **{k: np.asarray(v) for k, v in cols.items()})
    with np.load(cached, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def fit_phrase_temperature(n: int = 96, sets=("styles", "loops", "scores")) -> float:
    """The factor on the model's 12-s temperatures that calibrates the phrase-weighted windows (dev data only).

    Fitted by the negative log-likelihood of the true key over the windows the shipped rule weights, pooled
    over the dev sets (:func:`shipped_windows`); printed beside the expected calibration error of every set's
    windows (weighted and plain together, as ``python -m benchmarks key`` counts them) before and after, and
    the per-length alternative (the weighted window calibrated as a longer excerpt,
    :meth:`livedj.dsp.keyfind.KeyModel.temperature_at`)."""
    from scipy.optimize import minimize_scalar

    from benchmarks.key import reliability
    from livedj.dsp.keyfind import key_posterior

    data = {kind: shipped_windows(kind, n) for kind in sets}
    chroma = np.concatenate([d["shipped"][d["weighted"]] for d in data.values()])
    truth = np.concatenate([d["key"][d["weighted"]] for d in data.values()])

    def nll(log_scale=0.0, seconds=None):
        p = key_posterior(chroma, seconds=seconds, temperature_scale=float(np.exp(log_scale)))
        return -float(np.mean(np.log(p[np.arange(len(truth)), truth] + 1e-12)))

    scale = float(np.exp(minimize_scalar(nll, bounds=(-1.5, 1.5), method="bounded").x))
    lengths = np.arange(12.0, 60.1, 1.0)
    length = float(lengths[np.argmin([nll(0.0, L) for L in lengths])])
    print(f"phrase-weighted windows (dev, {len(truth)}): NLL 12-s temperature {nll():.4f}, x{scale:.3f} "
          f"{nll(np.log(scale)):.4f}, as a {length:.0f}-s excerpt {nll(0.0, length):.4f}")
    for kind, d in data.items():  # for information: what each set alone would ask
        w = d["weighted"]
        alone = minimize_scalar(lambda x: -float(np.mean(np.log(key_posterior(
            d["shipped"][w], temperature_scale=float(np.exp(x)))[np.arange(int(w.sum())), d["key"][w]] + 1e-12))),
            bounds=(-1.5, 1.5), method="bounded").x
        print(f"  {kind}: its weighted windows alone would be fitted x{np.exp(alone):.3f}")
    for kind, d in data.items():
        for name, kw in (("before", {}), (f"x{scale:.3f}", {"temperature_scale": scale}),
                         (f"as {length:.0f} s", {"seconds": length})):
            p = key_posterior(d["plain"])
            w = d["weighted"]
            p[w] = key_posterior(d["shipped"][w], **kw)
            right = (p.argmax(axis=-1) == d["key"]) * 1.0
            ece, lines = reliability(p.max(axis=-1), right)
            ece_w, _ = reliability(p[w].max(axis=-1), right[w])
            print(f"  {kind:7s} {name:9s} ECE every window {ece:.3f} ({len(w)}), weighted ones {ece_w:.3f} "
                  f"({int(w.sum())}): " + "; ".join(x.strip() for x in lines))
    return scale


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks._keyphrase", description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", default=["styles", "loops", "scores"])
    parser.add_argument("--tracks", type=int, default=96, help="synth tracks per synth set")
    parser.add_argument("--fit-temperature", action="store_true",
                        help="fit the phrase-weighted windows' temperature factor on the dev sets instead")
    args = parser.parse_args(argv)
    if args.fit_temperature:
        fit_phrase_temperature(args.tracks, args.sets)
        return 0
    for kind in args.sets:
        measure(kind, args.tracks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
