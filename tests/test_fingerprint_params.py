"""Changed fingerprint parameters and `livedj index`: an index whose landmarks were computed with
other parameters (an older livedj) is refused at load with one line, and the next `livedj index`
fingerprints the library again by itself (decoding only: vectors, tempo and key are kept).

The library is 4 generated records indexed with the cheap "features" encoders (what is tested is
the fingerprint path, which does not depend on the encoder).
"""
from __future__ import annotations

import importlib
import json
import os
import signal

import numpy as np
import pytest

from livedj.audio.decode import decode
from livedj.dsp import fingerprint as fp
from livedj.library import index as annoy_index
from livedj.library.errors import IndexUnusable
from livedj.library.fingerprints import identify
from livedj.library.indexer import Settings, index_library
from livedj.library.refingerprint import FINGERPRINT_META, _fingerprint_file
from livedj.library.store import Store, display_path, encode_path
from livedj.synth import DEMO_TRACKS, build_demo_library

from faults_common import rewrite_unnoticed

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


#: an older livedj's parameters with one bit more per hash: its landmarks do not even fit today's index
WIDER = {**OLDER, "hash_bits": fp.HASH_BITS + 1}


def _dies_on_one_file(path: str):
    """The refingerprint worker function, except that for the file named in ``$LIVEDJ_TEST_DIE_ON`` its
    worker process SIGKILLs itself, as the OOM killer would. Patched in because no file reliably crashes
    the decoder and a test cannot summon the OOM killer; the pool, its restart and the report of the
    lost file are the real ones (the spawned workers import this module by name)."""
    if path == os.environ.get("LIVEDJ_TEST_DIE_ON"):
        os.kill(os.getpid(), signal.SIGKILL)
    return _fingerprint_file(path)


def _fingerprinted(index_dir):
    """({path: (hashes, times, fingerprint_params)}, the store's recorded parameters, {path: track id})."""
    store = Store(index_dir, readonly=True)
    tracks = store.tracks()
    rows = store.db.execute("SELECT id, fingerprint_params FROM tracks WHERE status = 'ok'").fetchall()
    made_with = dict(rows)
    out = {tracks[tid].path: (h.copy(), t.copy(), made_with[tid]) for tid, h, t in store.landmarks()}
    recorded = store.get_meta(FINGERPRINT_META)
    store.close()
    return out, recorded, {t.path: t.id for t in tracks.values()}


@pytest.mark.parametrize("failure", ["worker killed", "undecodable"])
def test_a_file_not_fingerprinted_again_keeps_its_landmarks_and_the_next_run_does_it(library, monkeypatch, failure):
    """The upgrade pass erased the landmarks of a file whose worker died (or that could not be decoded
    then), and the next pass selects only rows with landmarks: that track was never identified again
    until its file changed. Its old landmarks now stay (out of the rebuilt fingerprint index: their
    hashes mean something else, here they are too wide for it) and the next run fingerprints it."""
    root, index_dir, paths = library
    want = json.dumps(fp.PARAMS, sort_keys=True)
    _as_older_livedj(index_dir, params=WIDER, scramble=False)
    store = Store(index_dir)
    rng = np.random.default_rng(1)
    for track_id, h, t in list(store.landmarks()):  # what WIDER made: hashes of one more bit
        store.set_landmarks(track_id, (rng.integers(1, 2 ** (fp.HASH_BITS + 1), len(h)).astype(np.uint32), t))
    store.db.commit()
    store.close()
    old, _, ids = _fingerprinted(index_dir)
    victim = str(paths[2])
    jobs = 1
    if failure == "worker killed":
        jobs = 2  # 4 files in 2 spawned worker processes: one of them dies on the victim
        monkeypatch.setattr(importlib.import_module("livedj.library.refingerprint"), "_fingerprint_file",
                            _dies_on_one_file)
        monkeypatch.setenv("LIVEDJ_TEST_DIE_ON", victim)
    else:  # zeroed in place (a disk error), size and time kept: unchanged to the indexer, undecodable now
        original = rewrite_unnoticed(victim, bytes(os.path.getsize(victim)))

    report = index_library([root], index_dir, SETTINGS, jobs=jobs, n_trees=4)
    after, recorded, _ = _fingerprinted(index_dir)
    assert after.keys() == old.keys()  # every track still has a fingerprint
    assert np.array_equal(after[victim][0], old[victim][0]) and after[victim][2] is None  # the old one, as it was
    assert [p for p, why in report.skipped if "fingerprint not computed again" in why] == \
        [display_path(encode_path(victim))], report.skipped
    if failure == "worker killed":
        assert "SIGKILL" in report.skipped[0][1], report.skipped
    assert any("fingerprints of 3 files computed again" in why for why in report.repaired), report.repaired
    assert recorded != want  # not done: the next run does the pass again
    for path in paths:
        if str(path) != victim:
            h, t = fp.landmarks(decode(path, SR), SR)
            assert np.array_equal(after[str(path)][0], h) and after[str(path)][2] == want
    fingerprints = annoy_index.load(index_dir).fingerprints  # built, today's landmarks only
    assert sorted(fingerprints.tracks[:, 0]) == sorted(ids[str(p)] for p in paths if str(p) != victim)
    y = decode(paths[1], SR, offset=6.0, duration=10.0)
    assert identify(y, SR, fingerprints)[0] == ids[str(paths[1])]

    monkeypatch.undo()  # the worker that died, or the disk, is well again
    if failure == "undecodable":
        rewrite_unnoticed(victim, original)
    progress = []
    again = index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4,
                          progress=lambda event, done, total, path: progress.append((event, done, total)))
    assert again.indexed == 0 and not again.skipped, again.skipped
    assert [p for p in progress if p[0] == "fingerprint"][-1] == ("fingerprint", 1, 1)  # the victim alone
    after, recorded, _ = _fingerprinted(index_dir)
    assert recorded == want and after.keys() == old.keys()
    for path in paths:
        h, t = fp.landmarks(decode(path, SR), SR)
        assert np.array_equal(after[str(path)][0], h) and after[str(path)][2] == want
    fingerprints = annoy_index.load(index_dir).fingerprints
    assert sorted(fingerprints.tracks[:, 0]) == sorted(ids.values())
    y = decode(victim, SR, offset=6.0, duration=10.0)
    assert identify(y, SR, fingerprints)[0] == ids[victim]

    events = []
    index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4,
                  progress=lambda event, done, total, path: events.append(event))
    assert {"fingerprint", "build"}.isdisjoint(events), sorted(set(events))  # once is enough
