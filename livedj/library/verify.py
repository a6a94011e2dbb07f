"""Checking an index directory against its manifest, and what `livedj index` repairs on every run.

The manifest names every file of the current generation with its size and CRC-32 (any dict with
``file``/``size``/``crc32`` keys, wherever it sits in the manifest: beginnings, segments and
their map, fingerprint files, whatever a later format adds). :func:`problems` checks them all
generically, without knowing their internal format, so a zeroed, truncated, garbled or deleted
file is found by the same rule. :func:`store_digest` summarises the store rows the index is
built from; the manifest keeps it, so tracks the store committed before a crash (kill -9 while
the Annoy file was being built) are noticed on the next run and reach the index.

:func:`lock` keeps two `livedj index` runs from building into one directory at once, and
:func:`clean_leftovers` removes temporaries and unreferenced generations a crash left behind.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import zlib
from pathlib import Path

MANIFEST = "manifest.json"
LOCK = ".index.lock"
#: files a build writes, and the temporaries of a write (``.NAME.xxxx.tmp``, Annoy's ``NAME.tmp``): everything
#: else in the directory (the store, the lock, the user's own files: ``segments-of-life.mp3``, ``notes.tmp``) stays
GENERATION = re.compile(r"((beginnings|segments|fingerprints)-\d+\.[a-z.]+|projection-[0-9a-f]+\.npz|\..+\.tmp)")
#: what a livedj index folder can hold: a folder without an index holding anything else is not one
_OURS = re.compile(r"((library|history)\.sqlite.*|manifest\.json|(windows|context|train-[a-z]+)\.npz|sequences\.json"
                   r"|head\.safetensors.*|\..*)")
DIGEST_KEY = "store_digest"


class IndexBusy(Exception):
    """Another process holds the index directory's build lock."""


def crc32(path: str | os.PathLike) -> int:
    """CRC-32 of a file's bytes (zlib), read in 4-MiB chunks."""
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    return crc


def file_entries(manifest) -> list[dict]:
    """Every ``{"file", "size", ...}`` entry anywhere in ``manifest`` (nested dicts and lists)."""
    found: list[dict] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("file"), str) and "size" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(manifest)
    return found


def check_entry(directory: Path, entry: dict, *, crc: bool = True) -> str | None:
    """One line naming the file and what is wrong with it, or None when it matches its entry."""
    name = entry.get("file")
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        return f"{directory / MANIFEST}: a file entry names {name!r}, not a file of this directory"
    path = directory / name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"{path}: missing"
    except OSError as exc:
        return f"{path}: unreadable ({exc.strerror})"
    if not path.is_file():
        return f"{path}: not a regular file"
    if size != entry.get("size"):
        return f"{path}: {size} bytes, the manifest says {entry.get('size')} (truncated or replaced)"
    if crc and "crc32" in entry:
        try:
            if crc32(path) != entry["crc32"]:
                return f"{path}: checksum mismatch (damaged)"
        except OSError as exc:
            return f"{path}: unreadable ({exc.strerror})"
    return None


def read_manifest(directory: str | os.PathLike) -> tuple[dict | None, str | None]:
    """The manifest as a dict and None, or None and one line saying why it cannot be used."""
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{path}: missing"
    except (OSError, ValueError) as exc:
        return None, f"{path}: unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    if not isinstance(manifest, dict):
        return None, f"{path}: not a JSON object"
    return manifest, None


def problems(directory: str | os.PathLike, *, crc: bool = True) -> list[str]:
    """What is wrong with the index in ``directory``, one line per problem (empty: it matches its manifest).

    Checks that the manifest parses, that every file it names exists with its recorded size and
    (``crc=True``) CRC-32. The meaning of the fields is :mod:`livedj.library.index`'s business.
    """
    directory = Path(directory)
    manifest, why = read_manifest(directory)
    if manifest is None:
        return [why]
    out = []
    for entry in file_entries(manifest):
        if not isinstance(entry.get("size"), int) or (
                "crc32" in entry and not isinstance(entry["crc32"], int)):
            out.append(f"{directory / MANIFEST}: entry for {entry.get('file')!r} has a size or CRC that is not a number")
            continue
        trouble = check_entry(directory, entry, crc=crc)
        if trouble:
            out.append(trouble)
    return out


def store_digest(db) -> str:
    """A digest of the store rows an index is built from: every good row's id and when it was analysed.

    ``db`` is the store's sqlite3 connection. A row added, removed or re-analysed changes it.
    """
    crc, n = 0, 0
    for track_id, indexed_at in db.execute("SELECT id, indexed_at FROM tracks WHERE status = 'ok' ORDER BY id"):
        crc = zlib.crc32(f"{track_id}:{indexed_at!r};".encode(), crc)
        n += 1
    return f"{n}:{crc:08x}"


