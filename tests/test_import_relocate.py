"""`livedj index --from-…` with a collection made on another computer: its files were copied here.

A rekordbox XML exported on a Mac names /Users/dj/Music/..., a Traktor collection made on Windows
E:/MUSIC/...: every track was reported missing and the DJ's BPM/key and playlist entries were lost,
though the very files were scanned under ~/Music. They are found by their names (library/relocate.py)
or through --map-path OLD=NEW. Generated audio, real rekordbox XML / Traktor NML, the real indexer
(the `features` encoder: these concern files, not the embedding) and the command line run in this
process.
"""
from __future__ import annotations

import unicodedata
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import soundfile as sf

from faults_common import has_traceback, index_here, quiet_config as _config, run_here

pytestmark = pytest.mark.faults

SR = 22050
MAC = "/Users/dj/Music"
NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731 - what macOS writes
NFC = lambda s: unicodedata.normalize("NFC", s)  # noqa: E731 - what a Linux file name usually is


def _audio(path: Path, seed: int, seconds: float = 4.0) -> Path:
    from livedj.synth import DEMO_TRACKS, render_track

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, render_track(DEMO_TRACKS[seed], duration=seconds, sample_rate=SR).astype(np.float32), SR)
    return path


def _rekordbox(path: Path, entries, playlist=()) -> Path:
    """``entries``: (Location path, AverageBpm, Tonality, Size or None); ``playlist``: TrackIDs of "Friday"."""
    tracks = "".join(f'<TRACK TrackID="{i}" Name="t{i}" AverageBpm="{bpm}" Tonality="{key}"'
                     + (f' Size="{size}"' if size is not None else "")
                     + f' Location="file://localhost{quote(p)}"/>' for i, (p, bpm, key, size) in enumerate(entries, 1))
    keys = "".join(f'<TRACK Key="{i}"/>' for i in playlist)
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><DJ_PLAYLISTS Version="1.0.0"><COLLECTION>'
                    f'{tracks}</COLLECTION><PLAYLISTS><NODE Type="0" Name="ROOT"><NODE Name="Friday" Type="1" '
                    f'KeyType="0">{keys}</NODE></NODE></PLAYLISTS></DJ_PLAYLISTS>', encoding="utf-8")
    return path


def _index(tmp_path: Path, *args, extra: str = "") -> tuple[int, str, str]:
    code, out, err = index_here(tmp_path, *args, extra=extra)
    assert code == 0 and not has_traceback(err), err
    return code, out, out + err  # the lists' summary is on stderr, with the progress


def _rows(index_dir: Path) -> dict[str, tuple]:
    """Stored path -> (id, bpm, bpm_source, key, key_source)."""
    from livedj.library.store import Store

    store = Store(index_dir, readonly=True)
    try:
        return {t.path: (tid, t.bpm, t.bpm_source, t.key, t.key_source) for tid, t in store.tracks().items()}
    finally:
        store.close()


def _lines(out: str, prefix: str) -> list[str]:
    return [ln.removeprefix(prefix) for ln in out.splitlines() if ln.startswith(prefix)]


def test_a_mac_collection_with_nfd_names_finds_the_copied_nfc_files(tmp_path):
    """rekordbox on a Mac percent-encodes NFD names (e + combining acute); the copies here are NFC, under
    another folder: BPM/key taken under the scanned name, the playlist reaches both, a re-run stores nothing."""
    lib = tmp_path / "home" / "Music"
    a = _audio(lib / NFC("Ålbum") / NFC("Café del Mar.wav"), 0)
    b = _audio(lib / "House" / "b.wav", 1)
    xml = _rekordbox(tmp_path / "rekordbox.xml", [
        (NFD(f"{MAC}/Ålbum/Café del Mar.wav"), "123.40", "8A", None), (f"{MAC}/House/b.wav", "99.00", "C", None)],
        playlist=(1, 2))
    _, out, both = _index(tmp_path, lib, "--from-rekordbox", xml)
    assert _lines(out, "  relocated ") == [
        f"2 tracks of the rekordbox library found under {lib} by their names (listed under {MAC})"]
    assert _lines(out, "  skipped ") == [] and "indexed 2 · unchanged 0 · skipped 0 · removed 0 · 2 tracks" in out
    rows = _rows(tmp_path / "index")
    assert sorted(rows) == sorted([str(a), str(b)])
    assert rows[str(a)][1:] == (123.4, "rekordbox", 21, "rekordbox")  # 8A: A minor
    assert rows[str(b)][1:] == (99.0, "rekordbox", 0, "rekordbox")  # C major
    assert "lists: 1 list, 2 entries, 2 in the library" in both  # the playlist's Mac paths reach the files

    _, again, both = _index(tmp_path, lib, "--from-rekordbox", xml)  # nothing analysed, stored or removed again
    assert "indexed 0 · unchanged 2 · skipped 0 · removed 0 · 2 tracks" in again
    assert _lines(again, "  relocated ") == _lines(out, "  relocated ")
    assert _rows(tmp_path / "index") == rows  # the same rows (ids) for the same files
    assert "lists: 1 list, 2 entries, 2 in the library" in both


