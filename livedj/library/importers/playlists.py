"""The DJ's sequences and groups: playlists, crates and played sets, in order, read-only.

Where :mod:`livedj.library.importers` reads *tracks* (with their crates as names), this module
reads the *lists*: each rekordbox playlist (``NODE Type="1"``, entries in order), Traktor
playlist, Mixxx playlist, crate and history (set log) playlist, M3U/M3U8 file, and livedj's own
set log. Every reader returns ``(sequences, problems)`` like the track readers: a bad entry is a
problem, never an exception; a file that cannot be read at all raises
:class:`~livedj.library.importers.LibraryImportError`.

Kinds, from weakest to strongest evidence that two records belong together:

``crate``
    an unordered group (Mixxx crates): membership only.
``playlist``
    an ordered list the DJ made (rekordbox/Traktor/Mixxx playlists, M3U files).
``set``
    records actually played one after the other (Mixxx history, livedj's set log, Traktor
    history NML files): A then B is the strongest evidence that B follows A.
"""
from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from livedj.library.importers.common import LibraryImportError, Problems, parse_xml_root, text
from livedj.library.importers.rekordbox import location_to_path
from livedj.library.importers.traktor import traktor_path

KINDS = ("crate", "playlist", "set")
M3U_EXTENSIONS = (".m3u", ".m3u8")


@dataclass(frozen=True)
class Sequence:
    """One playlist, crate or played set, as paths in the DJ software's order.

    Attributes
    ----------
    name : str
        ``"Folder/Playlist"`` for nested playlists; the file name for M3U; the session for sets.
    kind : str
        ``"crate"``, ``"playlist"`` or ``"set"`` (see the module docstring).
    source : str
        ``"rekordbox"``, ``"traktor"``, ``"mixxx"``, ``"m3u"`` or ``"livedj"``.
    paths : tuple of str
        Local paths, ``os.fsdecode`` form, in order; duplicates kept as the file has them.
    skipped : tuple of (str, str)
        Set log only: ``(playing, skipped)`` paths, a suggestion the DJ skipped while ``playing``
        was on (``""`` when nothing was identified).
    banned : tuple of str
        Set log only: tracks the DJ banned that night.
    """

    name: str
    kind: str
    source: str
    paths: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = field(default=())
    banned: tuple[str, ...] = field(default=())


# -- rekordbox -------------------------------------------------------------------------------------
def read_rekordbox_playlists(path) -> tuple[list[Sequence], Problems]:
    """Every playlist (``NODE Type="1"``) of a rekordbox collection XML, entries in order.

    Folders (``Type="0"``) only name their playlists ("Folder/Playlist"); rekordbox's top
    "ROOT" folder is left out of the names, as :func:`~livedj.library.importers.read_rekordbox_xml`
    does. An entry whose ``Key`` is not in the COLLECTION is a problem and is left out.
    """
    name = os.fsdecode(path)
    root = parse_xml_root(path, "DJ_PLAYLISTS", "rekordbox collection XML")
    by_id: dict[str, str] = {}
    by_location: dict[str, str] = {}
    for el in root.findall("COLLECTION/TRACK"):
        location = el.get("Location")
        if not location:
            continue
        try:
            tpath = location_to_path(location)
        except ValueError:
            continue  # the track reader reports it
        if el.get("TrackID"):
            by_id[el.get("TrackID")] = tpath
        by_location[location] = tpath
    problems: Problems = []
    out: list[Sequence] = []

    def walk(node, prefix: str, top: bool = False) -> None:
        for child in node.findall("NODE"):
            cname = child.get("Name") or "(unnamed)"
            is_playlist = child.get("Type") == "1"
            full = "" if top and not is_playlist else (f"{prefix}/{cname}" if prefix else cname)
            if not is_playlist:
                walk(child, full)
                continue
            key_type = child.get("KeyType", "0")
            paths = []
            for ref in child.findall("TRACK"):
                key = ref.get("Key")
                tpath = by_location.get(key) if key_type == "1" else by_id.get(key)
                if tpath is None:
                    problems.append((f"{name}: playlist {full!r}", f"TRACK Key={key!r} is not in the COLLECTION; skipped"))
                    continue
                paths.append(tpath)
            out.append(Sequence(full, "playlist", "rekordbox", tuple(paths)))

    playlists = root.find("PLAYLISTS")
    if playlists is not None:
        walk(playlists, "", top=True)
    return out, problems


