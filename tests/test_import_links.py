"""`livedj index --from-…` when the DJ's software names a file the scan finds under another name.

A library reached through a linked folder (/Volumes/Music -> ~/Music), a linked or hard-linked file,
or one file listed twice by the DJ's software was indexed once per name: suggested twice. Real
generated audio, real links, real rekordbox XML and Mixxx databases, the real indexer (the
`features` encoder: these concern files, not the embedding) and a real store on disk.
"""
from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.faults

SR = 22050


def _music(seed: int, seconds: float = 5.0) -> np.ndarray:
    from livedj.synth import DEMO_TRACKS, render_track

    return render_track(DEMO_TRACKS[seed], duration=seconds, sample_rate=SR).astype(np.float32)


@pytest.fixture(name="lib")
def lib_fixture(tmp_path) -> Path:
    lib = tmp_path / "home" / "Music"
    lib.mkdir(parents=True)
    sf.write(lib / "a.wav", _music(0), SR)
    sf.write(lib / "b.wav", _music(1), SR)
    return lib


def _volumes(lib: Path, tmp_path: Path) -> Path:
    """/Volumes/Music -> ~/Music: the name the DJ's software knows the library by."""
    (tmp_path / "Volumes").mkdir()
    link = tmp_path / "Volumes" / "Music"
    link.symlink_to(lib)
    return link


def _rekordbox(tmp_path: Path, entries, playlist=()) -> Path:
    """A collection XML: ``entries`` are (path, AverageBpm, Tonality); ``playlist`` lists TrackIDs."""
    tracks = "".join(f'<TRACK TrackID="{i}" Name="{Path(p).stem}" Artist="DJ" AverageBpm="{bpm}" Tonality="{key}" '
                     f'Location="file://localhost{quote(str(p))}"/>' for i, (p, bpm, key) in enumerate(entries, 1))
    lists = "".join(f'<TRACK Key="{i}"/>' for i in playlist)
    xml = tmp_path / "rekordbox.xml"
    xml.write_text(f'<?xml version="1.0" encoding="UTF-8"?><DJ_PLAYLISTS Version="1.0.0"><COLLECTION>{tracks}'
                   f'</COLLECTION><PLAYLISTS><NODE Type="0" Name="ROOT"><NODE Name="Friday" Type="1" KeyType="0">'
                   f'{lists}</NODE></NODE></PLAYLISTS></DJ_PLAYLISTS>', encoding="utf-8")
    return xml


def _index(roots, index_dir: Path, imported=()):
    from livedj.library.indexer import Settings, index_library

    return index_library([str(r) for r in roots], str(index_dir), Settings(encoder="features"), jobs=1,
                         imported=imported)


def _tracks(index_dir: Path) -> dict[str, tuple]:
    """Stored path -> (bpm, bpm_source, key, key_source) of every good row."""
    from livedj.library.store import Store

    store = Store(index_dir, readonly=True)
    try:
        return {t.path: (t.bpm, t.bpm_source, t.key, t.key_source) for t in store.tracks().values()}
    finally:
        store.close()


def _why(report) -> dict[str, str]:
    """Every file skipped, and why (the files the DJ's software lists that are not here too)."""
    return {p: why for p, why in report.skipped} | {m.path: m.reason for m in report.missing}


def test_a_track_listed_through_a_linked_folder_takes_the_djs_analysis_once(lib, tmp_path):
    from livedj.library.importers import read_rekordbox_xml

    volumes = _volumes(lib, tmp_path)
    xml = _rekordbox(tmp_path, [(volumes / "a.wav", "123.40", "8A"), (volumes / "b.wav", "0", "")])
    imported, problems = read_rekordbox_xml(xml)
    assert problems == []
    report = _index([lib], tmp_path / "index", imported)
    assert (report.indexed, report.index_items, report.skipped) == (2, 2, [])
    tracks = _tracks(tmp_path / "index")
    assert sorted(tracks) == [str(lib / "a.wav"), str(lib / "b.wav")]
    assert tracks[str(lib / "a.wav")] == (123.4, "rekordbox", 21, "rekordbox")  # 8A: A minor
    assert tracks[str(lib / "b.wav")][1] != "rekordbox"  # not analysed in rekordbox: livedj's own estimate
    again = _index([lib], tmp_path / "index", imported)  # no churn: both unchanged, nothing removed
    assert (again.indexed, again.unchanged, again.removed, again.skipped, again.index_items) == (0, 2, 0, [], 2)


