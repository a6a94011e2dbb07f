"""`livedj journey`: each step is ranked by the live ranker with the configured weights and rules."""
import copy

import numpy as np

from livedj.commands.journey import plan, resolve
from livedj.config import load
from livedj.engine.loader import ranking_from_config
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
    ranking = ranking_from_config(config["ranking"])
    vectors, tracks, index = library(tmp_path)
    return [tracks[i].title for i in plan([1, 2], vectors, tracks, index, 1, weights=ranking.weights,
                                          rules=ranking.rules)]


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


def test_journey_command_plans_with_the_configured_weights_and_writes_m3u(tmp_path, capsys):
    """`livedj journey A B`: the store and Annoy index on disk, the config's ranking weights."""
    from livedj.cli import build_parser
    from livedj.commands import journey
    from livedj.encoders import encoder_id
    from livedj.library.store import Store

    enc = encoder_id("features")
    vectors, tracks, _ = library(tmp_path / "scratch")
    index_dir = tmp_path / "index"
    store = Store(index_dir)
    for track_id in sorted(tracks):  # ids 1..7 in insertion order, as the indexer assigns them
        t = tracks[track_id]
        store.put(t.path, 1, 1, status="ok", tags={"title": t.title, "artist": t.artist}, bpm=t.bpm,
                  encoder=enc, vector=vectors[track_id])
    assert {i: t.title for i, t in store.tracks().items()} == {i: t.title for i, t in tracks.items()}
    store.close()
    annoy_index.build(index_dir, vectors.items(), dim=DIM, encoder=enc, n_trees=8)
    out = tmp_path / "set.m3u"
    for weight_tempo, expected in ((0.25, "Y"), (0.0, "X")):
        config = copy.deepcopy(load(None))
        config["index"]["path"], config["analysis"]["encoder"] = str(index_dir), "features"
        config["ranking"]["weight_tempo"] = weight_tempo
        args = build_parser().parse_args(["journey", "/music/A.flac", "B", "--steps", "1", "-o", str(out)])
        assert journey.main(args, config) == 0
        lines = [line for line in out.read_text().splitlines() if line and not line.startswith("#")]
        assert lines == ["/music/A.flac", f"/music/{expected}.flac", "/music/B.flac"]
    assert "wrote 3 tracks" in capsys.readouterr().out


def test_rows_with_another_encoders_vectors_are_said_in_one_line_not_a_key_error(tmp_path, capsys):
    """Rows analysed with another encoder (the config's encoder changed since `livedj index`) made `livedj
    journey` raise KeyError: a waypoint's vector, or a neighbour the index still holds. A waypoint is now
    named in one line; a neighbour without this encoder's vector is no candidate."""
    from livedj.cli import build_parser
    from livedj.commands import journey
    from livedj.encoders import encoder_id
    from livedj.library.store import Store

    enc = encoder_id("features")
    vectors, tracks, _ = library(tmp_path / "scratch")
    index_dir = tmp_path / "index"
    store = Store(index_dir)
    for track_id in sorted(tracks):
        t = tracks[track_id]
        store.put(t.path, 1, 1, status="ok", tags={"title": t.title, "artist": t.artist}, bpm=t.bpm,
                  encoder="other/1" if t.title in ("X", "far1") else enc, vector=vectors[track_id])
    store.close()
    annoy_index.build(index_dir, vectors.items(), dim=DIM, encoder=enc, n_trees=8)  # still holds X and far1
    config = copy.deepcopy(load(None))
    config["index"]["path"], config["analysis"]["encoder"] = str(index_dir), "features"
    config["ranking"]["weight_tempo"] = 0.0  # X, the nearest, would win: it has no vector of this encoder
    args = build_parser().parse_args(["journey", "A", "B", "--steps", "1"])
    assert journey.main(args, config) == 0
    assert [ln.split(" - ")[1].split()[0] for ln in capsys.readouterr().out.splitlines()] == ["A", "Y", "B"]
    args = build_parser().parse_args(["journey", "A", "/music/far1.flac", "--steps", "1"])
    assert journey.main(args, config) == 1
    out, err = capsys.readouterr()
    assert err == (f"livedj journey: /music/far1.flac: not analysed with the encoder in use ({enc}; its vector is "
                   "another encoder's or missing): run `livedj index` on its folder again\n"), err
