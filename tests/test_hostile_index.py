"""A hostile tester's attacks on the index on disk and the offline commands (the second sweep).

Real components throughout: generated audio files, the real indexer (the `features` encoder), Annoy
files on disk, the command line's own code run in this process.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from faults_common import base_fixture, complete, copy_index, N_A, full_disk, read_only_mount, repair_here  # noqa: F401 (base_fixture: the fixture `base`)
from livedj.library import index as annoy_index

pytestmark = pytest.mark.faults


def _loads_live(index_dir) -> bool:
    """The index loads as the live loop and `suggest` load it (audio.window_s 5 s)."""
    try:
        annoy_index.load(index_dir, window_s=5.0)
    except annoy_index.IndexUnusable as exc:
        assert "\n" not in str(exc) and str(index_dir) in str(exc)
        return False
    return True


#: Damage to the fields that shape the vectors and the segments: a rebuild over the first four kept them
#: (window_s: suggest then refused the "repaired" index) or stopped with a traceback, as the last two did on load.
VECTOR_DAMAGE = {
    "vector a string": lambda m: m.update(vector="x"),
    "beginning_s null": lambda m: m["vector"].update(beginning_s=None),
    "window_s not the indexer's": lambda m: m["vector"].update(window_s=-1),
    "projection file null": lambda m: m["vector"]["projection"].update(file=None),
    "segments dim huge": lambda m: m["segments"].update(dim=10 ** 20),
    "segments dim another": lambda m: m["segments"].update(dim=3),
}


@pytest.mark.parametrize("damage", list(VECTOR_DAMAGE))
def test_a_damaged_vector_or_segments_entry_is_one_line_and_rebuilt(base, tmp_path, damage):
    index_dir = copy_index(base, tmp_path)
    path = index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    before = {"dim": manifest["segments"]["dim"], "window_s": manifest["vector"]["window_s"]}
    VECTOR_DAMAGE[damage](manifest)
    path.write_text(json.dumps(manifest))
    _loads_live(index_dir)  # loads, or says why in one line naming the index: never another exception
    repair_here(base, index_dir)
    assert complete(index_dir, N_A) and _loads_live(index_dir), damage
    after = json.loads(path.read_text())
    assert {"dim": after["segments"]["dim"], "window_s": after["vector"]["window_s"]} == before, damage


# -- files the DJ is given -------------------------------------------------------------------------------
def _plays(n: int = 2):
    from livedj.library.history import Play

    return [Play(0, 0, 0.0, f"/music/t{i}.mp3", f"t{i}", "a", "", 200.0, 120.0, 0, "playlist", None)
            for i in range(n)]


def test_an_export_has_the_permissions_of_a_file_the_dj_made(tmp_path):
    """Every playlist, set export, cue sheet and index file was written 0600 (mkstemp's), whatever the umask:
    a set list written to a shared folder or a web server's was unreadable to anyone else."""
    import os
    import stat

    from livedj.library.exports import export_csv, export_m3u

    old = os.umask(0o022)
    try:
        export_m3u(_plays(), tmp_path / "set.m3u")
        assert stat.S_IMODE((tmp_path / "set.m3u").stat().st_mode) == 0o644
        (tmp_path / "set.csv").write_text("old")
        os.chmod(tmp_path / "set.csv", 0o640)  # the DJ's choice for this file: kept when it is replaced
        export_csv(_plays(), tmp_path / "set.csv")
        assert stat.S_IMODE((tmp_path / "set.csv").stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_a_full_disk_names_the_file_it_could_not_write(tmp_path):
    """`livedj playlist -o` on a full disk said only "[Errno 28] No space left on device"."""
    import errno

    from livedj.commands.oneline import describe
    from livedj.fsutil import atomic_write

    (tmp_path / "set.m3u").write_text("the old list")

    def full(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as caught:
        atomic_write(tmp_path / "set.m3u", full)
    assert describe(caught.value) == f"{tmp_path / 'set.m3u'}: No space left on device"
    assert (tmp_path / "set.m3u").read_text() == "the old list" and len(list(tmp_path.iterdir())) == 1


# -- where the index lives -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Set #2", "Mix%20Tapes", "what?"])
def test_an_index_in_a_folder_named_with_uri_characters_is_read(base, tmp_path, name):
    """The store was opened read-only through `file:{path}?mode=ro`: `#`, `?` or `%` in the index's
    folder cut the path there, so suggest said 'not a livedj store' of a good index, and SQLite opened
    (creating it, empty) the file the cut path named, read-write."""
    import shutil

    from faults_common import run_here

    index_dir = tmp_path / name / "index"
    shutil.copytree(copy_index(base, tmp_path), index_dir)
    root, config = base
    before = set(tmp_path.rglob("*"))
    record = sorted((root / "lib" / "a").rglob("*.wav"))[0]
    code, out, err = run_here(["suggest", str(record), "--top", "1", "--json", "--config", str(config),
                               "--index", str(index_dir)])
    assert code == 0, err
    assert [p for p in set(tmp_path.rglob("*")) - before if index_dir not in p.parents] == []  # nothing made outside


def test_an_index_on_a_read_only_filesystem_is_read(base, tmp_path):
    """An index on a read-only mount (a locked SD card, a stick mounted ro) was 'not a livedj store
    (unable to open database file)': SQLite could not create the -shm file a WAL reader needs."""
    from faults_common import run_here

    index_dir = copy_index(base, tmp_path)
    for leftover in ("library.sqlite-wal", "library.sqlite-shm"):
        (index_dir / leftover).unlink(missing_ok=True)
    root, config = base
    undo = read_only_mount(index_dir)
    try:
        code, out, err = run_here(["suggest", str(sorted((root / "lib" / "a").rglob("*.wav"))[0]), "--top", "1",
                                   "--json", "--config", str(config), "--index", str(index_dir)])
    finally:
        undo()
    assert code == 0, err


def test_a_full_disk_does_not_set_the_store_aside(base, tmp_path):
    """`livedj index` on a full disk called the intact store damaged ('database or disk is full'), set it
    aside and left an empty one: the index then said 'not a livedj store' until every file was analysed
    again, and the message told the DJ to run `livedj index`, which did the same."""
    import shutil

    from faults_common import run_here

    root, config = base
    disk = tmp_path / "disk"
    undo = full_disk(disk, 1024 + sum(p.stat().st_size for p in copy_index(base, tmp_path).iterdir()) // 1024)
    try:
        index_dir = disk / "index"
        shutil.copytree(tmp_path / "index", index_dir)
        for leftover in ("library.sqlite-wal", "library.sqlite-shm"):
            (index_dir / leftover).unlink(missing_ok=True)
        with open(disk / "fill", "wb") as f:  # the rest of the disk
            try:
                while True:
                    f.write(bytes(1 << 16))
                    f.flush()
            except OSError:
                pass
        code, out, err = run_here(["index", str(root / "lib" / "a"), "--jobs", "1", "--config", str(config),
                                   "--index", str(index_dir)])
        assert code == 1 and "Traceback" not in err and "damaged" not in err, err
        assert not list(index_dir.glob("*damaged*"))
        (disk / "fill").unlink()
        assert repair_here(base, index_dir).indexed == 0 and complete(index_dir, N_A)  # nothing analysed again
    finally:
        undo()


# -- the index keeps what it cannot see ----------------------------------------------------------------
def test_an_empty_mount_point_keeps_its_tracks(tmp_path):
    """A drive not mounted leaves its mount point, an empty folder: `livedj index` (library.paths naming the
    drive) removed every track of it (all their analysis: a night's re-analysis once it was back), where a
    folder not there keeps them."""
    from test_hostile import _index, _library, _stored

    local, usb, index_dir = tmp_path / "local", tmp_path / "usb", tmp_path / "index"
    _library(local, 1, seconds=6.0)
    _library(usb / "album", 2, seconds=6.0)
    assert _index([local, usb], index_dir).indexed == 3
    usb.rename(tmp_path / "unplugged")
    usb.mkdir()
    report = _index([local, usb], index_dir)
    assert report.removed == 0 and len(_stored(index_dir)) == 3
    assert any("empty folder" in why and "2 indexed tracks are kept" in why for _, why in report.skipped)
    usb.rmdir()
    (tmp_path / "unplugged").rename(usb)
    (usb / "album" / "t1.wav").unlink()  # a file deleted from a folder that holds others still leaves
    assert _index([local, usb], index_dir).removed == 1 and len(_stored(index_dir)) == 2


def test_index_never_deletes_the_dj_s_files_in_its_folder(tmp_path):
    """`livedj index --index ~/Music` (the music folder named as the index) deleted the DJ's files there whose
    names looked like its own -- segments-of-life.ogg, beginnings-draft.txt, notes.tmp -- as 'leftovers'."""
    from livedj.library.errors import IndexUnusable
    from test_hostile import _index, _library, _stored

    music, index_dir = tmp_path / "music", tmp_path / "index"
    _library(music, 2, seconds=6.0)
    mine = {"segments-of-life.wav": (music / "t0.wav").read_bytes(), "beginnings-draft.txt": b"x", "notes.tmp": b"y"}
    for name, data in mine.items():
        (music / name).write_bytes(data)
    with pytest.raises(IndexUnusable, match="not a livedj index, and not empty"):
        _index([music], music)
    assert {n: (music / n).read_bytes() for n in mine} == mine
    _index([music], index_dir)  # a real index: a file of the DJ's put in it stays there too
    for name, data in mine.items():
        (index_dir / name).write_bytes(data)
    (music / "t1.wav").unlink()  # a change: the index is built again, its old generation removed
    assert _index([music], index_dir).removed == 1 and len(_stored(index_dir)) == 2
    assert {n: (index_dir / n).read_bytes() for n in mine} == mine


def test_an_empty_index_option_is_not_the_default_index(tmp_path, monkeypatch):
    """`livedj index PATH --index "$IDX"` with IDX unset built into the default index (~/.local/share/livedj/index):
    the DJ's own index, when the script meant a scratch one."""
    from faults_common import run_here
    from test_hostile import _library

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    _library(tmp_path / "music", 1, seconds=6.0)
    config = tmp_path / "config.toml"
    config.write_text('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n')
    code, out, err = run_here(["index", str(tmp_path / "music"), "--jobs", "1", "--config", str(config), "--index", ""])
    assert code == 2 and "argument --index: an empty path" in err, err
    assert not (tmp_path / "data").exists()


def test_train_never_writes_its_head_over_a_record(tmp_path):
    """`livedj train --booth-head --out set.flac` (a slip of the tab key) replaced the record with the head
    file after hours of training; any name was taken, the config file's too."""
    from faults_common import run_here
    from test_hostile import _library

    record = _library(tmp_path / "music", 1, seconds=4.0)[0]
    before = record.read_bytes()
    code, out, err = run_here(["train", "--booth-head", "--library", str(tmp_path / "music"), "--out", str(record),
                               "--index", str(tmp_path / "index")])
    assert code == 2 and "argument --out" in err and ".safetensors" in err, err
    assert record.read_bytes() == before


def test_a_folder_in_the_store_s_place_is_set_aside_and_rebuilt(base, tmp_path):
    """A folder named library.sqlite is not a disk that is full: `livedj index` sets it aside and rebuilds."""
    index_dir = copy_index(base, tmp_path)
    for name in ("library.sqlite", "library.sqlite-wal", "library.sqlite-shm"):
        (index_dir / name).unlink(missing_ok=True)
    (index_dir / "library.sqlite").mkdir()
    repair_here(base, index_dir)
    assert complete(index_dir, N_A) and list(index_dir.glob("library.sqlite.damaged-*"))


@pytest.mark.parametrize("stem", ["x" * 240, "é" * 120])  # 244 bytes: a name the system takes (255 at most)
def test_a_long_file_name_is_written(tmp_path, stem):
    """An export or mix named near the 255-byte limit failed 'File name too long': its temporary name
    (.NAME.xxxxxxxx.tmp, .NAME.partial) was longer than the name itself."""
    from livedj.library.exports import export_m3u
    from livedj.mix.io import MixWriter

    export_m3u(_plays(), tmp_path / f"{stem}.m3u")
    with MixWriter(tmp_path / f"{stem}.wav") as w:
        w.write(np.zeros((2, 4410), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{stem}.m3u", f"{stem}.wav"])


#: A damaged window cache (windows.npz is no part of the manifest's checks: a cache, made again when unreadable)
WINDOWS_DAMAGE = {
    "windows of another dimension": lambda z: z.update(windows=z["windows"][:, :3]),  # the index became 3-d for good
    "windows flat": lambda z: z.update(windows=z["windows"].ravel()),  # an IndexError traceback
    "path ends not integers": lambda z: z.update(path_ends=z["path_ends"] + 0.5),  # a TypeError traceback
    "windows not finite": lambda z: z.update(windows=np.full_like(z["windows"], np.nan)),
}


@pytest.mark.parametrize("damage", list(WINDOWS_DAMAGE))
def test_a_damaged_window_cache_never_spoils_the_index(base, tmp_path, damage):
    index_dir = copy_index(base, tmp_path)
    z = dict(np.load(index_dir / "windows.npz"))
    WINDOWS_DAMAGE[damage](z)
    np.savez(index_dir / "windows.npz", **z)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["vector"]["projection"]["settings"]["dims"] += 1  # other fit settings: a re-fit, from the cache
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    repair_here(base, index_dir)
    assert complete(index_dir, N_A) and _loads_live(index_dir), damage
    from livedj.encoders import encoder_dim

    loaded = annoy_index.load(index_dir, window_s=5.0, dim=encoder_dim("features"))
    assert loaded.size == N_A
    vectors = [loaded.annoy.get_item_vector(i) for i in range(loaded.annoy.get_n_items())]
    assert np.isfinite(vectors).all() and np.abs(vectors).sum() > 0, damage


#: context.npz arrays of consistent-looking but wrong shapes (another livedj's file, or a hand-made one)
CONTEXT_DAMAGE = {
    "ids two-dimensional": lambda z: z.update(ids=z["ids"][:, None]),
    "a vector short": lambda z: z.update(vectors=z["vectors"][:-1]),
    "banned not a mask": lambda z: z.update(banned=z["banned"].astype(float)),
    "shared index out of range": lambda z: z.update(shared_indices=z["shared_indices"] + 10 ** 6),
}


@pytest.mark.parametrize("damage", list(CONTEXT_DAMAGE))
def test_a_context_model_of_other_shapes_is_rebuilt(base, tmp_path, damage):
    """suggest, context TRACK and playlist ended in IndexError/TypeError tracebacks."""
    from faults_common import run_here

    root, config = base
    index_dir = copy_index(base, tmp_path)
    records = sorted(str(p) for p in (root / "lib" / "a").rglob("*") if p.suffix in (".wav", ".flac", ".mp3"))
    (tmp_path / "set.m3u").write_text("\n".join(records) + "\n")
    common = ["--config", str(config), "--index", str(index_dir)]
    assert run_here(["index", str(root / "lib" / "a"), "--playlists", str(tmp_path / "set.m3u"), *common])[0] == 0
    z = dict(np.load(index_dir / "context.npz"))
    CONTEXT_DAMAGE[damage](z)
    np.savez(index_dir / "context.npz", **z)
    for argv in (["context", records[0]], ["suggest", records[0], "--top", "2"]):
        code, out, err = run_here([*argv, *common])
        assert code == 0 and "Traceback" not in err, (damage, argv, err)


@pytest.mark.parametrize("field, value", [("path", "x"), ("title", b"\x00\xff"), ("key", "x"), ("bpm", 1e308),
                                          ("key", -1), ("key_confidence", "x")])
def test_a_store_row_of_another_type_is_one_line_then_analysed_again(base, tmp_path, field, value):
    """A field livedj never writes (SQLite keeps any type: a hand edit, another program) was a traceback in
    suggest, journey, playlist, context and in livedj index itself, which could not repair it."""
    import sqlite3

    from faults_common import run_here

    root, config = base
    index_dir = copy_index(base, tmp_path)
    with sqlite3.connect(index_dir / "library.sqlite") as db:
        db.execute(f"UPDATE tracks SET {field} = ? WHERE id = (SELECT min(id) FROM tracks)", (value,))
    record = str(sorted((root / "lib" / "a").rglob("*.wav"))[0])
    code, out, err = run_here(["suggest", record, "--config", str(config), "--index", str(index_dir)])
    assert code == 1 and "Traceback" not in err and "wrong type" in err, err
    report = repair_here(base, index_dir)
    assert report.indexed == 1 and complete(index_dir, N_A), report