# -- Traktor ---------------------------------------------------------------------------------------
def read_traktor_playlists(path, *, volumes: dict[str, str] | None = None) -> tuple[list[Sequence], Problems]:
    """Every playlist of a Traktor NML, entries in order (``_LOOPS``/``_RECORDINGS`` left out).

    A playlist under a folder named "History" (Traktor's own history NMLs are written there) is a
    ``set``: played in that order. Entries are resolved through the NML's COLLECTION when it has
    one, else the PRIMARYKEY itself is turned into a path with the collection's rule.
    """
    name = os.fsdecode(path)
    root = parse_xml_root(path, "NML", "Traktor NML file")
    by_key: dict[str, str] = {}
    for entry in root.findall("COLLECTION/ENTRY"):
        loc = entry.find("LOCATION")
        if loc is None or not text(loc.get("FILE")):
            continue
        key = (loc.get("VOLUME") or "") + (loc.get("DIR") or "") + loc.get("FILE")
        by_key[key] = traktor_path(loc.get("VOLUME"), loc.get("DIR"), loc.get("FILE"), volumes)
    problems: Problems = []
    out: list[Sequence] = []

    def key_to_path(key: str) -> str | None:
        if key in by_key:
            return by_key[key]
        # "VOLUME/:dir/:file": the same rule without a COLLECTION entry (history/exported NMLs)
        volume, sep, rest = key.partition("/:")
        if not sep:
            return None
        directory, _, file = ("/:" + rest).rpartition("/:")
        return traktor_path(volume, directory + "/:", file, volumes) if file else None

    def walk(node, prefix: str) -> None:
        for child in node.findall("SUBNODES/NODE"):
            cname = child.get("NAME") or "(unnamed)"
            full = f"{prefix}/{cname}" if prefix else cname
            if child.get("TYPE") == "FOLDER":
                walk(child, full)
            elif child.get("TYPE") == "PLAYLIST" and not cname.startswith("_"):
                paths = []
                for pk in child.findall("PLAYLIST/ENTRY/PRIMARYKEY"):
                    if pk.get("TYPE") != "TRACK":
                        continue
                    tpath = key_to_path(pk.get("KEY") or "")
                    if tpath is None:
                        problems.append((f"{name}: playlist {full!r}",
                                         f"PRIMARYKEY {pk.get('KEY')!r} is not a track location; skipped"))
                        continue
                    paths.append(tpath)
                kind = "set" if "history" in full.lower().split("/")[0] else "playlist"
                out.append(Sequence(full, kind, "traktor", tuple(paths)))

    for top in root.findall("PLAYLISTS/NODE"):
        walk(top, "")
    return out, problems


# -- Mixxx -----------------------------------------------------------------------------------------
def read_mixxx_playlists(db_path=None) -> tuple[list[Sequence], Problems]:
    """Mixxx's playlists (in position order), crates, and history playlists (sets), read-only.

    Auto DJ's queue is left out (it is a queue, not a choice). Deleted tracks are kept: a set is
    what was played, whether or not the file is still in Mixxx's library.
    """
    from livedj.library.importers.mixxxdb import PLHT_NOT_HIDDEN, PLHT_SET_LOG, columns, connect_ro, mixxx_db_file

    db_path = name = mixxx_db_file(db_path)
    problems: Problems = []
    out: list[Sequence] = []
    try:
        db = connect_ro(db_path)
    except sqlite3.Error as e:
        raise LibraryImportError(f"{name}: cannot open read-only: {e}") from None
    try:
        if not columns(db, "library") or not columns(db, "track_locations"):
            raise LibraryImportError(f"{name}: not a Mixxx database (no library/track_locations tables)")
        location = ("SELECT l.id, tl.location FROM library l JOIN track_locations tl ON tl.id = l.location")
        paths = {tid: os.fsdecode(loc) for tid, loc in db.execute(location) if text(loc)}

        def resolved(list_name: str, track_ids) -> list[str]:
            got = []
            for (tid,) in track_ids:
                if tid in paths:
                    got.append(paths[tid])
                else:
                    problems.append((f"{name}: {list_name!r}", f"track id {tid} has no location; skipped"))
            return got

        if columns(db, "playlists") and columns(db, "playlisttracks"):
            for pid, pname, hidden in db.execute(
                    f"SELECT id, name, hidden FROM Playlists WHERE hidden IN ({PLHT_NOT_HIDDEN}, {PLHT_SET_LOG}) "
                    "ORDER BY id").fetchall():
                kind = "set" if hidden == PLHT_SET_LOG else "playlist"
                rows = db.execute("SELECT track_id FROM PlaylistTracks WHERE playlist_id = ? ORDER BY position, id",
                                  (pid,))
                out.append(Sequence(pname or f"playlist {pid}", kind, "mixxx", tuple(resolved(pname, rows))))
        if columns(db, "crates") and columns(db, "crate_tracks"):
            for cid, cname in db.execute("SELECT id, name FROM crates ORDER BY id").fetchall():
                rows = db.execute("SELECT track_id FROM crate_tracks WHERE crate_id = ? ORDER BY track_id", (cid,))
                out.append(Sequence(cname or f"crate {cid}", "crate", "mixxx", tuple(resolved(cname, rows))))
    except sqlite3.DatabaseError as e:
        raise LibraryImportError(f"{name}: cannot read the Mixxx database: {e}") from None
    finally:
        db.close()
    return out, problems


