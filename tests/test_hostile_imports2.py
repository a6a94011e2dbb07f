"""More of what the DJ hands livedj from other programs, read as a hostile tester would write it: a path
with a NUL, an XML file declaring an encoding nobody knows, a Mixxx database whose columns hold numbers
or BLOBs, a Windows M3U, XSPF, devices and audio files given as playlists. Each case once ended in a
traceback or lost entries (see test_hostile_imports.py for the first round, test_hostile_exports.py for
livedj's own exports read back).

Real files on disk, the real readers, and the command line's own code run in this process (generated
audio, the `features` encoder).
"""
from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from faults_common import XML_HEAD, has_traceback, index_a_copy, one_line, run_here, untagged_library

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module", name="library")
def library_fixture(tmp_path_factory):
    """Two WAV files without tags and their index, built once."""
    return untagged_library(tmp_path_factory, "imports2", 2)


# -- paths no file can have -------------------------------------------------------------------------------


def test_a_path_with_a_nul_is_skipped_and_said(library, tmp_path):
    """rekordbox's Location "file://localhost/m/a%00b.mp3", an M3U line or a Mixxx location with a NUL: os.stat
    raised "ValueError: embedded null byte" (a traceback); the entry is skipped and said, the others kept."""
    root, _ = library
    good = root / "lib" / "t0.wav"
    xml = tmp_path / "rb.xml"
    xml.write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION>'
                   '<TRACK TrackID="1" Location="file://localhost/m/a%00b.mp3"/>'
                   f'<TRACK TrackID="2" Location="file://localhost{good}" AverageBpm="125"/></COLLECTION>'
                   '<PLAYLISTS><NODE Type="0" Name="ROOT"><NODE Type="1" Name="p" KeyType="0">'
                   '<TRACK Key="1"/><TRACK Key="2"/></NODE></NODE></PLAYLISTS></DJ_PLAYLISTS>')
    m3u = tmp_path / "set.m3u"
    m3u.write_bytes(b"#EXTM3U\n/m/a\x00b.mp3\n" + bytes(good) + b"\n")
    code, out, err, _ = index_a_copy(library, tmp_path, "--from-rekordbox", xml, "--playlists", m3u)
    assert code == 0 and not has_traceback(err), err
    said = out + err
    assert "TRACK 1: Location: a NUL character in the path; skipped" in said, said
    assert "set.m3u: line 2: a NUL character in the path; skipped" in said and "lists: 2 lists" in said

    from livedj.library.importers.mixxxdb import row_to_track

    problems = []
    assert row_to_track((1, None, None, None, None, None, None, None, "/m/a\x00b.mp3"), "db: id 1", problems) is None
    assert problems == [("db: id 1", "a NUL character in the path; skipped")]


# -- XML the parser cannot even start on -----------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["x-bogus", "UTF-7", "UTF-16"])
def test_an_xml_file_in_an_encoding_the_parser_cannot_read_is_one_line(library, tmp_path, encoding):
    """An encoding declaration expat cannot use (unknown, or a multi-byte one it does not have) was a
    LookupError/ValueError traceback; UTF-16 (with its BOM) is read."""
    xml = tmp_path / "rb.xml"
    body = f'<?xml version="1.0" encoding="{encoding}"?><DJ_PLAYLISTS Version="1.0.0"><COLLECTION/></DJ_PLAYLISTS>'
    xml.write_bytes(body.encode("utf-16" if encoding == "UTF-16" else "ascii"))
    nml = tmp_path / "c.nml"
    nml.write_bytes(body.replace("DJ_PLAYLISTS", "NML").encode("utf-16" if encoding == "UTF-16" else "ascii"))
    for flag, path in (("--from-rekordbox", xml), ("--from-traktor", nml)):
        code, out, err, _ = index_a_copy(library, tmp_path / flag, flag, path)
        assert not has_traceback(err), err
        if encoding == "UTF-16":
            assert f"{path}: 0 tracks" in err, err
            continue
        assert code == 1 and len(one_line(err)) == 1 and str(path) in err, err
        assert f"encoding {encoding!r}" in err, err


# -- a Mixxx database whose columns hold what its writer put there -----------------------------------------


