"""More of what the DJ hands livedj from other programs, read as a hostile tester would write it: a path
with a NUL, an XML file declaring an encoding nobody knows, a Mixxx database whose columns hold numbers
or BLOBs, a Windows M3U, livedj's own exports read back. Each case once ended in a traceback or lost
entries (see test_hostile_imports.py for the first round).

Real files on disk, the real readers, and the command line's own code run in this process (generated
audio, the `features` encoder).
"""
from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
import soundfile as sf

from faults_common import XML_HEAD, has_traceback, one_line, run_here

pytestmark = pytest.mark.faults

SR = 22050


@pytest.fixture(scope="module", name="library")
def library_fixture(tmp_path_factory):
    """Two WAV files without tags and their index, built once."""
    from livedj.synth import DEMO_TRACKS, render_track

    root = tmp_path_factory.mktemp("imports2")
    (root / "lib").mkdir()
    for i in range(2):
        sf.write(root / "lib" / f"t{i}.wav", render_track(DEMO_TRACKS[i], duration=6.0, sample_rate=SR), SR)
    config = root / "config.toml"
    config.write_text('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n'
                      f'[history]\npath = "{root / "history.sqlite"}"\n')
    code, _, err = run_here(["index", str(root / "lib"), "--config", str(config), "--index", str(root / "index"),
                             "--jobs", "1"])
    assert code == 0, err
    return root, config


def _index(library, tmp_path, *args) -> tuple[int, str, str, Path]:
    root, config = library
    index_dir = tmp_path / "index"
    shutil.copytree(root / "index", index_dir)
    code, out, err = run_here(["index", *map(str, args), "--config", str(config), "--index", str(index_dir),
                               "--jobs", "1"])
    return code, out, err, index_dir


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
    code, out, err, _ = _index(library, tmp_path, "--from-rekordbox", xml, "--playlists", m3u)
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
        code, out, err, _ = _index(library, tmp_path / flag, flag, path)
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
    code, out, err, _ = _index(library, tmp_path, "--from-mixxx", db_path)
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
    code, out, err, _ = _index(library, tmp_path, "--playlists", m3u, "--map-path", f"C:/Music={root / 'lib'}")
    assert code == 0 and not has_traceback(err), err
    assert "lists: 1 list, 2 entries, 2 in the library" in out + err, out + err


# -- livedj's own exports read back -------------------------------------------------------------------------
def test_an_exported_m3u_keeps_a_backslash_in_a_name(library, tmp_path):
    """A Linux/macOS file name may hold a backslash; the M3U readers take one for Windows' separator, so
    "back\\slash.wav" came back as "back/slash.wav" (another file). It is written as a file: URL (%5C)."""
    from livedj.library.exports import export_m3u
    from livedj.library.history import Play
    from livedj.library.importers.playlists import read_m3u

    root, _ = library
    path = tmp_path / "back\\slash.wav"
    shutil.copy(root / "lib" / "t0.wav", path)
    plays = [Play(1, 1, 0.0, str(path), "", "", "", None, None, None, "manual", None)]
    for relative in (False, True):
        out = tmp_path / f"set{relative:d}.m3u"
        export_m3u(plays, out, relative=relative)
        (playlist,), problems = read_m3u(out)
        assert playlist.paths == (str(path),) and not problems, playlist.paths


@pytest.mark.parametrize("suffix", [".m3u", ".csv", ".xml"])
def test_a_set_exported_by_history_is_learned_back_by_playlists(library, tmp_path, suffix):
    """`livedj history --export set.csv` (or .xml) then `livedj index --playlists set.csv`: the CSV and the
    rekordbox XML were read as M3U, every line of text a "path" (none in the library, learned as a list).
    Names with &<>"', a newline and bytes that are not UTF-8 come back as they were exported."""
    from livedj.library.history import History
    from livedj.library.importers.listfiles import read_m3u_tree

    root, config = library
    music = tmp_path / "music"
    music.mkdir()
    names = ["a&b<c>\"d'e.wav", "new\nline.wav", os.fsdecode(b"caf\xe9.wav")]
    for i, name in enumerate(names):
        shutil.copy(root / "lib" / f"t{i % 2}.wav", music / name)
    history = History(tmp_path / "history.sqlite")
    session = history.start_session("Friday", at=1_700_000_000.0)
    for i, name in enumerate(names):
        history.log_play(session, str(music / name), title=f"T&<{i}>", artist="A\"'", source="manual",
                         at=1_700_000_000.0 + i)
    history.close()
    cfg = tmp_path / "config.toml"
    cfg.write_text(config.read_text().replace(str(root / "history.sqlite"), str(tmp_path / "history.sqlite")))
    out = tmp_path / f"set{suffix}"
    code, _, err = run_here(["history", "--export", str(out), "--config", str(cfg), "--index", str(root / "index")])
    assert code == 0, err

    (played,), problems = read_m3u_tree(out)
    assert played.paths == tuple(str(music / n) for n in names) and not problems, (played, problems)
    index_dir = tmp_path / "index"
    shutil.copytree(root / "index", index_dir)
    code, text, err = run_here(["index", str(music), "--playlists", str(out), "--config", str(cfg),
                                "--index", str(index_dir), "--jobs", "1"])
    assert code == 0 and not has_traceback(err), err
    assert "lists: 1 list, 3 entries, 3 in the library" in text + err, text + err


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
        code, out, err, _ = _index(library, tmp_path / bad.stem, "--playlists", bad)
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
    code, out, err, index_dir = _index(library, tmp_path, "--playlists", good)
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


