"""The context model: build time at 10,000 tracks / 2,000 lists, next-track hit@10, ranking cost.

Data: :func:`livedj.synth.playlists.planted_habits` -- style-clustered "song-beginning" vectors
and the DJ's sets, playlists and crates drawn from hidden groups that mix styles on purpose,
plus :func:`~livedj.synth.playlists.cold_probes` (a record in no list followed by one of its
style). Build runs on 2 BLAS threads (the target machine's cores).

* ``context.build_s``: :func:`livedj.library.context.build` (co-occurrences, PPMI, truncated SVD,
  sound -> context map), wall clock and this process's CPU seconds (the machine may be shared);
  baseline: the same with ARPACK at full precision (scipy's default). Target: under 60 s.
* ``context.hit10.*``: the last transition of each sequence held out
  (:func:`livedj.engine.context_eval.next_track_hits`); baseline: audio alone. Targets: the blend
  >= 2x audio on sequences with history, >= audio on records without history.
* ``context.sound_map_cosine``: the sound -> context map on held-out tracks when crates follow
  style; baseline: crates that mix styles (nothing to learn from sound). The seed's figure: 0.70.
* ``context.rank_ms``: one update's ranking with the context term (context scores of 50 audio
  + 20 context candidates, merge, rank); baseline: ranking the 50 audio candidates without it.
"""
from __future__ import annotations

import os
import time

import numpy as np

from benchmarks.common import row


def _habits(quick: bool):
    from livedj.synth.playlists import cold_probes, planted_habits

    if quick:
        h = planted_habits(n_tracks=1000, n_styles=10, group_size=20, n_sets=70, n_playlists=100, n_crates=30,
                           set_length=10, seed=0)
    else:
        h = planted_habits(n_tracks=10_000, n_styles=30, group_size=25, n_sets=700, n_playlists=1000,
                           n_crates=300, set_length=12, seed=0)
    return h, h.lists + cold_probes(h, n=100 if quick else 400)


def run(quick: bool = False) -> list[dict]:
    from threadpoolctl import threadpool_limits

    from livedj.engine.context_eval import hold_out_last, next_track_hits
    from livedj.engine.context_term import CONTEXT_CANDIDATES, context_neighbours, context_scores, merge_candidates
    from livedj.engine.ranker import Weights, rank
    from livedj.library import context as ctx
    from livedj.library.sequences import IdSequence
    from livedj.library.store import Track

    habits, lists = _habits(quick)
    seqs = [IdSequence(n, k, "synth", tuple(ids)) for n, k, ids in lists]
    size = f"{len(habits.vectors):,} tracks, {len(seqs):,} lists"
    rows = []
    with threadpool_limits(limits=2, user_api="blas"):
        ctx.build(seqs[:50], {t: habits.vectors[t] for t in list(habits.vectors)[:500]})  # first-call imports
        began, cpu = time.perf_counter(), time.process_time()
        ctx.build(seqs, habits.vectors)
        build_s, build_cpu = time.perf_counter() - began, time.process_time() - cpu
        began, cpu = time.perf_counter(), time.process_time()
        ctx.build(seqs, habits.vectors, params=ctx.Params(svd_tol=0.0))
        exact_s, exact_cpu = time.perf_counter() - began, time.process_time() - cpu
    rows.append(row("context.build_s", f"build the context model ({size}, 2 threads)", build_s, "s",
                    baseline=exact_s, target=60.0,
                    note=f"wall clock; load average {os.getloadavg()[0]:.1f} on this machine"))
    rows.append(row("context.build_cpu_s", f"build the context model ({size}): CPU seconds of this process",
                    build_cpu, "s", baseline=exact_cpu, target=60.0,
                    note="what the build costs on an idle machine, whatever other processes take"))

    train, _ = hold_out_last(seqs)
    held_model = ctx.build(train, habits.vectors)
    single = threadpool_limits(limits=1, user_api="blas")  # as the live engine runs (load_engine)
    result = next_track_hits(seqs, habits.vectors, model=held_model)
    for group in ("with_history", "without_history"):
        got = result[group]
        audio = got["audio"]
        for method in ("random", "most_played", "audio", "context", "blend"):
            target = None
            if method == "blend":
                target = round(2 * audio, 4) if group == "with_history" else audio
            rows.append(row(f"context.hit10.{group}.{method}", f"next-track hit@10, {method}, "
                            f"{group.replace('_', ' ')} ({got['n']} held-out transitions)", got[method], "hit rate",
                            baseline=audio, target=target, higher_is_better=True))

    ids = np.asarray(sorted(habits.vectors), dtype=np.int64)
    mat = np.stack([habits.vectors[int(t)] for t in ids])
    tracks = {int(t): Track(int(t), f"/{t}", str(t), "", "", None, 124.0, "tag", 9, "tag") for t in ids}
    rng = np.random.default_rng(0)
    playing = rng.choice(ids[held_model.learned], 200)
    with_ms, without_ms = [], []
    for p in playing.tolist():
        q = mat[np.searchsorted(ids, p)]
        sims = mat @ q
        top = np.argsort(-sims)[:50]
        cand, cand_sims = ids[top], sims[top]
        t0 = time.perf_counter()
        rank(cand, cand_sims, tracks, live_bpm=125.0, live_key=9, exclude={p}, weights=Weights())
        t1 = time.perf_counter()
        extra = context_neighbours(p, held_model, CONTEXT_CANDIDATES, exclude=frozenset({p}))
        c2, s2 = merge_candidates(cand, cand_sims, extra, q, lambda t: mat[np.searchsorted(ids, t)])
        rank(c2, s2, tracks, live_bpm=125.0, live_key=9, exclude={p}, weights=Weights(),
             context=context_scores(c2, p, held_model))
        t2 = time.perf_counter()
        without_ms.append((t1 - t0) * 1000)
        with_ms.append((t2 - t1) * 1000)
    rows.append(row("context.rank_ms.p50", f"one update's ranking with the context term ({size})",
                    float(np.median(with_ms)), "ms", baseline=float(np.median(without_ms)),
                    note="1 BLAS thread, as the live engine; the live update's embedding takes ~40 ms"))
    single.restore_original_limits()
    rows.append(_sound_map_row(quick))
    return rows


def _sound_map_row(quick: bool) -> dict:
    """The sound -> context map when the DJ's crates do follow sound (one style each)."""
    from livedj.library.context import build
    from livedj.library.sequences import IdSequence
    from livedj.synth.playlists import planted_habits

    h = planted_habits(n_tracks=1000 if quick else 5000, n_styles=20, seed=2)
    by_style: dict[int, list[int]] = {}
    for t, s in h.style.items():
        by_style.setdefault(s, []).append(t)
    rng = np.random.default_rng(0)
    crates = [IdSequence(f"c{i}", "crate", "synth", tuple(int(t) for t in rng.choice(by_style[i % 20], 15, replace=False)))
              for i in range(len(h.vectors) // 3)]
    model = build(crates, h.vectors)
    mixed = build([IdSequence(n, k, "synth", tuple(ids)) for n, k, ids in h.lists], h.vectors)
    return row("context.sound_map_cosine", "sound -> context map: mean cosine on held-out tracks, crates of one "
               "style each", model.stats["sound_map_cosine"], "cosine", baseline=mixed.stats["sound_map_cosine"],
               target=0.7, higher_is_better=True,
               note="baseline: crates that mix styles on purpose (nothing to learn); the seed's figure 0.70")