def test_mixxx_values_of_another_type_are_read_or_skipped(library, tmp_path):
    """SQLite keeps any value in any column: a location stored as a number was a TypeError traceback (os.fsdecode);
    tags and crate names stored as BLOBs came back as "b'T\\xe9'" and as bytes."""
    root, _ = library
    db_path = tmp_path / "mixxxdb.sqlite"
    db = sqlite3.connect(db_path)
    db.executescript("""
        CREATE TABLE library (id INTEGER PRIMARY KEY, artist, title, album, duration, bpm, key, location, mixxx_deleted);
        CREATE TABLE track_locations (id INTEGER PRIMARY KEY, location, filename, directory, fs_deleted);
        CREATE TABLE crates (id INTEGER PRIMARY KEY, name);
        CREATE TABLE crate_tracks (crate_id, track_id);""")
    db.execute("INSERT INTO library VALUES (1, ?, ?, 7, 6, 126, 'Am', 1, 0)", (b"\xffArtist", "Té".encode()))
    db.execute("INSERT INTO library VALUES (2, 'a', 't', '', 6, 127, '', 2, 0)")
    db.execute("INSERT INTO track_locations VALUES (1, ?, '', '', 0)", (str(root / "lib" / "t0.wav"),))
    db.execute("INSERT INTO track_locations VALUES (2, 12345, '', '', 0)")
    db.executemany("INSERT INTO crates VALUES (?, ?)", [(1, "Crâte".encode("latin-1")), (2, 5)])
    db.executemany("INSERT INTO crate_tracks VALUES (?, ?)", [(1, 1), (2, 1)])
    db.commit()
    db.close()
    code, out, err, _ = index_a_copy(library, tmp_path, "--from-mixxx", db_path)
    assert code == 0 and not has_traceback(err), err
    assert "library id 2: location 12345 is not a path; skipped" in out + err

    from livedj.library.importers import read_mixxx_library

    (track,), problems = read_mixxx_library(db_path)
    assert (track.artist, track.title, track.album, track.bpm) == ("\ufffdArtist", "Té", "7", 126.0)
    assert track.crates == ("5", "Cr\ufffdte") and len(problems) == 1


# -- playlists written on another computer ------------------------------------------------------------------


def test_a_windows_m3u_keeps_its_drive_paths_for_the_path_map(library, tmp_path):
    r"""An M3U made on Windows ("C:\Music\t0.wav") was read as a path relative to the playlist's folder
    ("/home/dj/lists/C:/Music/t0.wav"): no --map-path C:/Music=... could ever find it."""
    root, _ = library
    m3u = tmp_path / "win.m3u"
    m3u.write_bytes("#EXTM3U\r\nC:\\Music\\t0.wav\r\nc:/Music/t1.wav\r\n".encode("utf-16"))

    from livedj.library.importers.playlists import read_m3u

    (playlist,), problems = read_m3u(m3u)
    assert playlist.paths == ("C:/Music/t0.wav", "c:/Music/t1.wav") and not problems
    code, out, err, _ = index_a_copy(library, tmp_path, "--playlists", m3u, "--map-path", f"C:/Music={root / 'lib'}")
    assert code == 0 and not has_traceback(err), err
    assert "lists: 1 list, 2 entries, 2 in the library" in out + err, out + err


def test_xspf_and_other_files_given_as_playlists(library, tmp_path):
    """An XSPF playlist (VLC's) was read as M3U: its one line of XML a "path". It is read (file: URIs and
    relative ones, percent-encoded); another XML or a CSV that is not livedj's is refused in one line."""
    from livedj.library.importers.listfiles import read_m3u_tree

    root, _ = library
    lists = tmp_path / "lists"
    (lists / "sub").mkdir(parents=True)
    shutil.copy(root / "lib" / "t1.wav", lists / "sub" / "t 1.wav")
    (lists / "vlc.xspf").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><playlist version="1" xmlns="http://xspf.org/ns/0/">'
        f'<title>Warm &amp; up</title><trackList><track><location>file://{root / "lib" / "t0.wav"}</location></track>'
        '<track><location>sub/t%201.wav</location></track><track><location>http://radio/x</location></track>'
        '<track><title>no location</title></track></trackList></playlist>')
    (played,), problems = read_m3u_tree(lists)  # a folder: *.xspf are read with the M3U/PLS files
    assert played.name == "Warm & up" and played.kind == "playlist"
    assert played.paths == (str(root / "lib" / "t0.wav"), str(lists / "sub" / "t 1.wav"))
    assert [why for _, why in problems] == ["'http://radio/x' is not a local file; skipped", "no location; skipped"]

    other = tmp_path / "other.xml"
    other.write_text('<?xml version="1.0"?><rss><channel/></rss>')
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("position,time,artist,title,album,bpm,key_camelot,key,source,confidence,where\n1,,a,b,,,,,,,x\n")
    for bad, why in ((other, "root element <rss>: not a playlist livedj reads"), (sheet, "no 'path' column")):
        code, out, err, _ = index_a_copy(library, tmp_path / bad.stem, "--playlists", bad)
        assert code == 1 and not has_traceback(err) and len(one_line(err)) == 1, err
        assert f"{bad}: " in err and why in err, err