def test_exports_write_no_bpm_no_software_reads_and_a_playlist_name_xml_can_hold(tmp_path):
    """A set log's BPM of -5 or 100000 (a Mixxx database's garbage, logged as Mixxx gave it) was written as
    it was: rekordbox and the CSV got "-5.00"; a playlist name with a control character made an XML file
    no reader (livedj's own included) could parse."""
    import csv

    from livedj.library.exports import export_csv, export_rekordbox_xml
    from livedj.library.history import Play
    from livedj.library.importers import read_rekordbox_xml
    from livedj.library.importers.playlists import read_rekordbox_playlists

    plays = [Play(i, 1, 0.0, f"/m/{i}.mp3", "t", "a", "", None, bpm, None, "manual", None)
             for i, bpm in enumerate((-5.0, 100000.0, 126.0))]
    export_csv(plays, tmp_path / "set.csv")
    with open(tmp_path / "set.csv", encoding="utf-8-sig", newline="") as f:
        assert [row["bpm"] for row in csv.DictReader(f)] == ["", "", "126.00"]
    export_rekordbox_xml(plays, tmp_path / "set.xml", "Friday\x01 night\n")
    tracks, problems = read_rekordbox_xml(tmp_path / "set.xml")
    assert [t.bpm for t in tracks] == [None, None, 126.0] and not problems, problems
    (playlist,), _ = read_rekordbox_playlists(tmp_path / "set.xml")
    assert playlist.name == "Friday\ufffd night" and len(playlist.paths) == 3


def test_a_dj_library_without_tracks_is_said_as_such(library, tmp_path):
    """A valid collection with no track (an empty rekordbox export, a new Mixxx database) was answered "no DJ
    library imported": the DJ did import one."""
    xml = tmp_path / "empty.xml"
    xml.write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION Entries="0"/></DJ_PLAYLISTS>')
    code, out, err, _ = _index(library, tmp_path, "--from-rekordbox", xml)
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


def test_a_suggested_chain_exported_as_csv_reads_back_as_a_playlist_not_a_played_set(tmp_path):
    """`livedj playlist SEED -o chain.csv` wrote every row at "1970-01-01T00:00:00" (time 0.0), and reading
    the CSV back took the chain livedj suggested for a set the DJ played (the strongest evidence)."""
    import csv

    from livedj.commands.playlist import write_playlist
    from livedj.library.importers.listfiles import read_m3u_tree
    from livedj.library.store import Track

    tracks = {i: Track(id=i, path=f"/m/{i}.mp3", title=f"t{i}", artist="a", album="", duration=300.0, bpm=124.0,
                       bpm_source="tags", key=21, key_source="tags") for i in (1, 2)}
    out = tmp_path / "chain.csv"
    write_playlist([1, 2], tracks, str(out))
    with open(out, encoding="utf-8-sig", newline="") as f:
        assert [row["time"] for row in csv.DictReader(f)] == ["", ""]
    (chain,), problems = read_m3u_tree(out)
    assert chain.kind == "playlist" and chain.paths == ("/m/1.mp3", "/m/2.mp3") and not problems


def test_a_csv_export_of_tags_with_lone_surrogates(tmp_path):
    """A title with a lone surrogate (a tag or a name decoded badly upstream) made export_csv raise
    UnicodeEncodeError (used by `livedj playlist -o x.csv` on the store's tags); the path keeps its bytes."""
    from livedj.library.exports import export_csv
    from livedj.library.history import Play

    path = os.fsdecode(b"/m/caf\xe9.mp3")
    export_csv([Play(1, 1, None, path, "T\ud800x", "A\udcffz", "", None, None, None, "manual\ud800", None)],
               tmp_path / "set.csv")
    raw = (tmp_path / "set.csv").read_bytes()
    assert "T\ufffdx,".encode() in raw and "A\ufffdz".encode() in raw and b"/m/caf\xe9.mp3" in raw


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
        code, out, err, _ = _index(library, tmp_path / f"run-{Path(bad).stem}", "--playlists", bad)
        assert code == 1 and not has_traceback(err) and len(one_line(err)) == 1, err
        assert f"{bad}: {why}" in err, err


