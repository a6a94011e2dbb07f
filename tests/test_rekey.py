"""A library indexed by an older key analysis: the next `livedj index` estimates its audio keys again
(decoding only: nothing else is analysed and the indexes are not rebuilt), keeps the keys of tags and the
DJ's software, and records the analysis so that it happens once; file by file, so that an upgrade stopped
by Ctrl-C resumes where it stopped (keys and fingerprints both).

The library is 4 generated records indexed with the cheap "features" encoders (what is tested is
the key path, which does not depend on the encoder).
"""
from __future__ import annotations

import importlib
import json
import os
import signal

import numpy as np
import pytest

from livedj.library.indexer import Settings, index_library
from livedj.library.rekey import KEY_ANALYSIS, KEY_META, UNFINISHED
from livedj.library.store import Store, display_path, encode_path
from livedj.synth import DEMO_TRACKS, build_demo_library

from faults_common import rewrite_unnoticed

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


#: what an older livedj recorded: the key analysis before the recalibration
OLDER_ANALYSIS = json.dumps({**KEY_ANALYSIS, "version": 2}, sort_keys=True)


def _dies_on_one_key(job):
    """The rekey worker function, except that for the file named in ``$LIVEDJ_TEST_DIE_ON`` its worker
    process SIGKILLs itself, as the OOM killer would. Patched in because no file reliably crashes the
    decoder and a test cannot summon the OOM killer; the pool, its restart and the report of the lost
    file are the real ones (the spawned workers import this module by name)."""
    from livedj.library.rekey import _key_file

    if job[0] == os.environ.get("LIVEDJ_TEST_DIE_ON"):
        os.kill(os.getpid(), signal.SIGKILL)
    return _key_file(job)


def _older_key_analysis(tmp_path, formats=("flac",)):
    """(library, index, {path: keys a fresh analysis gives}, paths): 4 files indexed, then made to look like
    an older key analysis's (another analysis recorded, none per row, other audio keys)."""
    paths = build_demo_library(tmp_path / "library", DEMO_TRACKS[:4], duration=20.0, formats=formats)
    index_dir = tmp_path / "index"
    index_library([tmp_path / "library"], index_dir, SETTINGS, jobs=1, n_trees=4)
    analysed = _keys(index_dir)
    assert all(source == "audio" for _, source, _, _ in analysed.values()), analysed
    store = Store(index_dir)
    store.set_meta(KEY_META, OLDER_ANALYSIS)
    store.db.execute("UPDATE tracks SET key = (key + 7) % 24, key_confidence = 0.01, key_analysis = NULL")
    store.db.commit()
    store.close()
    return tmp_path / "library", index_dir, analysed, [str(p) for p in paths]


def _analysis(index_dir):
    """(the store's recorded key analysis, {path: the key analysis of its row})."""
    store = Store(index_dir, readonly=True)
    rows = store.db.execute("SELECT path, key_analysis FROM tracks").fetchall()
    recorded = store.get_meta(KEY_META)
    store.close()
    return recorded, {os.fsdecode(bytes(raw)): made_with for raw, made_with in rows}


