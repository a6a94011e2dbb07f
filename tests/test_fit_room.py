"""The booth in the library fit: the shipped room nuisance (library/fit.py) and `livedj train`'s
contrastive head (library/contrastive.py), on generated audio through the real musicnn."""
from __future__ import annotations

import numpy as np
import pytest

from livedj.library import fit as fitting

SR = 16000
MUSICNN = "musicnn/musicnn-msd-0.1.0/penultimate/whole/mel-v1"
PRESETS = ("standard", "crowd", "rumble-club")


@pytest.fixture(scope="module")
def synth_library():
    """16 generated records in 4 styles: 3 clean 5-s windows each, and the middle one through 3 booths."""
    from livedj.dsp.room import booth_preset
    from livedj.encoders.musicnn import MusicnnEncoder
    from livedj.synth import render_track
    from livedj.synth.render import TrackSpec

    keys = ["A minor", "C major", "E minor", "G major", "D minor", "F major"]
    styles = {"techno": 128, "house": 124, "trance": 138, "dnb": 172}
    windows, heard, labels = [], [], []
    for si, (style, bpm) in enumerate(styles.items()):
        for j in range(4):
            spec = TrackSpec(f"t{si}{j}", "a", bpm * (1 + 0.01 * (j - 3)), keys[(j + si) % 6], style, 100 * si + j)
            y = render_track(spec, duration=16.0, sample_rate=SR)[SR // 2:]
            windows += [y[k * 5 * SR:(k + 1) * 5 * SR] for k in range(3)]
            for name in PRESETS:  # the room hears half a second before the window too (its reverb tail)
                v = booth_preset(y[int(4.5 * SR):10 * SR], SR, name, seed=10 * si + j)[SR // 2:SR // 2 + 5 * SR]
                heard.append(np.pad(v, (0, 5 * SR - len(v))))
            labels.append(style)
    out = MusicnnEncoder(threads=2).outputs_many(windows + heard)["penultimate"]
    x = out[:len(windows)]
    return {"x": x, "groups": np.repeat(np.arange(len(labels)), 3), "heard": out[len(windows):].reshape(len(labels), len(PRESETS), -1),
            "labels": np.asarray(labels)}


def _booth_figures(lib, projection):
    """Mean over presets of (label P@3 of booth queries against the other beginnings, cosine to the clean window)."""
    x, labels = lib["x"], lib["labels"]
    keys = fitting.beginning_vectors(x, np.bincount(lib["groups"]), projection)
    apply = projection.apply if projection is not None else fitting.unit_rows
    clean = apply(x[1::3])
    precision, cosine = [], []
    for i in range(len(PRESETS)):
        q = apply(lib["heard"][:, i])
        sims = q @ keys.T
        np.fill_diagonal(sims, -np.inf)
        nearest = np.argsort(-sims, axis=1)[:, :3]
        precision.append(np.mean(labels[nearest] == labels[:, None]))
        cosine.append(np.mean(np.sum(q * clean, axis=1)))
    return float(np.mean(precision)), float(np.mean(cosine))


def test_shipped_room_nuisance_is_found_only_for_the_vectors_it_was_estimated_for():
    room = fitting.load_room_nuisance(MUSICNN)
    assert room is not None
    matrix, digest = room
    assert matrix.shape == (200, 200) and np.allclose(matrix, matrix.T, atol=1e-6)
    assert np.linalg.eigvalsh(matrix).min() > -1e-6 and len(digest) == 12  # a second moment: PSD
    assert fitting.load_room_nuisance("features/1") is None


def test_room_nuisance_makes_the_fit_hear_booth_views_as_their_clean_window(synth_library):
    """Generated styles through three booth presets: with the shipped nuisance (estimated on recorded
    music) the fitted projection keeps booth views nearer their clean window and their style."""
    room, _ = fitting.load_room_nuisance(MUSICNN)
    lib = synth_library
    plain = fitting.fit_lda(lib["x"], lib["groups"], dims=8, shrinkage=0.3, min_tracks=2)
    roomy = fitting.fit_lda(lib["x"], lib["groups"], dims=8, shrinkage=0.3, min_tracks=2, nuisance=room,
                            nuisance_weight=fitting.DEFAULT_ROOM)
    (p0, c0), (p1, c1) = _booth_figures(lib, plain), _booth_figures(lib, roomy)
    assert c1 >= c0 + 0.04, (c0, c1)  # measured 0.50 -> 0.58
    assert p1 >= p0 + 0.03, (p0, p1)  # measured 0.60 -> 0.65
    assert roomy.info["nuisance_weight"] == fitting.DEFAULT_ROOM and roomy.id != plain.id


def test_room_nuisance_rejects_a_matrix_of_another_size():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="nuisance must be"):
        fitting.fit_lda(rng.standard_normal((60, 6)), np.repeat(np.arange(20), 3), min_tracks=2, nuisance=np.eye(5))
    r = fitting.room_nuisance(np.eye(3), np.eye(3)[[1, 2, 0]])
    assert r.shape == (3, 3) and np.isclose(np.trace(r), 2.0)


def test_livedj_train_reprojects_the_index_without_decoding_and_stale_projections_are_refused(tmp_path, monkeypatch):
    """`livedj train` on a generated 24-track library: the contrastive projection replaces the fitted
    one, nothing is decoded, the manifest names it, and the fitted (now stale) projection is refused."""
    import argparse
    import json
    import shutil

    import livedj.library.indexer as indexer
    from livedj.commands import train
    from livedj.config import defaults
    from livedj.library import index as annoy_index
    from test_fit import _index, _library

    monkeypatch.setattr(fitting, "MIN_TRACKS", 20)  # a small generated library still gets LDA (real default: 40)
    _library(tmp_path / "music", 24)
    _index(tmp_path / "music", tmp_path / "idx")
    before = json.loads((tmp_path / "idx" / "manifest.json").read_text())["vector"]["projection"]
    shutil.copy(tmp_path / "idx" / before["file"], tmp_path / "fitted.npz")

    def no_decoding(*a, **k):
        raise AssertionError("livedj train must not decode")

    monkeypatch.setattr(indexer, "analyze_file", no_decoding)
    config = defaults()
    config["analysis"]["encoder"] = "features"
    config["index"].update(path=str(tmp_path / "idx"), beginning_s=10.0, segment_hop_s=0.0)
    args = argparse.Namespace(booth_head=False, steps=40, whole=0, library=None, hours=None, out=None, resume=False)
    assert train.main(args, config) == 0
    after = json.loads((tmp_path / "idx" / "manifest.json").read_text())["vector"]["projection"]
    assert after["kind"] == "contrastive" and after["id"] != before["id"] and after["tracks"] == 24
    index = annoy_index.load(tmp_path / "idx")
    assert index.projection.id == after["id"] and index.size == 24
    assert not (tmp_path / "idx" / before["file"]).exists()
    # an unchanged library re-indexed keeps the trained projection (no re-fit due)
    assert _index(tmp_path / "music", tmp_path / "idx").unchanged == 24
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["vector"]["projection"]["id"] == after["id"]
    # --whole: windows from all over each track are decoded once, cached, and reused by the next run
    args.whole = 3
    assert train.main(args, config) == 0
    whole = json.loads((tmp_path / "idx" / "manifest.json").read_text())["vector"]["projection"]
    assert whole["id"] != after["id"] and (tmp_path / "idx" / train.WHOLE_FILE).exists()
    import livedj.audio.decode as decoding

    monkeypatch.setattr(decoding, "decode", no_decoding)
    assert train.main(args, config) == 0
    after = json.loads((tmp_path / "idx" / "manifest.json").read_text())["vector"]["projection"]
    assert after["id"] == whole["id"]  # same cache, same seed: the same projection
    # queries projected with the fitted projection the index no longer uses are refused
    shutil.copy(tmp_path / "fitted.npz", tmp_path / "idx" / after["file"])
    with pytest.raises(annoy_index.IndexUnusable, match="not the one the index was built with"):
        annoy_index.load(tmp_path / "idx")


def test_livedj_train_needs_an_index(tmp_path, capsys):
    import argparse

    from livedj.commands import train
    from livedj.config import defaults

    config = defaults()
    config["index"]["path"] = str(tmp_path / "nothing")
    args = argparse.Namespace(booth_head=False, steps=10, whole=0, library=None, hours=None, out=None, resume=False)
    assert train.main(args, config) == 1
    assert "run `livedj index` first" in capsys.readouterr().err
