"""A live bridge to Mixxx through its database: follow what it plays, hand it a playlist.

Mixxx logs every track it plays into a History playlist (``Playlists.hidden = 2``, PLHT_SET_LOG;
one per Mixxx session), appending ``PlaylistTracks`` rows with increasing ``position``. The DJ's
"Join with previous" copies the current History playlist's rows (keeping their
``pl_datetime_added``) after those of the previous, lower-id one, deletes the current one, and
Mixxx then appends to the older playlist. :class:`MixxxHistoryPoller` therefore follows the newest
row of any History playlist, whatever the playlist's id, read-only. Writing is only done
by :func:`append_to_playlist`, and only while Mixxx is not running (Mixxx supports no other writer
and would not see, or would overwrite, changes made under it).
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Callable, NamedTuple

from livedj.library.importers.common import ImportedTrack, LibraryImportError
from livedj.library.importers.mixxxdb import (PLHT_NOT_HIDDEN, PLHT_SET_LOG, columns, connect_ro, row_to_track,
                                              track_select)


class _Row(NamedTuple):
    """One History row as the poller compares them."""

    playlist_id: int
    row_id: int  #: PlaylistTracks.id
    track_id: int
    added: float | None  #: pl_datetime_added as Unix time (None: no such column, or unparsable)


class MixxxBusy(RuntimeError):
    """Mixxx is running (or holds its database): writing to it now is refused."""


class MixxxHistoryPoller:
    """Follows what Mixxx is playing by polling, read-only, the newest row of its History playlists
    (``Playlists.hidden = 2``, PLHT_SET_LOG; the highest ``PlaylistTracks.id``), whichever playlist
    Mixxx appends to: the newest one, or an older one after "Join with previous".

    Parameters
    ----------
    db_path : str or os.PathLike
        Mixxx's ``mixxxdb.sqlite``.
    on_played : callable
        Called with an :class:`ImportedTrack` (``source="mixxx"``) once per new track.
    interval_s : float
        Seconds between polls in :meth:`start`'s thread.
    recent_s : float
        On the first poll, the track already at the end of the history is reported only if Mixxx
        added it less than ``recent_s`` ago (it is playing now); an older one is yesterday's set.
    on_error : callable, optional
        Called with the one-line failure (database, reason) the first time a poll fails for each
        reason (a missing database, a locked one, ...), not on every poll; the poller retries.

    Attributes
    ----------
    errors : int
        Polls that failed (database locked, missing, unreadable, or ``on_played`` raising).
    last_error : str or None
        The last such failure, one line.
    problem : str or None
        The current failure, one line: set by a failed poll, back to None once a poll reads the
        database again. Read from other threads (the dashboard) without locking.
    """

    def __init__(self, db_path, on_played: Callable[[ImportedTrack], None], interval_s: float = 2.0,
                 *, recent_s: float = 600.0, on_error: Callable[[str], None] | None = None):
        self.db_path = db_path
        self.on_played = on_played
        self.on_error = on_error
        self._reported: set[str] = set()  # the reasons already given to on_error
        self.interval_s = float(interval_s)
        self.recent_s = float(recent_s)
        self.errors = 0
        self.last_error: str | None = None
        self.problem: str | None = None
        self._last: _Row | None = None  # the newest history row last seen
        self._primed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _newest(self) -> tuple[_Row, ImportedTrack, float | None] | None:
        db = connect_ro(self.db_path, timeout=0.25)  # short: a locked DB is simply retried next poll
        try:
            added = "pt.pl_datetime_added" if "pl_datetime_added" in columns(db, "PlaylistTracks") else "NULL"
            sel = track_select(db).replace("SELECT ", f"SELECT pt.playlist_id, pt.id, {added}, ", 1)
            row = db.execute(sel + " JOIN PlaylistTracks pt ON pt.track_id = l.id "
                             "JOIN Playlists p ON p.id = pt.playlist_id WHERE p.hidden = ? "
                             "ORDER BY pt.id DESC LIMIT 1", (PLHT_SET_LOG,)).fetchone()
        finally:
            db.close()
        if row is None:
            return None
        playlist_id, row_id, stamp = row[:3]
        problems: list = []
        track = row_to_track(row[3:], f"Mixxx history {playlist_id}", problems)
        if track is None:
            return None
        added = _epoch(stamp)
        return _Row(playlist_id, row_id, row[3], added), track, None if added is None else time.time() - added

    def poll_once(self) -> ImportedTrack | None:
        """Look once; report (and return) the newest history track if it is new, else ``None``.

        A locked, missing or unreadable database is counted in :attr:`errors` and gives ``None``.
        """
        with self._lock:
            try:
                found = self._newest()
            except (sqlite3.Error, LibraryImportError, OSError) as e:
                name = os.fsdecode(self.db_path)
                self._fail(f"{name}: " + ("no such file" if not os.path.exists(name) else str(e)))
                return None
            self.problem = None  # read again: whatever stopped the polls has passed
            first = not self._primed
            self._primed = True
            if found is None:
                return None
            ident, track, age = found
            if not self._is_new(ident):
                return None
            self._last = ident
            # a row stamped far ahead of our clock is yesterday's, seen by a clock since stepped back
            if first and (age is None or not -self.recent_s <= age <= self.recent_s):
                return None  # already there before we started, and not recent: not "now playing"
        self.on_played(track)
        return track

    def _is_new(self, row: _Row) -> bool:
        # A later row is a new play, with two exceptions: "Join with previous" copies rows into the
        # older playlist under new ids, keeping track and time added (the copy of the last play, or
        # of older history), and a row removed from the history (the DJ tidying up) makes an older
        # row the newest. SQLite may reuse the removed row's id: the same id with another track is new.
        last = self._last
        if last is None:
            return True
        if row.row_id < last.row_id:
            return False
        if (row.track_id, row.added) == (last.track_id, last.added):
            return row.playlist_id == last.playlist_id and row.row_id > last.row_id  # else Join's copy
        if row.added is not None and last.added is not None and row.added < last.added:
            return False  # a copy of older history (joined playlists), not a play
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as e:  # on_played's own failures must not kill the thread
                self._fail(f"on_played: {type(e).__name__}: {e}")
            self._stop.wait(self.interval_s)

    def _fail(self, text: str) -> None:
        """Count a failed poll; tell :attr:`on_error` the first time this reason occurs."""
        self.errors += 1
        # one str assignment each: a reader on another thread sees the old line or the new, never a mix
        self.last_error = self.problem = text
        if self.on_error is not None and text not in self._reported:
            self._reported.add(text)
            self.on_error(text)

    def describe(self, text: str) -> str:
        """``text`` (a failure) as the one line shown to the DJ, saying that polls go on."""
        return f"cannot follow Mixxx: {text} (retrying every {self.interval_s:g} s)"

    def status(self) -> str | None:
        """The current failure as :meth:`describe` puts it, for the dashboard; None while polls succeed."""
        problem = self.problem  # read once: the poll thread may clear it meanwhile
        return None if problem is None else self.describe(problem)

    def start(self) -> None:
        """Poll every ``interval_s`` in a daemon thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mixxx-history", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread and wait for it (at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def _epoch(stamp) -> float | None:
    """A Mixxx ``CURRENT_TIMESTAMP`` (UTC "YYYY-MM-DD HH:MM:SS") as Unix time; None if unparsable."""
    if not stamp:
        return None
    try:
        t = datetime.fromisoformat(str(stamp).replace("T", " ").rstrip("Z"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()


def mixxx_is_running(db_path=None) -> bool:
    """Best effort: is Mixxx running (so its database must not be written)?

    Method: a process named ``mixxx`` (Linux: ``/proc/*/comm``; macOS: ``pgrep -x``; Windows:
    ``tasklist``), or, for ``db_path``, a rollback journal or WAL file next to it (``-journal``,
    ``-wal``: some connection is writing). Errs on the side of "running" only through these
    signals; a Mixxx on another machine sharing the file is not seen.
    """
    if db_path is not None:
        base = os.fsdecode(db_path)
        if any(os.path.exists(base + suffix) for suffix in ("-journal", "-wal")):
            return True
    if sys.platform.startswith("linux") and os.path.isdir("/proc"):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
                    if f.read().strip().lower() == "mixxx":
                        return True
            except OSError:  # the process ended while we looked
                continue
        return False
    try:
        if sys.platform.startswith("win"):
            out = subprocess.run(["tasklist", "/FI", "IMAGENAME eq mixxx.exe", "/NH"], capture_output=True,
                                 text=True, timeout=5).stdout
            return "mixxx.exe" in out.lower()
        return subprocess.run(["pgrep", "-xi", "mixxx"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def append_to_playlist(db_path, playlist_name: str, paths: list[str], *,
                       is_running: Callable[[object], bool] = mixxx_is_running,
                       skipped: list[tuple[str, str]] | None = None) -> int:
    """Append tracks to a Mixxx playlist (created, visible, if missing), only while Mixxx is closed.

    Parameters
    ----------
    db_path : str or os.PathLike
        Mixxx's ``mixxxdb.sqlite``.
    playlist_name : str
        A visible playlist (``hidden = 0``); created the way Mixxx does (after the last position).
    paths : list of str
        Files to append, in order; matched on ``track_locations.location`` (Mixxx's absolute path).
    is_running : callable
        ``is_running(db_path) -> bool``; injectable for tests.
    skipped : list, optional
        Receives ``(path, why)`` for each path not appended (not in Mixxx's library).

    Returns
    -------
    int
        The number of tracks appended.

    Raises
    ------
    MixxxBusy
        Mixxx is running, or the database is locked.
    ValueError
        The file is missing, not a Mixxx database (another file, schema), or the playlist is locked in Mixxx.
    """
    name = os.fsdecode(db_path)
    if not os.path.isfile(db_path):
        raise ValueError(f"{name}: no such Mixxx database")
    if is_running(db_path):
        raise MixxxBusy(f"{name}: Mixxx is running - close it first (Mixxx allows no other writer)")
    db = connect_ro(db_path, 1.0, mode="rw", isolation_level=None)  # explicit transactions below
    try:
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise MixxxBusy(f"{name}: database is locked ({e}) - is Mixxx running?") from None
        has_locked = "locked" in columns(db, "Playlists")
        row = db.execute(f"SELECT id, {'locked' if has_locked else '0'} FROM Playlists WHERE name = ? AND hidden = ? "
                         "ORDER BY id LIMIT 1", (playlist_name, PLHT_NOT_HIDDEN)).fetchone()
        if row is None:
            pos = db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM Playlists").fetchone()[0]
            playlist_id = db.execute(
                "INSERT INTO Playlists (name, position, hidden, date_created, date_modified) "
                "VALUES (?, ?, ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                (playlist_name, pos, PLHT_NOT_HIDDEN)).lastrowid
        elif row[1]:
            raise ValueError(f"{name}: playlist {playlist_name!r} is locked in Mixxx")
        else:
            playlist_id = row[0]
        position = db.execute("SELECT COALESCE(MAX(position), 0) FROM PlaylistTracks WHERE playlist_id = ?",
                              (playlist_id,)).fetchone()[0]
        has_added = "pl_datetime_added" in columns(db, "PlaylistTracks")
        deleted = " AND COALESCE(l.mixxx_deleted, 0) = 0" if "mixxx_deleted" in columns(db, "library") else ""
        added = 0
        for path in paths:
            hit = db.execute("SELECT l.id FROM library l JOIN track_locations tl ON tl.id = l.location "
                             f"WHERE tl.location = ?{deleted} ORDER BY l.id LIMIT 1", (os.fsdecode(path),)).fetchone()
            if hit is None:
                if skipped is not None:
                    skipped.append((path, "not in Mixxx's library"))
                continue
            position += 1
            if has_added:
                db.execute("INSERT INTO PlaylistTracks (playlist_id, track_id, position, pl_datetime_added) "
                           "VALUES (?, ?, ?, CURRENT_TIMESTAMP)", (playlist_id, hit[0], position))
            else:
                db.execute("INSERT INTO PlaylistTracks (playlist_id, track_id, position) VALUES (?, ?, ?)",
                           (playlist_id, hit[0], position))
            added += 1
        db.execute("UPDATE Playlists SET date_modified = CURRENT_TIMESTAMP WHERE id = ?", (playlist_id,))
        db.execute("COMMIT")
        return added
    except sqlite3.DatabaseError as e:  # "file is not a database", "no such table: Playlists": another file
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise ValueError(f"{name}: not a Mixxx database livedj can write to ({e})") from None
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()

