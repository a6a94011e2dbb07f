"""Mixxx: reading its library database, following its History, appending to a playlist.

The test databases are built from Mixxx's own DDL: the statements below are copied verbatim
from ``res/schema.xml`` of mixxxdj/mixxx (main branch at commit 038142a0, schema version 41,
Mixxx 2.6 development; only the revisions touching the tables livedj reads), applied in order
as Mixxx's schema manager does.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest

from livedj.library.importers import ImportedTrack, LibraryImportError, read_mixxx_library
from livedj.library.mixxx import MixxxBusy, MixxxHistoryPoller, append_to_playlist, mixxx_is_running

# --- test data: Mixxx res/schema.xml (revision number -> SQL), verbatim -----------------------
MIXXX_SCHEMA = {
    1: """
      CREATE TABLE IF NOT EXISTS settings (
        name TEXT UNIQUE NOT NULL,
        value TEXT,
        locked INTEGER DEFAULT 0,
        hidden INTEGER DEFAULT 0);

      CREATE TABLE IF NOT EXISTS track_locations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        location varchar(512) UNIQUE,
        filename varchar(512),
        directory varchar(512),
        filesize INTEGER,
        fs_deleted INTEGER,
        needs_verification INTEGER);

      CREATE TABLE IF NOT EXISTS library (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        artist varchar(48), title varchar(48),
        album varchar(48), year varchar(16),
        genre varchar(32), tracknumber varchar(3),
        location varchar(512) REFERENCES track_locations(location),
        comment varchar(20), url varchar(256),
        duration FLOAT,
        bitrate INTEGER, samplerate INTEGER,
        cuepoint INTEGER, bpm FLOAT,
        wavesummaryhex BLOB,
        channels INTEGER,
        datetime_added DEFAULT CURRENT_TIMESTAMP,
        mixxx_deleted INTEGER,
        played INTEGER);

      CREATE TABLE Playlists (
        id INTEGER PRIMARY KEY,
        name varchar(48),
        position INTEGER,
        hidden INTEGER DEFAULT 0 NOT NULL,
        date_created datetime,
        date_modified datetime);

      CREATE TABLE PlaylistTracks (
        id INTEGER PRIMARY KEY,
        playlist_id INTEGER REFERENCES Playlists(id),
        track_id INTEGER REFERENCES library(id),
        position INTEGER);

      CREATE TABLE IF NOT EXISTS crates (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name varchar(48) UNIQUE NOT NULL,
        count INTEGER DEFAULT 0,
        show INTEGER DEFAULT 1);

      CREATE TABLE IF NOT EXISTS crate_tracks (
        crate_id INTEGER NOT NULL REFERENCES crates(id),
        track_id INTEGER NOT NULL REFERENCES library(id),
        UNIQUE (crate_id, track_id));
    """,
    2: "ALTER TABLE library ADD COLUMN header_parsed INTEGER DEFAULT 0;",
    3: """
      ALTER TABLE library RENAME TO library_old;

      CREATE TABLE IF NOT EXISTS library (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        artist varchar(64),
        title varchar(64),
        album varchar(64),
        year varchar(16),
        genre varchar(64),
        tracknumber varchar(3),
        location INTEGER REFERENCES track_locations(location),
        comment varchar(256),
        url varchar(256),
        duration FLOAT,
        bitrate INTEGER,
        samplerate INTEGER,
        cuepoint INTEGER,
        bpm FLOAT,
        wavesummaryhex BLOB,
        channels INTEGER,
        datetime_added DEFAULT CURRENT_TIMESTAMP,
        mixxx_deleted INTEGER,
        played INTEGER,
        header_parsed INTEGER DEFAULT 0);

      INSERT INTO library (id, artist, title, album, year, genre, tracknumber, location, comment, url, duration, bitrate, samplerate, bpm, cuepoint, bpm, wavesummaryhex, channels, datetime_added, mixxx_deleted, played, header_parsed) SELECT id, artist, title, album, year, genre, tracknumber, location, comment, url, duration, bitrate, samplerate, bpm, cuepoint, bpm, wavesummaryhex, channels, datetime_added, mixxx_deleted, played, header_parsed from library_old;

      DROP TABLE library_old;
    """,
    7: """
      ALTER TABLE library ADD COLUMN timesplayed INTEGER DEFAULT 0;
      ALTER TABLE library ADD COLUMN rating INTEGER DEFAULT 0;
      ALTER TABLE library ADD COLUMN key varchar(8) DEFAULT '';
      UPDATE library SET timesplayed = played;
      UPDATE library SET played = 0;
    """,
    10: """
      ALTER TABLE crates ADD COLUMN locked INTEGER DEFAULT 0;
      ALTER TABLE playlists ADD COLUMN locked INTEGER DEFAULT 0;
    """,
    15: "ALTER TABLE PlaylistTracks ADD COLUMN pl_datetime_added;",
    19: "ALTER TABLE Library ADD COLUMN key_id INTEGER DEFAULT 0;",
    35: "ALTER TABLE library ADD COLUMN last_played_at DATETIME DEFAULT NULL;",
}
# ---------------------------------------------------------------------------------------------


def make_mixxx_db(path, up_to: int = 41) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")  # test speed only
    for version in sorted(MIXXX_SCHEMA):
        if version <= up_to:
            db.executescript(MIXXX_SCHEMA[version])
    return db


def add_track(db, path, *, artist="", title="", album="", duration=None, bpm=None, key="", key_id=0,
              deleted=0) -> int:
    """Insert a track the way Mixxx's TrackDAO does: a track_locations row, then a library row."""
    loc = db.execute("INSERT INTO track_locations (location, filename, directory, fs_deleted) VALUES (?,?,?,0)",
                     (path, os.path.basename(path), os.path.dirname(path))).lastrowid
    return db.execute("INSERT INTO library (artist, title, album, location, duration, bpm, key, key_id, "
                      "mixxx_deleted) VALUES (?,?,?,?,?,?,?,?,?)",
                      (artist, title, album, loc, duration, bpm, key, key_id, deleted)).lastrowid


