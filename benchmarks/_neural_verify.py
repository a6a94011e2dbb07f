"""The learned fingerprint as a *verifier* of the landmark matcher's candidates (a prototype, not in the product).

`benchmarks._neural_fp` searched every learned vector of the library for each query: that named the
records the landmarks lose through the other booth simulation, at ~0.9 s a query and a search whose chance
level grows with the library. This asks whether the landmark matcher's own candidates (its best ``--top``
tracks, each with an offset and a speed, whether or not it names one) already hold the true record of
those misses, so that the learned vectors need only be compared at a few (track, offset, speed): cost
and chance level then depend on ``--top``, not on the library.

For every query: the landmark candidates (`match_audio(..., top=K)`), the landmarks' decision, the true
record's rank among the candidates, and per candidate a learned score: the query resampled to the
candidate's speed, its patches compared with the candidate track's database vectors at the candidate's
offset (+-``--slack`` s; each database vector takes its best query patch); and, on the queries the
landmarks name nothing in, `_neural_fp`'s vote over the candidate track's vectors at any offset, under
``--speeds`` hypotheses (the landmarks choose only the tracks). A verifier names the best
candidate when the landmarks name nothing and its score clears a threshold set on records *not* in the
database (c1's renders against c2's database) and beats the next track's score by ``--margin``.

Protocol as `_neural_fp`: the model is trained on c1 only (presets), judged on c2's renders.

    LIVEDJ_BENCH_DIR=.bench python -m benchmarks._neural_verify [--top 8] [--db-hop 64] [--speed-range 0.08 --speeds 1]

(after `_neural_fp --train-only` [--speed-range 0.08] and identify_window's c1 and c2 renders are cached)
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks import _neural_fp as nfp

SR = nfp.SR
FRAME_S = nfp.HOP / SR


def track_vectors(net, corpus: str, db_hop: int) -> dict[int, np.ndarray]:
    """{track id: (n, d) unit vectors of patches every ``db_hop`` frames}."""
    from benchmarks.identify_window import _audio, _files

    return {k + 1: nfp.embed(net, nfp.patches(nfp.log_mel(_audio(corpus, k, p)), db_hop))
            for k, p in enumerate(_files(corpus))}


def query_vectors(net, y: np.ndarray, speed: float, cache: dict) -> np.ndarray:
    """The query's unit vectors every ``Q_HOP`` frames, resampled to the record's speed (cached per speed)."""
    from livedj.dsp.room import speed_change

    key = round(speed, 4)
    if key not in cache:
        z = y if abs(speed - 1.0) < 1e-6 else speed_change(y, 1.0 / speed, SR)
        cache[key] = nfp.embed(net, nfp.patches(nfp.log_mel(z), nfp.Q_HOP))
    return cache[key]


def aligned_score(q: np.ndarray, db: np.ndarray, db_hop: int, offset_s: float, slack_s: float) -> tuple[float, int]:
    """Mean similarity of the database vectors under the query at ``offset_s`` (best query patch within
    ``slack_s`` of each), maximised over offsets within ``slack_s``; and how many vectors took part."""
    if not len(q) or not len(db):
        return 0.0, 0
    q_t = np.arange(len(q)) * nfp.Q_HOP * FRAME_S  # query patch start, record-speed seconds from the query start
    d_t = np.arange(len(db)) * db_hop * FRAME_S
    best, n_best = -1.0, 0
    for shift in np.arange(-slack_s, slack_s + 1e-9, nfp.Q_HOP * FRAME_S):
        rel = d_t - (offset_s + shift)
        inside = np.flatnonzero((rel >= -1e-6) & (rel <= q_t[-1] + 1e-6))
        if not len(inside):
            continue
        qi = np.clip(np.rint(rel[inside] / (nfp.Q_HOP * FRAME_S)).astype(int), 0, len(q) - 1)
        s = float(np.mean(np.sum(db[inside] * q[qi], axis=1)))
        if s > best:
            best, n_best = s, len(inside)
    return max(best, 0.0), n_best


def verify(net, y, matches, vectors, db_hop, slack_s) -> list[tuple[int, float]]:
    """(track, learned score at the candidate's own offset and speed) of every candidate in ``matches``."""
    cache: dict = {}
    return [(m.track_id, aligned_score(query_vectors(net, y, m.speed, cache), vectors[m.track_id], db_hop,
                                       m.offset_s, slack_s)[0]) for m in matches]


def vote_score(q: np.ndarray, db: np.ndarray, db_hop: int, k: int = 5) -> float:
    """`_neural_fp.score_at`'s vote, over one track's vectors only: each query vector's ``k`` nearest vote
    for an offset with their similarity over 0.5; the best pair of neighbouring offsets."""
    if not len(q) or not len(db):
        return 0.0
    s = q @ db.T
    k = min(k, s.shape[1])
    top = np.argpartition(-s, k - 1, axis=1)[:, :k]
    votes: dict = {}
    for qi in range(len(q)):
        for d in top[qi]:
            o = int(round((d * db_hop - qi * nfp.Q_HOP) / db_hop))
            votes[o] = votes.get(o, 0.0) + max(0.0, float(s[qi, d]) - 0.5)
    return max((v + votes.get(o + 1, 0.0) for o, v in votes.items()), default=0.0)


def verify_vote(net, y, matches, vectors, db_hop, speeds=nfp.SPEEDS) -> list[tuple[int, float]]:
    """(track, best :func:`vote_score` over the ``speeds`` hypotheses, at any offset) of every
    candidate track in ``matches``: the landmarks choose the tracks, not their offset or speed."""
    cache: dict = {}
    qs = [query_vectors(net, y, s, cache) for s in speeds]
    return [(m.track_id, max(vote_score(q, vectors[m.track_id], db_hop) for q in qs)) for m in matches]


def main(argv=None) -> int:
    import torch

    from benchmarks.common import cache_dir
    from benchmarks.identify_window import library, queries
    from livedj.library.fingerprints import decide, match_audio

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000, help="which cached model (benchmarks._neural_fp trains it)")
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--db-hop", type=int, default=16, help="frames of 16 ms between database vectors")
    ap.add_argument("--slack", type=float, default=0.5)
    ap.add_argument("--conds", default="alt@1,alt@1.06,alt@0.94,preset@1,preset@1.06,preset@0.94")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--absent-every", type=int, default=2)
    ap.add_argument("--speed-range", type=float, default=0.0, help="the model trained at 1 +- this speed")
    ap.add_argument("--speeds", default=",".join(f"{v:g}" for v in nfp.SPEEDS), help="the vote's hypotheses")
    ap.add_argument("--margin", type=float, default=1.0, help="the best track's score over the next track's")
    ap.add_argument("--report", help="only report a saved run (.npy)")
    args = ap.parse_args(argv)
    if args.report:
        rows = list(np.load(args.report, allow_pickle=True))
        for col, what in ((5, "aligned at the candidate's offset and speed"), (9, "vote, any offset of the candidate track")):
            print(f"== learned score: {what}")
            report(rows, args.margin, col)
        return 0
    torch.set_num_threads(1)
    t0 = time.time()
    net = nfp.model()
    net.load_state_dict(torch.load(cache_dir("neural-fp") / nfp.model_name(args.steps, args.speed_range)))
    speeds = tuple(float(v) for v in args.speeds.split(","))
    net.eval()
    vectors = track_vectors(net, "c2", args.db_hop)
    print(f"database: {sum(len(v) for v in vectors.values())} vectors of c2 every {args.db_hop * FRAME_S:.3f} s "
          f"({time.time() - t0:.0f} s)", flush=True)
    index = library("c2")
    conds = args.conds.split(",")
    mine = [q for q in queries("c2", 76, 15.0) if q[0] in conds][::args.every]
    theirs = [q for q in queries("c1", 134, 15.0) if q[0] in conds][::args.absent_every]
    rows = []  # (absent?, cond, truth, named, rank of truth, [(track, score)], seconds)
    for absent, qs in ((True, theirs), (False, mine)):
        for c, t, y in qs:
            t1 = time.perf_counter()
            ms = match_audio(y, SR, index, top=args.top)
            t2 = time.perf_counter()
            named = decide(list(ms))
            ver = verify(net, y, ms, vectors, args.db_hop, args.slack)
            t3 = time.perf_counter()
            # the vote is measured where a verifier would run: on queries the landmarks name nothing in
            vote = verify_vote(net, y, ms, vectors, args.db_hop, speeds) if named is None else []
            t4 = time.perf_counter()
            ids = [m.track_id for m in ms]
            rank = -1 if absent or t not in ids else ids.index(t)
            for m in ms:  # a verified copy of the same recording counts as the true record
                if not absent and t in m.same and rank < 0:
                    rank = ids.index(m.track_id)
            rows.append((absent, c, t, None if named is None else named.track_id, rank, ver, t2 - t1, t3 - t2,
                         () if named is None else named.same, vote, t4 - t3))
        print(f"{'absent' if absent else 'c2'}: {len(qs)} queries ({time.time() - t0:.0f} s)", flush=True)
    np.save(cache_dir("neural-fp") / f"verify-top{args.top}-hop{args.db_hop}-sr{args.speed_range:g}-n{len(speeds)}.npy", np.array(rows, dtype=object),
            allow_pickle=True)
    for col, what in ((5, "aligned at the candidate's offset and speed"),
                      (9, f"vote, {len(speeds)} speed hypotheses, any offset of the candidate track")):
        print(f"== learned score: {what}")
        report(rows, args.margin, col)
    return 0