# -- M3U -------------------------------------------------------------------------------------------
def read_m3u(path) -> tuple[list[Sequence], Problems]:
    """One M3U/M3U8 playlist: its entries in order, relative paths taken from its folder.

    ``.m3u8`` is UTF-8; ``.m3u`` is read as UTF-8 when it decodes, else as Latin-1 (the old
    Winamp convention). ``#`` lines (``#EXTM3U``, ``#EXTINF``) are comments; URLs other than
    ``file:`` are problems.
    """
    name = os.fsdecode(path)
    try:
        raw = Path(name).read_bytes()
    except FileNotFoundError:
        raise LibraryImportError(f"{name}: no such file") from None
    except OSError as e:
        raise LibraryImportError(f"{name}: cannot read: {e.strerror or e}") from None
    try:
        body = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        body = raw.decode("latin-1")
    base = os.path.dirname(os.path.abspath(name))
    problems: Problems = []
    paths = []
    for n, line in enumerate(body.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("file:"):
            try:
                line = location_to_path(line)
            except ValueError as e:
                problems.append((f"{name}: line {n}", f"{e}; skipped"))
                continue
        elif "://" in line:
            problems.append((f"{name}: line {n}", f"{line!r} is not a local file; skipped"))
            continue
        paths.append(os.path.normpath(os.path.join(base, line.replace("\\", "/") if os.sep == "/" else line)))
    return [Sequence(Path(name).stem, "playlist", "m3u", tuple(paths))], problems


def read_m3u_tree(path) -> tuple[list[Sequence], Problems]:
    """An M3U/M3U8 file, or every one under a folder (recursively, sorted by path)."""
    name = os.fsdecode(path)
    if os.path.isfile(name):
        return read_m3u(name)
    if not os.path.isdir(name):
        raise LibraryImportError(f"{name}: no such file or folder")
    out: list[Sequence] = []
    problems: Problems = []
    for dirpath, dirnames, filenames in os.walk(name):
        dirnames.sort()
        for f in sorted(filenames):
            if f.lower().endswith(M3U_EXTENSIONS):
                try:
                    found, trouble = read_m3u(os.path.join(dirpath, f))
                except LibraryImportError as e:
                    problems.append((os.path.join(dirpath, f), str(e)))
                    continue
                out += found
                problems += trouble
    return out, problems


# -- livedj's own set log --------------------------------------------------------------------------
def read_set_log(history_path) -> tuple[list[Sequence], Problems]:
    """Every session of livedj's set log as a ``set``, plays in order, with its skips and bans.

    A missing set log is no problem (nothing was played yet): it gives no sequences.
    """
    from livedj.library.history import History

    name = os.fsdecode(history_path)
    if not os.path.isfile(name):
        return [], []
    try:
        history = History(name)
    except sqlite3.Error as e:
        raise LibraryImportError(f"{name}: not a livedj set log: {e}") from None
    try:
        out = []
        feedback = history.feedback()
        for s in history.sessions():
            plays = [p.path for p in history.plays(s.id)]
            skipped = tuple((playing, p) for p, kind, playing in feedback.get(s.id, ()) if kind == "skip")
            banned = tuple(p for p, kind, _ in feedback.get(s.id, ()) if kind == "ban")
            label = s.name or f"session {s.id}"
            out.append(Sequence(label, "set", "livedj", tuple(plays), skipped, banned))
    finally:
        history.close()
    return out, []
