"""Generated DJ habits with a planted structure, for testing and measuring the context model.

A library of ``n_tracks`` in ``n_styles`` styles; every style is a cluster of song-beginning
vectors (what an audio encoder sees). The DJ's *groups* mix styles on purpose, so sound alone
cannot find them: each group has a fixed running order, and

* **sets** play a run of a group's order, one record after the other (the strongest evidence);
* **playlists** list a sample of a group, in its order;
* **crates** hold a sample of a group, unordered.

Some tracks are in no list at all (``cold``); for them the next record is one of the same style
(:func:`cold_probes`), which only sound can narrow down. Everything is drawn from ``seed``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlantedHabits:
    vectors: dict[int, np.ndarray]  #: track id -> unit "song-beginning" vector
    style: dict[int, int]  #: track id -> style
    groups: list[list[int]]  #: the hidden groups, each in its running order
    lists: list[tuple[str, str, list[int]]]  #: (name, kind, track ids in order)
    cold: list[int]  #: tracks in no list


def planted_habits(n_tracks: int = 400, n_styles: int = 8, group_size: int = 10, *, n_sets: int = 60,
                   n_playlists: int = 60, n_crates: int = 20, set_length: int = 8, cold_share: float = 0.1,
                   dim: int = 200, spread: float = 0.8, seed: int = 0) -> PlantedHabits:
    """Generate a library and the DJ's lists with a planted structure (see the module docstring).

    ``spread`` is the noise around a style's centre (relative to the centre's unit norm): 0.8
    gives a same-style cosine around 0.6, as musicnn gives for records of one genre.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_styles, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    ids = np.arange(1, n_tracks + 1)
    style = {int(t): int(rng.integers(n_styles)) for t in ids}
    vectors = {}
    for t in ids.tolist():
        v = centres[style[t]] + spread * rng.normal(size=dim) / np.sqrt(dim)
        vectors[t] = (v / np.linalg.norm(v)).astype(np.float32)
    order = rng.permutation(ids).tolist()
    n_cold = int(round(cold_share * n_tracks))
    cold, grouped = order[:n_cold], order[n_cold:]
    groups = [grouped[i:i + group_size] for i in range(0, len(grouped), group_size)]
    groups = [g for g in groups if len(g) >= 3]
    lists: list[tuple[str, str, list[int]]] = []
    for i in range(n_sets):
        g = groups[rng.integers(len(groups))]
        length = min(set_length, len(g))
        start = int(rng.integers(len(g) - length + 1))
        lists.append((f"set {i}", "set", g[start:start + length]))
    for i in range(n_playlists):
        g = groups[rng.integers(len(groups))]
        keep = np.sort(rng.choice(len(g), size=max(2, len(g) * 2 // 3), replace=False))
        lists.append((f"playlist {i}", "playlist", [g[j] for j in keep]))
    for i in range(n_crates):
        g = groups[rng.integers(len(groups))]
        pick = rng.choice(len(g), size=max(2, len(g) // 2), replace=False)
        lists.append((f"crate {i}", "crate", [g[j] for j in pick]))
    return PlantedHabits(vectors, style, groups, lists, cold)


def cold_probes(habits: PlantedHabits, n: int = 40, seed: int = 1) -> list[tuple[str, str, list[int]]]:
    """Two-record sets ``[cold track, a record of its style]``: the next record only sound can narrow down."""
    rng = np.random.default_rng(seed)
    by_style: dict[int, list[int]] = {}
    for t, s in habits.style.items():
        by_style.setdefault(s, []).append(t)
    out = []
    for i, t in enumerate(habits.cold[:n]):
        same = [u for u in by_style[habits.style[t]] if u != t]
        nxt = same[int(rng.integers(len(same)))]  # any record of its style: sound narrows it down
        out.append((f"cold {i}", "set", [t, nxt]))
    return out