def test_mix_renders_a_set_exported_as_csv_or_xspf(tmp_path):
    """`livedj history --export set.csv` then `livedj mix --m3u set.csv`: every CSV line was taken for a path
    ("7 records could not be read"); an XSPF the same."""
    import contextlib
    import io

    from livedj.commands.mix import read_m3u

    (tmp_path / "set.csv").write_text("position,time,artist,title,album,bpm,key_camelot,key,source,confidence,path\n"
                                      "1,,a,t,,,,,manual,,/m/a.mp3\n2,,b,t,,,,,manual,,/m/b.mp3\n")
    (tmp_path / "set.xspf").write_text('<playlist xmlns="http://xspf.org/ns/0/"><trackList><track><location>'
                                       "file:///m/a.mp3</location></track></trackList></playlist>")
    (tmp_path / "two.xml").write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION/><PLAYLISTS><NODE '
                                      'Type="0" Name="ROOT"><NODE Type="1" Name="a"/><NODE Type="1" Name="b"/></NODE>'
                                      "</PLAYLISTS></DJ_PLAYLISTS>")
    with contextlib.redirect_stderr(io.StringIO()):
        assert read_m3u(str(tmp_path / "set.csv")) == ["/m/a.mp3", "/m/b.mp3"]
        assert read_m3u(str(tmp_path / "set.xspf")) == ["/m/a.mp3"]
        with pytest.raises(LookupError, match="two.xml: 2 playlists in it"):
            read_m3u(str(tmp_path / "two.xml"))


@pytest.mark.parametrize("kind", ["garbage", "empty", "no position"])
def test_appending_to_a_database_that_is_no_mixxx_one_is_a_value_error(tmp_path, kind):
    """`livedj suggest --mixxx-playlist NAME` with [mixxx] database naming another file: sqlite3's
    DatabaseError/OperationalError ("file is not a database", "no such table: Playlists") was a traceback
    (the command answers ValueError in one line); nothing is written."""
    from livedj.library.mixxx import append_to_playlist

    db_path = tmp_path / "mixxxdb.sqlite"
    if kind == "garbage":
        db_path.write_bytes(b"not a database at all" * 100)
    else:
        db = sqlite3.connect(db_path)
        db.execute("CREATE TABLE other (a)" if kind == "empty" else "CREATE TABLE Playlists (id INTEGER PRIMARY KEY, name, hidden)")
        db.commit()
        db.close()
    before = db_path.read_bytes()
    with pytest.raises(ValueError, match="not a Mixxx database livedj can write to"):
        append_to_playlist(db_path, "p", ["/m/a.mp3"], is_running=lambda _: False)
    assert db_path.read_bytes() == before


def test_a_collection_given_to_the_other_option_says_which_option_reads_it(library, tmp_path):
    """`--from-traktor collection.xml` (rekordbox's) said only "root element is <DJ_PLAYLISTS>, a Traktor NML
    file has <NML>": the DJ has to know which program writes which root."""
    xml = tmp_path / "collection.xml"
    xml.write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION/></DJ_PLAYLISTS>')
    nml = tmp_path / "collection.nml"
    nml.write_text(XML_HEAD + '<NML VERSION="19"><COLLECTION/></NML>')
    for flag, path, hint in (("--from-traktor", xml, "a rekordbox collection XML: give it with --from-rekordbox"),
                             ("--from-rekordbox", nml, "a Traktor NML file: give it with --from-traktor")):
        code, out, err, _ = _index(library, tmp_path / flag, flag, path)
        assert code == 1 and len(one_line(err)) == 1 and hint in err, err


def test_a_windows_path_in_the_set_log_reads_back_as_written(tmp_path, monkeypatch):
    """A play logged with another computer's path ("C:/Music/x.mp3", told over OSC by a Windows laptop):
    `--relative` made it "../../<current folder>/C:/Music/x.mp3", and the CSV read back joined it to the
    CSV's folder; both now read back as "C:/Music/x.mp3", for a path map to find."""
    from livedj.library.exports import export_csv, export_m3u
    from livedj.library.history import Play
    from livedj.library.importers.listfiles import read_m3u_tree

    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    plays = [Play(1, 1, None, "C:/Music/x.mp3", "t", "a", "", None, None, None, "osc", None)]
    export_m3u(plays, tmp_path / "out" / "set.m3u", relative=True)
    export_csv(plays, tmp_path / "out" / "set.csv")
    for name in ("set.m3u", "set.csv"):
        (back,), problems = read_m3u_tree(tmp_path / "out" / name)
        assert back.paths == ("C:/Music/x.mp3",) and not problems, (name, back.paths)