def test_linked_and_hard_linked_files_listed_by_mixxx_are_the_scanned_files(lib, tmp_path):
    from test_mixxx import add_track, make_mixxx_db  # Mixxx's own DDL

    from livedj.library.importers import read_mixxx_library

    (tmp_path / "elsewhere").mkdir()
    os.symlink(lib / "a.wav", tmp_path / "elsewhere" / "alias.wav")
    os.link(lib / "b.wav", tmp_path / "elsewhere" / "hard.wav")
    db = make_mixxx_db(tmp_path / "mixxxdb.sqlite")
    add_track(db, str(tmp_path / "elsewhere" / "alias.wav"), title="A", bpm=126.0, key_id=10)  # A major
    add_track(db, str(tmp_path / "elsewhere" / "hard.wav"), title="B", bpm=90.5, key_id=13)  # C minor
    db.close()
    imported, _ = read_mixxx_library(tmp_path / "mixxxdb.sqlite")
    report = _index([lib], tmp_path / "index", imported)
    assert (report.indexed, report.index_items, report.skipped) == (2, 2, [])
    assert _tracks(tmp_path / "index") == {str(lib / "a.wav"): (126.0, "mixxx", 9, "mixxx"),
                                           str(lib / "b.wav"): (90.5, "mixxx", 12, "mixxx")}
    again = _index([lib], tmp_path / "index", imported)
    assert (again.indexed, again.unchanged, again.removed, again.skipped) == (0, 2, 0, [])


def test_one_file_listed_twice_under_two_names_is_indexed_once_and_named(lib, tmp_path):
    """No folder scanned: the DJ's software alone lists a.wav twice (its folder and a link to it)."""
    from livedj.library.importers import read_rekordbox_xml

    volumes = _volumes(lib, tmp_path)
    gone = tmp_path / "gone" / "c.wav"
    xml = _rekordbox(tmp_path, [(lib / "a.wav", "124.00", "Am"), (volumes / "a.wav", "62.00", "C"), (gone, "1", "")])
    imported, _ = read_rekordbox_xml(xml)
    report = _index([], tmp_path / "index", imported)
    assert (report.indexed, report.index_items) == (1, 1)
    assert _tracks(tmp_path / "index") == {str(lib / "a.wav"): (124.0, "rekordbox", 21, "rekordbox")}  # the first's
    assert _why(report) == {
        str(volumes / "a.wav"): f"the same file as {lib / 'a.wav'} in the rekordbox library (a link): indexed once, "
                                "under that name",
        str(gone): "in the rekordbox library, but the file is missing"}  # as before
    again = _index([], tmp_path / "index", imported)
    assert (again.indexed, again.unchanged, again.removed, len(_why(again))) == (0, 1, 0, 2)


def test_a_link_name_stored_by_an_earlier_run_leaves_the_index(lib, tmp_path):
    """An index built before: the DJ's software's name of a.wav stored beside the scan's name."""
    from livedj.library.importers import read_rekordbox_xml

    volumes = _volumes(lib, tmp_path)
    imported, _ = read_rekordbox_xml(_rekordbox(tmp_path, [(volumes / "a.wav", "123.00", "8A")]))
    assert _index([], tmp_path / "index", imported).indexed == 1  # stored under /Volumes/Music/a.wav
    report = _index([lib], tmp_path / "index", imported)
    # the link's name moves to the scan's name, its analysis kept (library/moves.py); only b.wav is analysed
    assert (report.indexed, report.removed, len(report.moved), report.index_items, report.skipped) == (1, 0, 1, 2, [])
    assert sorted(_tracks(tmp_path / "index")) == [str(lib / "a.wav"), str(lib / "b.wav")]
    assert _tracks(tmp_path / "index")[str(lib / "a.wav")] == (123.0, "rekordbox", 21, "rekordbox")


