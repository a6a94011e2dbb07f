"""Set-log exports: M3U, CSV, rekordbox XML (read back with the rekordbox importer)."""
from __future__ import annotations

import csv
import io
import os
from datetime import datetime

import pytest

from livedj.library.exports import CSV_COLUMNS, export_csv, export_m3u, export_rekordbox_xml
from livedj.library.history import History
from livedj.library.importers import read_rekordbox_xml

ODD = os.fsdecode(b"/music/raw/\xff\xfe name.mp3")  # not UTF-8: must survive as bytes


@pytest.fixture()
def plays(tmp_path):
    h = History(tmp_path / "history.sqlite")
    s = h.start_session("Friday", at=1_700_000_000.0)
    h.log_play(s, "/music/Café del Mar/Señor.mp3", title="Señor", artist="Café del Mar", album="Ibiza",
               duration=305.4, bpm=122.0, key=21, source="identified", confidence=0.91, at=1_700_000_100.0)
    h.log_play(s, "/music/house/With Space.flac", title="Two, with comma", artist='Say "hi"', duration=None,
               bpm=None, key=None, source="osc", at=1_700_000_400.0)
    h.log_play(s, ODD, title="Odd\nname", artist="", source="manual", at=1_700_000_700.0)
    h.log_play(s, "/music/Café del Mar/Señor.mp3", title="Señor", artist="Café del Mar", duration=305.4,
               bpm=122.0, key=21, source="mixxx", at=1_700_001_000.0)
    out = h.plays(s)
    h.close()
    return out


def test_m3u_absolute(plays, tmp_path):
    out = tmp_path / "set.m3u8"
    assert export_m3u(plays, out) == 4
    lines = out.read_bytes().split(b"\n")
    assert lines[0] == b"#EXTM3U"
    assert lines[1].decode("utf-8") == "#EXTINF:305,Café del Mar - Señor"
    assert lines[2].decode("utf-8") == "/music/Café del Mar/Señor.mp3"
    assert lines[3].decode() == '#EXTINF:-1,Say "hi" - Two, with comma'
    assert lines[5] == b"#EXTINF:-1,Odd name"  # a newline in a title cannot break the playlist
    assert lines[6] == b"/music/raw/\xff\xfe name.mp3"
    assert len(lines) == 10 and lines[-1] == b""


def test_m3u_relative(plays, tmp_path):
    out = tmp_path / "lists" / "set.m3u8"
    with pytest.raises(FileNotFoundError):  # a folder the user did not make is not made silently
        export_m3u(plays, out, relative_to="/music")
    out.parent.mkdir()
    export_m3u(plays, out, relative_to="/music")
    lines = out.read_bytes().split(b"\n")
    assert lines[2].decode() == "Café del Mar/Señor.mp3" and lines[6] == b"raw/\xff\xfe name.mp3"
    export_m3u(plays, out, relative=True)  # relative to the playlist's own directory
    rel = out.read_bytes().split(b"\n")[2].decode()
    assert os.path.normpath(os.path.join(out.parent, rel)) == "/music/Café del Mar/Señor.mp3"
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]  # no temporary files left


def test_csv(plays, tmp_path):
    out = tmp_path / "set.csv"
    assert export_csv(plays, out) == 4
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheet programs read UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig", "surrogateescape"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    r1 = dict(zip(CSV_COLUMNS, rows[1]))
    assert r1["position"] == "1" and r1["artist"] == "Café del Mar" and r1["title"] == "Señor"
    assert r1["bpm"] == "122.00" and r1["key_camelot"] == "8A" and r1["key"] == "A minor"
    assert r1["source"] == "identified" and r1["confidence"] == "0.910"
    assert datetime.fromisoformat(r1["time"]).timestamp() == 1_700_000_100.0
    assert datetime.fromisoformat(r1["time"]).tzinfo is not None
    r2 = dict(zip(CSV_COLUMNS, rows[2]))
    assert r2["title"] == "Two, with comma" and r2["artist"] == 'Say "hi"' and r2["key"] == "" and r2["bpm"] == ""
    r3 = dict(zip(CSV_COLUMNS, rows[3]))
    # a newline in a tag is read as a space since tags are cleaned where they enter (tags.tag_text)
    assert r3["title"] == "Odd name" and os.fsencode(r3["path"]) == b"/music/raw/\xff\xfe name.mp3"
    assert len(rows) == 5


