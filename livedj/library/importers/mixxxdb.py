"""Mixxx's library database (``mixxxdb.sqlite``), read-only.

Mixxx supports no other writer, so readers open it with SQLite's URI ``mode=ro``. Tables and
columns are those of Mixxx's ``res/schema.xml`` (mixxxdj/mixxx): ``library`` (id, artist, title,
album, duration, bpm, key (text), key_id (schema 19+), location -> ``track_locations.id`` (schema
3+), mixxx_deleted) and ``track_locations`` (id, location, filename, directory, fs_deleted).
``key_id`` is Mixxx's ``ChromaticKey`` (src/proto/keys.proto): 0 = invalid, 1-12 = C..B major,
13-24 = C..B minor, so livedj's key index is ``key_id - 1``.
"""
from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

from livedj.library.importers.common import (NUL_IN_PATH, ImportedTrack, LibraryImportError, Problems, db_text,
                                             parse_bpm, parse_duration, parse_key_text, text)

#: Playlists.hidden values (PlaylistDAO::HiddenType in Mixxx).
PLHT_NOT_HIDDEN, PLHT_AUTO_DJ, PLHT_SET_LOG = 0, 1, 2


def default_mixxx_db() -> Path:
    """Where Mixxx keeps its database on this platform (it may not exist).

    Linux: ``~/.mixxx/mixxxdb.sqlite``;
    macOS: ``~/Library/Containers/org.mixxx.mixxx/Data/Library/Application Support/Mixxx/``
    (the sandboxed App Store/official build) or ``~/Library/Application Support/Mixxx/``;
    Windows: ``%LOCALAPPDATA%\\Mixxx\\mixxxdb.sqlite``.
    """
    home = Path.home()
    if sys.platform == "darwin":
        sandboxed = (home / "Library/Containers/org.mixxx.mixxx/Data/Library/Application Support/Mixxx"
                     / "mixxxdb.sqlite")
        plain = home / "Library/Application Support/Mixxx/mixxxdb.sqlite"
        return sandboxed if sandboxed.exists() or not plain.exists() else plain
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "Mixxx" / "mixxxdb.sqlite"
    return home / ".mixxx" / "mixxxdb.sqlite"


def mixxx_db_file(db_path=None) -> str:
    """The database file to read: ``db_path`` (None: :func:`default_mixxx_db`), or the ``mixxxdb.sqlite``
    inside it when the DJ named Mixxx's folder (``~/.mixxx``).

    Raises
    ------
    LibraryImportError
        Neither such a file nor a folder holding one.
    """
    name = os.fsdecode(default_mixxx_db() if db_path is None else db_path)
    if os.path.isdir(name):
        inside = os.path.join(name, "mixxxdb.sqlite")
        if os.path.isfile(inside):
            return inside
        raise LibraryImportError(f"{name}: a folder without mixxxdb.sqlite (pass the path of Mixxx's database)")
    if not os.path.isfile(name):
        raise LibraryImportError(f"{name}: no such file (is Mixxx installed? pass the path of mixxxdb.sqlite)")
    return name


def connect_ro(db_path, timeout: float = 5.0, *, mode: str = "ro", **kwargs) -> sqlite3.Connection:
    """Open a Mixxx database through an SQLite URI; ``mode="ro"`` (default) never creates or writes,
    ``mode="rw"`` writes but never creates."""
    from livedj.library import sqlite_uri

    return sqlite_uri.connect(db_path, mode=mode, timeout=timeout, **kwargs)


def columns(db: sqlite3.Connection, table: str) -> set[str]:
    """Column names of a table (lower case); empty if it does not exist."""
    return {r[1].lower() for r in db.execute(f"PRAGMA table_info({table})")}


def key_from_mixxx(key_id, key_text, where: str, problems: Problems) -> int | None:
    """livedj key index from ``library.key_id``, falling back to the ``key`` text."""
    if key_id not in (None, 0, ""):
        try:
            number = float(key_id)
            k = int(number) if number.is_integer() else -1  # 5.7 is no key
        except (TypeError, ValueError, OverflowError):  # SQLite keeps 1e999 as infinity
            k = -1
        if 1 <= k <= 24:
            return k - 1
        problems.append((where, f"key_id={key_id!r} is not 0-24; key skipped"))
    return parse_key_text(key_text, where, "key", problems)


def track_select(db: sqlite3.Connection, *, every_row: bool = False) -> str:
    """The SELECT list/joins giving (id, artist, title, album, duration, bpm, key, key_id, location).

    ``every_row``: also the library rows whose location id matches no ``track_locations`` row
    (their location is NULL), so that they can be reported."""
    lib = columns(db, "library")
    # a column an older or newer schema lacks is NULL (unknown), not the end of the import
    artist, title, album, duration, bpm, key, key_id = (f"l.{c}" if c in lib else "NULL" for c in (
        "artist", "title", "album", "duration", "bpm", "key", "key_id"))
    join = "LEFT JOIN" if every_row else "JOIN"
    return (f"SELECT l.id, {artist}, {title}, {album}, {duration}, {bpm}, {key}, {key_id}, tl.location "
            f"FROM library l {join} track_locations tl ON tl.id = l.location")


