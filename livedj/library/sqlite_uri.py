"""Opening an SQLite database through a URI: read-only (never created or written) or read-write (never created).

The URI is made from the path by :meth:`pathlib.Path.as_uri`: one made by hand (``file:{path}?mode=ro``)
cut a folder named ``Set #2`` or ``100%`` at the ``#``, ``?`` or ``%`` and opened, or created, the file
the rest named, read-write.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def connect(path, *, mode: str = "ro", timeout: float = 5.0, **kwargs) -> sqlite3.Connection:
    """Open ``path`` with SQLite's URI ``mode`` (``"ro"`` or ``"rw"``).

    Read-only on a read-only filesystem (a locked SD card, a mount with ``ro``), SQLite cannot make the
    shared-memory file a reader of a WAL database needs: nothing can write there, so the database is
    opened as immutable instead.
    """
    path = Path(os.path.abspath(os.fsdecode(path)))
    uri = path.as_uri() + f"?mode={mode}"
    db = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False, **kwargs)
    if mode != "ro":
        return db
    try:
        db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError:
        if not _read_only_filesystem(path.parent):
            return db  # the caller's first query says what is wrong
        db.close()
        return sqlite3.connect(uri + "&immutable=1", uri=True, timeout=timeout, check_same_thread=False, **kwargs)
    except sqlite3.DatabaseError:
        pass  # not a database: the caller's first query says so
    return db


def _read_only_filesystem(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False
