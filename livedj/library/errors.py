"""The errors of the library's on-disk files: the index (or a part of it) cannot be used; an SQLite error that is not damage."""
from __future__ import annotations


class IndexUnusable(Exception):
    """The index cannot be used; ``str()`` is one line naming the directory/file and why."""


#: SQLite's primary result codes of a database that is fine but cannot be used now: permission, busy, locked,
#: out of memory, read-only, I/O error, disk full, cannot open (https://sqlite.org/rescode.html)
_NOT_DAMAGE = {3: "no permission", 5: "busy", 6: "locked", 7: "out of memory", 8: "read-only", 10: "I/O error",
               13: "disk full", 14: "cannot open", 23: "not authorised"}


def not_damage(exc: BaseException) -> str | None:
    """For an SQLite error that says nothing about the database's contents (a full disk, a lock, a
    read-only folder), a few words naming it; None for any other error (damage, or not SQLite's)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return _NOT_DAMAGE.get(code & 0xFF) if isinstance(code, int) else None
