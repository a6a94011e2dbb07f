"""The set log: every session (a night) and every track played in it, in SQLite (WAL).

It lives apart from the index (``history.path``, default ``$XDG_DATA_HOME/livedj/history.sqlite``)
because an index is rebuildable and a set log is not. Each play is committed when it happens,
so a crash or power loss loses nothing already logged.
"""
from __future__ import annotations

import math
import os
import re
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from livedj.library.tags import tag_text

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id          INTEGER PRIMARY KEY,
    started_at  REAL NOT NULL,
    ended_at    REAL,
    name        TEXT,
    host        TEXT
);
CREATE TABLE IF NOT EXISTS plays (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id),
    at          REAL NOT NULL,
    path        BLOB NOT NULL,          -- os.fsencode(path)
    title       TEXT, artist TEXT, album TEXT,
    duration    REAL,
    bpm         REAL, key INTEGER,
    source      TEXT NOT NULL,          -- 'identified', 'osc', 'manual', 'mixxx', ...
    confidence  REAL
);
CREATE INDEX IF NOT EXISTS plays_by_session ON plays(session_id, at);
CREATE INDEX IF NOT EXISTS plays_by_time ON plays(at);
-- skips and bans (added with the context model; older logs simply have none yet)
CREATE TABLE IF NOT EXISTS feedback (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id),
    at          REAL NOT NULL,
    path        BLOB NOT NULL,          -- os.fsencode(path) of the skipped/banned track
    kind        TEXT NOT NULL,          -- 'skip' or 'ban'
    playing     BLOB                    -- os.fsencode(path) of what was playing, if known
);
"""


@dataclass(frozen=True)
class SessionInfo:
    id: int
    started_at: float | None  #: None where the stored value is not a time (a log edited by hand)
    ended_at: float | None
    name: str | None
    plays: int


@dataclass(frozen=True)
class Play:
    id: int
    session_id: int
    at: float | None  #: None where the stored value is not a time (a log edited by hand)
    path: str  #: os.fsdecode form
    title: str
    artist: str
    album: str
    duration: float | None
    bpm: float | None
    key: int | None
    source: str
    confidence: float | None


_TABLES = {"meta", "sessions", "plays", "feedback"}
#: a session left open (its run was killed) within this long is tonight's: its plays stay excluded
NIGHT_S = 16 * 3600.0
#: a session stopped properly is tonight's when the next run started within this long of its end: a
#: restart at the booth (another input, an update), not the end of a night
REJOIN_S = 3600.0
_LAST_TIME = 253402300800.0  # 10000-01-01: later (or NaN, text) cannot be shown as a date


def _path(value: object) -> str:
    """A stored path: BLOB as livedj writes it, or TEXT as the sqlite3 shell writes a hand-fixed one."""
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return "" if value is None else str(value)


def _real(value: object) -> float | None:
    """A finite number, else None: a column edited by hand may hold text, and exports format numbers."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _time(value: object) -> float | None:
    t = _real(value)
    return t if t is not None and 0.0 <= t < _LAST_TIME else None


def _storable(text: str | None) -> str | None:
    """Text SQLite can store (UTF-8): a title made of a file name that is not UTF-8 holds os.fsdecode's
    surrogates, and writing it raised UnicodeEncodeError (the set log's thread died with the night)."""
    return None if text is None else _SURROGATES.sub("\ufffd", str(text))


_SURROGATES = re.compile("[\ud800-\udfff]")


def _text(value: object) -> str:
    return tag_text(value if isinstance(value, str) else _path(value))


def _boot() -> tuple[str, float] | None:
    """This boot's id and seconds since boot: clocks that no NTP, hotspot or DST step moves (Linux)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip(), time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, AttributeError):
        return None


def _boot_clock(mark: object, boot: tuple[str, float] | None) -> float | None:
    """The boot clock of a mark ``"<boot id> <boot clock>"``, if it was made on this boot."""
    parts = str(mark).split() if mark is not None else []
    if boot is None or len(parts) != 2 or parts[0] != boot[0]:
        return None
    try:
        return float(parts[1])
    except ValueError:
        return None


def _mark_boot(db, key: str) -> None:
    """Record this boot's id and clock under ``key`` (nothing where the system has no boot clock)."""
    boot = _boot()
    if boot is not None:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, f"{boot[0]} {boot[1]:.1f}"))


