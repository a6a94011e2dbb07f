"""The Annoy index on disk: atomic builds, manifest checks, refusal of truncated/garbled/mismatched files."""
import json
import os

import numpy as np
import pytest

from livedj.library import index


def vectors(n, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def build(tmp_path, n=200, dim=16, seed=0):
    v = vectors(n, dim, seed)
    manifest = index.build(tmp_path, ((i + 1, v[i]) for i in range(n)), dim=dim, encoder="test/1", n_trees=8)
    return v, manifest


def test_build_load_query_finds_itself_with_cosine(tmp_path):
    v, manifest = build(tmp_path)
    loaded = index.load(tmp_path, encoder="test/1", dim=16)
    assert loaded.size == 200 == manifest["items"]
    ids, sims = loaded.query(v[41], 5)
    assert ids[0] == 42 and sims[0] == pytest.approx(1.0, abs=1e-5)
    expected = v @ v[41]
    for i, s in zip(ids, sims):
        assert s == pytest.approx(expected[i - 1], abs=1e-4)
    assert list(sims) == sorted(sims, reverse=True)


def test_rebuild_replaces_atomically_and_removes_old_generation(tmp_path):
    build(tmp_path, seed=0)
    _, second = build(tmp_path, n=50, seed=1)
    assert second["generation"] == 2
    assert sorted(p.name for p in tmp_path.glob("beginnings-*")) == ["beginnings-2.ann"]
    assert index.load(tmp_path).size == 50


def test_a_projection_named_by_digits_is_not_a_generation(tmp_path):
    """projection-<id>.npz is named by 12 hex digits of a hash; an id of decimal digits alone (1 in ~280) made the next
    build's generation jump to it."""
    build(tmp_path, seed=0)
    (tmp_path / "projection-339443733309.npz").write_bytes(b"")
    _, second = build(tmp_path, n=50, seed=1)
    assert second["generation"] == 2


def test_truncated_file_is_refused_before_annoy_sees_it(tmp_path):
    _, manifest = build(tmp_path)
    path = tmp_path / manifest["beginnings"]["file"]
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises(index.IndexUnusable, match="truncated"):
        index.load(tmp_path)


def test_garbled_file_is_refused_by_checksum(tmp_path):
    _, manifest = build(tmp_path)
    path = tmp_path / manifest["beginnings"]["file"]
    data = bytearray(path.read_bytes())
    data[100:200] = os.urandom(100)
    path.write_bytes(bytes(data))
    with pytest.raises(index.IndexUnusable, match="checksum"):
        index.load(tmp_path)


@pytest.mark.parametrize("content", ["", "{not json", '{"format": 99}', "[]"])
def test_bad_manifest_is_a_clear_error(tmp_path, content):
    build(tmp_path)
    (tmp_path / index.MANIFEST).write_text(content)
    with pytest.raises(index.IndexUnusable) as info:
        index.load(tmp_path)
    assert "\n" not in str(info.value) and "rebuild" in str(info.value)


def test_encoder_or_dimension_mismatch_is_refused(tmp_path):
    build(tmp_path)
    with pytest.raises(index.IndexUnusable, match="encoder 'test/1'.*'musicnn/1'"):
        index.load(tmp_path, encoder="musicnn/1")
    with pytest.raises(index.IndexUnusable, match="16 dimensions"):
        index.load(tmp_path, dim=200)


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(index.IndexUnusable, match="livedj index"):
        index.load(tmp_path / "nothing")


def test_crash_before_manifest_swap_keeps_previous_index(tmp_path):
    v, manifest = build(tmp_path)
    # a build that died after writing its Annoy file but before the manifest rename
    (tmp_path / "beginnings-2.ann.tmp").write_bytes(b"partial")
    (tmp_path / "manifest.json.tmp").write_text("{")
    loaded = index.load(tmp_path)
    assert loaded.manifest == json.loads((tmp_path / "manifest.json").read_text())
    assert loaded.query(v[0], 1)[0][0] == 1


def test_empty_index_builds_and_answers_nothing(tmp_path):
    index.build(tmp_path, iter(()), dim=8, encoder="test/1")
    ids, sims = index.load(tmp_path).query(np.ones(8, np.float32) / np.sqrt(8), 5)
    assert len(ids) == 0 and len(sims) == 0
