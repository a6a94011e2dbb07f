"""The DJ's sequences resolved to library track ids, counted, and kept beside the index.

:func:`resolve` turns :class:`~livedj.library.importers.playlists.Sequence` paths into track ids
of the store (the same path rule as the indexer: ``os.path.abspath`` then the raw bytes; a path
that names an indexed file through a link, as the indexer knows files, resolves to it) and counts
what did not resolve, empty lists and duplicate entries -- never fatal. :func:`save` writes
``sequences.json`` into the index directory atomically; :func:`load` reads it back (a missing
file is "no playlists imported", a corrupt one is reported and treated the same).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from livedj.fsutil import atomic_write
from livedj.library.scan import foreign, identity
from livedj.words import plural

FILENAME = "sequences.json"
FORMAT = 1


@dataclass(frozen=True)
class IdSequence:
    """A sequence of library track ids (see :class:`~livedj.library.importers.playlists.Sequence`)."""

    name: str
    kind: str  #: "crate", "playlist" or "set"
    source: str
    ids: tuple[int, ...]
    skipped: tuple[tuple[int, int], ...] = ()  #: (playing id or -1, skipped id)
    banned: tuple[int, ...] = ()


@dataclass
class ResolveReport:
    """What :func:`resolve` could not use, counted (and a few examples of each)."""

    sequences: int = 0
    entries: int = 0
    resolved: int = 0
    unresolved: int = 0
    empty: list[str] = field(default_factory=list)  #: names of lists with no entry in the library
    duplicates: int = 0  #: entries repeated within a crate/playlist (sets may repeat a record)
    examples: list[tuple[str, str]] = field(default_factory=list)  #: (list name, path not in the library)

    def lines(self) -> list[str]:
        """One-line summaries for the command line."""
        out = [f"{plural(self.sequences, 'list')}, {plural(self.entries, 'entry', 'entries')}, {self.resolved} in the library"]
        if self.unresolved:
            shown = "; ".join(f"{n}: {p}" for n, p in self.examples[:3])
            out.append(f"{plural(self.unresolved, 'entry', 'entries')} not in the library (e.g. {shown})")
        if self.empty:
            out.append(f"{plural(len(self.empty), 'list')} with no track of the library: " + ", ".join(self.empty[:5])
                       + (" ..." if len(self.empty) > 5 else ""))
        if self.duplicates:
            out.append(f"{self.duplicates} duplicate entries within a list (counted once)")
        return out


def path_key(path: str) -> bytes:
    """The lookup key of a path: what the indexer stores (absolute, raw bytes)."""
    return os.fsencode(os.path.abspath(os.fsdecode(path)))


def path_ids(tracks) -> dict[bytes, int]:
    """``{path_key: id}`` for the store's tracks (``Store.tracks()``), under their paths and the paths
    they were indexed under before they moved (``Track.moved_from``, library/moves.py: the set log's
    plays and the DJ's lists written before a move still name the track); a file's own path wins."""
    former = {path_key(p): tid for tid, t in tracks.items() for p in getattr(t, "moved_from", ())}
    return former | {path_key(t.path): tid for tid, t in tracks.items()}


def current_paths(tracks) -> dict[int, bytes]:
    """``{id: path_key}`` of the store's tracks under their paths now (for :func:`save`)."""
    return {tid: path_key(t.path) for tid, t in tracks.items()}


def resolve(sequences, ids_by_path: dict[bytes, int], *, max_examples: int = 20, moved: dict[str, str] | None = None,
            maps=()) -> tuple[list[IdSequence], ResolveReport]:
    """Map every entry of ``sequences`` to a track id; count what does not map.

    Crates and playlists keep the first occurrence of a repeated track (a duplicate adds no
    evidence); sets keep every play (a record played twice in a night was played twice). An entry
    naming a file of the DJ's collection that the index found elsewhere (``moved``: listed path ->
    indexed path, from ``Report.relocated``) is that file; one under a path map's OLD (``maps``,
    relocate.PathMap) is looked for under its NEW.
    """
    from livedj.library.relocate import mapped

    report = ResolveReport()
    out: list[IdSequence] = []
    linked: dict[bytes, int | None] = {}  # a path not in the store -> the track of the same file, if one is
    by_identity: dict[tuple, int] | None = None  # every indexed file by the scan's identity, when first needed

    def lookup(path: str) -> int | None:
        if moved:  # as the DJ's software wrote it, or as the indexer looked for it (normalised)
            path = moved.get(path) or moved.get(os.path.normpath(path) if path else path) or path
        if (tid := lookup_here(path)) is None and maps and (by_map := mapped(path, maps)) is not None:
            tid = next((t for p in by_map[1] if (t := lookup_here(p)) is not None), None)
        return tid

    def lookup_here(path: str) -> int | None:
        nonlocal by_identity
        if not path or foreign(path):  # "C:/Music/x.mp3" is no file of the current folder (as the indexer sees it)
            return None
        key = path_key(path)
        if key in ids_by_path:
            return ids_by_path[key]
        if key not in linked:  # another name of an indexed file (a link: the indexer stores one name per file)
            wanted = identity(os.fsdecode(key))
            if wanted is not None and by_identity is None:
                by_identity = _identities(ids_by_path)
            linked[key] = None if wanted is None else by_identity.get(wanted)
        return linked[key]

    for seq in sequences:
        report.sequences += 1
        ids: list[int] = []
        seen: set[int] = set()
        for p in seq.paths:
            report.entries += 1
            tid = lookup(p)
            if tid is None:
                report.unresolved += 1
                if len(report.examples) < max_examples:
                    report.examples.append((seq.name, p))
                continue
            report.resolved += 1
            if tid in seen and seq.kind != "set":
                report.duplicates += 1
                continue
            seen.add(tid)
            ids.append(tid)
        skipped = tuple((lookup(a) if a else None, lookup(b)) for a, b in seq.skipped)
        skipped = tuple((-1 if a is None else a, b) for a, b in skipped if b is not None)
        banned = tuple(b for b in (lookup(p) for p in seq.banned) if b is not None)
        if not ids and not skipped and not banned:
            report.empty.append(seq.name)
            continue
        out.append(IdSequence(seq.name, seq.kind, seq.source, tuple(ids), skipped, banned))
    return out, report


def _identities(ids_by_path: dict[bytes, int]) -> dict[tuple, int]:
    """``{identity: id}`` of the indexed files that are there (`livedj.library.scan.identity`)."""
    out: dict[tuple, int] = {}
    for raw, tid in ids_by_path.items():
        if (its := identity(os.fsdecode(raw))) is not None:
            out.setdefault(its, tid)
    return out


def save(index_dir, sequences: list[IdSequence], paths: dict[int, bytes] | None = None) -> Path:
    """Write ``sequences.json`` into ``index_dir`` (replaced atomically: the old one or the new one).

    ``paths``: each track id's stored path (:func:`path_key`), written beside the lists so that
    :func:`load` can tell an id that now names another file (SQLite gives a deleted row's id to the
    next file stored; a store rebuilt from scratch numbers every file again).
    """
    path = Path(index_dir) / FILENAME
    used = {i for s in sequences for i in (*s.ids, *s.banned, *(x for pair in s.skipped for x in pair))}
    doc = {"format": FORMAT, "sequences": [
        {"name": s.name, "kind": s.kind, "source": s.source, "ids": list(s.ids),
         "skipped": [list(p) for p in s.skipped], "banned": list(s.banned)} for s in sequences]}
    if paths is not None:
        doc["paths"] = {str(i): os.fsdecode(paths[i]) for i in sorted(used) if i in paths}
    # ASCII escapes: a path (or a list's name) that is not UTF-8 holds surrogates no UTF-8 file can
    atomic_write(path, lambda f: f.write(json.dumps(doc, separators=(",", ":"))), binary=False)
    return path


def load(index_dir, ids_by_path: dict[bytes, int] | None = None) -> tuple[list[IdSequence], str | None]:
    """The saved sequences and a one-line problem (``None`` when fine or simply absent).

    ``ids_by_path``: the store's tracks now (:func:`path_ids`). Each saved id is taken to the track
    that holds its saved path today; one whose file left the library is dropped, with the lists it
    leaves empty. (A file saved by an older livedj has no paths: its ids are taken as they are.)
    """
    path = Path(index_dir) / FILENAME
    if not path.exists():
        return [], None
    if path.is_dir():  # named once (the OSError's own text named it again, in quotes)
        return [], (f"{path}: a folder, not livedj's saved lists; playlists ignored (move it away, then "
                    "`livedj index --playlists ...`)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            return [], f"{path}: format {doc.get('format')!r}, this livedj reads {FORMAT}; ignored (run `livedj index` again)"
        saved = [IdSequence(d["name"], d["kind"], d["source"], tuple(int(i) for i in d["ids"]),
                            tuple((int(a), int(b)) for a, b in d.get("skipped", ())),
                            tuple(int(b) for b in d.get("banned", ()))) for d in doc["sequences"]]
        paths = doc.get("paths")
        if ids_by_path is None or not isinstance(paths, dict):
            return saved, None
        now = {int(i): ids_by_path.get(path_key(p)) for i, p in paths.items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc  # its text names the file again
        return [], f"{path}: unreadable ({why}); playlists ignored (run `livedj index` again)"
    out = []
    for s in saved:
        ids = tuple(t for t in (now.get(i) for i in s.ids) if t is not None)
        skipped = tuple((-1 if a == -1 or now.get(a) is None else now[a], now[b]) for a, b in s.skipped
                        if now.get(b) is not None)
        banned = tuple(t for t in (now.get(b) for b in s.banned) if t is not None)
        if ids or skipped or banned:
            out.append(IdSequence(s.name, s.kind, s.source, ids, skipped, banned))
    return out, None