@pytest.mark.parametrize("failure", ["undecodable", "worker killed"])
def test_a_file_not_keyed_again_keeps_its_key_and_the_next_run_does_it(tmp_path, monkeypatch, failure):
    """A file that could not be decoded in the pass that estimates an older analysis's keys again kept
    its old key (right), but the store recorded the analysis as done: the next run returned early and
    that key was never estimated again until its file changed. Now the file is named in the report, the
    store says unfinished, and the next run does that file alone."""
    root, index_dir, analysed, paths = _older_key_analysis(tmp_path)
    want = json.dumps(KEY_ANALYSIS, sort_keys=True)
    old = _keys(index_dir)
    victim = paths[2]
    jobs = 1
    if failure == "worker killed":
        jobs = 2  # 4 files in 2 spawned worker processes: one of them dies on the victim
        monkeypatch.setattr(importlib.import_module("livedj.library.rekey"), "_key_file", _dies_on_one_key)
        monkeypatch.setenv("LIVEDJ_TEST_DIE_ON", victim)
    else:  # zeroed in place (a disk error), size and time kept: unchanged to the indexer, undecodable now
        original = rewrite_unnoticed(victim, bytes(os.path.getsize(victim)))

    report = index_library([root], index_dir, SETTINGS, jobs=jobs, n_trees=4)
    assert report.indexed == 0 and report.rekeyed == 3
    assert [(p, why.endswith(": the old one is kept until a later run does it")) for p, why in report.skipped] == \
        [(display_path(encode_path(victim)), True)], report.skipped
    assert report.skipped[0][1].startswith("key not estimated again ("), report.skipped
    if failure == "worker killed":
        assert "SIGKILL" in report.skipped[0][1], report.skipped
    keys = _keys(index_dir)
    assert keys[encode_path(victim)] == old[encode_path(victim)]  # its old key, as it was
    for path in paths:
        if path != victim:
            assert keys[encode_path(path)][:2] == analysed[encode_path(path)][:2]
    recorded, made_with = _analysis(index_dir)
    assert recorded == UNFINISHED and made_with[victim] is None  # not done: the next run tries it
    assert all(made_with[p] == want for p in paths if p != victim)

    monkeypatch.undo()  # the worker that died, or the disk, is well again
    if failure == "undecodable":
        rewrite_unnoticed(victim, original)
    progress = []
    again = index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4,
                          progress=lambda event, done, total, path: progress.append((event, done, total)))
    assert again.indexed == 0 and again.rekeyed == 1 and not again.skipped, again.skipped
    assert [p for p in progress if p[0] == "key"][-1] == ("key", 1, 1)  # the victim alone
    keys = _keys(index_dir)
    for path in paths:
        key, source, confidence, key_end = keys[encode_path(path)]
        assert (key, source, key_end) == (analysed[encode_path(path)][0], "audio", analysed[encode_path(path)][3])
        assert confidence == pytest.approx(analysed[encode_path(path)][2])
    recorded, made_with = _analysis(index_dir)
    assert recorded == want and set(made_with.values()) == {want}

    events = []
    once = index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4,
                         progress=lambda event, done, total, path: events.append(event))
    assert once.rekeyed == 0 and not once.skipped and "key" not in events, sorted(set(events))


def test_a_file_without_pitch_now_keeps_its_key_and_the_pass_is_done(tmp_path):
    """A file decoded but without pitch (here its samples silenced in place, size and time kept) gives
    the new analysis no key: its old key stays, and the row counts as done (trying it again would find
    the same), so the store records the analysis and the next run does no key pass."""
    root, index_dir, analysed, paths = _older_key_analysis(tmp_path, formats=("flac", "flac", "wav", "flac"))
    old = _keys(index_dir)
    victim = paths[2]
    assert victim.endswith(".wav")
    data = bytearray(open(victim, "rb").read())
    start = data.index(b"data") + 8  # the PCM samples (16-bit: zero is silence)
    data[start:] = bytes(len(data) - start)
    rewrite_unnoticed(victim, bytes(data))

    report = index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4)
    assert report.indexed == 0 and report.rekeyed == 4 and not report.skipped, report.skipped
    assert _keys(index_dir)[encode_path(victim)] == old[encode_path(victim)]
    recorded, made_with = _analysis(index_dir)
    want = json.dumps(KEY_ANALYSIS, sort_keys=True)
    assert recorded == want and set(made_with.values()) == {want}
    events = []
    index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4,
                  progress=lambda event, done, total, path: events.append(event))
    assert "key" not in events


def test_rows_of_the_previous_release_are_stamped_current_not_keyed_again(tmp_path):
    """The previous release recorded the key analysis for the whole store only (its rows have
    ``key_analysis`` NULL): a store that says its analysis is today's vouches for its rows, which are
    stamped current on the first run and not decoded again."""
    build_demo_library(tmp_path / "library", DEMO_TRACKS[:4], duration=20.0, formats=("flac",))
    index_dir = tmp_path / "index"
    index_library([tmp_path / "library"], index_dir, SETTINGS, jobs=1, n_trees=4)
    want = json.dumps(KEY_ANALYSIS, sort_keys=True)
    store = Store(index_dir)
    assert store.get_meta(KEY_META) == want
    # other keys: had they been estimated again, they would be back to what the analysis gives
    store.db.execute("UPDATE tracks SET key = (key + 7) % 24, key_analysis = NULL")
    store.db.commit()
    store.close()
    before = _keys(index_dir)

    events = []
    report = index_library([tmp_path / "library"], index_dir, SETTINGS, jobs=1, n_trees=4,
                           progress=lambda event, done, total, path: events.append(event))
    assert report.rekeyed == 0 and not report.skipped and "key" not in events, sorted(set(events))
    assert _keys(index_dir) == before
    recorded, made_with = _analysis(index_dir)
    assert recorded == want and set(made_with.values()) == {want}
