"""The key estimate's cost in the live update: issue 17's detector against the one before it, same process.

Three measurements, each interleaved in rounds (new, old, new, old...) so that load from other
processes hits both alike:

- **what the second revision added** (microseconds): the posterior calibrated per stretch length
  against a single calibration, and the smoother's warm-up test against a smoother with a key shown;

- **the key estimate alone**: one estimate of a 12-s stretch at 16 kHz (what the live loop hands the
  listener every other hop): :func:`livedj.dsp.tonal.key_posterior_of` (tuned bass/treble chroma,
  learned profiles) against the detector before issue 17 (untuned chroma, Krumhansl-Kessler:
  :func:`~livedj.dsp.tonal.chroma_profile` + :func:`~livedj.dsp.tonal.key_scores`, kept for this
  baseline);
- **the live update**: the daemon's loop exactly as :mod:`benchmarks.live` runs it (musicnn, a
  10,000-track index, OSC over UDP), once as shipped and once with the listener's key estimate
  swapped for the old detector (its posterior a one-hot of the old key: the smoother's own work is
  a few microseconds). Reported: the whole update and the helper thread's ``tempo_key`` stage
  (tempo on even hops, key on odd ones; it runs beside the embedding on the second core).

- **hearing openings** (keys8): a key turn of the listener with and without :meth:`KeySmoother.hear_opening`'s
  onset search, on music and where a record starts after quiet.

``python -m benchmarks key_live`` (``--quick``: a few updates; ``python -m benchmarks.key_live --opening``: only
the last).
"""
from __future__ import annotations

import socket
import time

import numpy as np

from benchmarks.common import cache_dir, fake_index, pct, row, synth_library

IN_ALL = False  #: a minute of live loop twice over: run it by name


def legacy_posterior_of(y: np.ndarray, sr: int, *, tuning: float | None = None,
                        period: float | None = None, lowest_notes: bool = False) -> tuple[np.ndarray, float]:
    """The detector before issue 17 in the shape of :func:`~livedj.dsp.tonal.key_posterior_of` (``period`` and
    ``lowest_notes`` ignored: it read the plain stretch)."""
    from livedj.dsp.tonal import chroma_profile, key_scores

    chroma = chroma_profile(y, sr)
    if not chroma.any():
        return np.full(24, 1.0 / 24), 0.0
    return np.eye(24)[int(np.argmax(key_scores(chroma)))], 0.0