def add_playlist(db, name, hidden=0) -> int:
    return db.execute("INSERT INTO Playlists (name, position, hidden, date_created, date_modified) "
                      "VALUES (?, (SELECT COALESCE(MAX(position),0)+1 FROM Playlists), ?, "
                      "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", (name, hidden)).lastrowid


def play(db, playlist_id, track_id, added="CURRENT_TIMESTAMP") -> None:
    """Append to a playlist as PlaylistDAO::appendTracksToPlaylist does (position = max + 1)."""
    db.execute("INSERT INTO PlaylistTracks (playlist_id, track_id, position, pl_datetime_added) VALUES "
               f"(?, ?, (SELECT COALESCE(MAX(position),0)+1 FROM PlaylistTracks WHERE playlist_id=?), {added})",
               (playlist_id, track_id, playlist_id))


@pytest.fixture()
def mixxx(tmp_path):
    path = tmp_path / "mixxxdb.sqlite"
    db = make_mixxx_db(path)
    ids = {
        "a": add_track(db, "/music/Café del Mar/Señor.mp3", artist="Señor", title="Café", album="Ibiza",
                       duration=301.5, bpm=122.0, key="Am", key_id=22),
        "b": add_track(db, "/music/house/With Space.flac", artist="B", title="Two", bpm=126.0, key_id=1),
        "c": add_track(db, "/music/text key only.mp3", title="Three", key="F#m", key_id=0),
        "d": add_track(db, "/music/gone.mp3", title="Deleted in Mixxx", deleted=1),
        "e": add_track(db, "/music/bad.mp3", title="Bad", bpm=-5.0, key_id=99),
    }
    crate = db.execute("INSERT INTO crates (name) VALUES ('Peak time')").lastrowid
    db.execute("INSERT INTO crate_tracks VALUES (?, ?)", (crate, ids["b"]))
    pl = add_playlist(db, "Warm up")
    play(db, pl, ids["a"])
    yield path, db, ids
    db.close()


def test_reads_library_from_mixxx_ddl(mixxx):
    path, _db, _ids = mixxx
    tracks, problems = read_mixxx_library(path)
    by_title = {t.title: t for t in tracks}
    assert set(by_title) == {"Café", "Two", "Three", "Bad"}  # mixxx_deleted is left out
    a = by_title["Café"]
    assert a == ImportedTrack("/music/Café del Mar/Señor.mp3", "Café", "Señor", "Ibiza", 301.5, 122.0, 21,
                              "mixxx", ("Warm up",))
    assert by_title["Two"].key == 0 and by_title["Two"].crates == ("Peak time",)  # key_id 1 = C major
    assert by_title["Three"].key == 18  # no key_id: the text "F#m"
    bad = by_title["Bad"]
    assert bad.bpm is None and bad.key is None
    assert len(problems) == 2 and all("library id" in w for w, _ in problems)


