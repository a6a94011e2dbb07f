"""Changed fingerprint parameters and `livedj index`: an index whose landmarks were computed with
other parameters (an older livedj) is refused at load with one line, and the next `livedj index`
fingerprints the library again by itself (decoding only: vectors, tempo and key are kept).

The library is 4 generated records indexed with the cheap "features" encoders (what is tested is
the fingerprint path, which does not depend on the encoder).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from livedj.audio.decode import decode
from livedj.dsp import fingerprint as fp
from livedj.library import index as annoy_index
from livedj.library.errors import IndexUnusable
from livedj.library.fingerprints import identify
from livedj.library.indexer import Settings, index_library
from livedj.library.refingerprint import FINGERPRINT_META
from livedj.library.store import Store
from livedj.synth import DEMO_TRACKS, build_demo_library

SR = 16000
SETTINGS = Settings(encoder="features", segment_encoder="features", beginning_s=10.0, segment_hop_s=5.0, fit="none")
OLDER = {**fp.PARAMS, "version": fp.PARAMS["version"] - 1}


@pytest.fixture
def library(tmp_path):
    paths = build_demo_library(tmp_path / "library", DEMO_TRACKS[:4], duration=20.0, formats=("flac",))
    index_library([tmp_path / "library"], tmp_path / "index", SETTINGS, jobs=1, n_trees=4)
    return tmp_path / "library", tmp_path / "index", paths


def _as_older_livedj(index_dir, *, params=OLDER, scramble=True):
    """What an older livedj left in ``index_dir``: no parameters recorded in the store (nor per file), its
    landmarks (``scramble``: other hashes, as other parameters give) and its fingerprint index
    labelled with ``params``, the manifest vouching for the files as written."""
    store = Store(index_dir)
    rng = np.random.default_rng(0)
    if scramble:
        for track_id, h, t in list(store.landmarks()):
            store.set_landmarks(track_id, (rng.integers(1, 2 ** fp.HASH_BITS, len(h)).astype(np.uint32), t))
    store.db.execute("DELETE FROM meta WHERE key = ?", (FINGERPRINT_META,))
    store.db.execute("UPDATE tracks SET fingerprint_params = NULL")  # nor per file (it had no such column)
    store.db.commit()
    store.close()
    manifest = annoy_index.read_manifest(index_dir)
    meta_path = index_dir / f"{manifest['fingerprints']['prefix']}.meta.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "params": params}))
    for entry in manifest["fingerprints"]["files"]:
        if entry["file"] == meta_path.name:
            entry.update(annoy_index._entry(meta_path))
    annoy_index._write_atomic(index_dir / annoy_index.MANIFEST, json.dumps(manifest, indent=2))


def test_other_parameters_refused_then_fingerprinted_again_by_livedj_index(library):
    root, index_dir, paths = library
    _as_older_livedj(index_dir)
    with pytest.raises(IndexUnusable) as err:  # never a silent mismatch at live time
        annoy_index.load(index_dir)
    assert "livedj index" in str(err.value) and "\n" not in str(err.value)

    progress = []
    report = index_library([root], index_dir, SETTINGS, jobs=2, n_trees=4,  # 2 worker processes
                           progress=lambda event, done, total, path: progress.append((event, done, total)))
    assert report.indexed == 0 and any("computed again" in why for why in report.repaired), report.repaired
    assert [p for p in progress if p[0] == "fingerprint"][-1] == ("fingerprint", 4, 4)
    store = Store(index_dir, readonly=True)
    ids = {t.path: t.id for t in store.tracks().values()}
    assert store.get_meta(FINGERPRINT_META) == json.dumps(fp.PARAMS, sort_keys=True)
    store.close()
    fingerprints = annoy_index.load(index_dir).fingerprints
    for path in paths[1:3]:
        y = decode(path, SR, offset=6.0, duration=10.0)
        assert identify(y, SR, fingerprints)[0] == ids[str(path)]
    again = index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4)  # once is enough
    assert not any("computed again" in why for why in again.repaired)


def test_store_without_recorded_parameters_is_not_fingerprinted_again_when_they_are_current(library):
    """An index of today's parameters written before they were recorded in the store: its own
    fingerprint index says which they were, so no file is decoded again."""
    root, index_dir, _ = library
    _as_older_livedj(index_dir, params=fp.PARAMS, scramble=False)
    report = index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4)
    assert not any("computed again" in why for why in report.repaired), report.repaired
    store = Store(index_dir, readonly=True)
    assert store.get_meta(FINGERPRINT_META) == json.dumps(fp.PARAMS, sort_keys=True)
    store.close()


#: the parameters of livedj's first recorded fingerprints (peaks ranked per fixed 1-s block)
VERSION_1 = {"version": 1, "sr": 16000, "n_fft": 1024, "hop": 256, "f_min": 150.0, "f_max": 5000.0,
             "q_per_octave": 24.0, "q_f0": 400.0, "dt_max": 63, "dq_max": 31, "hash_bits": 19}


def test_library_of_version_1_is_fingerprinted_again_with_todays_peaks(library):
    """Version 2 ranks peaks in a sliding window (other landmarks than version 1's block picker): a library
    left by a livedj of version 1 gets today's landmarks from the next `livedj index`, file by file."""
    root, index_dir, paths = library
    assert fp.PARAMS["version"] >= 2 and fp.PARAMS != VERSION_1
    _as_older_livedj(index_dir, params=VERSION_1)
    report = index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4)
    assert any("computed again" in why for why in report.repaired), report.repaired
    store = Store(index_dir, readonly=True)
    tracks = store.tracks()
    stored = {tracks[track_id].path: (h, t) for track_id, h, t in store.landmarks()}
    store.close()
    assert len(stored) == len(paths)
    for path in paths:
        h, t = fp.landmarks(decode(path, SR), SR)
        assert np.array_equal(stored[str(path)][0], h) and np.array_equal(stored[str(path)][1], t)
