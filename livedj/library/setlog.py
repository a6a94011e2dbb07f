"""The live side of the set log: plays written from a queue on a thread of their own.

`History` (``history.py``) is the set log on disk; `SetLogWriter` is what the live loop talks to,
so that a slow or failing disk never holds up an update (the engine's rule: nothing on the live
path blocks on disk). It keeps what it could not write and writes it when the disk works again.
"""
from __future__ import annotations

import os
import sqlite3
import time

from livedj.library.history import History
from livedj.words import plural


class SetLogUnusable(Exception):
    """The set log cannot be opened at start-up; ``str()`` is one line naming the file."""


class SetLogWriter:
    """Writes plays from a queue on its own thread, so the live loop never waits on the disk.

    ``stop()`` drains the queue before it returns: what was logged before SIGTERM is kept. A set
    log that cannot be opened at start is an error (:meth:`start` raises :class:`SetLogUnusable`);
    one that fails later (disk full, file removed, permissions) keeps the plays it could not write
    in memory (:attr:`unwritten`), says so loudly (:attr:`error`, a warning in the journal), and
    writes them, in order, as soon as a write succeeds again (retried every ``retry_s``).
    """
    retry_s = 5.0
    #: how long one write waits for a lock another program holds (`sqlite3 history.sqlite`, BEGIN
    #: EXCLUSIVE): short, so that the last attempt at stop() ends well within its wait (:meth:`stop`)
    busy_s = 1.0
    #: the same file again within this many seconds of its last logged play is the same play (a
    #: controller that double-taps, a deck re-cued, a flickering identification): not logged again
    repeat_s = 600.0

    def __init__(self, path: str | os.PathLike, session_name: str | None = None):
        import queue
        import threading

        self.path = path
        self._queue: queue.Queue = queue.Queue(maxsize=10_000)
        self._thread = threading.Thread(target=self._run, name="livedj-setlog", daemon=True)
        self._ready = threading.Event()
        self.session_id: int | None = None
        self.session_name = session_name
        self.written = 0
        self.error: str | None = None
        self.unwritten: list = []  #: (path, fields) of plays not yet on disk, oldest first
        self.repeats = 0  #: plays not logged because they repeated one within ``repeat_s``
        self._last_logged: dict[object, float] = {}  #: path (or recording) -> time.monotonic() of its last logged play
        self._done: list = []  #: (path, fields) written tonight: written again if the file is removed while running
        self._file: tuple[int, int] | None = None  #: the file open (device, inode)
        self._history: History | None = None
        self._started_at = 0.0
        self._stopped_waiting = False  #: stop() gave up waiting and named what was not saved
        self._said_unsaved = False  #: the plays not saved were named on the log (the run is ending)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)
        if self.session_id is None:
            raise SetLogUnusable(self.error or f"{self.path}: set log did not open within 10 s")

    def status(self) -> str | None:
        """One line for the dashboard / JSON summary while plays are not reaching the disk, else None."""
        if self.error is None:
            return None
        kept = "NOT saved (named above)" if self._said_unsaved else "kept in memory"
        return f"SET LOG FAILING: {self.error}; {plural(len(self.unwritten), 'play')} {kept}"

    def log(self, path: str, *, same: object = None, **fields) -> bool:
        """Queue one play (see :meth:`History.log_play` for the fields); never blocks.

        Returns False when it repeats the same file's play within :attr:`repeat_s` (not logged).
        ``same``: what makes two plays one record when it is not the file (the recording of a record
        the library holds twice: the DJ told the MP3, the fingerprints named the FLAC).
        """
        # monotonic: a wall clock stepped back a day would call every replay within that day a repeat
        now = time.monotonic()
        key = path if same is None else same
        last = self._last_logged.get(key)
        if last is not None and now - last < self.repeat_s:
            self.repeats += 1
            return False
        self._last_logged[key] = now
        try:
            self._queue.put_nowait((path, {"at": time.time(), **fields}))
        except Exception:  # a full queue means the disk is gone; counting is all we can do
            self.error = "set log queue full"
        return True

    def log_feedback(self, path: str, kind: str, playing: str | None = None) -> None:
        """Queue a skip or ban (see :meth:`History.log_feedback`); never blocks."""
        try:
            self._queue.put_nowait((path, {"at": time.time(), "_feedback": kind, "playing": playing}))
        except Exception:
            self.error = "set log queue full"

    def stop(self) -> None:
        """Write what is queued and end the session; a writer still stuck after 5 s (a disk that hangs)
        is left, and the plays it holds are named on the log (the process is about to end)."""
        self._queue.put(None)
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            import logging

            self._stopped_waiting = True
            waiting = [item for item in list(self._queue.queue) if item is not None]
            self._say_unsaved(logging.getLogger("livedj"), list(self.unwritten) + waiting)

    def _say_unsaved(self, log, unsaved: list) -> None:
        """The last resort: the entries not on disk, on stderr (the journal), one line each."""
        if not unsaved:
            return
        self._said_unsaved = True
        log.error("set log %s unwritable (%s): %s NOT saved:", self.path, self.error or "not answering",
                  plural(len(unsaved), "play"))
        for path, fields in unsaved:  # skips and bans queue here too (log_feedback)
            what = {"skip": "skipped", "ban": "banned"}.get(fields.get("_feedback"), "played")
            log.error("  %s %s at %s (%s)", what, path, time.strftime("%H:%M:%S", time.localtime(fields["at"])),
                      fields.get("source", "?"))

    def _run(self) -> None:
        self._started_at = time.time()
        try:
            self._history = _open(self.path, self.busy_s)
            self.session_id = self._history.start_session(self.session_name, at=self._started_at)
            self._file = _identity(self.path)
        except (OSError, sqlite3.Error) as exc:
            held = "locked" in str(exc)  # a transaction of another program (an open sqlite3 shell), not damage
            self.error = f"{self.path}: set log unusable: {exc}" + (
                " (another program holds it in a transaction: end it or close that program, then start again)"
                if held else "")
            self._ready.set()
            return
        self._ready.set()
        import logging
        import queue

        log = logging.getLogger("livedj")
        try:
            while True:
                try:
                    item = self._queue.get(timeout=self.retry_s if self.unwritten else None)
                except queue.Empty:
                    item = ...  # time to retry what is kept in memory
                if item is None:
                    break
                if item is not ...:
                    self.unwritten.append(item)
                self._flush(log)
            self._flush(log)
            if not self.unwritten:  # else it fails as the plays did: the time left goes to naming them
                try:
                    self._history.end_session(self.session_id)
                except (OSError, sqlite3.Error):
                    pass
            if not self._stopped_waiting:  # else stop() named them already
                self._say_unsaved(log, self.unwritten)
        finally:
            self._history.close()

    def _reopen(self, log) -> None:
        """The file at :attr:`path` is no longer the one open (removed, or replaced): open the one there now
        (a new one where none is) and write tonight's session into it again, with every entry written so far.
        Raises OSError or sqlite3.Error (the entries stay in memory, retried)."""
        history = _open(self.path, self.busy_s)
        try:
            session_id = history.start_session(self.session_name, at=self._started_at)
            for path, fields in self._done:
                _write(history, session_id, path, fields)
        except BaseException:
            history.close()
            raise
        old, self._history, self.session_id, self._file = self._history, history, session_id, _identity(self.path)
        old.close()
        log.warning("set log %s was removed or replaced while running: written again there with tonight's %s",
                    self.path, plural(len(self._done), "entry", "entries"))

    def _flush(self, log) -> None:
        while self.unwritten or self._done:
            try:
                if _identity(self.path) != self._file:
                    self._reopen(log)
                if not self.unwritten:
                    break
                path, fields = self.unwritten[0]
                _write(self._history, self.session_id, path, fields)
            except (OSError, sqlite3.Error) as exc:
                if self.error is None:
                    log.warning("set log %s: cannot write (%s); plays are kept in memory and written when it works "
                                "again", self.path, exc)
                self.error = f"{self.path}: {exc}"
                return
            self._done.append(self.unwritten.pop(0))
            if "_feedback" not in fields:
                self.written += 1
        if self.error is not None:
            log.warning("set log %s: writing again; every play kept in memory is saved", self.path)
            self.error = None


def _open(path, busy_s: float) -> History:
    history = History(path)
    history.db.execute(f"PRAGMA busy_timeout = {int(busy_s * 1000)}")
    return history


def _identity(path) -> tuple[int, int] | None:
    """Which file ``path`` is (device, inode); None where there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _write(history: History, session_id: int, path: str, fields: dict) -> None:
    """One entry of the queue into ``history``: a play, or a skip or ban (see :meth:`SetLogWriter.log_feedback`)."""
    if "_feedback" in fields:
        fields = dict(fields)
        history.log_feedback(session_id, path, fields.pop("_feedback"), **fields)
    else:
        history.log_play(session_id, path, **fields)
