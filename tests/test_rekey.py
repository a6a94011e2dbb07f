"""A library indexed by an older key analysis: the next `livedj index` estimates its audio keys again
(decoding only: nothing else is analysed and the indexes are not rebuilt), keeps the keys of tags and the
DJ's software, and records the analysis so that it happens once; file by file, so that an upgrade stopped
by Ctrl-C resumes where it stopped (keys and fingerprints both).

The library is 4 generated records indexed with the cheap "features" encoders (what is tested is
the key path, which does not depend on the encoder).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from livedj.library.indexer import Settings, index_library
from livedj.library.rekey import KEY_ANALYSIS, KEY_META
from livedj.library.store import Store
from livedj.synth import DEMO_TRACKS, build_demo_library

SETTINGS = Settings(encoder="features", segment_encoder="features", beginning_s=10.0, segment_hop_s=5.0, fit="none")
#: no segments: the indexer reads only each file's beginning, and stores no key of the end
BEGINNINGS = Settings(encoder="features", segment_encoder="features", beginning_s=10.0, segment_hop_s=0.0, fit="none")


@pytest.fixture(params=[SETTINGS, BEGINNINGS], ids=["whole", "beginning"])
def library(tmp_path, request):
    build_demo_library(tmp_path / "library", DEMO_TRACKS[:4], duration=20.0, formats=("flac",))
    index_library([tmp_path / "library"], tmp_path / "index", request.param, jobs=1, n_trees=4)
    return tmp_path / "library", tmp_path / "index", request.param


def _keys(index_dir):
    store = Store(index_dir, readonly=True)
    rows = store.db.execute("SELECT path, key, key_source, key_confidence, key_end FROM tracks ORDER BY path").fetchall()
    store.close()
    return {bytes(r[0]): tuple(r[1:]) for r in rows}


def test_keys_of_an_older_analysis_are_estimated_again_once(library):
    root, index_dir, settings = library
    analysed = _keys(index_dir)
    assert all(source == "audio" for _, source, _, _ in analysed.values()), analysed
    store = Store(index_dir)
    assert store.get_meta(KEY_META) == json.dumps(KEY_ANALYSIS, sort_keys=True)  # a fresh index is current
    # what an older livedj left: no analysis recorded, other keys; one key the DJ's software gave
    paths = sorted(analysed)
    store.db.execute("DELETE FROM meta WHERE key = ?", (KEY_META,))
    store.db.execute("UPDATE tracks SET key_analysis = NULL")  # nor per file (it had no such column)
    for path in paths[:3]:
        store.db.execute("UPDATE tracks SET key = (key + 7) % 24, key_confidence = 0.01 WHERE path = ?", (path,))
    store.db.execute("UPDATE tracks SET key = 5, key_source = 'rekordbox' WHERE path = ?", (paths[3],))
    store.db.commit()
    store.close()
    indexed_at = _indexed_at(index_dir)

    progress = []
    report = index_library([root], index_dir, settings, jobs=1, n_trees=4,
                           progress=lambda event, done, total, path: progress.append((event, done, total)))
    assert report.indexed == 0 and report.rekeyed == 3 and not report.repaired
    assert [p for p in progress if p[0] == "key"][-1] == ("key", 3, 3)
    again = _keys(index_dir)
    for path in paths[:3]:
        assert again[path][:2] == analysed[path][:2]  # the key a fresh analysis gives, back
        assert again[path][2] == pytest.approx(analysed[path][2])
        assert again[path][3] == analysed[path][3]  # the end's key too (None where only beginnings are read)
    assert again[paths[3]][:2] == (5, "rekordbox")  # the DJ's own key stays
    assert _indexed_at(index_dir) == indexed_at  # nothing else analysed again

    once = index_library([root], index_dir, settings, jobs=1, n_trees=4)
    assert once.rekeyed == 0


def _indexed_at(index_dir):
    store = Store(index_dir, readonly=True)
    out = store.db.execute("SELECT path, indexed_at FROM tracks ORDER BY path").fetchall()
    store.close()
    return out


def test_a_first_run_stopped_by_ctrl_c_leaves_nothing_to_estimate_again(tmp_path):
    """The analysis was recorded only at the end of a run: after Ctrl-C (KeyboardInterrupt, as SIGINT
    raises it) the files already stored looked like an older livedj's, and the next run decoded them
    again for their keys and fingerprints."""
    build_demo_library(tmp_path / "library", DEMO_TRACKS[:4], duration=20.0, formats=("flac",))
    index_dir = tmp_path / "index"

    def ctrl_c_after_two(event, done, total, path):
        if event == "file" and done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index_library([tmp_path / "library"], index_dir, SETTINGS, jobs=1, n_trees=4, progress=ctrl_c_after_two)
    assert len(_keys(index_dir)) == 2
    events = []
    report = index_library([tmp_path / "library"], index_dir, SETTINGS, jobs=1, n_trees=4,
                           progress=lambda event, done, total, path: events.append(event))
    assert report.indexed == 2 and report.unchanged == 2 and report.rekeyed == 0
    assert {"key", "fingerprint"}.isdisjoint(events), sorted(set(events))


@pytest.mark.parametrize("stop_at", ["fingerprint", "key"])
def test_an_upgrade_stopped_by_ctrl_c_resumes_where_it_stopped(tmp_path, stop_at):
    """Upgrading an older livedj's index (no analysis recorded) was all or nothing: after Ctrl-C the
    next run estimated again the keys and fingerprints of every file, those it had already done (and
    those it had analysed anew) included. Each file now records what made its key and landmarks."""
    import os

    from livedj.audio.decode import decode
    from livedj.dsp import fingerprint as fp
    from livedj.library import index as annoy_index
    from livedj.library.refingerprint import FINGERPRINT_META
    from tests.test_fingerprint_params import _as_older_livedj

    paths = build_demo_library(tmp_path / "library", DEMO_TRACKS[:5], duration=20.0, formats=("flac",))
    index_dir = tmp_path / "index"
    index_library([tmp_path / "library"], index_dir, SETTINGS, jobs=1, n_trees=4)
    analysed = _keys(index_dir)
    _as_older_livedj(index_dir)  # other landmarks, its fingerprint index labelled with older parameters
    store = Store(index_dir)
    store.db.execute("DELETE FROM meta WHERE key = ?", (KEY_META,))
    store.db.execute("UPDATE tracks SET key = (key + 7) % 24, key_analysis = NULL")  # and other keys
    store.db.commit()
    store.close()
    changed = paths[0]  # changed since: analysed anew by the upgrading run
    os.utime(changed, ns=(os.stat(changed).st_atime_ns, os.stat(changed).st_mtime_ns + 10 ** 9))

    def ctrl_c_after_two(event, done, total, path):
        if event == stop_at and done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index_library([tmp_path / "library"], index_dir, SETTINGS, jobs=1, n_trees=4, progress=ctrl_c_after_two)
    done = []
    report = index_library([tmp_path / "library"], index_dir, SETTINGS, jobs=1, n_trees=4,
                           progress=lambda event, i, total, path: done.append((event, i, total)))
    # 4 files to upgrade (the changed one was analysed whole): 2 done before the stop, in the stopped pass
    left = {"fingerprint": {"fingerprint": 2, "key": 4}, "key": {"fingerprint": 0, "key": 2}}[stop_at]
    for event, n in left.items():
        assert max((t for e, _, t in done if e == event), default=0) == n, (event, done)
    assert report.indexed == 0 and report.rekeyed == left["key"]

    assert _keys(index_dir).keys() == analysed.keys()
    for raw, (key, source, confidence, key_end) in _keys(index_dir).items():
        assert (key, source, key_end) == (analysed[raw][0], analysed[raw][1], analysed[raw][3])
        assert confidence == pytest.approx(analysed[raw][2])
    store = Store(index_dir, readonly=True)
    tracks = store.tracks()
    stored = {tracks[tid].path: (h, t) for tid, h, t in store.landmarks()}
    assert store.get_meta(KEY_META) == json.dumps(KEY_ANALYSIS, sort_keys=True)
    assert store.get_meta(FINGERPRINT_META) == json.dumps(fp.PARAMS, sort_keys=True)
    store.close()
    for path in paths:
        h, t = fp.landmarks(decode(path, fp.SR), fp.SR)
        assert np.array_equal(stored[str(path)][0], h) and np.array_equal(stored[str(path)][1], t)
    annoy_index.load(index_dir)  # the fingerprint index was rebuilt from today's landmarks

    again = []
    once = index_library([tmp_path / "library"], index_dir, SETTINGS, jobs=1, n_trees=4,
                         progress=lambda event, i, total, path: again.append(event))
    assert once.rekeyed == 0 and {"key", "fingerprint", "build"}.isdisjoint(again), sorted(set(again))
