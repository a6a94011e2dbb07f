"""Which errors a command reports as one line (naming the file or key) instead of a traceback.

Each command catches :func:`one_line_errors` around its work and prints :func:`describe` of it;
anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import os
import sqlite3


def one_line_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose ``str()`` (through :func:`describe`) is a complete one-line message."""
    from livedj.adapt.head import HeadError  # a missing or damaged booth head (musicnn-booth): names the file
    from livedj.audio.decode import DecodeError
    from livedj.library.errors import IndexUnusable
    from livedj.library.setlog import SetLogUnusable
    from livedj.library.store import StoreError
    from livedj.library.verify import IndexBusy
    from livedj.library.workers import WorkersFailed

    return (IndexUnusable, StoreError, IndexBusy, WorkersFailed, SetLogUnusable, DecodeError, HeadError,
            sqlite3.DatabaseError, OSError)


def describe(exc: BaseException, index_dir: str | os.PathLike | None = None) -> str:
    """One line for ``exc``: the file it concerns and what to do."""
    if isinstance(exc, sqlite3.DatabaseError):
        from livedj.library.errors import not_damage

        where = os.path.join(os.fsdecode(index_dir), "library.sqlite") if index_dir else "the library store"
        if not_damage(exc):  # not the store's fault: nothing was changed, and a rebuild would not help
            return f"{where}: {not_damage(exc)} ({exc}); nothing was changed: run again once that is solved"
        return f"{where}: damaged ({exc}); `livedj index` rebuilds it from the audio files"
    if isinstance(exc, OSError) and exc.filename is not None:
        where = os.fsdecode(exc.filename)
        line = f"{where}: {exc.strerror or exc}"
        index = os.fsdecode(index_dir) if index_dir else ""
        if index and (where == index or index.startswith(where.rstrip(os.sep) + os.sep)):
            # "livedj index: /.local: Permission denied" (HOME=/ of a service user) said not what was being made
            line += f" (the index folder {index}: choose a writable one with --index or index.path)"
        return line
    text = str(exc) or type(exc).__name__
    return " ".join(text.split()) if "\n" in text else text