def reasons_to_build(directory: str | os.PathLike, digest: str) -> list[str]:
    """Why the index in ``directory`` must be rebuilt from the store (empty: it is complete and intact)."""
    found = problems(directory)
    if found:
        return found
    manifest, _ = read_manifest(directory)
    if manifest.get(DIGEST_KEY) != digest:
        return [f"{Path(directory) / MANIFEST}: the store holds tracks the index lacks (an earlier run was interrupted)"
                if manifest.get(DIGEST_KEY) else f"{Path(directory) / MANIFEST}: no record of the store it was built from"]
    return []


def clean_leftovers(directory: str | os.PathLike) -> list[str]:
    """Remove temporaries and generation files the manifest does not name; return their names.

    Only call with the build lock held (:func:`lock`): a concurrent build's temporaries would go too.
    A running daemon keeps files it has open or mapped even after they are unlinked.
    """
    directory = Path(directory)
    manifest, _ = read_manifest(directory)
    keep = {e.get("file") for e in file_entries(manifest)} if manifest else set()
    removed = []
    for path in generation_files(directory):
        if path.name in keep or path.name.startswith("projection-"):  # a projection: the build's to replace
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    from livedj.library.snapshot import stale_copies

    for path in stale_copies(directory):  # a process died while loading: its private copies
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    return sorted(removed)


def generation_files(directory: str | os.PathLike) -> list[Path]:
    """The files in ``directory`` a build wrote or began to write (:data:`GENERATION`), of any generation."""
    return [p for p in Path(directory).iterdir() if GENERATION.fullmatch(p.name) and p.is_file()]


def refuse_foreign(directory: str | os.PathLike) -> None:
    """Raise :class:`IndexUnusable` when ``directory`` holds no index but other files (a music folder named
    as --index by mistake, whose files a build would mix with its own)."""
    from livedj.library.errors import IndexUnusable

    directory = Path(directory)
    if not directory.is_dir() or (directory / MANIFEST).exists() or (directory / "library.sqlite").exists():
        return
    others = sorted(p.name for p in directory.iterdir() if not (_OURS.fullmatch(p.name) or GENERATION.fullmatch(p.name)))
    if others:
        raise IndexUnusable(f"{directory}: not a livedj index, and not empty ({len(others)} other files, e.g. "
                            f"{others[0]!r}): give --index (index.path) a new or empty folder")


def lock(directory: str | os.PathLike, wait: bool = False) -> int:
    """Take the index directory's build lock (an advisory ``flock``) or raise :class:`IndexBusy` at once
    (``wait``: until the process holding it lets go, however it ends).

    Returns the descriptor: closing it (:func:`unlock`) releases the lock, and so does the kernel
    when the process dies, however it dies (kill -9 leaves nothing to clean).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise IndexBusy(f"{directory}: another `livedj index` is building this index; wait for it to finish") from None
        raise
    return fd


def unlock(fd: int) -> None:
    os.close(fd)


def open_store(directory: str | os.PathLike):
    """The index directory's store for writing, and None -- or, when it is damaged, a fresh one and why.

    A store SQLite cannot read (a garbled page: "database disk image is malformed", a file that is
    not a database) is set aside as ``library.sqlite.damaged-<time>`` (kept, for whoever wants to
    look), and a new empty store takes its place: the audio files are the source of truth, so the
    run analyses them again and the index is complete afterwards. Checked with ``PRAGMA
    quick_check`` on every run (it reads every page once).
    """
    import sqlite3
    import time

    from livedj.library.errors import not_damage
    from livedj.library.store import Store, StoreError

    directory = Path(directory)
    try:
        store = Store(directory)
        try:
            rows = store.db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError:
            store.close()
            raise
        if rows == [("ok",)]:
            from livedj.library.store import BAD_ROWS

            bad = store.db.execute(f"DELETE FROM tracks WHERE {BAD_ROWS}").rowcount  # analysed again, the rest kept
            store.db.commit()
            return store, (f"{directory / Store.FILENAME}: {bad} rows with fields of the wrong type removed; their "
                           "files are analysed again") if bad else None
        store.close()
        reason = "; ".join(str(r[0]) for r in rows[:2])
    except (sqlite3.DatabaseError, StoreError) as exc:  # StoreError: unreadable meta, another schema
        if not_damage(exc) and not (directory / Store.FILENAME).is_dir():  # a full disk, a lock: the store is
            raise  # fine, and a new one could not be written either (a folder in its place is set aside)
        reason = str(exc).replace(f"{directory / Store.FILENAME}: ", "")
    path = directory / Store.FILENAME
    aside = path.with_name(f"{Store.FILENAME}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):  # the damaged database's journal must not be replayed into the new one
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    return Store(directory), f"{path}: damaged ({reason}); set aside as {aside.name}, every file is analysed again"
