"""rekordbox XML and Traktor NML importers, on fixtures written here from the documented formats."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from livedj.library.importers import (LibraryImportError, location_to_path, path_to_location,
                                      read_mixxx_library, read_rekordbox_xml, read_traktor_nml)
from livedj.library.importers.traktor import traktor_path

REKORDBOX_XML = """<?xml version="1.0" encoding="UTF-8"?>
<DJ_PLAYLISTS Version="1.0.0">
  <PRODUCT Name="rekordbox" Version="6.8.5" Company="AlphaTheta"/>
  <COLLECTION Entries="7">
    <TRACK TrackID="11" Name="Señor" Artist="Café del Mar Ensemble" Album="Chill &amp; Co" Kind="MP3 File"
           TotalTime="305" AverageBpm="122.00" Tonality="Am"
           Location="file://localhost/Users/dj/Music/Caf%C3%A9%20del%20Mar/Se%C3%B1or.mp3">
      <TEMPO Inizio="0.025" Bpm="122.00" Metro="4/4" Battito="1"/>
    </TRACK>
    <TRACK TrackID="12" Name="Win" Artist="W" TotalTime="200" AverageBpm="128.50" Tonality="8A"
           Location="file://localhost/C:/Music/Dance%20Floor/win.mp3"/>
    <TRACK TrackID="13" Name="Triple" Artist="T" AverageBpm="0.00" Tonality=""
           Location="file:///home/dj/Music/with%20space.flac"/>
    <TRACK TrackID="14" Name="Broken fields" TotalTime="abc" AverageBpm="fast" Tonality="H#"
           Location="file://localhost/home/dj/Music/bad.mp3"/>
    <TRACK TrackID="15" Name="No location"/>
    <TRACK TrackID="16" Name="Not a file URL" Location="http://example.com/x.mp3"/>
    <TRACK TrackID="17" Name="Raw bytes" Location="file://localhost/home/dj/%FF%FEodd.mp3"/>
  </COLLECTION>
  <PLAYLISTS>
    <NODE Type="0" Name="ROOT" Count="2">
      <NODE Type="0" Name="Gigs" Count="1">
        <NODE Name="Friday" Type="1" KeyType="0" Entries="3">
          <TRACK Key="11"/><TRACK Key="12"/><TRACK Key="99"/>
        </NODE>
      </NODE>
      <NODE Name="By location" Type="1" KeyType="1" Entries="1">
        <TRACK Key="file://localhost/Users/dj/Music/Caf%C3%A9%20del%20Mar/Se%C3%B1or.mp3"/>
      </NODE>
    </NODE>
  </PLAYLISTS>
</DJ_PLAYLISTS>
"""


def test_rekordbox_collection(tmp_path):
    f = tmp_path / "rekordbox.xml"
    f.write_text(REKORDBOX_XML, encoding="utf-8")
    tracks, problems = read_rekordbox_xml(f)
    by = {t.title: t for t in tracks}
    assert list(by) == ["Señor", "Win", "Triple", "Broken fields", "Raw bytes"]
    a = by["Señor"]
    assert a.path == "/Users/dj/Music/Café del Mar/Señor.mp3"  # file need not exist
    assert (a.artist, a.album, a.duration, a.bpm, a.key, a.source) == (
        "Café del Mar Ensemble", "Chill & Co", 305.0, 122.0, 21, "rekordbox")
    assert a.crates == ("Gigs/Friday", "By location")
    w = by["Win"]
    assert w.path == "C:/Music/Dance Floor/win.mp3" and w.key == 21 and w.bpm == 128.5  # Camelot 8A
    assert w.crates == ("Gigs/Friday",)
    t = by["Triple"]
    assert t.path == "/home/dj/Music/with space.flac" and t.bpm is None and t.key is None and t.duration is None
    b = by["Broken fields"]
    assert b.path == "/home/dj/Music/bad.mp3" and (b.bpm, b.key, b.duration) == (None, None, None)
    assert os.fsencode(by["Raw bytes"].path) == b"/home/dj/\xff\xfeodd.mp3"
    t14 = " ".join(y for w, y in problems if w.endswith("TRACK 14"))
    assert "AverageBpm='fast'" in t14 and "Tonality='H#'" in t14 and "TotalTime='abc'" in t14
    why = {w.split(": ", 1)[1]: y for w, y in problems}
    assert "no Location" in why["TRACK 15"] and "not a file: URL" in why["TRACK 16"]
    assert any("Key='99'" in y for w, y in problems if "Friday" in w)
    assert all(str(f) in w for w, _ in problems)
    assert len(problems) == 6


REKORDBOX_STREAMING_XML = """<?xml version="1.0" encoding="UTF-8"?>
<DJ_PLAYLISTS Version="1.0.0">
  <COLLECTION Entries="5">
    <TRACK TrackID="1" Name="Local" Location="file://localhost/Users/dj/Music/local.mp3"/>
    <TRACK TrackID="2" Name="Cloud" AverageBpm="126.00" Location="file://localhostsoundcloud:tracks:12345"/>
    <TRACK TrackID="3" Name="Cloud 2" Location="file://localhostsoundcloud:tracks:777"/>
    <TRACK TrackID="4" Name="" Location="file://localhostspotify:track:4uLU6hMCjMI75M1A2tKUQC"/>
    <TRACK TrackID="5" Name="Bare" Location="tidal:tracks:9"/>
  </COLLECTION>
  <PLAYLISTS>
    <NODE Type="0" Name="ROOT" Count="2">
      <NODE Name="Mixed" Type="1" KeyType="0" Entries="3"><TRACK Key="1"/><TRACK Key="2"/><TRACK Key="4"/></NODE>
      <NODE Name="By location" Type="1" KeyType="1" Entries="1">
        <TRACK Key="file://localhostsoundcloud:tracks:777"/>
      </NODE>
    </NODE>
  </PLAYLISTS>