def test_rekordbox_xml_round_trip(plays, tmp_path):
    out = tmp_path / "set.xml"
    assert export_rekordbox_xml(plays, out, "livedj Friday") == 4
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<?xml") and '<DJ_PLAYLISTS Version="1.0.0">' in text
    assert 'KeyType="0"' in text and 'Entries="4"' in text and "<PRODUCT " in text
    tracks, problems = read_rekordbox_xml(out)
    assert problems == []
    assert [t.path for t in tracks] == ["/music/Café del Mar/Señor.mp3", "/music/house/With Space.flac", ODD]
    a = tracks[0]
    assert (a.title, a.artist, a.album, a.duration, a.bpm, a.key) == ("Señor", "Café del Mar", "Ibiza", 305.0,
                                                                       122.0, 21)
    assert all(t.crates == ("livedj Friday",) for t in tracks)
    assert tracks[1].bpm is None and tracks[1].key is None and tracks[1].duration is None
    assert text.count("<TRACK Key=\"1\"") == 2  # played twice: one TRACK, referenced twice


def test_rekordbox_xml_of_relative_set_log_paths_has_absolute_locations(tmp_path, monkeypatch):
    """A set log holding a relative path ("house/a.flac") was written as Location="file://localhosthouse/a%20b.flac":
    no file rekordbox can find. A relative path is taken from the current folder (as the M3U export's URLs),
    so every Location is an absolute file://localhost/ URL that reads back as the file."""
    monkeypatch.chdir(tmp_path)
    h = History(tmp_path / "history.sqlite")
    s = h.start_session("Friday", at=1_700_000_000.0)
    h.log_play(s, "house/a b.flac", title="A", source="osc", at=1_700_000_100.0)
    h.log_play(s, "/music/b.mp3", title="B", source="osc", at=1_700_000_200.0)
    plays = h.plays(s)
    h.close()
    out = tmp_path / "set.xml"
    assert export_rekordbox_xml(plays, out, "livedj Friday") == 2
    text = out.read_text(encoding="utf-8")
    assert text.count('Location="file://localhost/') == 2, text
    tracks, problems = read_rekordbox_xml(out)
    assert [t.path for t in tracks] == [str(tmp_path / "house" / "a b.flac"), "/music/b.mp3"] and not problems


def test_empty_set(tmp_path):
    assert export_m3u([], tmp_path / "e.m3u8") == 0
    assert (tmp_path / "e.m3u8").read_bytes() == b"#EXTM3U\n"
    assert export_rekordbox_xml([], tmp_path / "e.xml", "empty") == 0
    assert read_rekordbox_xml(tmp_path / "e.xml") == ([], [])


def test_csv_tags_that_a_spreadsheet_would_run_as_formulas_stay_text(tmp_path):
    """The CSV is written for Excel (a BOM): a tag starting with = + - @ was a formula there (a downloaded file's
    title "=HYPERLINK(...)" became a link, "-Intro-" showed #NAME?). Such cells get a leading apostrophe; others
    and the numeric columns are written as they are."""
    h = History(tmp_path / "history.sqlite")
    s = h.start_session("Friday", at=1_700_000_000.0)
    titles = ['=HYPERLINK("http://example.invalid","x")', "-Intro-", "+44", "@home", "Plain", "Señor = love"]
    for n, title in enumerate(titles):
        h.log_play(s, f"/music/{n}.mp3", title=title, artist="=1+1" if n == 0 else "Artist", bpm=122.0, key=21,
                   source="osc", confidence=0.5, at=1_700_000_100.0 + n)
    plays = h.plays(s)
    h.close()
    out = tmp_path / "set.csv"
    export_csv(plays, out)
    rows = [dict(zip(CSV_COLUMNS, r)) for r in csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"), newline=""))][1:]
    assert [r["title"] for r in rows] == ["'" + t for t in titles[:4]] + titles[4:]
    assert rows[0]["artist"] == "'=1+1" and rows[1]["artist"] == "Artist"
    assert all(r["bpm"] == "122.00" and r["confidence"] == "0.500" and r["path"].startswith("/music/") for r in rows)