def best_two(ver: list[tuple[int, float]]) -> tuple[int, float, float]:
    """The best-scoring candidate track, its score, the best *other* track's score."""
    if not ver:
        return 0, 0.0, 0.0
    t, s = max(ver, key=lambda r: r[1])
    other = max((v for u, v in ver if u != t), default=0.0)
    return t, s, other


def report(rows, margin: float = 1.0, col: int = 5) -> None:
    """Per condition: landmarks, the true record among the candidates, and the verifier's names on the
    queries the landmarks name nothing in, under thresholds set on records not in the database (column
    ``col`` of the rows: 5 aligned, 9 vote)."""
    absent = [best_two(r[col]) for r in rows if r[0] and r[3] is None]
    absent += [(0, 0.0, 0.0)] * sum(1 for r in rows if r[0] and r[3] is not None)  # named by the landmarks: no verifier
    a_scores = np.array([s for _, s, _ in absent])
    print(f"records not in the database: {len(absent)} queries, landmarks named {sum(r[3] is not None for r in rows if r[0])}; "
          f"best learned score p50 {np.median(a_scores):.3f} p99 {np.quantile(a_scores, 0.99):.3f} max {a_scores.max():.3f}")
    for q in (0.99, 0.995, 1.0):
        thr = float(np.quantile(a_scores, q)) + (1e-6 if q == 1.0 else 0.0)
        print(f"-- threshold {thr:.3f} (absent p{100 * q:g}); absent named by the verifier: "
              f"{sum(s > thr and s > margin * o for _, s, o in absent)}")
        conds = sorted({r[1] for r in rows if not r[0]})
        for c in conds:
            rs = [r for r in rows if not r[0] and r[1] == c]
            lm = sum(r[3] is not None and (r[3] == r[2] or r[2] in r[8]) for r in rs)
            lm_wrong = sum(r[3] is not None and r[3] != r[2] and r[2] not in r[8] for r in rs)
            in_c = sum(r[4] >= 0 for r in rs)
            right = wrong = 0
            for r in rs:
                if r[3] is not None:
                    continue
                t, s, o = best_two(r[col])
                if s > thr and s > margin * o:
                    ok = t == r[2] or r[4] >= 0 and r[col][r[4]][0] == t
                    right += ok
                    wrong += not ok
            n = len(rs)
            print(f"   {c:12s} {n:4d}: landmarks {lm} ({100 * lm / n:.1f} %, wrong {lm_wrong}); true record among "
                  f"the candidates {in_c} ({100 * in_c / n:.1f} %); + verifier {right} -> {lm + right} "
                  f"({100 * (lm + right) / n:.1f} %), verifier wrong {wrong}")
    t_lm = np.array([r[6] for r in rows]) * 1e3
    t_v = np.array([r[7] if col == 5 else r[10] for r in rows if r[3] is None]) * 1e3
    print(f"time a query: landmarks p50 {np.median(t_lm):.0f} ms; verifier (queries it runs on) p50 "
          f"{np.median(t_v):.0f} ms, p95 {np.quantile(t_v, 0.95):.0f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
