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
    """Open ``path`` with SQLite's URI ``mode`` (``"ro"`` or ``"rw"``)."""
    path = Path(os.path.abspath(os.fsdecode(path)))
    uri = path.as_uri() + f"?mode={mode}"
    return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False, **kwargs)
