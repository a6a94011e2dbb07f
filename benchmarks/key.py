"""Key detection against music with known keys: rendered scores and an independent generator.

Data (:mod:`benchmarks._keydata`, cached under ``.bench/key``): a few hundred excerpts of scores
from music21's corpus (Bach chorales and other pieces that declare their key; the first 30 s,
both modes balanced, randomly transposed, 10 General MIDI instrumentations, 2 soundfonts) rendered
with FluidSynth, and 60 generated tracks (drums, bass, pad, arpeggio; 90-171 BPM) from a pretty_midi
generator that is not ``livedj.synth``.

Each detector is scored on the **index** estimate (the whole excerpt: 30 s of a score, 60 s of a
generated track) and on the **live** estimate (its last 12 s, what the live loop hears). Figures:
exact, fifth, relative, parallel, other and the MIREX-weighted score (1, 0.5, 0.3, 0.2).

Detectors: ``current`` (the detector before issue 17: untuned chroma, Krumhansl-Kessler profiles)
is the baseline of every ratio; ``krumhansl``/``temperley`` are the classic profiles on the new
tuned chroma; ``learned`` is livedj's detector (profiles learned on the training half by
``python -m benchmarks._keytrain``). Every row is measured on the **test half** (split by piece) so
that the learned profiles are never scored on what they learned from; generated tracks are all
unseen. The learned detector's confidence is checked for calibration on the test half (expected
calibration error over 10 bins; the reliability table goes to stderr).
"""
from __future__ import annotations

import sys

import numpy as np

from benchmarks.common import cache_dir, row

IN_ALL = False  #: building the data takes tens of minutes the first time: run it by name
LIVE_S = 12.0
FEATURES_VERSION = "v1"
MIREX = {"exact": 1.0, "fifth": 0.5, "relative": 0.3, "parallel": 0.2, "other": 0.0}


def relation(estimate: int, truth: int) -> str:
    """MIREX category of an estimated key against the true one."""
    if estimate == truth:
        return "exact"
    ep, em, tp, tm = estimate % 12, estimate >= 12, truth % 12, truth >= 12
    if em == tm and (ep - tp) % 12 in (5, 7):
        return "fifth"
    if not tm and em and ep == (tp + 9) % 12 or tm and not em and ep == (tp + 3) % 12:
        return "relative"
    if ep == tp and em != tm:
        return "parallel"
    return "other"


def scores(estimates: np.ndarray, truths: np.ndarray) -> dict[str, float]:
    """Fractions per MIREX category and the weighted score."""
    rel = [relation(int(e), int(t)) for e, t in zip(estimates, truths)]
    out = {k: rel.count(k) / max(len(rel), 1) for k in MIREX}
    out["mirex"] = sum(MIREX[k] * out[k] for k in MIREX)
    return out