def legacy_live_posteriors(y: np.ndarray, sr: int, *, tuning: float | None = None
                           ) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`legacy_posterior_of` in the shape of :func:`~livedj.dsp.tonal.live_key_posteriors` (what
    :class:`~livedj.engine.listen.LiveTempoKey` calls)."""
    p, tuning = legacy_posterior_of(y, sr, tuning=tuning)
    return p, p, tuning


def estimate_cost(quick: bool) -> list[dict]:
    from livedj.dsp.tonal import key_posterior_of
    from livedj.synth import DEMO_TRACKS, render_track

    y = render_track(DEMO_TRACKS[6], 13.0, 16000)[-12 * 16000:]
    new, old, phrase, plain = [], [], [], []
    period = 16 * 60.0 / DEMO_TRACKS[6].bpm  # the phrase weighting measured, not shipped (tonal.phrase_period)
    for _ in range(10 if quick else 300):
        t0 = time.perf_counter()
        key_posterior_of(y, 16000, lowest_notes=True)  # the live path's estimate (LiveTempoKey.update)
        t1 = time.perf_counter()
        legacy_posterior_of(y, 16000)
        t2 = time.perf_counter()
        key_posterior_of(y, 16000, period=period)
        t3 = time.perf_counter()
        key_posterior_of(y, 16000)
        t4 = time.perf_counter()
        new.append(1000 * (t1 - t0))
        old.append(1000 * (t2 - t1))
        phrase.append(1000 * (t3 - t2))
        plain.append(1000 * (t4 - t3))
    return [row(f"key_live.estimate.{name}", f"one key estimate of 12 s at 16 kHz, {name} of {len(new)}; baseline: "
                "the detector before issue 17", pct(new, q), "ms", baseline=pct(old, q))
            for q, name in ((0.5, "p50"), (0.99, "p99"))] + [
        row(f"key_live.lowest.{name}", f"one live key estimate with the lowest-note tie-break (as shipped), {name} of "
            f"{len(new)}; baseline: the plain 12 s (no tie-break)", pct(new, q), "ms", baseline=pct(plain, q))
        for q, name in ((0.5, "p50"), (0.99, "p99"))] + [
        row(f"key_live.phrase.{name}", f"one key estimate of 12 s weighted by a 4-bar phrase (measured, not shipped; "
            f"with the loop gate), {name} of {len(new)}; baseline: the plain 12 s", pct(phrase, q), "ms",
            baseline=pct(plain, q)) for q, name in ((0.5, "p50"), (0.99, "p99"))]


def update_cost(quick: bool) -> list[dict]:
    import livedj.engine.listen as listen
    from benchmarks.live import _config, run_loop
    from livedj.engine.loader import load_engine

    shipped = listen.live_key_posteriors
    updates, rounds = (6, 1) if quick else (40, 3)
    n_index = 1_000 if quick else 10_000
    track = synth_library(1, 20.0 if quick else 75.0, "mp3", name="live-quick" if quick else "live")[0]
    index_dir = fake_index(cache_dir("index", f"live-{n_index}"), n_index)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    config = _config(index_dir, sink.getsockname()[1])
    engine = load_engine(config)
    new: list[dict] = []
    old: list[dict] = []
    try:
        for _ in range(rounds):
            listen.live_key_posteriors = shipped
            new += run_loop(engine, config, track, updates)
            listen.live_key_posteriors = legacy_live_posteriors
            old += run_loop(engine, config, track, updates)
    finally:
        listen.live_key_posteriors = shipped
        sink.close()
    rows = []
    for stage, what in (("total", "whole live update"), ("tempo_key", "helper thread's tempo_key stage")):
        a, b = [u.get(stage, 0.0) for u in new], [u.get(stage, 0.0) for u in old]
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            rows.append(row(f"key_live.update.{stage}.{name}", f"{what} {name}, {len(a)} updates, {n_index:,}-track "
                            "index; baseline: the key estimate before issue 17", pct(a, q), "ms", baseline=pct(b, q)))
    return rows


def revision_cost(quick: bool) -> list[dict]:
    """What the second revision of issue 17 added to the live path, each against the same code without it,
    interleaved: the posterior calibrated for the stretch's length (``seconds``) against the single
    calibration, and :class:`~livedj.engine.listen.KeySmoother`'s update while it waits for its first key
    (the warm-up's extra test) against one with a key shown."""
    from dataclasses import replace

    from livedj.dsp.keyfind import chroma_features, key_posterior, load_model
    from livedj.engine.listen import KeySmoother
    from livedj.synth import DEMO_TRACKS, render_track

    chroma, _ = chroma_features(render_track(DEMO_TRACKS[6], 13.0, 16000)[-12 * 16000:], 16000)
    model = load_model()
    single = replace(model, temperature_whole=None)
    rng = np.random.default_rng(0)
    posteriors = rng.dirichlet(np.full(24, 0.3), 64)
    waiting, settled = KeySmoother(margin=2.0, patience=10 ** 9), KeySmoother()  # never shows / shows at once
    settled.update(np.eye(24)[0], 2.0)
    times = {k: [] for k in ("length", "single", "waiting", "settled")}
    for i in range(200 if quick else 5000):
        p = posteriors[i % 64]
        for name, call in (("length", lambda: key_posterior(chroma, model, seconds=12.0)),
                           ("single", lambda: key_posterior(chroma, single)),
                           ("waiting", lambda: waiting.update(p, 2.0)), ("settled", lambda: settled.update(p, 2.0))):
            t0 = time.perf_counter()
            call()
            times[name].append(1e6 * (time.perf_counter() - t0))
    return [row("key_live.posterior.p50", "key posterior from chroma, calibrated for 12 s, p50; baseline: one "
                "calibration for every length", pct(times["length"], 0.5), "us", baseline=pct(times["single"], 0.5)),
            row("key_live.smoother.p50", "KeySmoother.update waiting for its first key, p50; baseline: with a key "
                "shown", pct(times["waiting"], 0.5), "us", baseline=pct(times["settled"], 0.5))]


def opening_cost(quick: bool) -> list[dict]:
    """What hearing a record's opening adds to a key turn of :class:`~livedj.engine.listen.LiveTempoKey` (its
    estimate of the 12 s, :func:`~livedj.dsp.tonal.live_key_posteriors`, and the smoother), interleaved with the same
    listener with ``hear_openings=False``: on a stretch of music (the usual case: the onset search finds nothing) and
    on one where a record starts after quiet (once a record: the opening's chroma and posterior too)."""
    from livedj.engine.listen import LiveTempoKey
    from livedj.synth import DEMO_TRACKS, render_track

    sr = 16000
    music = render_track(DEMO_TRACKS[6], 13.0, sr)[-12 * sr:]
    onset = np.concatenate([np.zeros(6 * sr, np.float32), music[:6 * sr]])
    times = {k: [] for k in ("music", "music_off", "onset", "onset_off")}
    for _ in range(40 if quick else 300):
        for name, stretch in (("music", music), ("onset", onset)):
            for suffix, hear in (("", True), ("_off", False)):
                listener = LiveTempoKey(hear_openings=hear)
                listener._turn = 1  # a key turn
                t0 = time.perf_counter()
                listener.update(stretch, sr)
                times[name + suffix].append(1e3 * (time.perf_counter() - t0))
    return [row("key_live.opening.music.p50", "a key turn of LiveTempoKey on 12 s of music, p50; baseline: without "
                "openings", pct(times["music"], 0.5), "ms", baseline=pct(times["music_off"], 0.5)),
            row("key_live.opening.onset.p50", "the key turn where a record starts after quiet (its opening read), "
                "p50; baseline: without openings", pct(times["onset"], 0.5), "ms", baseline=pct(times["onset_off"], 0.5))]


def run(quick: bool = False) -> list[dict]:
    return opening_cost(quick) + revision_cost(quick) + estimate_cost(quick) + update_cost(quick)


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import print_rows

    if "--opening" in sys.argv[1:]:  # only what hearing openings adds (seconds, not minutes)
        print_rows(opening_cost(quick="--quick" in sys.argv[1:]))
    else:
        print_rows(run(quick="--quick" in sys.argv[1:]))