# -- what was learned before ------------------------------------------------------------------------------


def test_lists_that_name_nothing_of_the_library_keep_the_lists_learned_before(library, tmp_path):
    """`livedj index --from-rekordbox collection.xml` with the music drive not plugged in (or a collection
    from another computer): every entry missed the library, and the lists learned before were replaced by
    lists of nothing."""
    import json

    root, config = library
    good = tmp_path / "good.m3u"
    good.write_text(f"{root / 'lib' / 't0.wav'}\n{root / 'lib' / 't1.wav'}\n")
    gone = tmp_path / "gone.xml"
    gone.write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION>'
                    '<TRACK TrackID="1" Location="file://localhost/Volumes/USB/a.mp3"/></COLLECTION>'
                    '<PLAYLISTS><NODE Type="0" Name="ROOT"><NODE Type="1" Name="p" KeyType="0"><TRACK Key="1"/>'
                    '</NODE></NODE></PLAYLISTS></DJ_PLAYLISTS>')
    code, out, err, index_dir = index_a_copy(library, tmp_path, "--playlists", good)
    assert code == 0 and "lists: 1 list, 2 entries, 2 in the library" in out + err, out + err
    code, out, err = run_here(["index", "--from-rekordbox", str(gone), "--config", str(config), "--index",
                               str(index_dir), "--jobs", "1"])
    assert code == 0 and not has_traceback(err), err
    assert "no entry of these lists is in the library" in out + err and "the lists learned before are kept" in out + err
    saved = json.loads((index_dir / "sequences.json").read_text())["sequences"]
    assert [(s["name"], len(s["ids"])) for s in saved] == [("good", 2)]
    urls = tmp_path / "urls.m3u"  # lists without one entry of a file: the same
    urls.write_text("http://radio.example/stream\n")
    code, out, err = run_here(["index", "--playlists", str(urls), "--config", str(config), "--index",
                               str(index_dir), "--jobs", "1"])
    assert code == 0 and "the lists learned before are kept" in out + err, out + err
    assert json.loads((index_dir / "sequences.json").read_text())["sequences"] == saved


def test_a_dj_library_without_tracks_is_said_as_such(library, tmp_path):
    """A valid collection with no track (an empty rekordbox export, a new Mixxx database) was answered "no DJ
    library imported": the DJ did import one."""
    xml = tmp_path / "empty.xml"
    xml.write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION Entries="0"/></DJ_PLAYLISTS>')
    code, out, err, _ = index_a_copy(library, tmp_path, "--from-rekordbox", xml)
    assert code == 2 and not has_traceback(err), err
    assert "no DJ library imported" not in err and f"{xml} lists no track" in err, err


@pytest.mark.parametrize("location", ["file://localhost", "file://", "file:////", "file://localhost/C:",
                                      "file://localhost/C:/", "file://LOCALHOST"])
def test_a_location_that_names_no_file_is_said_so(location):
    """rekordbox Locations without a path were taken for files: "file://localhost" as the Windows share
    "//localhost", "file://" as "//", "file://localhost/C:" as the drive "C:"; each was then "missing"."""
    from livedj.library.importers import location_to_path

    with pytest.raises(ValueError, match="no path in URL"):
        location_to_path(location)