def test_reader_never_writes(mixxx):
    path, db, _ = mixxx
    db.close()
    before = (path.stat().st_mtime_ns, path.read_bytes())
    os.chmod(path, 0o444)
    try:
        read_mixxx_library(path)  # mode=ro: works on a read-only file
    finally:
        os.chmod(path, 0o644)
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before


def test_old_schema_without_key_id(tmp_path):
    db = make_mixxx_db(tmp_path / "old.sqlite", up_to=7)
    loc = db.execute("INSERT INTO track_locations (location) VALUES ('/m/x.mp3')").lastrowid
    db.execute("INSERT INTO library (title, location, key) VALUES ('X', ?, 'Dm')", (loc,))
    db.close()
    tracks, problems = read_mixxx_library(tmp_path / "old.sqlite")
    assert [(t.path, t.key) for t in tracks] == [("/m/x.mp3", 14)] and problems == []


def test_missing_and_foreign_databases(tmp_path):
    with pytest.raises(LibraryImportError, match="nope.sqlite: no such file"):
        read_mixxx_library(tmp_path / "nope.sqlite")
    sqlite3.connect(tmp_path / "other.sqlite").execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(LibraryImportError, match="not a Mixxx database"):
        read_mixxx_library(tmp_path / "other.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LibraryImportError, match="junk.sqlite"):
        read_mixxx_library(tmp_path / "junk.sqlite")
    assert not (tmp_path / "nope.sqlite").exists()  # read-only open never creates


# --- history poller ------------------------------------------------------------------------
def test_poller_reports_each_new_history_track_once(mixxx):
    path, db, ids = mixxx
    old = add_playlist(db, "2024-05-01", hidden=2)
    play(db, old, ids["c"], added="'2024-05-01 23:00:00'")  # yesterday's set: not "now playing"
    seen = []
    poller = MixxxHistoryPoller(path, seen.append, interval_s=0.05)
    assert poller.poll_once() is None and seen == []
    hist = add_playlist(db, "2024-05-02", hidden=2)  # Mixxx started again: a new history playlist
    assert poller.poll_once() is None  # empty so far
    play(db, hist, ids["a"])
    got = poller.poll_once()
    assert got is not None and got.path == "/music/Café del Mar/Señor.mp3" and got.key == 21
    assert poller.poll_once() is None and poller.poll_once() is None
    play(db, hist, ids["b"])
    play(db, hist, ids["a"])  # the same track again is a new play
    assert poller.poll_once().title == "Café"
    assert [t.title for t in seen] == ["Café", "Café"]
    # The DJ removes the last history row: the one before it is not played again.
    db.execute("DELETE FROM PlaylistTracks WHERE playlist_id = ? AND position = 3", (hist,))
    assert poller.poll_once() is None
    play(db, hist, ids["c"])  # SQLite may reuse the removed row id: still a new play
    assert poller.poll_once().title == "Three"
    assert [t.title for t in seen] == ["Café", "Café", "Three"]
    assert poller.errors == 0


def join_with_previous(db, current: int) -> int:
    """Mixxx's History "Join with previous" (SetlogFeature::slotJoinWithPrevious with
    PlaylistDAO::getPreviousPlaylist, copyPlaylistTracks and deletePlaylist), statement for
    statement: the current playlist's rows are copied after the previous one's (positions offset,
    pl_datetime_added kept), then the current playlist and its rows are deleted. Mixxx appends the
    next plays to the previous playlist. Returns its id."""
    (previous,) = db.execute("SELECT max(id) FROM Playlists WHERE id < ? AND hidden = 2", (current,)).fetchone()
    (offset,) = db.execute("SELECT COALESCE(MAX(position), 0) FROM PlaylistTracks WHERE playlist_id = ?",
                           (previous,)).fetchone()
    db.execute("BEGIN")
    db.execute("INSERT INTO PlaylistTracks (playlist_id, track_id, position, pl_datetime_added) "
               "SELECT ?, track_id, position + ?, pl_datetime_added FROM PlaylistTracks WHERE playlist_id = ?",
               (previous, offset, current))
    db.execute("COMMIT")
    db.execute("BEGIN")
    db.execute("DELETE FROM Playlists WHERE id = ?", (current,))
    db.execute("DELETE FROM PlaylistTracks WHERE playlist_id = ?", (current,))
    db.execute("COMMIT")
    return previous


def test_poller_follows_mixxx_after_join_with_previous(mixxx):
    """After "Join with previous" Mixxx appends to the older, lower-id History playlist: livedj
    keeps following it, and the copied rows are not reported as plays."""
    path, db, ids = mixxx
    earlier = add_playlist(db, "2024-05-02", hidden=2)  # an earlier session tonight
    play(db, earlier, ids["c"], added="'2024-05-02 21:00:00'")
    seen = []
    poller = MixxxHistoryPoller(path, seen.append)
    assert poller.poll_once() is None  # yesterday's set: not playing now
    current = add_playlist(db, "2024-05-02 (2)", hidden=2)  # Mixxx restarted
    play(db, current, ids["a"], added="'2024-05-02 22:00:00'")
    play(db, current, ids["b"])
    assert poller.poll_once().title == "Two"
    assert join_with_previous(db, current) == earlier < current
    assert [r[0] for r in db.execute("SELECT id FROM Playlists WHERE hidden = 2")] == [earlier]
    assert poller.poll_once() is None  # the copies of "Café" and "Two" are no new plays
    play(db, earlier, ids["a"])  # the next play, where Mixxx now logs
    assert poller.poll_once().title == "Café"
    play(db, earlier, ids["c"])
    assert poller.poll_once().title == "Three"
    assert poller.poll_once() is None
    assert [t.title for t in seen] == ["Two", "Café", "Three"] and poller.errors == 0


def test_poller_ignores_joining_two_older_history_playlists(mixxx):
    """Joining two past sessions copies old rows under new ids: not plays; the live one is followed."""
    path, db, ids = mixxx
    first = add_playlist(db, "2024-04-01", hidden=2)
    play(db, first, ids["a"], added="'2024-04-01 22:00:00'")
    second = add_playlist(db, "2024-04-02", hidden=2)
    play(db, second, ids["c"], added="'2024-04-02 22:00:00'")
    today = add_playlist(db, "today", hidden=2)
    seen = []
    poller = MixxxHistoryPoller(path, seen.append)
    play(db, today, ids["b"])
    assert poller.poll_once().title == "Two"
    join_with_previous(db, second)  # into `first`: rows with ids above today's
    assert poller.poll_once() is None
    play(db, today, ids["a"])
    assert poller.poll_once().title == "Café"
    assert [t.title for t in seen] == ["Two", "Café"]


def test_poller_reports_a_track_playing_when_it_starts(mixxx):
    path, db, ids = mixxx
    hist = add_playlist(db, "today", hidden=2)
    play(db, hist, ids["b"])  # added just now
    seen = []
    MixxxHistoryPoller(path, seen.append).poll_once()
    assert [t.title for t in seen] == ["Two"]


def test_poller_survives_locked_and_missing_db(mixxx, tmp_path):
    path, db, ids = mixxx
    hist = add_playlist(db, "today", hidden=2)
    seen = []
    poller = MixxxHistoryPoller(path, seen.append)
    poller.poll_once()
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        t0 = time.monotonic()
        assert poller.poll_once() is None
        assert time.monotonic() - t0 < 2.0
        assert poller.errors == 1 and "locked" in poller.last_error
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    play(db, hist, ids["b"])
    assert poller.poll_once().title == "Two"  # retried, and it works again
    gone = MixxxHistoryPoller(tmp_path / "absent.sqlite", seen.append)
    assert gone.poll_once() is None and gone.errors == 1
    assert not (tmp_path / "absent.sqlite").exists()


def test_poller_thread_follows_and_stops(mixxx):
    path, db, ids = mixxx
    hist = add_playlist(db, "today", hidden=2)
    got = threading.Event()
    calls = []

    def on_played(track):
        calls.append(track)
        got.set()
        raise RuntimeError("a broken consumer must not kill the poller")

    poller = MixxxHistoryPoller(path, on_played, interval_s=0.02)
    poller.start()
    try:
        time.sleep(0.1)
        play(db, hist, ids["a"])
        assert got.wait(3.0)
        time.sleep(0.1)
        assert poller._thread.is_alive() and poller.errors >= 1 and "broken consumer" in poller.last_error
    finally:
        poller.stop()
    assert poller._thread is None and len(calls) == 1


# --- append_to_playlist -----------------------------------------------------------------------
def test_append_refused_while_mixxx_runs(mixxx):
    path, db, _ = mixxx
    with pytest.raises(MixxxBusy, match="Mixxx is running"):
        append_to_playlist(path, "livedj", ["/music/house/With Space.flac"], is_running=lambda p: True)
    assert db.execute("SELECT COUNT(*) FROM Playlists WHERE name='livedj'").fetchone()[0] == 0


def test_append_creates_playlist_and_appends_known_tracks(mixxx):
    path, db, ids = mixxx
    skipped = []
    n = append_to_playlist(path, "livedj picks", ["/music/house/With Space.flac", "/not/in/mixxx.mp3",
                                                  "/music/Café del Mar/Señor.mp3"],
                           is_running=lambda p: False, skipped=skipped)
    assert n == 2 and skipped == [("/not/in/mixxx.mp3", "not in Mixxx's library")]
    pl, hidden, pos = db.execute("SELECT id, hidden, position FROM Playlists WHERE name='livedj picks'").fetchone()
    assert hidden == 0 and pos == 2  # after "Warm up", as Mixxx's createPlaylist does
    rows = db.execute("SELECT track_id, position FROM PlaylistTracks WHERE playlist_id=? ORDER BY position",
                      (pl,)).fetchall()
    assert rows == [(ids["b"], 1), (ids["a"], 2)]
    # again: the same playlist, appended after the last position
    assert append_to_playlist(path, "livedj picks", ["/music/text key only.mp3"], is_running=lambda p: False) == 1
    assert db.execute("SELECT MAX(position), COUNT(DISTINCT playlist_id) FROM PlaylistTracks "
                      "WHERE playlist_id=?", (pl,)).fetchone() == (3, 1)
    tracks, _ = read_mixxx_library(path)
    assert "livedj picks" in {c for t in tracks for c in t.crates}


def test_append_refuses_a_locked_db_and_a_locked_playlist(mixxx):
    path, db, _ = mixxx
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(MixxxBusy, match="locked"):
            append_to_playlist(path, "x", [], is_running=lambda p: False)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    db.execute("UPDATE Playlists SET locked = 1 WHERE name = 'Warm up'")
    with pytest.raises(ValueError, match="locked in Mixxx"):
        append_to_playlist(path, "Warm up", ["/music/house/With Space.flac"], is_running=lambda p: False)


def test_mixxx_is_running_sees_a_journal(tmp_path):
    db = tmp_path / "mixxxdb.sqlite"
    db.write_bytes(b"")
    (tmp_path / "mixxxdb.sqlite-journal").write_bytes(b"x")
    assert mixxx_is_running(db) is True


def test_mixxx_folder_named_instead_of_its_database(tmp_path):
    """`--from-mixxx ~/.mixxx`: the folder's mixxxdb.sqlite is read; a folder without one is named."""
    from livedj.library.importers.playlists import read_mixxx_playlists

    folder = tmp_path / ".mixxx"
    folder.mkdir()
    with pytest.raises(LibraryImportError, match=r"\.mixxx: a folder without mixxxdb\.sqlite"):
        read_mixxx_library(folder)
    with pytest.raises(LibraryImportError, match=r"\.mixxx: a folder without mixxxdb\.sqlite"):
        read_mixxx_playlists(folder)
    db = make_mixxx_db(folder / "mixxxdb.sqlite")
    loc = db.execute("INSERT INTO track_locations (location) VALUES ('/m/x.mp3')").lastrowid
    db.execute("INSERT INTO library (title, location) VALUES ('X', ?)", (loc,))
    db.commit()
    db.close()
    tracks, problems = read_mixxx_library(folder)
    assert [t.path for t in tracks] == ["/m/x.mp3"] and problems == []
    assert read_mixxx_playlists(folder) == ([], [])