def test_a_windows_collection_is_matched_case_insensitively(tmp_path):
    """Traktor on Windows: E:/MUSIC/House/TRACK A.WAV is /media/dj/USB/Music/House/Track A.wav here."""
    usb = tmp_path / "media" / "dj" / "USB" / "Music"
    track = _audio(usb / "House" / "Track A.wav", 2)
    nml = tmp_path / "collection.nml"
    nml.write_text('<?xml version="1.0" encoding="UTF-8"?><NML VERSION="19"><COLLECTION ENTRIES="1">'
                   '<ENTRY TITLE="A"><LOCATION VOLUME="E:" DIR="/:MUSIC/:HOUSE/:" FILE="TRACK A.WAV"/>'
                   '<TEMPO BPM="128.000000"/><MUSICAL_KEY VALUE="21"/></ENTRY></COLLECTION><PLAYLISTS>'
                   '<NODE TYPE="FOLDER" NAME="$ROOT"><SUBNODES><NODE TYPE="PLAYLIST" NAME="Sat"><PLAYLIST TYPE="LIST">'
                   '<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="E:/:MUSIC/:HOUSE/:TRACK A.WAV"/></ENTRY></PLAYLIST></NODE>'
                   '</SUBNODES></NODE></PLAYLISTS></NML>', encoding="utf-8")
    _, out, both = _index(tmp_path, usb, "--from-traktor", nml)
    assert _lines(out, "  relocated ") == [
        f"1 track of the traktor library found under {usb}/House by their names (listed under E:/MUSIC/HOUSE)"]
    assert _lines(out, "  skipped ") == []
    assert _rows(tmp_path / "index")[str(track)][1:] == (128.0, "traktor", 21, "traktor")
    assert "lists: 1 list, 1 entry, 1 in the library" in both


def test_a_name_in_two_albums_is_left_missing_and_said_why(tmp_path):
    """"01 Intro.wav" of two albums, listed under a third folder: no folder decides, neither is taken; the
    line comes before the plain missing ones (it needs a choice: --map-path), under the 20-line cap."""
    lib = tmp_path / "Music"
    p, q = _audio(lib / "P" / "01 Intro.wav", 3), _audio(lib / "Q" / "01 Intro.wav", 4)
    entries = [(f"{MAC}/gone/{i:02d}.wav", "", "", None) for i in range(25)]
    xml = _rekordbox(tmp_path / "rekordbox.xml", entries + [(f"{MAC}/R/01 Intro.wav", "120.00", "8A", None)])
    _, out, _ = _index(tmp_path, lib, "--from-rekordbox", xml)
    skipped = _lines(out, "  skipped ")
    assert skipped[0] == (f"{MAC}/R/01 Intro.wav: in the rekordbox library, but the file is missing; its name matches "
                          f"2 files here equally ({p}, {q}): left missing (--map-path OLD=NEW decides)")
    assert len(skipped) == 21 and skipped[-1].startswith("... and 6 more files listed by rekordbox are missing")
    assert _lines(out, "  relocated ") == []
    assert all(row[2] != "rekordbox" for row in _rows(tmp_path / "index").values())  # neither took its BPM
    _, everything, _ = _index(tmp_path, lib, "--from-rekordbox", xml, "--all-problems")
    assert len(_lines(everything, "  skipped ")) == 26


