"""Next-track hit rate: does livedj suggest what the DJ actually played (or listed) next?

For every ordered sequence (a set, or a playlist read as one) the last transition ``prev -> last``
is held out: the context model is learned from the sequences without their last entry, then
each method is asked for its top ``k`` with ``prev`` playing (and the sequence's earlier records
excluded, as played tonight). Methods: ``random``, ``most_played`` (the records in most
lists), ``audio`` (nearest song beginnings), ``context`` (context neighbours) and ``blend`` (the
ranker with the similarity and context terms over the union of both candidate sets). Results
are split by whether ``prev`` has any history left in the training lists.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np

from livedj.engine.context_term import CONTEXT_CANDIDATES, context_neighbours, context_scores, merge_candidates
from livedj.engine.ranker import Weights, rank
from livedj.library.context import Params, build
from livedj.library.store import Track

METHODS = ("random", "most_played", "audio", "context", "blend")


def hold_out_last(sequences) -> tuple[list, list[tuple[int, int, frozenset]]]:
    """Training sequences (ordered ones lose their last entry) and the held-out transitions
    ``(prev, last, earlier ids)``."""
    train, probes = [], []
    for s in sequences:
        if s.kind in ("playlist", "set") and len(s.ids) >= 2 and s.ids[-1] != s.ids[-2]:
            probes.append((s.ids[-2], s.ids[-1], frozenset(s.ids[:-2])))
            train.append(replace(s, ids=s.ids[:-1]))
        else:
            train.append(s)
    return train, probes


def next_track_hits(sequences, audio: dict[int, np.ndarray], *, k: int = 10, candidates: int = 50,
                    context_candidates: int = CONTEXT_CANDIDATES,
                    weights: Weights = Weights(tempo=0.0, key=0.0), params: Params = Params(), seed: int = 0,
                    model=None) -> dict:
    """Hit@``k`` per method, for held-out transitions with and without history.

    Parameters
    ----------
    sequences : list of IdSequence
    audio : dict
        Track id -> song-beginning vector (every candidate track).
    k, candidates, context_candidates : int
        Suggestions asked for; audio and context candidates fetched before the blend's ranking.
    weights : Weights
        The blend's weights (tempo/key off by default: generated vectors have no tempo or key).
    model : ContextModel, optional
        Already built from :func:`hold_out_last`'s training sequences (else built here).

    Returns
    -------
    dict
        ``{"with_history": {method: hit rate, ..., "n": probes}, "without_history": {...},
        "model": model.stats}``.
    """
    train, probes = hold_out_last(sequences)
    if model is None:
        model = build(train, audio, params=params)
    ids = np.asarray(sorted(audio), dtype=np.int64)
    mat = np.stack([np.asarray(audio[int(t)], np.float32) for t in ids])
    mat /= np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
    popularity = Counter(t for s in train for t in s.ids)
    popular = [t for t, _ in popularity.most_common()]
    tracks = {int(t): Track(int(t), f"/{t}", str(t), "", "", None, None, None, None, None) for t in ids}
    rng = np.random.default_rng(seed)
    hits = {g: Counter() for g in ("with_history", "without_history")}
    counts = Counter()
    for prev, last, earlier in probes:
        r = model.row(prev)
        group = "with_history" if r is not None and model.learned[r] else "without_history"
        counts[group] += 1
        exclude = set(earlier) | {prev}
        got: dict[str, list[int]] = {}
        pool = [int(t) for t in rng.permutation(ids)[: k + len(exclude)] if int(t) not in exclude]
        got["random"] = pool[:k]
        got["most_played"] = [t for t in popular[: k + len(exclude)] if t not in exclude][:k]
        q = mat[np.searchsorted(ids, prev)] if prev in audio else None
        if q is None:
            continue
        sims = mat @ q
        order = np.argsort(-sims, kind="stable")
        audio_ids = [int(ids[i]) for i in order[: candidates + len(exclude)] if int(ids[i]) not in exclude]
        got["audio"] = audio_ids[:k]
        ctx = context_neighbours(prev, model, max(k, context_candidates), exclude=frozenset(exclude))
        got["context"] = ctx[:k].tolist()
        ctx = ctx[:context_candidates]
        cand = np.asarray(audio_ids[:candidates], np.int64)
        cand, cand_sims = merge_candidates(cand, sims[np.searchsorted(ids, cand)], ctx, q,
                                           lambda t: mat[np.searchsorted(ids, t)])
        term = context_scores(cand, prev, model)
        got["blend"] = [s.track_id for s in rank(cand, cand_sims, tracks, top=k, exclude=exclude,
                                                 weights=weights, context=term)]
        for method, top in got.items():
            hits[group][method] += int(last in top)
    out = {}
    for group, c in hits.items():
        n = counts[group]
        out[group] = {m: round(c[m] / n, 4) if n else None for m in METHODS} | {"n": n}
    out["model"] = model.stats
    return out