def features(progress=None, quick: bool = False) -> dict[str, np.ndarray]:
    """Per excerpt: true key, split, kind, piece, tuned (bass, treble) chroma and legacy chroma of the whole and the live end."""
    from benchmarks._keydata import build, load
    from livedj.dsp.keyfind import chroma_features
    from livedj.dsp.tonal import chroma_profile

    root = cache_dir("key-quick" if quick else "key")
    cached = root / f"features-{FEATURES_VERSION}.npz"
    if cached.exists():
        with np.load(cached, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    excerpts = build(root, progress=progress, **(dict(per_mode=6, renders=1, generated=4, max_scores=40) if quick else {}))
    cols = {k: [] for k in ("key", "split", "kind", "piece", "name", "whole", "live", "tuning", "legacy_whole",
                            "legacy_live")}
    for i, ex in enumerate(excerpts, 1):
        y = load(root, ex)
        live = y[-int(LIVE_S * 16000):]
        whole_c, tuning = chroma_features(y, 16000)
        live_c, _ = chroma_features(live, 16000)
        for k, v in (("key", ex.key), ("split", ex.split), ("kind", ex.kind), ("piece", ex.piece), ("name", ex.name),
                     ("whole", whole_c), ("live", live_c), ("tuning", tuning),
                     ("legacy_whole", chroma_profile(y, 16000)), ("legacy_live", chroma_profile(live, 16000))):
            cols[k].append(v)
        if progress:
            progress("features", i, len(excerpts))
    table = {k: np.asarray(v) for k, v in cols.items()}
    np.savez(cached, **table)
    return table


def detect(table: dict, method: str, which: str) -> tuple[np.ndarray, np.ndarray]:
    """(keys, confidences) of one detector on the ``which`` ("whole"/"live") windows of every excerpt."""
    from livedj.dsp.keyfind import key_posterior
    from livedj.dsp.tonal import PROFILES, key_scores, relative_key

    if method == "current":
        keys, conf = [], []
        for c in table[f"legacy_{which}"]:
            r = key_scores(c, "krumhansl")
            best = int(np.argmax(r))
            margin = r[best] - np.delete(r, [best, relative_key(best)]).max()
            keys.append(best)
            conf.append(float(np.clip(r[best], 0, 1) * np.clip(margin / 0.3, 0, 1)))
        return np.array(keys), np.array(conf)
    if method in PROFILES:
        r = np.array([key_scores(c.sum(axis=0), method) for c in table[which]])
        return r.argmax(axis=1), r.max(axis=1)
    p = key_posterior(table[which])
    return p.argmax(axis=1), p.max(axis=1)


def reliability(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> tuple[float, list[str]]:
    """Expected calibration error and one line per non-empty confidence bin."""
    edges = np.linspace(0, 1, bins + 1)
    ece, lines = 0.0, []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf >= lo) & ((conf < hi) if hi < 1 else (conf <= hi))
        if sel.any():
            ece += sel.mean() * abs(conf[sel].mean() - correct[sel].mean())
            lines.append(f"  {lo:.1f}-{hi:.1f}: says {conf[sel].mean():.2f}, right {correct[sel].mean():.2f} "
                         f"(n={sel.sum()})")
    return float(ece), lines


def _show(phase, done, total, _last={}):
    if done == total or done - _last.get(phase, 0) >= 50:
        _last[phase] = done
        print(f"key benchmark: {phase} {done}/{total}", file=sys.stderr, flush=True)


def run(quick: bool = False) -> list[dict]:
    table = features(progress=_show, quick=quick)
    rows = []
    methods = ("current", "krumhansl", "temperley", "learned")
    subsets = {"scores": (table["kind"] == "score") & (table["split"] == "test"),
               "generated": (table["kind"] == "generated") & (table["split"] == "test")}
    targets = {("scores", "mirex"): 0.85, ("scores", "exact"): 0.75, ("generated", "exact"): 0.80}
    for subset, sel in subsets.items():
        truth = table["key"][sel]
        for which in ("whole", "live"):
            base = None
            for method in methods:
                keys, conf = detect({k: v[sel] for k, v in table.items()}, method, which)
                s = scores(keys, truth)
                if method == "current":
                    base = s
                figure = (f"{subset} ({sel.sum()}), {which}: " + ", ".join(f"{k} {100 * s[k]:.0f}%" for k in MIREX))
                for metric in ("mirex", "exact"):
                    target = targets.get((subset, metric)) if method == "learned" else None
                    rows.append(row(f"key.{subset}.{which}.{method}.{metric}", figure if metric == "mirex" else
                                    f"{subset}, {which}: exact", s[metric], "fraction", baseline=base[metric],
                                    target=target, higher_is_better=True))
                if method == "learned":
                    ece, lines = reliability(conf, (keys == truth).astype(float))
                    print(f"key benchmark: reliability of the learned confidence, {subset} {which}:\n"
                          + "\n".join(lines), file=sys.stderr)
                    rows.append(row(f"key.{subset}.{which}.learned.ece", "expected calibration error of the "
                                    "confidence (10 bins)", ece, "fraction", target=0.1))
        # live within 0.05 of whole for the learned detector
    for subset, sel in subsets.items():
        truth = table["key"][sel]
        sub = {k: v[sel] for k, v in table.items()}
        gap = scores(detect(sub, "learned", "whole")[0], truth)["mirex"] - scores(detect(sub, "learned", "live")[0],
                                                                               truth)["mirex"]
        rows.append(row(f"key.{subset}.live_gap", "MIREX whole minus live (12 s), learned", gap, "fraction",
                        target=0.05))
    rows += cost(quick)
    return rows


def cost(quick: bool = False) -> list[dict]:
    """Time of one live key estimate (12 s at 16 kHz): livedj's vs the detector before issue 17, interleaved."""
    import time

    from benchmarks._keydata import build, load
    from livedj.dsp.tonal import chroma_profile, key_posterior_of, key_scores

    root = cache_dir("key-quick" if quick else "key")
    ex = next(e for e in build(root) if e.kind == "generated")
    y = load(root, ex)[-int(LIVE_S * 16000):]
    new, old = [], []
    for _ in range(5 if quick else 100):
        t0 = time.perf_counter()
        key_posterior_of(y, 16000)
        t1 = time.perf_counter()
        int(np.argmax(key_scores(chroma_profile(y, 16000))))
        t2 = time.perf_counter()
        new.append(t1 - t0)
        old.append(t2 - t1)
    return [row(f"key.live_cost.{q}", f"one live key estimate (12 s), {q} of {len(new)}, baseline: before issue 17",
                1000 * float(np.percentile(new, p)), "ms", baseline=1000 * float(np.percentile(old, p)))
            for q, p in (("p50", 50), ("p90", 90))]
