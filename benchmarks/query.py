"""Index look-ups: Annoy top-50 latency and recall@10 vs exact numpy search, on random 200-d unit vectors.

Two scales: ``TRACKS`` song beginnings (the beginnings index) and ``SEGMENTS`` segment vectors
(the identification index; 1M = 800 MB of float32). Queries are noisy copies of stored vectors
(a live window is a noisy version of something in the library), so every query has a true
nearest neighbour plus a ranking of the rest to recover.

Random vectors in 200 dimensions are Annoy's worst case (no clusters for the trees to follow), so
recall here is a lower bound; ``clustered`` repeats the grid at the tracks scale on vectors drawn
around 1,000 centres, closer to real embeddings.

For a grid of ``n_trees`` (build) and ``search_k`` (query; -1 = n_trees * 50) it reports per-query
p50/p99 latency, the speed ratio against exact search (one matrix-vector product + argpartition,
per query) and recall@10. Targets: p99 < 1 ms at 100k (default settings), speed >= 50x exact and
recall@10 >= 0.95.
"""
from __future__ import annotations

import time

import numpy as np

from benchmarks.common import Timer, pct, row, unit_vectors

DIM = 200
TOP = 50  #: ranking.candidates
TRACKS = 100_000
SEGMENTS = 1_000_000
N_QUERIES = 200
GRID_TREES = (8, 16, 32)
GRID_SEARCH_K = (-1, 2_000, 5_000, 10_000)


def clustered_vectors(n: int, dim: int, centres: int = 1000, spread: float = 0.6, seed: int = 0) -> np.ndarray:
    """Unit vectors around ``centres`` random centres (angular spread ~``spread``), float32."""
    rng = np.random.default_rng(seed)
    c = unit_vectors(centres, dim, seed + 7)
    x = c[rng.integers(0, centres, n)] + spread / np.sqrt(dim) * rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_queries(x: np.ndarray, n: int, noise: float = 0.5, seed: int = 1) -> np.ndarray:
    """``n`` noisy copies of random rows of ``x`` (noise norm ~``noise``), unit length."""
    rng = np.random.default_rng(seed)
    q = x[rng.choice(len(x), n, replace=False)] + noise / np.sqrt(x.shape[1]) * rng.standard_normal(
        (n, x.shape[1]), dtype=np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def exact_top(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """Exact top-``k`` ids by cosine for each query (chunked matrix product), shape (len(q), k)."""
    out = np.empty((len(q), k), dtype=np.int64)
    for i in range(0, len(q), 32):
        s = q[i:i + 32] @ x.T
        part = np.argpartition(-s, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1)
        out[i:i + 32] = np.take_along_axis(part, order, axis=1)
    return out


def exact_latency_ms(x: np.ndarray, q: np.ndarray, repeats: int) -> float:
    """Median ms of one exact top-50 query (what the daemon would do without an index).

    BLAS runs on one thread: the product is memory-bound, and a second BLAS thread on a busy
    2-core machine only adds spin-waits (it made this baseline 10x slower and erratic).
    """
    from threadpoolctl import threadpool_limits

    times = []
    with threadpool_limits(1):
        for v in q[:repeats]:
            began = time.perf_counter()
            s = x @ v
            np.argpartition(-s, TOP)[:TOP]
            times.append((time.perf_counter() - began) * 1000)
    return pct(times, 0.5)


def build_annoy(x: np.ndarray, n_trees: int):
    from annoy import AnnoyIndex

    index = AnnoyIndex(x.shape[1], "angular")
    for i, v in enumerate(x):
        index.add_item(i, v)
    index.set_seed(42)
    index.build(n_trees, n_jobs=2)
    return index


def annoy_grid(x: np.ndarray, q: np.ndarray, truth: np.ndarray, trees, search_ks) -> list[dict]:
    """Latency percentiles and recall@10 for every (n_trees, search_k)."""
    results = []
    for n_trees in trees:
        with Timer() as build:
            index = build_annoy(x, n_trees)
        for search_k in search_ks:
            for v in q[:10]:  # warm the pages and caches
                index.get_nns_by_vector(v, TOP, search_k=search_k)
            times, hits, firsts = [], 0, 0
            for v, true in zip(q, truth):
                began = time.perf_counter()
                ids = index.get_nns_by_vector(v, TOP, search_k=search_k)
                times.append((time.perf_counter() - began) * 1000)
                hits += len(set(ids[:10]) & set(true[:10].tolist()))
                firsts += int(bool(ids) and ids[0] == true[0])
            results.append({"n_trees": n_trees, "search_k": search_k, "build_s": build.s,
                            "p50": pct(times, 0.5), "p99": pct(times, 0.99), "recall": hits / (10 * len(q)),
                            "recall1": firsts / len(q)})
        index.unload()
        del index
    return results


def _scale_rows(label: str, n: int, x: np.ndarray, q: np.ndarray, trees, search_ks, quick: bool) -> list[dict]:
    truth = exact_top(x, q, 10)
    exact_ms = exact_latency_ms(x, q, 20 if quick else 50)
    grid = annoy_grid(x, q, truth, trees, search_ks)
    rows = []
    for g in grid:
        sk = "-1 (=n_trees*50)" if g["search_k"] == -1 else str(g["search_k"])
        tag = f"query.{label}.t{g['n_trees']}.k{g['search_k'] if g['search_k'] != -1 else 'auto'}"
        default = g["n_trees"] == 16 and g["search_k"] == -1
        rows.append(row(f"{tag}.p99", f"Annoy top-{TOP} p99 at {n:,} ({label}), n_trees {g['n_trees']}, search_k {sk}; "
                                      f"baseline exact numpy p50", g["p99"], "ms", baseline=exact_ms,
                        target=1.0 if (label == "tracks" and default) else None))
        rows.append(row(f"{tag}.speedup", f"exact p50 / Annoy p50 (Annoy p50 {g['p50']:.3f} ms, build "
                                          f"{g['build_s']:.1f} s on 2 threads)", exact_ms / g["p50"], "x",
                        target=50.0, higher_is_better=True))
        rows.append(row(f"{tag}.recall10", f"recall@10 vs exact (noisy-copy queries; recall@1 {g['recall1']:.3f})",
                        g["recall"], "", target=0.95, higher_is_better=True))
    good = [g for g in grid if g["recall"] >= 0.95 and exact_ms / g["p50"] >= 50]
    if good:
        best = min(good, key=lambda g: g["p99"])
        rows.append(row(f"query.{label}.recommended", f"fastest setting meeting recall@10 >= 0.95 and >= 50x: "
                                                      f"n_trees {best['n_trees']}, search_k {best['search_k']}",
                        best["p99"], "ms p99", baseline=exact_ms))
    return rows


def run(quick: bool = False) -> list[dict]:
    """The Annoy grid at the tracks and segments scales (10k and 20k when quick)."""
    rows = []
    n_q = 50 if quick else N_QUERIES
    trees = (16,) if quick else GRID_TREES
    search_ks = (-1, 5_000) if quick else GRID_SEARCH_K
    scales = [("tracks", 10_000 if quick else TRACKS, "random"),
              ("segments", 20_000 if quick else SEGMENTS, "random")]
    if not quick:
        scales.append(("clustered", TRACKS, "clustered"))
    for label, n, kind in scales:
        x = unit_vectors(n, DIM, seed=0) if kind == "random" else clustered_vectors(n, DIM)
        q = make_queries(x, n_q)
        rows += _scale_rows(label, n, x, q, trees, search_ks, quick)
        del x
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import print_rows

    print_rows(run(quick="--quick" in sys.argv[1:]))
