"""Indexes written by older releases, met by today's `livedj index` (measured on real old commits,
each case rebuilt here in the layout the old code wrote, without git history).

- 8680078 (the first commit with a set log): a store without the ``landmarks`` column, and segment
  vectors made by the beginning encoder (musicnn, 200 wide; the manifest's segment entry names no
  encoder). Today's livedj exited 1 ("damaged (no such column: landmarks); `livedj index` rebuilds
  it", which it did not), then, with the column, a reshape traceback.
- db2a1e3 / 0cf4b73 (a DJ who rolled back to them after upgrading): the old code fingerprints every
  file again with its own parameters, records them in the store's meta only and leaves each row's
  ``fingerprint_params`` saying today's; back on today's livedj those landmarks were kept as current
  (never computed again) and the report asked for the `livedj index` that was running.

The library is 3 generated records indexed with the cheap "features" encoders.
"""
from __future__ import annotations

import json
import sqlite3
import zlib

import numpy as np
import pytest

from livedj.library.indexer import Settings, index_library
from livedj.library.refingerprint import FINGERPRINT_META, current_params
from livedj.library.rekey import KEY_META, current_analysis
from livedj.library.store import Store
from livedj.synth import DEMO_TRACKS, build_demo_library

SETTINGS = Settings(encoder="features", segment_encoder="features", beginning_s=10.0, segment_hop_s=5.0, fit="none")

#: the tracks table as 8680078 created it (livedj/library/store.py there): no landmarks, no later columns
SCHEMA_8680078 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY, path BLOB NOT NULL UNIQUE, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL, error TEXT, title TEXT, artist TEXT, album TEXT, duration REAL,
    bpm REAL, bpm_source TEXT, key INTEGER, key_source TEXT, start_s REAL, encoder TEXT, vector BLOB,
    segment_hop REAL, segments BLOB, indexed_at REAL NOT NULL);
"""
COLUMNS_8680078 = ("id, path, size, mtime_ns, status, error, title, artist, album, duration, bpm, bpm_source, "
                   "key, key_source, start_s, encoder, vector, segment_hop, segments, indexed_at")


@pytest.fixture
def library(tmp_path):
    build_demo_library(tmp_path / "library", DEMO_TRACKS[:3], duration=20.0, formats=("flac",))
    index_library([tmp_path / "library"], tmp_path / "index", SETTINGS, jobs=1, n_trees=4)
    return tmp_path / "library", tmp_path / "index"


def _rows(index_dir, columns):
    store = Store(index_dir, readonly=True)
    rows = {bytes(r[0]): r[1:] for r in store.db.execute(f"SELECT path, {columns} FROM tracks ORDER BY path")}
    store.close()
    return rows


def _rewrite_manifest_entry(index_dir, name, change):
    """Change one index file the way an old build wrote it, its manifest entry (size, CRC) kept true."""
    path = index_dir / name
    path.write_bytes(change(path.read_bytes()))
    manifest = json.loads((index_dir / "manifest.json").read_text())
    for entry in manifest["fingerprints"]["files"]:
        if entry["file"] == name:
            entry.update(size=path.stat().st_size, crc32=zlib.crc32(path.read_bytes()))
    (index_dir / "manifest.json").write_text(json.dumps(manifest))


def test_store_of_8680078_gets_landmarks_and_its_musicnn_segments_analysed_again(library):
    root, index_dir = library
    before = _rows(index_dir, "title, bpm, landmarks")
    # the store as 8680078 wrote it: its own schema, segments 200 wide (77 of them: a width today's
    # 77-wide segment encoder would also divide, so only the manifest can tell)
    old = sqlite3.connect(index_dir / "library.sqlite")
    rows = old.execute(f"SELECT {COLUMNS_8680078} FROM tracks").fetchall()
    old.close()
    for suffix in ("", "-wal", "-shm"):
        (index_dir / f"library.sqlite{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(index_dir / "library.sqlite")
    db.executescript(SCHEMA_8680078)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    rng = np.random.default_rng(0)
    for row in rows:
        musicnn = rng.standard_normal((77, 200)).astype(np.float32).tobytes()
        db.execute(f"INSERT INTO tracks ({COLUMNS_8680078}) VALUES ({','.join('?' * 20)})", (*row[:18], musicnn, row[19]))
    db.commit()
    db.close()
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest.pop("fingerprints", None)  # 8680078 had none
    del manifest["segments"]["encoder"], manifest["segments"]["dim"]  # nor a segment encoder of its own
    (index_dir / "manifest.json").write_text(json.dumps(manifest))

    report = index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4)  # was: no such column: landmarks
    assert report.resegmented == 3 and report.indexed == 3 and not report.skipped
    after = _rows(index_dir, "title, bpm, landmarks")
    assert after.keys() == before.keys()  # no track lost, same paths
    assert all(after[p][:2] == before[p][:2] and after[p][2] == before[p][2] for p in before)
    widths = _rows(index_dir, "length(segments), segment_encoder")
    assert all(size % (4 * 77) == 0 and by for size, by in widths.values())
    again = index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4)
    assert again.indexed == 0 and again.resegmented == 0 and again.unchanged == 3


def test_fingerprints_and_keys_an_older_livedj_rewrote_after_a_rollback_are_done_again(library):
    root, index_dir = library
    fresh = _rows(index_dir, "landmarks, key")
    # db2a1e3 run on today's index: every file fingerprinted again with its parameters (version 2),
    # recorded in the store's meta and its fingerprint index; each row still says today's
    old_params = json.dumps({**json.loads(current_params()), "version": 2}, sort_keys=True)
    old_analysis = json.dumps({**json.loads(current_analysis()), "version": 2}, sort_keys=True)
    store = Store(index_dir)
    for i, raw in enumerate(sorted(fresh)):
        n = 50
        old = np.arange(n, dtype=np.uint32).tobytes() + np.arange(n, dtype=np.int32).tobytes()
        store.db.execute("UPDATE tracks SET landmarks = ?, key = (key + 7) % 24 WHERE path = ?", (old, raw))
    store.set_meta(FINGERPRINT_META, old_params)
    store.set_meta(KEY_META, old_analysis)
    store.db.commit()
    manifest = json.loads((index_dir / "manifest.json").read_text())
    meta_name = manifest["fingerprints"]["prefix"] + ".meta.json"
    _rewrite_manifest_entry(index_dir, meta_name, lambda b: json.dumps(
        {**json.loads(b), "params": json.loads(old_params)}).encode())
    store.close()

    report = index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4)
    assert report.rekeyed == 3 and report.indexed == 0
    assert not any("rebuild with `livedj index`" in why for why in report.repaired), report.repaired
    assert _rows(index_dir, "landmarks, key") == fresh  # what a fresh analysis gives, back
    store = Store(index_dir, readonly=True)
    assert store.get_meta(FINGERPRINT_META) == current_params() and store.get_meta(KEY_META) == current_analysis()
    store.close()
    once = index_library([root], index_dir, SETTINGS, jobs=1, n_trees=4)
    assert once.rekeyed == 0 and not once.repaired