class History:
    """Read/write access to the set log; ``readonly``: reading only (``livedj history``), never created nor
    written, so a read-only file, folder or filesystem is read (as :mod:`livedj.library.sqlite_uri` opens the
    store)."""

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False):
        self.path = Path(path)
        if readonly:
            from livedj.library.sqlite_uri import connect

            self.db = connect(self.path, mode="ro")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, check_same_thread=False)
        try:
            self._open_readonly() if readonly else self._open()
        except BaseException:
            self.db.close()
            raise

    def _our_tables(self) -> set[str]:
        """The file's tables; :class:`sqlite3.DatabaseError` when it holds others than a set log's.

        history.path at the library store or Mixxx's database: the schema would be added to that
        file, silently, and the night logged into it (lost when the store is rebuilt)."""
        tables = {r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if tables - _TABLES:
            raise sqlite3.DatabaseError(f"not a livedj set log: it holds other tables "
                                        f"({', '.join(sorted(tables - _TABLES)[:4])})")
        return tables

    def _open_readonly(self) -> None:
        tables = self._our_tables()
        if not tables:  # an empty file (nothing logged yet): read as the empty set log it would become
            self.db.close()
            self.db = sqlite3.connect(":memory:", check_same_thread=False)
            self.db.executescript(_SCHEMA)
            return
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() \
            if "meta" in tables else None
        if row is not None and row[0] != str(SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"{self.path}: set log schema {row[0]}, this livedj reads {SCHEMA_VERSION}")
        if tables != _TABLES:  # an older set log (before the feedback table): what it lacks is read as empty
            self.db.execute("ATTACH ':memory:' AS fill")
            self.db.executescript(_SCHEMA.replace("CREATE TABLE IF NOT EXISTS ", "CREATE TABLE IF NOT EXISTS fill.")
                                  .replace("CREATE INDEX IF NOT EXISTS ", "CREATE INDEX IF NOT EXISTS fill."))

    def _open(self) -> None:
        self._our_tables()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a play logged is a play kept, even on power loss
        self.db.executescript(_SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self.db.commit()
        elif row[0] != str(SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"{self.path}: set log schema {row[0]}, this livedj reads {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    # -- writing ----------------------------------------------------------------------------
    def start_session(self, name: str | None = None, at: float | None = None) -> int:
        cur = self.db.execute("INSERT INTO sessions (started_at, name, host) VALUES (?, ?, ?)",
                              (at or time.time(), _storable(name), socket.gethostname()))
        _mark_boot(self.db, f"session_boot:{cur.lastrowid}")  # the next run knows its age when the wall clock stepped
        self.db.commit()
        return int(cur.lastrowid)

    def end_session(self, session_id: int, at: float | None = None) -> None:
        self.db.execute("UPDATE sessions SET ended_at = ? WHERE id = ?", (at or time.time(), session_id))
        _mark_boot(self.db, f"session_end_boot:{session_id}")  # the next run knows how long ago, whatever the clock
        self.db.commit()

    def log_play(self, session_id: int, path: str, *, title: str = "", artist: str = "", album: str = "",
                 duration: float | None = None, bpm: float | None = None, key: int | None = None,
                 source: str = "manual", confidence: float | None = None, at: float | None = None) -> int:
        cur = self.db.execute(
            """INSERT INTO plays (session_id, at, path, title, artist, album, duration, bpm, key, source, confidence)
               VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
            (session_id, at or time.time(), os.fsencode(path), *map(_storable, (title, artist, album)), duration, bpm,
             key, _storable(source), confidence))
        self.db.commit()
        return int(cur.lastrowid)

    def log_feedback(self, session_id: int, path: str, kind: str, *, playing: str | None = None,
                     at: float | None = None) -> int:
        """Log a skip or ban (``kind``) of ``path`` while ``playing`` was on."""
        if kind not in ("skip", "ban"):
            raise ValueError(f"feedback kind must be 'skip' or 'ban', got {kind!r}")
        cur = self.db.execute("INSERT INTO feedback (session_id, at, path, kind, playing) VALUES (?,?,?,?,?)",
                              (session_id, at or time.time(), os.fsencode(path), kind,
                               None if playing is None else os.fsencode(playing)))
        self.db.commit()
        return int(cur.lastrowid)

    # -- reading ----------------------------------------------------------------------------
    def feedback(self) -> dict[int, list[tuple[str, str, str]]]:
        """``{session id: [(path, 'skip'|'ban', playing path or "")]}`` in time order."""
        out: dict[int, list[tuple[str, str, str]]] = {}
        for sid, path, kind, playing in self.db.execute(
                "SELECT session_id, path, kind, playing FROM feedback ORDER BY id"):
            out.setdefault(sid, []).append((_path(path), _text(kind), _path(playing)))
        return out

    def sessions(self) -> list[SessionInfo]:
        rows = self.db.execute(
            """SELECT s.id, s.started_at, s.ended_at, s.name, COUNT(p.id) FROM sessions s
               LEFT JOIN plays p ON p.session_id = s.id GROUP BY s.id ORDER BY s.id""")
        return [SessionInfo(i, _time(start), _time(end), _text(name) if name is not None else None, n)
                for i, start, end, name, n in rows]

    def plays(self, session_id: int) -> list[Play]:
        rows = self.db.execute(
            """SELECT id, session_id, at, path, title, artist, album, duration, bpm, key, source, confidence
               FROM plays WHERE session_id = ? ORDER BY id""", (session_id,))
        return [Play(r[0], r[1], _time(r[2]), _path(r[3]), _text(r[4]), _text(r[5]), _text(r[6]), _real(r[7]),
                     _real(r[8]), r[9] if isinstance(r[9], int) and 0 <= r[9] < 24 else None, _text(r[10]),
                     _real(r[11])) for r in rows]

    def played_paths(self, since: float, until: float = math.inf) -> set[str]:
        """Paths played between ``since`` and ``until`` (time.time()), in any session (SQLite sorts text
        after any number). ``until``: a row far in the future was written by a clock that was wrong."""
        rows = self.db.execute("SELECT DISTINCT path FROM plays WHERE typeof(at) IN ('integer', 'real') "
                               "AND at >= ? AND at <= ?", (since, until))
        return {_path(r[0]) for r in rows}

    def played_tonight(self, span_s: float | None, now: float | None = None) -> set[str]:
        """Paths a new run must not suggest: those of the runs tonight before it (:meth:`interrupted_paths`),
        and with a span (``history.no_repeat`` "12h") every one played within it, either side of ``now`` (a
        row far in the future was written by a wrong clock)."""
        now = time.time() if now is None else now
        paths = self.interrupted_paths(now)
        if span_s is not None:
            paths |= self.played_paths(now - span_s, now + span_s)
        return paths

    def interrupted_paths(self, now: float | None = None) -> set[str]:
        """Paths played tonight in the runs before this one: killed runs (sessions left open; kill -9, a
        power cut, a crash systemd restarts) and runs stopped and started again (a restart at the booth).

        Newest first, while each is tonight's: a killed run started on this boot within :data:`NIGHT_S` by
        the kernel's boot clock, whatever the wall clock did since (another boot: its last row within
        ``NIGHT_S`` of ``now`` by the wall clock, either way round); a stopped run ended within
        :data:`REJOIN_S` before the next run started (the boot clock where both are of this boot, else the
        wall clock, either way round).
        """
        now, boot = time.time() if now is None else now, _boot()
        marks = dict(self.db.execute("SELECT key, value FROM meta WHERE key LIKE 'session%boot:%'"))
        out: set[str] = set()
        after_boot, after_wall = (boot[1] if boot else None), now  # when the run after the one looked at began
        for sid, started, ended in self.db.execute(
                "SELECT id, started_at, ended_at FROM sessions ORDER BY id DESC").fetchall():
            began = _boot_clock(marks.get(f"session_boot:{sid}"), boot)
            if ended is None:
                if began is not None:
                    tonight = boot[1] - began <= NIGHT_S
                else:
                    last = self.db.execute("SELECT MAX(t) FROM (SELECT started_at AS t FROM sessions WHERE id = ? "
                                           "UNION ALL SELECT at FROM plays WHERE session_id = ? AND typeof(at) IN "
                                           "('integer', 'real'))", (sid, sid)).fetchone()[0]
                    tonight = _time(last) is not None and abs(now - last) <= NIGHT_S
            else:
                stopped = _boot_clock(marks.get(f"session_end_boot:{sid}"), boot)
                if stopped is not None and after_boot is not None:
                    tonight = after_boot - stopped <= REJOIN_S
                else:
                    tonight = _time(ended) is not None and abs(after_wall - ended) <= REJOIN_S
            if not tonight:
                break
            out.update(_path(r[0]) for r in self.db.execute("SELECT path FROM plays WHERE session_id = ?", (sid,)))
            after_boot = began
            after_wall = started if _time(started) is not None else after_wall
        return out