def test_traktors_history_folder_given_as_playlists_gives_its_sets(tmp_path):
    """Traktor writes each night as History/history_2024y01m05d_22h00m00s.nml; `--playlists History/` read the
    folder's M3U/PLS files only: every night was left out without a word."""
    from livedj.library.importers.listfiles import read_m3u_tree

    (tmp_path / "History").mkdir()
    (tmp_path / "History" / "history_2024y01m05d_22h00m00s.nml").write_text(
        XML_HEAD + '<NML VERSION="19"><COLLECTION ENTRIES="1"><ENTRY TITLE="a"><LOCATION DIR="/:m/:" FILE="a.mp3" '
        'VOLUME=""/></ENTRY></COLLECTION><PLAYLISTS><NODE TYPE="FOLDER" NAME="$ROOT"><SUBNODES COUNT="1">'
        '<NODE TYPE="PLAYLIST" NAME="HISTORY"><PLAYLIST ENTRIES="2" TYPE="LIST"><ENTRY><PRIMARYKEY TYPE="TRACK" '
        'KEY="/:m/:a.mp3"/></ENTRY><ENTRY><PRIMARYKEY TYPE="TRACK" KEY="/:m/:b.mp3"/></ENTRY></PLAYLIST></NODE>'
        '</SUBNODES></NODE></PLAYLISTS></NML>')
    (night,), problems = read_m3u_tree(tmp_path / "History")
    assert night.kind == "set" and night.paths == ("/m/a.mp3", "/m/b.mp3") and not problems, (night, problems)
    # Traktor's whole folder: its Backup/ copies of the collection are not read (each playlist counted 30 times)
    (tmp_path / "Backup" / "Collection").mkdir(parents=True)
    shutil.copy(tmp_path / "History" / "history_2024y01m05d_22h00m00s.nml",
                tmp_path / "Backup" / "Collection" / "collection_2024y01m05d.nml")
    (night,), problems = read_m3u_tree(tmp_path)
    assert night.kind == "set" and not problems


def test_a_device_an_audio_file_or_a_huge_file_given_as_a_playlist_is_one_line(library, tmp_path, monkeypatch):
    """`--playlists /dev/zero` read until memory ran out (a MemoryError traceback, or the machine swapping);
    an audio file given by mistake was read as an M3U, its bytes learned as "paths"."""
    from livedj.library.importers import playlists

    root, _ = library
    monkeypatch.setattr(playlists, "MAX_PLAYLIST_BYTES", 1 << 20)
    big = tmp_path / "big.csv"
    big.write_text("position,path\n" + "1,/m/a.mp3\n" * 200_000)
    for bad, why in (("/dev/zero", "larger than 1 MiB: not a playlist"), (big, "larger than 1 MiB: not a set"),
                     (root / "lib" / "t0.wav", "not a playlist (binary data)")):
        code, out, err, _ = index_a_copy(library, tmp_path / f"run-{Path(bad).stem}", "--playlists", bad)
        assert code == 1 and not has_traceback(err) and len(one_line(err)) == 1, err
        assert f"{bad}: {why}" in err, err


def test_a_collection_given_to_the_other_option_says_which_option_reads_it(library, tmp_path):
    """`--from-traktor collection.xml` (rekordbox's) said only "root element is <DJ_PLAYLISTS>, a Traktor NML
    file has <NML>": the DJ has to know which program writes which root."""
    xml = tmp_path / "collection.xml"
    xml.write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION/></DJ_PLAYLISTS>')
    nml = tmp_path / "collection.nml"
    nml.write_text(XML_HEAD + '<NML VERSION="19"><COLLECTION/></NML>')
    for flag, path, hint in (("--from-traktor", xml, "a rekordbox collection XML: give it with --from-rekordbox"),
                             ("--from-rekordbox", nml, "a Traktor NML file: give it with --from-traktor")):
        code, out, err, _ = index_a_copy(library, tmp_path / flag, flag, path)
        assert code == 1 and len(one_line(err)) == 1 and hint in err, err


def test_pls_keys_with_spaces_or_odd_digits(tmp_path):
    """A PLS key "File²" passed str.isdigit and int() raised ValueError (a traceback); "File2 = x" (spaces around
    the "=", as some writers put them) was dropped without a word."""
    from livedj.library.importers.playlists import read_m3u

    pls = tmp_path / "odd.pls"
    pls.write_text("[playlist]\nFile\u00b2=/m/sup.mp3\nFile2 = /m/b.mp3\nfile1=/m/a.mp3\nNumberOfEntries=9\n")
    (playlist,), problems = read_m3u(pls)
    assert playlist.paths == ("/m/a.mp3", "/m/b.mp3")
    assert problems == [(f"{pls}: line 2", "'File\u00b2' is not a FileN key; skipped")]


