"""The store's schema: its tables, the columns added since schema 1 (added when a store is opened
writable, so an older store keeps working), and the check of rows livedj never writes (a field of
another SQLite type). :mod:`livedj.library.store` opens the file with them; nothing here reads a row.
"""
from __future__ import annotations

import sqlite3
from typing import Iterable

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tracks (
    id          INTEGER PRIMARY KEY,
    path        BLOB NOT NULL UNIQUE,   -- os.fsencode(path)
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    status      TEXT NOT NULL,          -- 'ok' or 'error'
    error       TEXT,
    title       TEXT, artist TEXT, album TEXT,
    duration    REAL,
    bpm         REAL, bpm_source TEXT,  -- source: 'tag', 'audio', later the DJ software's name
    key         INTEGER, key_source TEXT,  -- 0-11 C..B major, 12-23 C..B minor
    start_s     REAL,                   -- where the embedded beginning starts (leading silence skipped)
    encoder     TEXT,                   -- name/version that made the vector
    vector      BLOB,                   -- float32 song-beginning vector
    segment_hop REAL,                   -- seconds between segment vectors
    segments    BLOB,                   -- float32 (n, dim): one vector per segment over the whole track
    landmarks   BLOB,                   -- fingerprint: uint32 hashes then int32 frame times (n each)
    indexed_at  REAL NOT NULL
);
-- one recording held twice (library/copies.py): the pairs found, each with both rows' indexed_at (a
-- pair whose row changed since is not read), and the records that looked for theirs
CREATE TABLE IF NOT EXISTS copy_pairs (a INTEGER NOT NULL, b INTEGER NOT NULL, a_at REAL NOT NULL,
    b_at REAL NOT NULL, shift_s REAL, covered REAL, PRIMARY KEY (a, b));
CREATE TABLE IF NOT EXISTS copy_searched (track_id INTEGER PRIMARY KEY, indexed_at REAL NOT NULL);
-- files moved or renamed (library/moves.py): a path a row was stored under before, so that the set
-- log's plays written under it still name the row
CREATE TABLE IF NOT EXISTS moves (path BLOB PRIMARY KEY, track_id INTEGER NOT NULL, moved_at REAL NOT NULL);
"""
#: columns added after schema 1 (ALTER TABLE on open, so older stores keep working): name -> type.
#: ``key_analysis`` and ``fingerprint_params``: the analysis (rekey.current_analysis) and fingerprint
#: parameters (refingerprint.current_params) this row's audio key and landmarks were made with; NULL:
#: unknown (an older livedj). Per file, so an upgrade stopped half-way resumes where it stopped.
_ADDED_COLUMNS = {"landmarks": "BLOB",  # after 8680078's stores (fingerprints came with da7ee02)
                  "key_confidence": "REAL", "key_end": "INTEGER", "key_end_confidence": "REAL",
                  "key_analysis": "TEXT", "fingerprint_params": "TEXT",
                  # the segment vectors' encoder (NULL: an older livedj's row, the manifest says)
                  "segment_encoder": "TEXT",
                  # the first 64 kB hashed (library/moves.py): a file moved is told by its content
                  "head_hash": "TEXT"}


def columns(db: sqlite3.Connection) -> set[str]:
    """The columns the ``tracks`` table has (an older store lacks the newer ones)."""
    return {r[1] for r in db.execute("PRAGMA table_info(tracks)")}


def create_or_upgrade(db: sqlite3.Connection) -> None:
    """Create the tables a writable store lacks (a new one: all, with its schema version) and add the
    columns added since; committed."""
    db.executescript(_SCHEMA)
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        db.commit()
    have = columns(db)
    for name, kind in _ADDED_COLUMNS.items():
        if name not in have:
            db.execute(f"ALTER TABLE tracks ADD COLUMN {name} {kind}")
    db.commit()


_TYPES = {"blob": ("path",), "integer": ("size", "mtime_ns"), "text or null": (
    "status", "title", "artist", "album", "error", "encoder", "bpm_source", "key_source", "key_analysis"),
    "number or null": ("duration", "bpm", "key_confidence", "key_end_confidence", "start_s", "indexed_at"),
    "integer or null": ("key", "key_end")}
_SQL = {"blob": "('blob')", "integer": "('integer')", "text or null": "('text', 'null')",
        "number or null": "('real', 'integer', 'null')", "integer or null": "('integer', 'null')"}


def bad_rows(columns: Iterable[str] | None = None) -> str:
    """The SQL condition of rows livedj never writes: a field of another SQLite type (a hand edit, another
    program), read as a traceback; over ``columns`` only (an older store lacks the newer ones)."""
    have = set(columns) if columns is not None else {c for cols in _TYPES.values() for c in cols} | {"key_end"}
    return " OR ".join([f"typeof({c}) NOT IN {_SQL[t]}" for t, cols in _TYPES.items() for c in cols if c in have]
                       + [f"{c} NOT BETWEEN 0 AND 23" for c in ("key", "key_end") if c in have]
                       + ["NOT (bpm >= 0 AND bpm < 1000)"])  # NULL: not bad


BAD_ROWS = bad_rows()
