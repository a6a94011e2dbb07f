"""Key detection against music with known keys: rendered scores and an independent generator.

Data (:mod:`benchmarks._keydata`, cached under ``.bench/key``): a few hundred excerpts of scores
from music21's corpus (Bach chorales and other pieces that declare their key; the first 30 s,
both modes balanced, randomly transposed, 10 General MIDI instrumentations, 2 soundfonts) rendered
with FluidSynth, and 60 generated tracks (drums, bass, pad, arpeggio; 90-171 BPM) from a pretty_midi
generator that is not ``livedj.synth``.

Each detector is scored on the **index** estimate (``whole``: 30 s of a score, 60 s of a generated
track) and on three **live** estimates, all from 12-s windows (what the live loop hears): ``last``
(the excerpt's last 12 s alone), ``any`` (every 12-s window at a 6-s hop, each counted: a 12-s
estimate wherever the needle is) and ``shown`` (the key the live loop displays at the end of the
excerpt: :class:`~livedj.engine.listen.KeySmoother` fed the 12-s estimates every 2 s, as
:class:`~livedj.engine.listen.LiveTempoKey` does; the listener hears the excerpt start after quiet, so the
excerpt's opening breaks relative ties as the live path's ``KeySmoother.hear_opening`` does, and
``learned_lowest_noopening`` is the key shown without it; ``shown6`` the same from 6 s in, no opening heard).
Figures: exact, fifth, relative, parallel, other
and the MIREX-weighted score (1, 0.5, 0.3, 0.2); ``gap_*``: whole minus that live estimate.

Detectors: ``current`` (the detector before issue 17: untuned chroma, Krumhansl-Kessler profiles)
is the baseline of every ratio; ``krumhansl``/``temperley`` are the classic profiles on the new
tuned chroma; ``learned`` is livedj's detector (trained by ``python -m benchmarks._keytrain`` on the
scores' training half and on livedj.synth loops; its live windows read plain, ``learned``, or as the live path
reads them, ``learned_lowest``: a key and its relative shared by the window's lowest notes; the ``gap_*`` rows are
the live path's). Score rows are the **test half** (split by piece);
the generated tracks were never used for training or for choosing anything, so all 60 are reported
(``generated``), and their test half of 32 separately (``generated_testhalf``: the set the figures
of the earlier protocol, which trained on the other 28, were measured on). The learned detector's
confidence is checked for calibration (expected calibration error over 10 bins; the reliability
table goes to stderr). Every gap carries a bootstrap 95 % interval (by excerpt).

``python -m benchmarks.key --generated-seed-base B --generated-n N`` measures the generated rows on a fresh
set of the same generator (:mod:`benchmarks._keyheldout`): the 60 chose the live path's loop gate.
"""
from __future__ import annotations

import sys

import numpy as np

from benchmarks.common import cache_dir, row

IN_ALL = False  #: building the data takes tens of minutes the first time: run it by name
LIVE_S = 12.0
FEATURES_VERSION = "v2"
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
    # None: no key shown yet (the live smoother waits for evidence), counted as wrong
    rel = [relation(int(e), int(t)) if e is not None else "other" for e, t in zip(estimates, truths)]
    out = {k: rel.count(k) / max(len(rel), 1) for k in MIREX}
    out["mirex"] = sum(MIREX[k] * out[k] for k in MIREX)
    return out


HOP_S = 2.0  #: the live loop's key estimate runs every 2 s (every other 1-s update)
MAX_WINDOWS = 25  #: 12-s windows at a 2-s hop in a 60-s generated track