def row_to_track(row, where: str, problems: Problems, crates=()) -> ImportedTrack | None:
    """An :class:`ImportedTrack` from a :func:`track_select` row (None if it has no location)."""
    _id, artist, title, album, duration, bpm, key, key_id, location = row
    if isinstance(location, (int, float)):  # SQLite keeps a number in a text column
        problems.append((where, f"location {location!r} is not a path; skipped"))
        return None
    if not text(location):
        problems.append((where, "no location; skipped"))
        return None
    if "\x00" in os.fsdecode(location):
        problems.append((where, f"{NUL_IN_PATH}; skipped"))
        return None
    return ImportedTrack(
        path=os.fsdecode(location), title=db_text(title), artist=db_text(artist), album=db_text(album),
        duration=parse_duration(duration, where, "duration", problems),
        bpm=parse_bpm(bpm, where, "bpm", problems),
        key=key_from_mixxx(key_id, key, where, problems), source="mixxx", crates=tuple(crates))


def _crates(db: sqlite3.Connection) -> dict[int, list[str]]:
    """``{library.id: [crate and playlist names]}`` (visible playlists only, not history/Auto DJ)."""
    out: dict[int, list[str]] = {}
    queries = []
    # crates and playlists are extras: a schema without the columns read here gives none, not an error
    if {"id", "name"} <= columns(db, "crates") and {"crate_id", "track_id"} <= columns(db, "crate_tracks"):
        queries.append("SELECT ct.track_id, c.name FROM crate_tracks ct JOIN crates c ON c.id = ct.crate_id "
                       "ORDER BY c.name")
    if ({"id", "name", "hidden", "position"} <= columns(db, "playlists")
            and {"playlist_id", "track_id"} <= columns(db, "playlisttracks")):
        queries.append("SELECT DISTINCT pt.track_id, p.name FROM PlaylistTracks pt "
                       f"JOIN Playlists p ON p.id = pt.playlist_id WHERE p.hidden = {PLHT_NOT_HIDDEN} "
                       "ORDER BY p.position, p.name")
    for q in queries:
        for track_id, name in db.execute(q):
            names = out.setdefault(track_id, [])
            if (name := db_text(name)) and name not in names:
                names.append(name)
    return out


def read_mixxx_library(db_path=None) -> tuple[list[ImportedTrack], Problems]:
    """Read every track of Mixxx's library that is not deleted in Mixxx.

    Parameters
    ----------
    db_path : str or os.PathLike, optional
        ``mixxxdb.sqlite``; :func:`default_mixxx_db` when omitted.

    Returns
    -------
    tracks : list of ImportedTrack
        Tracks whose file Mixxx marks missing (``fs_deleted``) are included: the caller checks
        and reports missing files. ``crates`` are its crates and visible playlists.
    problems : list of (str, str)

    Raises
    ------
    LibraryImportError
        The file is missing, locked for longer than the timeout, or not a Mixxx database.
    """
    db_path = name = mixxx_db_file(db_path)
    problems: Problems = []
    try:
        db = connect_ro(db_path)
    except sqlite3.Error as e:
        raise LibraryImportError(f"{name}: cannot open read-only: {e}") from None
    try:
        lib = columns(db, "library")
        if not lib or not columns(db, "track_locations"):
            raise LibraryImportError(f"{name}: not a Mixxx database (no library/track_locations tables)")
        missing = [f"{t}.{c}" for t in ("library", "track_locations") for c in ("id", "location")
                   if c not in (lib if t == "library" else columns(db, t))]
        if missing:
            raise LibraryImportError(f"{name}: not a Mixxx database this livedj can read (no column "
                                     f"{', '.join(missing)})")
        crates = _crates(db)
        where_deleted = " WHERE COALESCE(l.mixxx_deleted, 0) = 0" if "mixxx_deleted" in lib else ""
        # Library rows whose location id names no track_locations row: {library id: location id}.
        dangling = dict(db.execute("SELECT l.id, l.location FROM library l LEFT JOIN track_locations tl "
                                   "ON tl.id = l.location" + (where_deleted or " WHERE 1") + " AND tl.id IS NULL"))
        tracks = []
        for row in db.execute(track_select(db, every_row=True) + where_deleted + " ORDER BY l.id"):
            where = f"{name}: library id {row[0]}"
            if row[0] in dangling:
                loc = dangling[row[0]]
                problems.append((where, "no location id; skipped" if loc is None else
                                 f"location id {loc} is not in track_locations; skipped"))
                continue
            t = row_to_track(row, where, problems, crates.get(row[0], ()))
            if t is not None:
                tracks.append(t)
    except sqlite3.DatabaseError as e:
        raise LibraryImportError(f"{name}: cannot read the Mixxx database: {e}") from None
    finally:
        db.close()
    return tracks, problems
