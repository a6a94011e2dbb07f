"""Files the DJ moved or renamed between two `livedj index` runs: the same row, under the new path.

Why
---
A DJ reorganises folders (``Inbox/x.mp3`` -> ``House/x.mp3``, a folder renamed). Seen as a file gone
and a file new, the record was analysed again as a new track (a new id: an hour for a library of
thousands), and every play of it in the set log, written under the old path, no longer counted: a
record played an hour ago could be suggested again tonight, and the context model forgot it.

How
---
A file new this run and a stored row whose file is gone this run are one file moved when they agree
on size and ``mtime_ns`` (``mv`` and most copies keep both) *and* on content: the hash of the first
:data:`HEAD_BYTES` stored with the row (:func:`head_hash`) or, for a row an older livedj stored
without one, the file name. Only a one-to-one agreement is taken: two new files for one gone row
(copies of it), or two gone rows for one new file, are analysed as new -- never guessed. A file moved
*and* changed (tags edited: another size or time) has no partner and is analysed again.

The row keeps its id and everything analysed (vectors, landmarks, key, BPM, its copies); it takes the
new path, and the old path is kept in the store's ``moves`` table (:meth:`Store.record_move
<livedj.library.store.Store.record_move>`) so that set-log paths written before the move still name
it: ``Track.moved_from`` (:meth:`Store.tracks <livedj.library.store.Store.tracks>`), read wherever a
path is mapped to an id (:func:`livedj.library.sequences.path_ids`, ``CurrentLibrary``).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Iterable

from livedj.library.store import display_path, encode_path

#: bytes hashed from the start of a file to tell its content (a header and the first frames: two
#: encodings of one recording differ there; a read of one disk block or so, against seconds of analysis)
HEAD_BYTES = 64 * 1024
#: A scanned folder that is there but holds no file while the index holds tracks from it: an unmounted drive's
#: mount point, a share not connected. Its tracks are kept, as those of a folder not there are.
EMPTY = "an empty folder"


def head_hash(path: str | bytes) -> str | None:
    """The hash of the first :data:`HEAD_BYTES` of the file at ``path`` (None: it cannot be read).

    Parameters
    ----------
    path : str or bytes
        The file.

    Returns
    -------
    str or None
        A hex digest (BLAKE2b, 16 bytes).
    """
    try:
        with open(path, "rb") as f:
            return hashlib.blake2b(f.read(HEAD_BYTES), digest_size=16).hexdigest()
    except OSError:
        return None


def keep_empty_roots(roots: list[str], found: list, gone: set[bytes], skipped: list) -> set[bytes]:
    """``gone`` (the stored paths leaving the index, once moves are followed) less those under a scanned folder
    that is there but in which the scan found no file (see :data:`EMPTY`); each such folder added to ``skipped``."""
    seen = [encode_path(f.path) for f in found]
    for root in roots:
        prefix = encode_path(os.path.join(root, ""))
        rows = {p for p in gone if p.startswith(prefix)}
        if rows and os.path.isdir(root) and not any(p.startswith(prefix) for p in seen):
            gone = gone - rows
            skipped.append((display_path(encode_path(root)), f"{EMPTY} (its {len(rows)} indexed tracks are kept: "
                            "a drive not mounted?)"))
    return gone


def gone_rows(known: dict[bytes, object], found: Iterable, roots: list[str], problems: list[tuple[str, str]],
              aliases: Iterable[str]) -> set[bytes]:
    """The stored paths whose files the scan did not find where it looked.

    Parameters
    ----------
    known : dict
        ``Store.fingerprints()``: every stored path.
    found : iterable of FoundFile
        What the scan found.
    roots : list of str
        The folders (or files) scanned, absolute. One that is not there (a drive not plugged in), or a
        folder that could not be read (in ``problems``), says nothing about its files: kept.
    problems : list of (path, reason)
        The scan's problems.
    aliases : iterable of str
        Other names of scanned files (links) a file was stored under before.

    Returns
    -------
    set of bytes
        Stored paths (os.fsencode) to remove, or to follow when they moved (:func:`find_moves`).
    """
    seen = {encode_path(f.path) for f in found}
    present = [r for r in roots if os.path.exists(r)]  # a link to an unplugged drive: not there
    prefixes = tuple(encode_path(os.path.join(r, "")) for r in present)
    root_files = {encode_path(r) for r in present}
    unread = tuple(encode_path(os.path.join(p, "")) for p, why in problems if why.startswith("cannot read folder"))
    gone = {p for p in known if p not in seen and (p.startswith(prefixes) or p in root_files)
            and not p.startswith(unread)}
    return gone | {p for p in map(encode_path, aliases) if p in known}  # stored under a link's name before


@dataclass(frozen=True)
class Move:
    """One stored row whose file moved: its id, the path it was stored under, the path it is at now."""

    track_id: int
    old: bytes  #: as stored (os.fsencode)
    new: str  #: os.fsdecode form, as the scan found it


@dataclass
class Found:
    """What :func:`find_moves` found: the moves taken, and the new files left to analysis though a gone
    row agreed with them (more than one could be it)."""

    moves: list[Move]
    unsure: list[str]


def find_moves(store, gone: Iterable[bytes], new_files: Iterable) -> Found:
    """Pair the rows whose files are gone with the files new this run (see the module's docstring).

    Parameters
    ----------
    store : livedj.library.store.Store
        The store (read only here).
    gone : iterable of bytes
        Stored paths whose files the scan did not find.
    new_files : iterable of FoundFile
        Files the scan found that the store holds under no path.

    Returns
    -------
    Found
        The moves (nothing written yet: :func:`apply_moves`) and the unsure new files.
    """
    gone = set(gone)
    by_stat: dict[tuple[int, int], list] = {}
    for f in new_files:
        by_stat.setdefault((f.size, f.mtime_ns), []).append(f)
    if not gone or not by_stat:
        return Found([], [])
    rows = [(tid, bytes(raw), size, mtime, head) for tid, raw, size, mtime, head in store.db.execute(
        "SELECT id, path, size, mtime_ns, head_hash FROM tracks WHERE status = 'ok'") if bytes(raw) in gone]
    hashes: dict[str, str | None] = {}  # a candidate's head hash, read once and only when a row needs it

    def agrees(row, f) -> bool:
        if row[4] is not None:  # the content as stored; the name may have changed with the folder
            if f.path not in hashes:
                hashes[f.path] = head_hash(f.path)
            return hashes[f.path] == row[4]
        return os.path.basename(row[1]) == os.path.basename(encode_path(f.path))  # an older livedj's row

    partners = {row: [f for f in by_stat.get((row[2], row[3]), ()) if agrees(row, f)] for row in rows}
    claimed: dict[str, int] = {}
    for found in partners.values():
        for f in found:
            claimed[f.path] = claimed.get(f.path, 0) + 1
    moves, unsure = [], set()
    for row, found in partners.items():
        if len(found) == 1 and claimed[found[0].path] == 1:
            moves.append(Move(row[0], row[1], found[0].path))
        else:  # copies of it, or one file for two gone rows: analysed as new
            unsure.update(f.path for f in found)
    return Found(moves, sorted(unsure))


def apply_moves(store, moves: list[Move], *caches: dict) -> None:
    """Give each moved row its new path, remember the old one, and re-key ``caches`` (by stored path).

    Parameters
    ----------
    store : livedj.library.store.Store
        Written and committed here, all moves in one transaction.
    moves : list of Move
        From :func:`find_moves`.
    *caches : dict
        Dicts keyed by stored path (the window cache, ``Store.fingerprints()``): the moved entries
        are put under their new path.
    """
    for m in moves:
        store.record_move(m.track_id, m.old, m.new, head_hash(m.new))
    store.db.commit()
    for cache in caches:
        for m in moves:
            if m.old in cache:
                cache[encode_path(m.new)] = cache.pop(m.old)
