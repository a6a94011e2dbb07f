"""`livedj journey`: each step is ranked by the live ranker with the configured weights and rules."""
import copy

import numpy as np

from livedj.commands.journey import plan, ranking_from, resolve
from livedj.config import load
from livedj.library import index as annoy_index
from livedj.library.store import Track

DIM = 8


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def track(i, title, bpm, key=None):
    return Track(i, f"/music/{title}.flac", title, "artist", "", 300.0, bpm, "tag", key, None)


def library(tmp_path):
    """A (120 BPM) -> B: the step halfway has two candidates: X, nearest the target but at 170 BPM
    (out of the pitch fader's reach), and Y, a little further but at 121 BPM; filler far away."""
    e = np.eye(DIM, dtype=np.float32)
    mid = unit(e[0] + e[1])
    vectors = {1: e[0], 2: e[1], 3: unit(mid + 0.05 * e[2]), 4: unit(mid + 0.2 * e[2]),
               5: unit(e[5] + 0.1 * e[6]), 6: unit(e[6]), 7: unit(e[7])}
    tracks = {1: track(1, "A", 120.0), 2: track(2, "B", 122.0), 3: track(3, "X", 170.0), 4: track(4, "Y", 121.0),
              5: track(5, "far1", 120.0), 6: track(6, "far2", 120.0), 7: track(7, "far3", 120.0)}
    annoy_index.build(tmp_path, vectors.items(), dim=DIM, encoder="test/1", n_trees=8)
    return vectors, tracks, annoy_index.load(tmp_path)


def journey(tmp_path, **ranking):
    config = copy.deepcopy(load(None))
    config["ranking"].update(ranking)
    weights, rules = ranking_from(config)
    vectors, tracks, index = library(tmp_path)
    return [tracks[i].title for i in plan([1, 2], vectors, tracks, index, 1, weights=weights, rules=rules)]


def test_the_configured_tempo_weight_prefers_the_reachable_track(tmp_path):
    assert journey(tmp_path) == ["A", "Y", "B"]  # default weights: tempo counts


def test_with_no_tempo_weight_the_nearest_track_wins(tmp_path):
    assert journey(tmp_path, weight_tempo=0.0) == ["A", "X", "B"]


def test_reachable_only_rule_filters_even_with_no_tempo_weight(tmp_path):
    assert journey(tmp_path, weight_tempo=0.0, reachable_only=True) == ["A", "Y", "B"]


def test_no_repeats_and_no_near_duplicates(tmp_path):
    vectors, tracks, index = library(tmp_path)
    path = plan([1, 2], vectors, tracks, index, 4)
    assert path[0] == 1 and path[-1] == 2 and len(path) == len(set(path))


def test_resolve_by_path_or_unique_words(tmp_path):
    _, tracks, _ = library(tmp_path)
    assert resolve("/music/Y.flac", tracks) == 4
    assert resolve("far2", tracks) == 6