def test_the_size_rekordbox_gives_refuses_another_file_and_picks_among_equal_names(tmp_path):
    """A copy keeps its bytes: a file of the listed name but another size is another recording (refused);
    of two "01 Intro.wav" the one of the listed size is the one."""
    lib = tmp_path / "Music"
    other = _audio(lib / "x.wav", 5)
    _audio(lib / "P" / "01 Intro.wav", 3, seconds=5.0)
    q = _audio(lib / "Q" / "01 Intro.wav", 4)
    xml = _rekordbox(tmp_path / "rekordbox.xml", [(f"{MAC}/x.wav", "100.00", "8A", other.stat().st_size + 1),
                                                  (f"{MAC}/01 Intro.wav", "120.00", "C", q.stat().st_size)])
    _, out, _ = _index(tmp_path, lib, "--from-rekordbox", xml)
    assert _lines(out, "  skipped ") == [
        f"{MAC}/x.wav: in the rekordbox library, but the file is missing; a file of that name is here ({other}) but "
        f"of another size ({other.stat().st_size + 1} bytes in the collection): left missing (--map-path OLD=NEW "
        "decides)"]
    assert _lines(out, "  relocated ") == [
        f"1 track of the rekordbox library found under {lib}/Q by their names (listed under {MAC})"]
    rows = _rows(tmp_path / "index")
    assert rows[str(q)][1:3] == (120.0, "rekordbox") and rows[str(other)][2] != "rekordbox"


def test_map_path_decides_what_names_cannot_and_reaches_files_outside_the_scanned_folders(tmp_path):
    """--map-path OLD=NEW (and library.map_paths): the mapped path is looked for as a file, scanned or not;
    the longer OLD wins; the playlist's entries follow the map too."""
    lib = tmp_path / "Music"
    p = _audio(lib / "P" / "01 Intro.wav", 3)
    _audio(lib / "Q" / "01 Intro.wav", 4)
    usb = tmp_path / "usb"  # not scanned: only named by the map
    far = _audio(usb / "Sets" / NFC("Été.wav"), 5)
    xml = _rekordbox(tmp_path / "rekordbox.xml", [(f"{MAC}/R/01 Intro.wav", "120.00", "8A", None),
                                                  (NFD(f"{MAC}/Sets/Été.wav"), "90.00", "C", None)], playlist=(1, 2))
    _, out, both = _index(tmp_path, lib, "--from-rekordbox", xml, "--map-path", f"{MAC}/R={lib}/P",
                       extra=f'[library]\nmap_paths = ["{MAC}={usb}"]\n')
    assert sorted(_lines(out, "  relocated ")) == [
        f"1 track of the rekordbox library found under {lib}/P by the path map {MAC}/R={lib}/P "
        f"(listed under {MAC}/R)",
        f"1 track of the rekordbox library found under {usb}/Sets by the path map {MAC}={usb} "
        f"(listed under {MAC}/Sets)"]
    assert _lines(out, "  skipped ") == []
    rows = _rows(tmp_path / "index")
    assert rows[str(p)][1:3] == (120.0, "rekordbox") and rows[str(far)][1:3] == (90.0, "rekordbox")
    assert "lists: 1 list, 2 entries, 2 in the library" in both

    code, _, err = run_here(["index", str(lib), "--map-path", "/Users/dj/Music", "--config",
                             str(_config(tmp_path)), "--index", str(tmp_path / "index")])
    assert code == 2 and "expected OLD=NEW" in err
    from livedj.config import ConfigError, validate

    with pytest.raises(ConfigError, match=r"library.map_path: unknown key \(did you mean 'map_paths'|"
                                          r"library.map_path: unknown key.*map_paths"):
        validate({"library": {"map_path": ["/a=/b"]}})
    with pytest.raises(ConfigError, match=r"library.map_paths\[0\]: NEW must be an absolute path"):
        validate({"library": {"map_paths": ["/Users/dj/Music=Music"]}})


