"""Writing files all or nothing: a crash leaves the old file or the new one, never half of one."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable (its entry is on disk, not only the file's data)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike | bytes, write: Callable[[IO], None], *, binary: bool = True,
                 file_mode: int | None = None, make_folder: bool = True) -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync it, and rename it over ``path``.

    Parameters
    ----------
    path : path-like
        The file to replace (its folder is created).
    write : callable
        Writes the whole content to the open file it is given.
    binary : bool
        Open the temporary file in binary (default) or UTF-8 text mode.
    file_mode : int, optional
        Permission bits for the new file (default: a replaced file keeps its own, a new one gets the umask's).
    make_folder : bool
        Create the missing folders above ``path`` (False: a missing folder is an error, for files
        the user named: a typo must not create a tree silently).
    """
    out = Path(os.fsdecode(path))
    if make_folder:
        out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{short_name(out.name)}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise _naming(exc, out) from None
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode if file_mode is not None else _mode_for(out))  # mkstemp's is 0600
        os.replace(tmp, out)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and (exc.filename is None or os.fsdecode(exc.filename) == tmp):
            raise _naming(exc, out) from None  # a full disk names the file, not "[Errno 28]" alone
        raise
    fsync_dir(out.parent)


def short_name(name: str, limit: int = 100) -> str:
    """``name`` cut to ``limit`` bytes, for a temporary file's name beside it: ``.NAME.xxxxxxxx.tmp`` of a
    name near the system's 255-byte limit was too long, and a file the user could name could not be written."""
    return os.fsdecode(os.fsencode(name)[:limit])


def _naming(exc: OSError, out: Path) -> OSError:
    """``exc`` naming ``out`` (not the temporary file, or nothing)."""
    return type(exc)(exc.errno, exc.strerror or str(exc), str(out))


def _mode_for(out: Path) -> int:
    """The permission bits a replaced file keeps, or a new file gets from the umask (as open() would)."""
    try:
        return out.stat().st_mode & 0o777
    except OSError:
        pass
    try:
        with open("/proc/self/status", encoding="ascii") as f:  # reading the umask without setting it
            umask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = 0o022
    return 0o666 & ~umask


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]}


def printable(name: str) -> str:
    """``name`` safe to print on one terminal line: control characters (newline, ESC of a terminal
    escape sequence, ...) shown as ``\\xNN``; undecodable bytes (surrogate escapes) as ``\\xNN`` too."""
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return name.translate(_CONTROL)