</DJ_PLAYLISTS>
"""


def test_rekordbox_streaming_tracks_are_skipped_and_counted_apart(tmp_path):
    """SoundCloud/Spotify/TIDAL tracks in the collection are no files: not imported (the indexer
    would report each as a missing file), not listed one by one, counted in one entry."""
    f = tmp_path / "rekordbox.xml"
    f.write_text(REKORDBOX_STREAMING_XML, encoding="utf-8")
    tracks, problems = read_rekordbox_xml(f)
    assert [(t.title, t.path, t.crates) for t in tracks] == [("Local", "/Users/dj/Music/local.mp3", ("Mixed",))]
    assert problems == [(str(f), "4 streaming tracks (soundcloud 2, spotify 1, tidal 1): no file to analyse; "
                                 "skipped")]  # and no "not in the COLLECTION" for the playlists' references


@pytest.mark.parametrize("location, service", [
    ("file://localhostsoundcloud:tracks:12345", "soundcloud"), ("FILE://localhostTIDAL:track:9", "tidal"),
    ("beatport:track:1", "beatport"), ("file://localhost/Users/dj/a.mp3", None), ("file:///x.mp3", None),
    ("file://localhost/C:/Music/x.mp3", None), ("file://nas/share/x.mp3", None), ("http://example.com/x", None),
])
def test_streaming_locations(location, service):
    from livedj.library.importers.rekordbox import streaming_service

    assert streaming_service(location) == service


@pytest.mark.parametrize("location, path", [
    ("file://localhost/Users/dj/a%20b.mp3", "/Users/dj/a b.mp3"),
    ("file:///Users/dj/a%20b.mp3", "/Users/dj/a b.mp3"),
    ("FILE://localhost/D:/Música/x.mp3", "D:/Música/x.mp3"),
    ("file://localhost/C:/Music/%E2%99%AB.mp3", "C:/Music/♫.mp3"),
    ("file://nas/share/x.mp3", "//nas/share/x.mp3"),
])
def test_rekordbox_locations(location, path):
    assert location_to_path(location) == path


@pytest.mark.parametrize("path", ["/Users/dj/Café del Mar/Señor #1 (50%).mp3", "C:/Music/a&b.mp3",
                                  os.fsdecode(b"/m/\xff.mp3")])
def test_rekordbox_location_round_trip(path):
    loc = path_to_location(path)
    assert loc.startswith("file://localhost/") and " " not in loc and "#" not in loc
    assert location_to_path(loc) == path


def test_bad_files_give_one_line_errors(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text(REKORDBOX_XML[:600], encoding="utf-8")
    with pytest.raises(LibraryImportError) as e:
        read_rekordbox_xml(broken)
    assert str(broken) in str(e.value) and "not well-formed XML at line" in str(e.value)
    assert "\n" not in str(e.value)
    with pytest.raises(LibraryImportError, match="no such file"):
        read_rekordbox_xml(tmp_path / "absent.xml")
    with pytest.raises(LibraryImportError, match="root element is <NML>"):
        read_rekordbox_xml(_write(tmp_path / "c.nml", TRAKTOR_NML))
    with pytest.raises(LibraryImportError, match="broken.xml"):
        read_traktor_nml(broken)


def test_an_nml_without_a_collection_is_named_like_rekordbox(tmp_path):
    """A bare <NML/> said "0 tracks", then "no DJ library imported"; rekordbox names what is missing."""
    with pytest.raises(LibraryImportError) as e:
        read_traktor_nml(_write(tmp_path / "bare.nml", "<NML VERSION='19'/>"))
    assert str(e.value) == (f"{tmp_path / 'bare.nml'}: no <COLLECTION> element "
                            "(pass Traktor's collection.nml or an exported playlist)")
    with pytest.raises(LibraryImportError, match=r"bare\.xml: no <COLLECTION> element"):
        read_rekordbox_xml(_write(tmp_path / "bare.xml", "<DJ_PLAYLISTS Version='1.0.0'/>"))
    empty = _write(tmp_path / "empty.nml", "<NML VERSION='19'><COLLECTION ENTRIES='0'/></NML>")
    assert read_traktor_nml(empty) == ([], [])  # an empty collection is a collection
    run = subprocess.run([sys.executable, "-m", "livedj", "index", "--from-traktor", str(tmp_path / "bare.nml"),
                          "--index", str(tmp_path / "index")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.splitlines() == [f"livedj index: {tmp_path / 'bare.nml'}: no <COLLECTION> element "
                                       "(pass Traktor's collection.nml or an exported playlist)"]


TRAKTOR_NML = """<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<NML VERSION="19"><HEAD COMPANY="www.native-instruments.com" PROGRAM="Traktor"></HEAD>
<MUSICFOLDERS></MUSICFOLDERS>
<COLLECTION ENTRIES="6">
<ENTRY MODIFIED_DATE="2024/5/1" TITLE="Señor" ARTIST="Café del Mar Ensemble">
<LOCATION DIR="/:Users/:dj/:Music/:Café del Mar/:" FILE="Señor.mp3" VOLUME="Macintosh HD" VOLUMEID="abc"></LOCATION>
<ALBUM TRACK="1" TITLE="Ibiza"></ALBUM>
<INFO BITRATE="320000" KEY="1m" PLAYTIME="305" PLAYTIME_FLOAT="304.613"></INFO>
<TEMPO BPM="122.000046" BPM_QUALITY="100.000000"></TEMPO>
<MUSICAL_KEY VALUE="21"></MUSICAL_KEY>
</ENTRY>
<ENTRY TITLE="Windows" ARTIST="W">
<LOCATION DIR="/:Music/:Dance Floor/:" FILE="win.mp3" VOLUME="C:" VOLUMEID="C:"></LOCATION>
<INFO PLAYTIME="200"></INFO><TEMPO BPM="128"></TEMPO><MUSICAL_KEY VALUE="0"></MUSICAL_KEY>
</ENTRY>
<ENTRY TITLE="Text key only" ARTIST="K">
<LOCATION DIR="/:Users/:dj/:" FILE="k.mp3" VOLUME="Macintosh HD"></LOCATION>
<INFO KEY="Ebm"></INFO>
</ENTRY>
<ENTRY TITLE="Disagree" ARTIST="D">
<LOCATION DIR="/:Users/:dj/:" FILE="d.mp3" VOLUME="Macintosh HD"></LOCATION>
<INFO KEY="Am"></INFO><MUSICAL_KEY VALUE="0"></MUSICAL_KEY>
</ENTRY>
<ENTRY TITLE="Bad values" ARTIST="B">
<LOCATION DIR="/:Users/:dj/:" FILE="b.mp3" VOLUME="Macintosh HD"></LOCATION>
<INFO PLAYTIME="-3"></INFO><TEMPO BPM="nan"></TEMPO><MUSICAL_KEY VALUE="31"></MUSICAL_KEY>
</ENTRY>
<ENTRY TITLE="No location"></ENTRY>
</COLLECTION>
<PLAYLISTS><NODE TYPE="FOLDER" NAME="$ROOT"><SUBNODES COUNT="2">
<NODE TYPE="FOLDER" NAME="Gigs"><SUBNODES COUNT="1">
<NODE TYPE="PLAYLIST" NAME="Friday"><PLAYLIST ENTRIES="3" TYPE="LIST" UUID="x">
<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="Macintosh HD/:Users/:dj/:Music/:Café del Mar/:Señor.mp3"></PRIMARYKEY></ENTRY>
<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="C:/:Music/:Dance Floor/:win.mp3"></PRIMARYKEY></ENTRY>
<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="Macintosh HD/:nowhere.mp3"></PRIMARYKEY></ENTRY>
</PLAYLIST></NODE></SUBNODES></NODE>
<NODE TYPE="PLAYLIST" NAME="_RECORDINGS"><PLAYLIST ENTRIES="1" TYPE="LIST">
<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="Macintosh HD/:Users/:dj/:k.mp3"></PRIMARYKEY></ENTRY>
</PLAYLIST></NODE>
</SUBNODES></NODE></PLAYLISTS>
</NML>
"""


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_traktor_collection(tmp_path):
    tracks, problems = read_traktor_nml(_write(tmp_path / "collection.nml", TRAKTOR_NML))
    by = {t.title: t for t in tracks}
    assert list(by) == ["Señor", "Windows", "Text key only", "Disagree", "Bad values"]
    a = by["Señor"]
    assert a.path == "/Users/dj/Music/Café del Mar/Señor.mp3"  # the startup disk: DIR + FILE
    assert (a.artist, a.album, a.duration, a.bpm, a.key, a.source, a.crates) == (
        "Café del Mar Ensemble", "Ibiza", 304.613, 122.000046, 21, "traktor", ("Gigs/Friday",))
    w = by["Windows"]
    assert w.path == "C:/Music/Dance Floor/win.mp3" and w.key == 0 and w.duration == 200.0
    assert by["Text key only"].key == 15 and by["Text key only"].crates == ()  # Eb minor; _RECORDINGS ignored
    assert by["Disagree"].key == 0
    bad = by["Bad values"]
    assert (bad.bpm, bad.key, bad.duration) == (None, None, None)
    text = "\n".join(f"{w} | {y}" for w, y in problems)
    assert "disagrees with INFO KEY='Am'" in text and "MUSICAL_KEY VALUE='31'" in text
    assert "TEMPO BPM='nan'" in text and "PLAYTIME" in text and "no LOCATION" in text
    assert "nowhere.mp3" in text
    assert len(problems) == 6


def test_traktor_key_values_follow_livedj_order():
    # One ENTRY per MUSICAL_KEY value: 0-11 must come back as C..B major, 12-23 as C..B minor.
    entries = "".join(f'<ENTRY TITLE="{v}"><LOCATION DIR="/:" FILE="{v}.mp3" VOLUME="C:"/>'
                      f'<MUSICAL_KEY VALUE="{v}"/></ENTRY>' for v in range(24))
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        f = _write(__import__("pathlib").Path(d) / "k.nml", f"<NML VERSION='19'><COLLECTION>{entries}</COLLECTION></NML>")
        tracks, problems = read_traktor_nml(f)
    from livedj.dsp.tonal import camelot

    assert [t.key for t in tracks] == list(range(24)) and problems == []
    assert camelot(tracks[0].key) == "8B" and camelot(tracks[21].key) == "8A"  # C major, A minor


def test_traktor_paths(tmp_path):
    assert traktor_path("Macintosh HD", "/:Users/:dj/:", "x.mp3") == "/Users/dj/x.mp3"
    assert traktor_path("D:", "/:Music/:", "x.mp3") == "D:/Music/x.mp3"
    assert traktor_path("DJ USB", "/:Music/:", "x.mp3", {"DJ USB": str(tmp_path)}) == f"{tmp_path}/Music/x.mp3"
    assert traktor_path("", "", "x.mp3") == "/x.mp3"


def test_traktor_volume_not_mounted_keeps_its_volume_in_the_path(tmp_path):
    """A track on an external drive that is not plugged in is stored where the drive will be
    mounted (not under "/" where it would never match); once mounted, the same path is found."""
    usb = tmp_path / "media" / "dj" / "DJ USB"  # this system's place for the volume "DJ USB"
    roots = [str(usb), str(tmp_path / "mnt" / "DJ USB")]
    absent = traktor_path("DJ USB", "/:Music/:House/:", "x.mp3", roots=roots)
    assert absent == f"{usb}/Music/House/x.mp3"
    (usb / "Music" / "House").mkdir(parents=True)
    (usb / "Music" / "House" / "x.mp3").write_bytes(b"")
    assert traktor_path("DJ USB", "/:Music/:House/:", "x.mp3", roots=roots) == absent  # plugged in: same path
    elsewhere = tmp_path / "mnt" / "DJ USB" / "Music"
    elsewhere.mkdir(parents=True)
    (elsewhere / "y.mp3").write_bytes(b"")
    assert traktor_path("DJ USB", "/:Music/:", "y.mp3", roots=roots) == f"{elsewhere}/y.mp3"  # mounted there
    # the startup disk: its /Volumes entry links to "/", or a home folder path
    (tmp_path / "Volumes").mkdir()
    (tmp_path / "Volumes" / "Macintosh HD").symlink_to("/")
    startup = [str(tmp_path / "Volumes" / "Macintosh HD")]
    assert traktor_path("Macintosh HD", "/:Music/:", "z.mp3", roots=startup) == "/Music/z.mp3"
    assert traktor_path("Macintosh HD", "/:Users/:dj/:", "z.mp3", roots=[str(usb)]) == "/Users/dj/z.mp3"


def test_traktor_collection_on_an_unmounted_volume(tmp_path):
    nml = tmp_path / "collection.nml"
    nml.write_text('''<?xml version="1.0" encoding="UTF-8"?>
<NML VERSION="19"><COLLECTION ENTRIES="1">
<ENTRY TITLE="Gone Drive"><LOCATION DIR="/:Sets/:" FILE="a.mp3" VOLUME="livedj-test-absent-volume"/></ENTRY>
</COLLECTION></NML>''', encoding="utf-8")
    (track,), problems = read_traktor_nml(nml)
    assert track.path.endswith("/livedj-test-absent-volume/Sets/a.mp3") and track.path != "/Sets/a.mp3"


def test_index_of_a_collection_whose_files_are_all_missing(tmp_path):
    """Every file gone: the report names it and the context step learns nothing (it raised a TypeError
    from numpy on an empty float array: a traceback after the report)."""
    nml = _write(tmp_path / "one.nml", "<NML VERSION='19'><COLLECTION ENTRIES='1'><ENTRY TITLE='x'><LOCATION "
                                        f"DIR='{tmp_path}/:gone/:' FILE='a.mp3' VOLUME=''/></ENTRY></COLLECTION></NML>")
    run = subprocess.run([sys.executable, "-m", "livedj", "index", "--from-traktor", str(nml),
                          "--index", str(tmp_path / "index")], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in run.stderr and run.returncode == 0, run.stderr
    assert "a.mp3: in the traktor library, but the file is missing" in run.stdout


def test_mixxx_row_whose_location_is_not_in_track_locations_is_listed(tmp_path):
    """A library row whose location id names no track_locations row was dropped by the JOIN, unlisted."""
    from test_mixxx import add_track, make_mixxx_db  # Mixxx's own DDL

    path = tmp_path / "mixxxdb.sqlite"
    db = make_mixxx_db(path)
    add_track(db, str(tmp_path / "gone.mp3"), title="Kept")
    db.execute("INSERT INTO library (title, location) VALUES ('Dangling', 999)")
    db.execute("INSERT INTO library (title, location) VALUES ('No location', NULL)")
    db.execute("INSERT INTO library (title, location, mixxx_deleted) VALUES ('Deleted', 998, 1)")
    db.close()
    tracks, problems = read_mixxx_library(path)
    assert [t.title for t in tracks] == ["Kept"]
    assert problems == [(f"{path}: library id 2", "location id 999 is not in track_locations; skipped"),
                        (f"{path}: library id 3", "no location id; skipped")]  # deleted in Mixxx: not listed
    run = subprocess.run([sys.executable, "-m", "livedj", "index", "--from-mixxx", str(path),
                          "--index", str(tmp_path / "index")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert f"{path}: library id 2: location id 999 is not in track_locations; skipped" in run.stdout