def test_a_crate_listing_a_link_name_resolves_to_the_indexed_file(lib, tmp_path):
    """The crates of the DJ's software name the file as it does: they must still reach the one row."""
    from livedj.library.context_update import read_lists, update_context
    from livedj.library.importers import read_rekordbox_xml

    volumes = _volumes(lib, tmp_path)
    xml = _rekordbox(tmp_path, [(volumes / "a.wav", "123.00", "8A"), (volumes / "b.wav", "", "")], playlist=(1, 2))
    _index([lib], tmp_path / "index", read_rekordbox_xml(xml)[0])
    lists, _ = read_lists(rekordbox=[xml])
    _, report = update_context(tmp_path / "index", "features", lists=lists)
    assert (report.imported.entries, report.imported.resolved, report.imported.unresolved) == (2, 2, 0)


def test_without_inode_numbers_nothing_is_merged(lib, tmp_path, monkeypatch):
    """A file system that numbers no files (st_ino 0: some network and FUSE ones): a name is a file,
    as the scan does -- two names of one file are two files, never two files taken for one."""
    from livedj.library import scan as scan_module
    from livedj.library.importers import read_rekordbox_xml

    os.link(lib / "a.wav", tmp_path / "hard.wav")

    class NoInode:
        st_ino = 0

        def __init__(self, st):
            self.st = st

        def __getattr__(self, name):
            return getattr(self.st, name)

    fs = types.SimpleNamespace(**{n: getattr(os, n) for n in dir(os) if not n.startswith("__")})
    fs.stat = lambda path, *a, **k: NoInode(os.stat(path, *a, **k))
    monkeypatch.setattr(scan_module, "os", fs)  # the scan's (and the merge's) view of the file system only
    xml = _rekordbox(tmp_path, [(tmp_path / "hard.wav", "123.00", "8A"), (lib / "b.wav", "99.00", "")])
    report = _index([lib], tmp_path / "index", read_rekordbox_xml(xml)[0])
    assert (report.indexed, report.skipped) == (3, [])
    tracks = _tracks(tmp_path / "index")
    assert sorted(tracks) == sorted([str(lib / "a.wav"), str(lib / "b.wav"), str(tmp_path / "hard.wav")])
    assert tracks[str(tmp_path / "hard.wav")][:2] == (123.0, "rekordbox") and tracks[str(lib / "b.wav")][:2] == (
        99.0, "rekordbox")


def test_livedj_index_reports_it_in_one_line_and_keeps_it_once(lib, tmp_path):
    volumes = _volumes(lib, tmp_path)
    xml = _rekordbox(tmp_path, [(volumes / "a.wav", "123.40", "8A"), (lib / "a.wav", "123.40", "8A")])
    config = tmp_path / "config.toml"
    config.write_text('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n')
    cmd = [sys.executable, "-m", "livedj", "index", str(lib), "--from-rekordbox", str(xml), "--config", str(config),
           "--index", str(tmp_path / "index"), "--jobs", "1"]
    runs = [subprocess.run(cmd, capture_output=True, text=True, timeout=300) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
        assert [ln for ln in run.stdout.splitlines() if "skipped " in ln and "a.wav" in ln] == [
            f"  skipped {volumes / 'a.wav'}: the same file as {lib / 'a.wav'} in the rekordbox library (a link): "
            "indexed once, under that name"]  # the name the scan found is kept, whatever the order
    assert "indexed 2 · unchanged 0 · skipped 1 · removed 0 · 2 tracks" in runs[0].stdout
    assert "indexed 0 · unchanged 2 · skipped 1 · removed 0 · 2 tracks" in runs[1].stdout
    assert _tracks(tmp_path / "index")[str(lib / "a.wav")] == (123.4, "rekordbox", 21, "rekordbox")