def features(progress=None, quick: bool = False) -> dict[str, np.ndarray]:
    """Per excerpt: true key, split, kind, piece, tuning; tuned (bass, treble) chroma of the whole and of
    every 12-s window at a 2-s hop (``windows``, padded with zeros, ``n_windows`` valid); the detector
    before issue 17's chroma of the same."""
    from benchmarks._keydata import build, load
    from livedj.dsp.keyfind import chroma_features
    from livedj.dsp.tonal import chroma_profile

    root = cache_dir("key-quick" if quick else "key")
    cached = root / f"features-{FEATURES_VERSION}.npz"
    if cached.exists():
        with np.load(cached, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    excerpts = build(root, progress=progress, **(dict(per_mode=6, renders=1, generated=4, max_scores=40) if quick else {}))
    cols = {k: [] for k in ("key", "split", "kind", "piece", "name", "whole", "windows", "n_windows", "tuning",
                            "legacy_whole", "legacy_windows")}
    n, hop = int(LIVE_S * 16000), int(HOP_S * 16000)
    for i, ex in enumerate(excerpts, 1):
        y = load(root, ex)
        whole_c, tuning = chroma_features(y, 16000)
        starts = list(range(0, len(y) - n + 1, hop))[-MAX_WINDOWS:] or [0]
        # The live loop estimates each window on its own (its own tuning), as here.
        win = np.zeros((MAX_WINDOWS, 2, 12))
        legacy = np.zeros((MAX_WINDOWS, 12))
        for j, s0 in enumerate(starts):
            win[j] = chroma_features(y[s0:s0 + n], 16000)[0]
            legacy[j] = chroma_profile(y[s0:s0 + n], 16000)
        for k, v in (("key", ex.key), ("split", ex.split), ("kind", ex.kind), ("piece", ex.piece), ("name", ex.name),
                     ("whole", whole_c), ("windows", win), ("n_windows", len(starts)), ("tuning", tuning),
                     ("legacy_whole", chroma_profile(y, 16000)), ("legacy_windows", legacy)):
            cols[k].append(v)
        if progress:
            progress("features", i, len(excerpts))
    table = {k: np.asarray(v) for k, v in cols.items()}
    np.savez(cached, **table)
    return table


LIVE_VERSION = "v2"


def live_windows(table: dict, progress=None, quick: bool = False) -> dict[str, np.ndarray]:
    """The phrase-weighted reading of every 12-s window of :func:`features` (:func:`livedj.dsp.tonal.key_chroma`;
    measured, not shipped: the live path reads the plain 12 s, docs/key.md): tuned chroma weighted by the phrase period (:func:`livedj.dsp.tonal.phrase_period`) of the tempo estimated
    on the 12 s ending 1 s earlier, as :class:`livedj.engine.listen.LiveTempoKey` has it (tempo and key on
    alternate 1-s hops), where the model's gate says loop music. Cached apart
    from :func:`features` (``live-*.npz``): ``live_windows`` (n, windows, 2, 12), ``live_bpm``,
    ``live_bpm_confidence`` (n, windows)."""
    from benchmarks._keydata import build, load
    from livedj.dsp.rhythm import estimate_tempo
    from livedj.dsp.tonal import key_chroma, phrase_period

    root = cache_dir("key-quick" if quick else "key")
    cached = root / f"live-{FEATURES_VERSION}-{LIVE_VERSION}.npz"
    if not cached.exists():
        by_name = {ex.name: ex for ex in build(root)}
        n, hop, sr = int(LIVE_S * 16000), int(HOP_S * 16000), 16000
        win = np.zeros(table["windows"].shape)
        bpm = np.zeros(table["windows"].shape[:2])
        conf = np.zeros(table["windows"].shape[:2])
        for i, name in enumerate(table["name"]):
            y = load(root, by_name[str(name)])
            starts = list(range(0, len(y) - n + 1, hop))[-MAX_WINDOWS:] or [0]
            for j, s0 in enumerate(starts):
                tempo, confidence = estimate_tempo(y[max(0, s0 - sr):s0 + n - sr], sr)
                bpm[i, j], conf[i, j] = (tempo, confidence) if confidence > 0 else (0.0, 0.0)
                period = phrase_period(tempo if confidence > 0 else None, confidence)
                win[i, j] = key_chroma(y[s0:s0 + n], sr, period=period)[0]
            if progress:
                progress("live windows", i + 1, len(table["name"]))
        np.savez(cached, live_windows=win, live_bpm=bpm, live_bpm_confidence=conf)
    with np.load(cached, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def openings(table: dict, root, excerpts, progress=None) -> np.ndarray:
    """Shape (n, 2, 12): :func:`livedj.dsp.keyopening.opening_chroma` of every excerpt of ``table`` (at the whole's
    tuning, as the index reads it), cached under ``root`` apart from the other features."""
    import hashlib

    from benchmarks._keydata import load
    from livedj.dsp.keyopening import OPENING_S, opening_chroma

    tag = hashlib.sha1("/".join(map(str, table["name"])).encode()).hexdigest()[:10]
    cached = root / f"opening-{tag}-{OPENING_S:g}.npy"
    if not cached.exists():
        by_name = {ex.name: ex for ex in excerpts}
        out = np.zeros((len(table["name"]), 2, 12))
        for i, name in enumerate(table["name"]):
            out[i] = opening_chroma(load(root, by_name[str(name)]), 16000, tuning=float(table["tuning"][i]))
            if progress:
                progress("openings", i + 1, len(out))
        np.save(cached, out)
    return np.load(cached)


def _posteriors(chroma: np.ndarray, legacy: np.ndarray, method: str, seconds=LIVE_S) -> np.ndarray:
    """(..., 24) scores of one detector; a probability only for ``learned`` (calibrated for excerpts of
    ``seconds``: one figure, or one per row of ``chroma``)."""
    from livedj.dsp.keyfind import key_posterior
    from livedj.dsp.tonal import PROFILES, key_scores

    if method == "current":
        return np.apply_along_axis(key_scores, -1, legacy, "krumhansl")
    if method in PROFILES:
        return np.apply_along_axis(key_scores, -1, chroma.sum(axis=-2), method)
    seconds = np.broadcast_to(np.asarray(seconds, np.float64), chroma.shape[:1])
    out = np.zeros(chroma.shape[:-2] + (24,))
    for length in np.unique(seconds):
        out[seconds == length] = key_posterior(chroma[seconds == length], seconds=float(length))
    return out


def whole_seconds(table: dict) -> np.ndarray:
    """Length of each excerpt (s): 60 for a generated track, a score's from its 12-s windows at a 2-s hop."""
    return np.where(table["kind"] == "generated", 60.0, (table["n_windows"] - 1) * HOP_S + LIVE_S)


def detect(table: dict, method: str, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, confidences, index of the excerpt) of one detector on every excerpt's ``which`` estimate.

    ``which``: ``whole`` (the index's estimate), ``last`` (the last 12 s alone), ``any`` (every 12-s
    window at a 6-s hop, each an estimate: what a live 12-s estimate is worth wherever the needle is),
    ``shown`` (the live loop's displayed key at the end: :class:`livedj.engine.listen.KeySmoother` fed
    the 12-s window estimates every 2 s; the other detectors' scores as posteriors, normalised), ``shown6`` (the
    same fed from 6 s in: a listener that did not hear the excerpt's first bars).
    """
    from livedj.engine.listen import KeySmoother

    n = len(table["key"])
    if which == "whole":
        if method == "learned" and "opening" in table:  # the index's estimate: the opening bars count too
            from livedj.dsp.keyopening import track_posterior

            r = track_posterior(table["whole"], table["opening"], whole_seconds(table))
        else:  # learned_plain: the whole chroma alone (the index's estimate before the opening counted)
            r = _posteriors(table["whole"], table["legacy_whole"], method.replace("_plain", ""), whole_seconds(table))
        return r.argmax(axis=-1), r.max(axis=-1), np.arange(n)
    # ``learned`` reads the plain 12 s; ``learned_lowest`` (the live path) adds the lowest-note tie-break;
    # ``learned_phrase`` the phrase-weighted windows (with
    # the loop gate) and learned_nogate (fresh generated set only) weighted wherever the tempo is confident:
    # both measured, not shipped
    windows = table[{"learned_phrase": "live_windows", "learned_nogate": "nogate_windows"}.get(method, "windows")]
    if method.startswith("learned_lowest"):  # the lowest-note tie-break inside each window (docs/key.md)
        from benchmarks._keylowest import rule_posterior
        from livedj.dsp.keyrelative import LOWEST_NOTE_FLOOR, LOWEST_NOTE_MIN_LOOP, LOWEST_NOTE_WEIGHT

        # as LiveTempoKey: the smoother (shown) reads the tie-break's posterior at temperature 1, a window's own
        # estimate (last, any) reports the calibrated one (LOWEST_NOTE_TEMPERATURE; "_t1": temperature 1 everywhere)
        temperature = 1.0 if which.startswith("shown") or method.endswith("_t1") else None
        r = rule_posterior(windows, table["lowest"], LOWEST_NOTE_WEIGHT, LOWEST_NOTE_FLOOR, LOWEST_NOTE_MIN_LOOP,
                           temperature)
    else:
        r = _posteriors(windows, table["legacy_windows"], method)  # (n, MAX_WINDOWS, 24)
    valid = np.arange(MAX_WINDOWS)[None, :] < table["n_windows"][:, None]
    if which == "last":
        last = r[np.arange(n), table["n_windows"] - 1]
        return last.argmax(axis=-1), last.max(axis=-1), np.arange(n)
    if which == "any":
        every = int(round(6.0 / HOP_S))
        sel = valid & (np.arange(MAX_WINDOWS)[None, :] % every == 0)
        rows, cols = np.nonzero(sel)
        return r[rows, cols].argmax(axis=-1), r[rows, cols].max(axis=-1), rows
    keys, conf = [], []
    first = 3 if which == "shown6" else 0  # shown6: a listener that joins 6 s in (not at the excerpt's start)
    # shown: the listener hears the excerpt start after quiet, so the live path hears its opening (KeySmoother.
    # hear_opening); learned_lowest_noopening is the live path before it (keys7)
    heard = None
    if which == "shown" and method == LIVE and "opening" in table:
        from livedj.dsp.keyfind import key_posterior

        heard = key_posterior(np.asarray(table["opening"], np.float64))
    for i in range(n):
        smoother = KeySmoother()
        if heard is not None:
            smoother.hear_opening(heard[i])
        for p in r[i, min(first, table["n_windows"][i] - 1):table["n_windows"][i]]:
            p = np.clip(p, 0, None) + 1e-9
            smoother.update(p / p.sum(), HOP_S)
        keys.append(smoother.key)
        conf.append(smoother.confidence)
    return np.array(keys, dtype=object), np.array(conf), np.arange(n)


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


def ece_noise(conf: np.ndarray, bins: int = 10, draws: int = 1000) -> float:
    """Mean expected calibration error of a perfectly calibrated detector with confidences ``conf``: each
    estimate right with probability ``conf``. On 60 estimates it is far from 0; an ECE near it is noise."""
    rng = np.random.default_rng(0)
    return float(np.mean([reliability(conf, (rng.random(len(conf)) < conf).astype(float), bins)[0]
                          for _ in range(draws)]))


def _show(phase, done, total, _last={}):
    if done == total or done - _last.get(phase, 0) >= 50:
        _last[phase] = done
        print(f"key benchmark: {phase} {done}/{total}", file=sys.stderr, flush=True)


WINDOWS = ("whole", "last", "any", "shown", "shown6")
#: learned: the plain 12 s (the live path before keys5; whole: the index's key); learned_phrase: every bar of a 4-bar
#: phrase once (measured, not shipped); learned_plain (whole only): the whole track's chroma alone, without its
#: opening bars (the index before keys4); learned_lowest: the live path since keys5, each window's key and its
#: relative shared by the lowest note (docs/key.md, "The lowest note inside the window")
LIVE = "learned_lowest"  #: the live path's method: the target's gap rows ``key.<set>.gap_<which>`` are its
METHODS = ("current", "krumhansl", "temperley", "learned", "learned_plain", "learned_phrase", "learned_lowest",
           "learned_lowest_noopening")


def run(quick: bool = False) -> list[dict]:
    from benchmarks._keydata import build

    table = features(progress=_show, quick=quick)
    table.update(live_windows(table, progress=_show, quick=quick))
    root = cache_dir("key-quick" if quick else "key")
    table["opening"] = openings(table, root, build(root), progress=_show)
    from benchmarks._keylowest import table_lowest

    table["lowest"] = table_lowest(table, root, build(root), progress=_show, levels=False)
    # All 60 generated tracks are unseen by training (see benchmarks._keytrain); the test half of 32 is
    # kept as a row for comparison with the figures of the earlier protocol.
    subsets = {"scores": (table["kind"] == "score") & (table["split"] == "test"),
               "generated": table["kind"] == "generated",
               "generated_testhalf": (table["kind"] == "generated") & (table["split"] == "test")}
    rows = accuracy(table, subsets)
    rows += local(table, quick)
    rows += cost(quick)
    return rows


def accuracy(table: dict, subsets: dict, methods=METHODS) -> list[dict]:
    """MIREX, exact and calibration rows of every detector on every subset, estimate and live gap."""
    rows = []
    targets = {("scores", "mirex"): 0.85, ("scores", "exact"): 0.75, ("generated", "exact"): 0.80}
    for subset, sel in subsets.items():
        sub = {k: v[sel] for k, v in table.items()}
        mirex = {}
        for which in WINDOWS:
            base = None
            for method in methods:
                if method in ("learned_phrase", "learned_nogate", "learned_lowest") and which == "whole":
                    continue  # the same as learned's
                if method == "learned_plain" and which != "whole":
                    continue  # the opening counts in the whole track's estimate only
                if method == "learned_lowest_noopening" and not which.startswith("shown"):
                    continue  # the same as learned_lowest's: the opening counts in the key shown only
                keys, conf, idx = detect(sub, method, which)
                truth = sub["key"][idx]
                s = scores(keys, truth)
                mirex[(method, which)] = s["mirex"]
                if method == "current":
                    base = s
                figure = (f"{subset} ({sel.sum()}), {which} ({len(keys)} estimates): "
                          + ", ".join(f"{k} {100 * s[k]:.0f}%" for k in MIREX))
                for metric in ("mirex", "exact"):
                    target = targets.get((subset, metric)) if method == "learned" and which == "whole" else None
                    rows.append(row(f"key.{subset}.{which}.{method}.{metric}", figure if metric == "mirex" else
                                    f"{subset}, {which}: exact", s[metric], "fraction", baseline=base[metric],
                                    target=target, higher_is_better=True))
                if method.startswith("learned") and not which.startswith("shown"):
                    ece, lines = reliability(conf, (keys == truth).astype(float))
                    print(f"key benchmark: reliability of the {method} confidence, {subset} {which}:\n"
                          + "\n".join(lines), file=sys.stderr)
                    rows.append(row(f"key.{subset}.{which}.{method}.ece", "expected calibration error of the "
                                    "confidence (10 bins); baseline: what a perfectly calibrated detector with the "
                                    "same confidences scores on this many estimates (sampling noise, mean of 1000)",
                                    ece, "fraction", baseline=ece_noise(conf), target=0.1))
                if method == "learned" and which == "whole" and "opening" in sub:
                    rows += recalibration(sub, subset, keys)
                if method == "learned_lowest" and which in ("last", "any"):
                    rows += live_recalibration(sub, subset, which, keys)
                if method == "learned_lowest" and which.startswith("shown"):  # the confidence the dashboard shows
                    from benchmarks._keyshown import shown_calibration

                    rows += shown_calibration(sub, subset, which)
        live = LIVE if LIVE in methods else "learned"
        for which in WINDOWS[1:]:  # the live estimates within 0.05 of the whole track's
            low, high = gap_interval(sub, live, which)
            rows.append(row(f"key.{subset}.gap_{which}", f"MIREX whole minus {which} (12 s), the live path ({live}); "
                            f"bootstrap by excerpt, 95 %: [{low:+.3f}, {high:+.3f}]",
                            mirex[("learned", "whole")] - mirex[(live, which)], "fraction", target=0.05,
                            baseline=mirex[("current", "whole")] - mirex[("current", which)]))
            for other, what in (("learned_lowest_noopening", "the key shown without the opening heard (keys7)"),
                                ("learned_phrase", "weighted by the 4-bar phrase (not shipped)"),
                                ("learned_nogate", "weighted without the loop gate (not shipped)"),
                                ("learned", "the plain 12 s (the live path before keys5)")):
                if other == live or other not in methods:
                    continue
                if other == "learned_lowest_noopening" and not which.startswith("shown"):
                    continue
                low, high = gap_interval(sub, other, which)
                rows.append(row(f"key.{subset}.gap_{which}.{other}", f"MIREX whole minus {which}, {what}; "
                                f"bootstrap 95 %: [{low:+.3f}, {high:+.3f}]",
                                mirex[("learned", "whole")] - mirex[(other, which)], "fraction", target=0.05))
            if "learned_lowest" in methods:
                low, high = gap_interval(sub, "learned_lowest", which, minus="learned")
                rows.append(row(f"key.{subset}.{which}.lowest_gain", f"MIREX of {which}: the lowest-note tie-break "
                                f"minus the plain 12 s; paired bootstrap by excerpt, 95 %: [{low:+.3f}, {high:+.3f}]",
                                mirex[("learned_lowest", which)] - mirex[("learned", which)], "fraction"))
            low, high = gap_interval(sub, "learned_phrase", which, minus="learned")
            rows.append(row(f"key.{subset}.{which}.phrase_gain", f"MIREX of {which}: learned phrase-weighted (not "
                            f"shipped) minus the plain 12 s; paired bootstrap by excerpt, 95 %: "
                            f"[{low:+.3f}, {high:+.3f}]",
                            mirex[("learned_phrase", which)] - mirex[("learned", which)], "fraction"))
    return rows


def recalibration(table: dict, subset: str, keys: np.ndarray) -> list[dict]:
    """The index's confidence before its final temperature (:data:`livedj.dsp.keyopening.INDEX_TEMPERATURE`, fitted on
    dev data): its ECE, and the share of keys the temperature left as they were (all: a power keeps the argmax)."""
    from livedj.dsp.keyopening import INDEX_TEMPERATURE, track_posterior

    p = track_posterior(table["whole"], table["opening"], whole_seconds(table), calibration=1.0)
    conf, right = p.max(axis=-1), (p.argmax(axis=-1) == table["key"]) * 1.0
    ece, lines = reliability(conf, right)
    print(f"key benchmark: reliability of the learned confidence before recalibration (temperature 1, now "
          f"{INDEX_TEMPERATURE}), {subset} whole:\n" + "\n".join(lines), file=sys.stderr)
    return [row(f"key.{subset}.whole.learned.ece_before_recalibration", "ECE of the index's confidence with the "
                "opening rule before its final temperature (1); baseline: sampling noise", ece, "fraction",
                baseline=ece_noise(conf), target=0.1),
            row(f"key.{subset}.whole.learned.recalibration_keeps_keys", f"keys the final temperature "
                f"{INDEX_TEMPERATURE} left unchanged", float(np.mean(p.argmax(axis=-1) == keys.astype(int))),
                "fraction", target=1.0, higher_is_better=True)]


def live_recalibration(table: dict, subset: str, which: str, keys: np.ndarray) -> list[dict]:
    """The live window's confidence before its temperature (:data:`livedj.dsp.keyrelative.LOWEST_NOTE_TEMPERATURE`,
    fitted on dev data): its ECE, and the share of keys the temperature left as they were (all: a power)."""
    from livedj.dsp.keyrelative import LOWEST_NOTE_TEMPERATURE

    before, conf, idx = detect(table, "learned_lowest_t1", which)
    ece, lines = reliability(conf, (before == table["key"][idx]).astype(float))
    print(f"key benchmark: reliability of the live confidence before its temperature (1, now "
          f"{LOWEST_NOTE_TEMPERATURE}), {subset} {which}:\n" + "\n".join(lines), file=sys.stderr)
    return [row(f"key.{subset}.{which}.learned_lowest.ece_before_recalibration", f"ECE of the live 12-s window's "
                f"confidence ({which}) at temperature 1 (keys5); baseline: sampling noise", ece, "fraction",
                baseline=ece_noise(conf), target=0.1),
            row(f"key.{subset}.{which}.learned_lowest.recalibration_keeps_keys", f"live keys ({which}) the temperature "
                f"{LOWEST_NOTE_TEMPERATURE} left unchanged", float(np.mean(before == keys)), "fraction", target=1.0,
                higher_is_better=True)]


def per_excerpt(table: dict, method: str, which: str) -> np.ndarray:
    """Shape (excerpts,): each excerpt's MIREX-weighted score of ``which`` (the mean over its windows for ``any``)."""
    keys, _, idx = detect(table, method, which)
    truth = table["key"][idx]
    weight = np.array([MIREX[relation(int(e), int(t)) if e is not None else "other"] for e, t in zip(keys, truth)])
    n = len(table["key"])
    return np.bincount(idx, weight, minlength=n) / np.maximum(np.bincount(idx, minlength=n), 1)


def gap_interval(table: dict, method: str, which: str, *, minus: str | None = None, draws: int = 2000,
                 level: float = 0.95) -> tuple[float, float]:
    """Bootstrap interval (resampling excerpts) of learned's whole minus ``method``'s ``which``, or, with
    ``minus``, of ``method``'s ``which`` minus ``minus``'s (a paired difference)."""
    if minus is None:
        diff = per_excerpt(table, "learned", "whole") - per_excerpt(table, method, which)
    else:
        diff = per_excerpt(table, method, which) - per_excerpt(table, minus, which)
    # "any" has the same number of windows per generated track, but not per score excerpt: weight by windows
    _, _, idx = detect(table, method, which)
    count = np.bincount(idx, minlength=len(diff)).astype(float)
    rng = np.random.default_rng(17)
    pick = rng.integers(len(diff), size=(draws, len(diff)))
    means = (diff[pick] * count[pick]).sum(axis=1) / count[pick].sum(axis=1)
    return tuple(float(q) for q in np.quantile(means, [(1 - level) / 2, (1 + level) / 2]))


def local(table: dict, quick: bool = False) -> list[dict]:
    """The scores' 12-s estimates against the key *sounding* in the window, beside the global label.

    Reference: music21's symbolic key of the notes in the window (:mod:`benchmarks._keylocal`; an
    algorithm's reading of the score, not an annotation). Reported separately; the targets stay on the
    global label. ``label_agrees``: how often the window's sounding key is the global label at all.
    """
    from benchmarks._keydata import build
    from benchmarks._keylocal import local_keys

    root = cache_dir("key-quick" if quick else "key")
    sel = np.nonzero((table["kind"] == "score") & (table["split"] == "test"))[0]
    every = int(round(6.0 / HOP_S))
    starts = {i: [j for j in range(table["n_windows"][i]) if j % every == 0 or j == table["n_windows"][i] - 1]
              for i in sel}
    spans = {str(table["name"][i]): [(0.0, 30.0)] + [(HOP_S * j, HOP_S * j + LIVE_S) for j in starts[i]]
             for i in sel}
    got = local_keys(root, build(root), spans, progress=_show)
    post = _posteriors(table["windows"][sel], table["legacy_windows"][sel], "learned")  # (n, windows, 24)
    whole = _posteriors(table["whole"][sel], table["legacy_whole"][sel], "learned",
                        whole_seconds(table)[sel]).argmax(axis=-1)
    est = {"last": [], "any": [], "first": []}
    conf = {k: [] for k in est}
    ref = {k: [] for k in est}
    label = {k: [] for k in est}
    whole_ref = []
    for r, i in enumerate(sel):
        keys = got[str(table["name"][i])]
        whole_ref.append(keys[0])
        for j, k in zip(starts[i], keys[1:]):
            picks = (["first"] if j == 0 else []) + (["any"] if j % every == 0 else [])
            picks += ["last"] if j == table["n_windows"][i] - 1 else []
            for which in picks:
                est[which].append(int(post[r, j].argmax()))
                conf[which].append(float(post[r, j].max()))
                ref[which].append(k)
                label[which].append(int(table["key"][i]))
    rows = []
    w = scores(whole, np.array(whole_ref))
    rows.append(row("key.scores_local.whole.learned.mirex", f"scores ({len(sel)}), whole 30 s against music21's key of "
                    "the notes of the whole 30 s (not the label)", w["mirex"], "fraction"))
    for which in ("first", "last", "any"):
        s_local = scores(np.array(est[which]), np.array(ref[which]))
        s_label = scores(np.array(est[which]), np.array(label[which]))
        agree = float(np.mean(np.array(ref[which]) == np.array(label[which])))
        span = {"first": "0-12 s", "last": "the last 12 s", "any": "any 12-s window"}[which]
        for metric in ("mirex", "exact"):
            rows.append(row(f"key.scores_local.{which}.learned.{metric}",
                            f"{span} ({len(est[which])}) against the key sounding there (music21 on the window's "
                            f"notes): " + ", ".join(f"{k} {100 * s_local[k]:.0f}%" for k in MIREX), s_local[metric],
                            "fraction", baseline=s_label[metric], note="baseline: the same estimates against the "
                            "global label"))
        correct = (np.array(est[which]) == np.array(ref[which])).astype(float)
        ece, lines = reliability(np.array(conf[which]), correct)
        print(f"key benchmark: reliability of the learned confidence, scores {which} against the sounding key "
              "(music21):\n" + "\n".join(lines), file=sys.stderr)
        rows.append(row(f"key.scores_local.{which}.learned.ece", f"{span}: calibration error against the sounding "
                        "key (10 bins); baseline: sampling noise", ece, "fraction",
                        baseline=ece_noise(np.array(conf[which])), target=0.1))
        rows.append(row(f"key.scores_local.{which}.label_agrees", f"{span}: music21's sounding key is the global "
                        "label", agree, "fraction"))
        # What reading the notes themselves (no audio) scores against the label: a ceiling for any estimate
        # of the sounding key from that window.
        oracle = scores(np.array(ref[which]), np.array(label[which]))
        rows.append(row(f"key.scores_local.{which}.music21_vs_label.mirex", f"{span}: music21 on the notes against "
                        "the global label: " + ", ".join(f"{k} {100 * oracle[k]:.0f}%" for k in MIREX),
                        oracle["mirex"], "fraction"))
    rows.append(row("key.scores_local.gap_last", "MIREX whole minus the last 12 s, each against its own music21 key",
                    w["mirex"] - scores(np.array(est["last"]), np.array(ref["last"]))["mirex"], "fraction"))
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



if __name__ == "__main__":  # the generated rows on a fresh set: benchmarks._keyheldout
    from benchmarks._keyheldout import main

    sys.exit(main())