def test_one_scanned_file_goes_to_the_listed_file_whose_folders_agree_further():
    """Two files of one collection named like one copied file: the one whose folders agree further takes
    it, the other stays missing (it was not copied); equally far, neither."""
    from livedj.library.relocate import Listed, match_by_name

    here = [("/home/dj/Music/A/x.mp3", 1)]
    a, b = Listed(f"{MAC}/A/x.mp3", "rekordbox", 1), Listed(f"{MAC}/B/x.mp3", "rekordbox", 1)  # sizes agree
    found, why = match_by_name([a, b], here)
    assert found == {a: "/home/dj/Music/A/x.mp3"} and "taken by /Users/dj/Music/A/x.mp3" in why[b]
    a, b = Listed(f"{MAC}/A/x.mp3", "rekordbox"), Listed(f"{MAC}/B/x.mp3", "rekordbox")  # no size: b's folder differs
    found, why = match_by_name([a, b], here)
    assert found == {a: "/home/dj/Music/A/x.mp3"} and "in another folder" in why[b]
    c = Listed("/Volumes/dj/Music/A/x.mp3", "rekordbox")
    found, why = match_by_name([a, c], here)
    assert found == {} and set(why) == {a, c}
    d = Listed("C:/Music/A/X.MP3", "traktor")  # another program's listing of the same file: both take it
    found, why = match_by_name([a, d], here)
    assert found == {a: "/home/dj/Music/A/x.mp3", d: "/home/dj/Music/A/x.mp3"} and why == {}


def test_a_mapped_path_with_no_file_says_where_it_looked(tmp_path):
    from livedj.pathmap import parse_map
    from livedj.library.scan import scan_with_imported
    from livedj.library.importers import ImportedTrack

    missing = []
    track = ImportedTrack(f"{MAC}/A/x.wav", None, None, None, None, None, None, "rekordbox")
    scan_with_imported([], [track], [], missing, maps=[parse_map(f"{MAC}={tmp_path}")])
    assert [m.reason for m in missing] == [f"in the rekordbox library, but the file is missing; not at "
                                           f"{tmp_path}/A/x.wav either (the path map {MAC}={tmp_path})"]


def test_another_linux_users_path_and_a_backslashed_windows_path_are_found_by_name():
    from livedj.library.relocate import Listed, match_by_name

    here = [("/media/dj/USB/Music/A/x.mp3", 1), ("/media/dj/USB/Music/B/x.mp3", 1)]
    olduser, backslashed = Listed("/home/olduser/Music/A/x.mp3", "mixxx"), Listed("E:\\Music\\B\\X.MP3", "traktor")
    found, why = match_by_name([olduser, backslashed], here)
    assert found == {olduser: "/media/dj/USB/Music/A/x.mp3", backslashed: "/media/dj/USB/Music/B/x.mp3"}
    assert why == {}
    found, why = match_by_name([Listed("/home/olduser/Music/a/x.mp3", "mixxx")], here)  # Linux: case counts
    assert found == {} and "2 files here equally" in next(iter(why.values()))


def test_a_name_alone_in_another_folder_is_not_taken_without_a_size():
    """"01 Track 1.mp3" of one CD is not "01 Track 1.mp3" of another: the DJ's BPM and key would have gone
    to another record. Without a size (Traktor, Mixxx) the folder must agree too; with rekordbox's size, the
    name and the size are enough."""
    from livedj.library.relocate import Listed, match_by_name

    here = [("/home/dj/Music/Other CD/01 Track 1.mp3", 4000)]
    folder_differs = Listed("/Users/dj/Music/Some CD/01 Track 1.mp3", "traktor")
    found, why = match_by_name([folder_differs], here)
    assert found == {} and "in another folder" in why[folder_differs]
    same_size = Listed("/Users/dj/Music/Some CD/01 Track 1.mp3", "rekordbox", 4000)
    found, why = match_by_name([same_size], here)
    assert found == {same_size: here[0][0]} and why == {}
    folder_agrees = Listed("C:/Music/OTHER CD/01 Track 1.mp3", "traktor")
    assert match_by_name([folder_agrees], here)[0] == {folder_agrees: here[0][0]}
