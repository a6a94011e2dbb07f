"""The library fit (library/fit.py, library/vectors.py): label-free, cached, and never mixed with unlike vectors.

All audio is generated: simple tones/noise mixtures for the indexing tests (the classic ``features``
encoder keeps them fast; the fit does not care which encoder made the vectors), and
:mod:`livedj.synth` styles through the real musicnn for the grouping test.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from livedj.library import fit as fitting

SR = 16000


@pytest.fixture(scope="module", autouse=True)
def small_libraries_get_lda():
    """26-track generated libraries keep the tests quick; the real threshold (40) is a measured default."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fitting, "MIN_TRACKS", 20)
        yield


def _track(seed: int, seconds: float = 10.5) -> np.ndarray:
    """A generated 'record': a few partials and a noise band whose mix drifts over time."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(80, 600)
    y = sum(rng.uniform(0.1, 0.4) * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6)) for h in (1, 2, 3, 5))
    noise = np.convolve(rng.standard_normal(len(t)), np.ones(int(rng.integers(2, 40))) / 20, "same")
    env = 0.5 + 0.5 * np.sin(2 * np.pi * t * rng.uniform(0.05, 0.3) + rng.uniform(0, 6))
    beat = (np.sin(2 * np.pi * t * rng.uniform(1.5, 3)) > 0.7).astype(float)
    return (0.3 * (y * env + noise * beat * rng.uniform(0.1, 1))).astype(np.float32)


def _library(root, n: int, *, tagged: bool = True, flat: bool = False, seed0: int = 0) -> dict:
    """``n`` FLAC files; in album folders with tags, or renamed, untagged, in one folder. -> path: seed."""
    from livedj.synth import write_audio

    out = {}
    for i in range(n):
        seed = seed0 + i
        if flat:
            path = root / f"{(seed * 7919) % 10007:05d}.flac"
        else:
            path = root / f"album{i % 3}" / f"{i:02d} track.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, _track(seed), SR, title=f"Title {i}" if tagged else None,
                    artist=f"Artist {i % 3}" if tagged else None)
        out[str(path)] = seed
    return out


def _index(files_root, index_dir, **settings):
    from livedj.library.indexer import Settings, index_library

    s = Settings(encoder="features", segment_hop_s=0.0, beginning_s=10.0, **settings)
    return index_library([str(files_root)], str(index_dir), s, jobs=1)


# -- the fit itself ---------------------------------------------------------------------------
def test_lda_fit_is_deterministic_and_falls_back_to_centring_for_small_libraries():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, 20))
    x = np.repeat(centres, 4, axis=0) + 0.3 * rng.standard_normal((160, 20))
    g = np.repeat(np.arange(40), 4)
    a, b = fitting.fit_lda(x, g, dims=8), fitting.fit_lda(x[::-1], g[::-1], dims=8)
    assert a.kind == "lda" and a.dim == 8 and a.in_dim == 20
    assert np.allclose(np.abs(a.matrix.T @ b.matrix).max(axis=1), np.abs(np.diag(a.matrix.T @ b.matrix)), atol=1e-3)
    assert np.allclose(np.linalg.norm(a.apply(x), axis=1), 1.0, atol=1e-5)
    small = fitting.fit_lda(x[:40], g[:40], min_tracks=40)  # 10 tracks: too few
    assert small.kind == "centre" and small.dim == 20
    assert np.allclose(small.mean, x[:40].reshape(10, 4, 20).mean(axis=1).mean(axis=0), atol=1e-5)
    one_window = fitting.fit_lda(centres, np.arange(40), dims=8)  # no within-track scatter: shrinkage keeps it stable
    assert np.isfinite(one_window.matrix).all()


def test_projection_round_trips_and_its_id_follows_its_values(tmp_path):
    rng = np.random.default_rng(1)
    p = fitting.fit_lda(rng.standard_normal((120, 10)), np.repeat(np.arange(30), 4), dims=4, base="x/1")
    p.save(tmp_path / "p.npz")
    q = fitting.Projection.load(tmp_path / "p.npz")
    assert q.id == p.id and q.base == "x/1" and np.array_equal(q.matrix, p.matrix)
    other = fitting.Projection(p.mean + 1e-3, p.matrix, p.kind, p.base)
    assert other.id != p.id


def test_adapted_vectors_group_generated_styles_better_than_the_base(musicnn_encoder):
    """Synthetic records in three close four-to-the-floor styles, whose 5-s windows vary as real
    sections and rooms do (a noise floor and band limit that change from window to window): the
    fit, which sees no style, makes same-style beginnings each other's neighbours more often."""
    from livedj.commands.eval import precision_at_k
    from livedj.dsp.room import add_noise, band_limit, pink_noise
    from livedj.synth import render_track
    from livedj.synth.render import TrackSpec

    keys = ["A minor", "C major", "E minor", "G major", "D minor", "F major"]
    styles = {"techno": 128, "house": 124, "trance": 138}
    rng = np.random.default_rng(0)
    windows, groups, labels = [], [], []
    for si, (style, bpm) in enumerate(styles.items()):
        for j in range(6):
            spec = TrackSpec(f"t{si}{j}", "a", bpm * (1 + 0.01 * (j - 3)), keys[(j + si) % 6], style, 100 * si + j)
            y = render_track(spec, duration=15.6, sample_rate=SR)[SR // 2:]
            for k in range(3):
                w = y[k * 5 * SR:(k + 1) * 5 * SR]
                w = add_noise(w, pink_noise(len(w), seed=int(rng.integers(1 << 30))), float(rng.uniform(-5, 10)))
                w = band_limit(w, SR, float(rng.uniform(50, 400)), float(rng.uniform(2500, 7900)))
                windows.append(w.astype(np.float32))
                groups.append(len(labels))
            labels.append(style)
    x = np.stack([e.vector for e in musicnn_encoder.analyze_many(windows)])
    groups = np.asarray(groups)
    counts = np.bincount(groups)
    base = fitting.beginning_vectors(x, counts, None)
    projection = fitting.fit_lda(x, groups, dims=8, shrinkage=0.3, min_tracks=2)
    adapted = fitting.beginning_vectors(x, counts, projection)
    p_base, p_fit = precision_at_k(base, labels, k=5), precision_at_k(adapted, labels, k=5)
    assert p_fit >= p_base + 0.15, (p_base, p_fit)  # measured 0.34 -> 0.67


@pytest.fixture(scope="module")
def musicnn_encoder():
    from livedj.encoders.musicnn import MusicnnEncoder

    return MusicnnEncoder(threads=1)


# -- at index time ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lib_a(tmp_path_factory):
    """26 tagged tracks in album folders, indexed once: (files root, index dir, path -> seed)."""
    root = tmp_path_factory.mktemp("lib_a")
    files = _library(root / "music", 26)
    report = _index(root / "music", root / "idx")
    assert report.indexed == 26
    return root / "music", root / "idx", files


def test_index_fits_caches_windows_and_refits_without_decoding(lib_a, tmp_path, monkeypatch):
    music, idx, files = lib_a
    shutil.copytree(idx, tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    vec = manifest["vector"]
    assert vec["window_s"] == 5.0 and vec["beginning_s"] == 10.0 and vec["encoder"] == manifest["encoder"]
    assert vec["projection"]["kind"] == "lda" and manifest["dim"] == vec["dim"] == fitting.DEFAULT_DIMS
    assert (tmp_path / "idx" / vec["projection"]["file"]).exists() and (tmp_path / "idx" / "windows.npz").exists()

    import livedj.library.indexer as indexer

    def no_decoding(*a, **k):
        raise AssertionError("a re-fit on an unchanged library must not decode")

    monkeypatch.setattr(indexer, "analyze_file", no_decoding)
    again = _index(music, tmp_path / "idx", fit_dims=8)  # new projection settings, same files
    assert again.indexed == 0 and again.unchanged == len(files)
    refitted = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert refitted["dim"] == 8 and refitted["vector"]["projection"]["id"] != vec["projection"]["id"]
    # the earlier projection goes once the new manifest names another (not before: a kill must leave it loadable)
    assert sorted(p.name for p in (tmp_path / "idx").glob("projection-*.npz")) == [refitted["vector"]["projection"]["file"]]
    off = _index(music, tmp_path / "idx", fit="none")
    assert off.indexed == 0 and json.loads((tmp_path / "idx" / "manifest.json").read_text())["vector"]["projection"] is None
    assert not list((tmp_path / "idx").glob("projection-*.npz"))


def test_fit_uses_no_tags_names_or_folders(lib_a, tmp_path):
    """The same audio, tagged in album folders vs untagged, renamed and flattened: same neighbours."""
    from livedj.library import index as annoy_index
    from livedj.library.store import Store

    music, idx_a, tagged = lib_a
    flat = _library(tmp_path / "flat", 26, tagged=False, flat=True)
    _index(tmp_path / "flat", tmp_path / "i2")
    sims = []
    for files, idx in ((tagged, idx_a), (flat, tmp_path / "i2")):
        index = annoy_index.load(idx)
        assert index.manifest["vector"]["projection"]["kind"] == "lda"
        store = Store(idx, readonly=True)
        by_seed = {files[t.path]: t.id for t in store.tracks().values()}
        store.close()
        v = np.stack([index.annoy.get_item_vector(by_seed[s]) for s in sorted(by_seed)])
        sims.append(v @ v.T)
    assert np.allclose(sims[0], sims[1], atol=2e-3)


def test_projection_of_another_library_and_other_window_lengths_are_refused(lib_a, tmp_path):
    from livedj.library import index as annoy_index

    shutil.copytree(lib_a[1], tmp_path / "ia")
    _library(tmp_path / "b", 26, seed0=100)
    _index(tmp_path / "b", tmp_path / "ib")
    a = json.loads((tmp_path / "ia" / "manifest.json").read_text())["vector"]["projection"]
    b = json.loads((tmp_path / "ib" / "manifest.json").read_text())["vector"]["projection"]
    assert a["id"] != b["id"]
    loaded = annoy_index.load(tmp_path / "ib")
    assert loaded.projection is not None and loaded.projection.id == b["id"]
    # library A's projection put where library B's index expects its own
    shutil.copy(tmp_path / "ia" / a["file"], tmp_path / "ib" / b["file"])
    with pytest.raises(annoy_index.IndexUnusable, match="not the one the index was built with"):
        annoy_index.load(tmp_path / "ib")
    with pytest.raises(annoy_index.IndexUnusable, match=r"audio\.window_s"):
        annoy_index.load(tmp_path / "ia", window_s=10.0)
    assert annoy_index.load(tmp_path / "ia", window_s=5.0).projection.id == a["id"]


def test_queries_are_projected_so_a_track_finds_itself(lib_a):
    """Base vectors in, projected index: a track's own beginning is its nearest neighbour."""
    from livedj.encoders import get_encoder
    from livedj.library import index as annoy_index
    from livedj.library.track_analysis import beginning_vector
    from livedj.library.store import Store

    _, idx, files = lib_a
    index = annoy_index.load(idx, dim=get_encoder("features").dim)
    store = Store(idx, readonly=True)
    tracks = store.tracks()
    store.close()
    enc = get_encoder("features")
    hits = 0
    for t in list(tracks.values())[:8]:
        y = _track(files[t.path])
        ids, _ = index.query(beginning_vector(y[:10 * SR], enc), 1)
        hits += int(ids[0] == t.id)
    assert hits >= 7


def test_eval_protocols_report_base_transductive_and_split_side_by_side():
    """Tracks whose label shows only after removing a strong shared nuisance direction: the fit finds it."""
    from livedj.commands.eval_fit import protocols

    rng = np.random.default_rng(3)
    labels = [f"l{i % 4}" for i in range(48)]
    label_dir = rng.standard_normal((4, 30))
    nuisance = rng.standard_normal(30) * 3
    windows = []
    for i, lab in enumerate(labels):
        track = 0.4 * label_dir[int(lab[1])] + 0.5 * rng.standard_normal(30)
        w = track + 0.3 * rng.standard_normal((3, 30)) + np.outer(rng.standard_normal(3) * 2, nuisance)
        windows.append(fitting.unit_rows(w))
    queries = {"clean": fitting.unit_rows(np.stack([w[0] for w in windows]))}
    out = protocols(windows, queries, labels, dims=8, k=5, seeds=3)
    assert set(out) >= {"base", "transductive", "split", "split_base"}
    assert out["transductive"]["begin"] > out["base"]["begin"] + 0.1
    assert out["split"]["clean"] > out["split_base"]["clean"]
