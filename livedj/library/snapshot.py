"""A private copy of the index generation a long-running process maps, so nobody can pull it away.

Annoy and the fingerprint arrays are memory-mapped: if another process truncates a mapped file
in place (``cp backup/beginnings-3.ann index/`` opens it with ``O_TRUNC``), the next query that
touches a page past the new end gets SIGBUS and the daemon dies. Building under new names only
protects against livedj's own writers. :func:`private_generation` copies the manifest and every
file it names into a fresh hidden folder beside them, yields it for loading, and then unlinks
the copies' names: the maps keep the (now nameless) copies alive until they are unloaded, and
nothing outside this process can open, truncate or rewrite them. The checksums are verified on
the copy that is mapped, so the check and the map concern the same bytes.

Cost, measured here (ext4, shared 2-core VM): 3.6 s and the disk space of the index per GB
(a 10,000-track musicnn beginnings file is 9.8 MB: ~40 ms; fingerprints of 10,000 five-minute
records ~1.3 GB: ~5 s, in the loading thread, never on the live path). Where the copy cannot be
made (read-only or full disk) the originals are mapped, as before, with a warning.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

log = logging.getLogger("livedj")

PREFIX = ".live-"


@contextlib.contextmanager
def private_generation(directory: str | os.PathLike, names: list[str]) -> Iterator[Path]:
    """Yield a folder holding private copies of the files ``names`` of ``directory`` (the manifest
    and every file it names).

    After the ``with`` block the copies lose their names (mapped ones live on, privately). If no
    copy can be made, yields ``directory`` itself.
    """
    directory = Path(directory)
    try:
        private = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=directory))
    except OSError as exc:
        log.warning("%s: cannot make a private copy of the index (%s): mapping the files in place; "
                    "do not overwrite them while livedj runs", directory, exc.strerror)
        yield directory
        return
    try:
        try:
            for name in names:
                if "/" in name or name in (".", ".."):
                    continue  # load() refuses the manifest with a clear message
                with contextlib.suppress(FileNotFoundError):  # load() names the missing file
                    shutil.copyfile(directory / name, private / name)
        except OSError as exc:
            log.warning("%s: cannot make a private copy of the index (%s): mapping the files in place; "
                        "do not overwrite them while livedj runs", directory, exc.strerror or exc)
            shutil.rmtree(private, ignore_errors=True)
            private = None
            yield directory
            return
        yield private
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)  # names only: open maps keep their pages


def stale_copies(directory: str | os.PathLike) -> list[Path]:
    """Private folders left by processes that died while loading (their pid is gone)."""
    out = []
    for path in Path(directory).glob(f"{PREFIX}*"):
        try:
            pid = int(path.name[len(PREFIX):].split("-", 1)[0])
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            out.append(path)
        except PermissionError:  # alive, someone else's
            pass
    return out