def test_a_mixxx_key_id_that_is_infinite_or_fractional_is_skipped(tmp_path):
    """SQLite keeps 1e999 as infinity: int() raised OverflowError (a traceback); 5.7 was taken as key 4."""
    from livedj.library.importers import read_mixxx_library

    db_path = tmp_path / "mixxxdb.sqlite"
    db = sqlite3.connect(db_path)
    db.executescript("""
        CREATE TABLE library (id INTEGER PRIMARY KEY, artist, title, album, duration, bpm, key, key_id, location);
        CREATE TABLE track_locations (id INTEGER PRIMARY KEY, location, filename, directory, fs_deleted);
        INSERT INTO library VALUES (1, 'a', 't', '', 6, 126, 'Am', 1e999, 1), (2, 'a', 't', '', 6, 126, '', 5.7, 2),
                                   (3, 'a', 't', '', 6, 126, '', 22.0, 3);
        INSERT INTO track_locations VALUES (1, '/m/1.mp3', '', '', 0), (2, '/m/2.mp3', '', '', 0), (3, '/m/3.mp3', '', '', 0);""")
    db.commit()
    db.close()
    tracks, problems = read_mixxx_library(db_path)
    assert [t.key for t in tracks] == [21, None, 21]  # the key text where key_id is unusable; 22.0 is key_id 22
    assert [why for _, why in problems] == ["key_id=inf is not 0-24; key skipped", "key_id=5.7 is not 0-24; key skipped"]


def test_an_entity_declaration_is_refused_whatever_expat_this_python_has(tmp_path):
    """An expat before 2.4.1 (Pythons built on an older system libexpat) has no amplification limit: the bomb
    was refused only because this expat is recent. Any <!ENTITY declaration is refused before a tree is built
    (no DJ software writes one), so that none is ever expanded; a collection given through a pipe still reads."""
    import threading

    from livedj.library.importers import LibraryImportError, read_rekordbox_xml
    from livedj.library.importers.listfiles import read_m3u_tree

    body = '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION><TRACK TrackID="1" Name="&x;" Location="file://localhost/m/a.mp3"/>' \
           "</COLLECTION></DJ_PLAYLISTS>"
    xml = tmp_path / "entity.xml"
    xml.write_text(XML_HEAD + '<!DOCTYPE DJ_PLAYLISTS [<!ENTITY x "harmless">]>' + body)
    xspf = tmp_path / "entity.xspf"
    xspf.write_text(XML_HEAD + '<!DOCTYPE playlist [<!ENTITY % p SYSTEM "/dev/zero"> %p;]><playlist/>')
    with pytest.raises(LibraryImportError, match=r"entity.xml: refused at line 2: it declares an entity \('x'\)"):
        read_rekordbox_xml(xml)
    with pytest.raises(LibraryImportError, match=r"entity.xspf: refused at line 2: it declares an external entity"):
        read_m3u_tree(xspf)

    fifo = tmp_path / "pipe.xml"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_text, args=(XML_HEAD + body.replace("&x;", "ok"),))
    writer.start()
    (track,), problems = read_rekordbox_xml(fifo)  # read once, checked and parsed from memory
    writer.join(10)
    assert track.path == "/m/a.mp3" and track.title == "ok" and not problems


def test_a_traktor_musical_key_that_is_fractional_is_skipped(tmp_path):
    """MUSICAL_KEY VALUE="1.5" was truncated to 1 (Db major) without a word; the INFO KEY is used instead."""
    from livedj.library.importers import read_traktor_nml

    nml = tmp_path / "c.nml"
    nml.write_text(XML_HEAD + '<NML VERSION="19"><COLLECTION><ENTRY TITLE="a"><LOCATION DIR="/:m/:" FILE="a.mp3"/>'
                   '<INFO KEY="Am"/><MUSICAL_KEY VALUE="1.5"/></ENTRY><ENTRY TITLE="b"><LOCATION DIR="/:m/:" '
                   'FILE="b.mp3"/><MUSICAL_KEY VALUE="21.0"/></ENTRY></COLLECTION></NML>')
    tracks, problems = read_traktor_nml(nml)
    assert [t.key for t in tracks] == [21, 21]
    assert [why for _, why in problems] == ["MUSICAL_KEY VALUE='1.5' is not 0-23; key skipped"]
