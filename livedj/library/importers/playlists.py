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

import codecs
import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from livedj.library.importers.common import (NUL_IN_PATH, LibraryImportError, Problems, db_text, parse_xml_root,
                                             text)
from livedj.library.importers.rekordbox import location_to_path, rekordbox_nodes
from livedj.library.importers.traktor import traktor_nodes, traktor_path

M3U_EXTENSIONS = (".m3u", ".m3u8", ".pls")


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
def read_rekordbox_playlists(path, data: bytes | None = None) -> tuple[list[Sequence], Problems]:
    """Every playlist (``NODE Type="1"``) of a rekordbox collection XML, entries in order.

    Folders (``Type="0"``) only name their playlists ("Folder/Playlist"); rekordbox's top
    "ROOT" folder is left out of the names, as :func:`~livedj.library.importers.read_rekordbox_xml`
    does. An entry whose ``Key`` is not in the COLLECTION is a problem and is left out.
    """
    name = os.fsdecode(path)
    root = parse_xml_root(path, "DJ_PLAYLISTS", "rekordbox collection XML", data)
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

    for child, full in rekordbox_nodes(root.find("PLAYLISTS")):
        if child.get("Type") != "1":
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
    return out, problems


# -- Traktor ---------------------------------------------------------------------------------------
def read_traktor_playlists(path, *, volumes: dict[str, str] | None = None,
                           data: bytes | None = None) -> tuple[list[Sequence], Problems]:
    """Every playlist of a Traktor NML, entries in order (``_LOOPS``/``_RECORDINGS`` left out).

    A playlist under a folder named "History" (Traktor's own history NMLs are written there) is a
    ``set``: played in that order. Entries are resolved through the NML's COLLECTION when it has
    one, else the PRIMARYKEY itself is turned into a path with the collection's rule.
    """
    name = os.fsdecode(path)
    root = parse_xml_root(path, "NML", "Traktor NML file", data)
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

    for child, full in traktor_nodes(root):
        if child.get("TYPE") != "PLAYLIST" or (child.get("NAME") or "(unnamed)").startswith("_"):
            continue
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
        # a location that is no path (a number, a NUL in it): the track has none (the track reader says why)
        paths = {tid: os.fsdecode(loc) for tid, loc in db.execute(location)
                 if isinstance(loc, (str, bytes)) and text(loc) and "\x00" not in os.fsdecode(loc)}

        def resolved(list_name: str, track_ids) -> list[str]:
            got = []
            for (tid,) in track_ids:
                if tid in paths:
                    got.append(paths[tid])
                else:
                    problems.append((f"{name}: {list_name!r}", f"track id {tid} has no location; skipped"))
            return got

        # a schema without a column read here (older, newer): its default, not the end of the import
        pl_cols, pt_cols = columns(db, "playlists"), columns(db, "playlisttracks")
        if {"id", "name"} <= pl_cols and {"playlist_id", "track_id"} <= pt_cols:
            hidden_col = "hidden" if "hidden" in pl_cols else PLHT_NOT_HIDDEN
            order = "position, id" if {"position", "id"} <= pt_cols else "rowid"
            for pid, pname, hidden in db.execute(
                    f"SELECT id, name, {hidden_col} FROM Playlists WHERE {hidden_col} IN ({PLHT_NOT_HIDDEN}, "
                    f"{PLHT_SET_LOG}) ORDER BY id").fetchall():
                kind = "set" if hidden == PLHT_SET_LOG else "playlist"
                rows = db.execute(f"SELECT track_id FROM PlaylistTracks WHERE playlist_id = ? ORDER BY {order}",
                                  (pid,))
                pname = db_text(pname) or f"playlist {pid}"
                out.append(Sequence(pname, kind, "mixxx", tuple(resolved(pname, rows))))
        if {"id", "name"} <= columns(db, "crates") and {"crate_id", "track_id"} <= columns(db, "crate_tracks"):
            for cid, cname in db.execute("SELECT id, name FROM crates ORDER BY id").fetchall():
                rows = db.execute("SELECT track_id FROM crate_tracks WHERE crate_id = ? ORDER BY track_id", (cid,))
                cname = db_text(cname) or f"crate {cid}"
                out.append(Sequence(cname, "crate", "mixxx", tuple(resolved(cname, rows))))
    except sqlite3.DatabaseError as e:
        raise LibraryImportError(f"{name}: cannot read the Mixxx database: {e}") from None
    finally:
        db.close()
    return out, problems


# -- M3U and PLS -----------------------------------------------------------------------------------
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 LE first: its BOM starts FF FE


def _lines(text: str) -> list[str]:
    """Lines split at CR, LF, CRLF only (not str.splitlines's form feed, NEL, U+2028: a file name may hold them)."""
    return re.split(r"\r\n|\r|\n", text)


def _ansi(line: bytes) -> str:
    try:
        return line.decode("cp1252")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def decode_playlist(raw: bytes, base: str | None = None) -> list[str]:
    """A playlist file's lines: decoded as its BOM says (UTF-8, UTF-16 as Windows tools write it,
    UTF-32), as UTF-16 without BOM (every other byte NUL), else as UTF-8 when the whole file decodes.

    Else line by line: a line that is UTF-8 is UTF-8; another is the file name's own bytes when a
    file of that name exists (in ``base`` for a relative one: a playlist written on this system,
    e.g. by `livedj history --export`, for a name that is not UTF-8), else Windows-1252 (Winamp's
    and every Windows player's "ANSI"; Latin-1 for its five undefined bytes).
    """
    for bom, codec in BOMS:
        if raw.startswith(bom):
            return _lines(raw.decode(codec, "replace"))
    head = raw[:4096]
    if len(head) >= 4 and head[1::2].count(0) > len(head) // 4 > head[0::2].count(0):
        return _lines(raw.decode("utf-16-le", "replace"))
    if len(head) >= 4 and head[0::2].count(0) > len(head) // 4 > head[1::2].count(0):
        return _lines(raw.decode("utf-16-be", "replace"))
    try:
        return _lines(raw.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    lines = []
    for line in re.split(rb"\r\n|\r|\n", raw):
        try:
            lines.append(line.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            pass
        name = os.fsdecode(line.strip())
        try:
            exists = not name.startswith("#") and os.path.exists(os.path.join(base or "", name))
        except (OSError, ValueError):  # a NUL in the line
            exists = False
        lines.append(name if exists else _ansi(line))
    return lines


WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def entry_path(line: str, base: str, where: str, problems: Problems) -> str | None:
    """The local path of one playlist entry (relative to ``base``), or None (a problem) for a URL.

    A Windows path ("C:\\Music\\x.mp3", in a playlist made on Windows) is kept, as "C:/Music/x.mp3": as the
    DJ software's collections give it, for a path map (``--map-path C:/Music=...``) to find."""
    if line.lower().startswith("file:"):
        try:
            path = location_to_path(line)
        except ValueError as e:
            problems.append((where, f"{e}; skipped"))
            return None
        # as the URL spells it: a backslash there (%5C) is part of a name, no separator
        return path if WINDOWS_DRIVE.match(path) else os.path.normpath(os.path.join(base, path))
    if "://" in line:
        problems.append((where, f"{line!r} is not a local file; skipped"))
        return None
    if "\x00" in line:
        problems.append((where, f"{NUL_IN_PATH}; skipped"))
        return None
    if WINDOWS_DRIVE.match(line) and os.sep == "/":
        return line.replace("\\", "/")
    return os.path.normpath(os.path.join(base, line.replace("\\", "/") if os.sep == "/" else line))


#: a playlist file larger than this is refused (100,000 entries of long paths are some 30 MiB)
MAX_PLAYLIST_BYTES = 256 << 20
_BINARY = re.compile("[\x00-\x08\x0e-\x1f]")
BINARY = "not a playlist (binary data)"


def read_capped(name: str) -> bytes:
    """A playlist file's bytes, at most :data:`MAX_PLAYLIST_BYTES` + 1 of them (/dev/zero, or a film named by
    mistake, is never read to the end), or a one-line :class:`LibraryImportError` naming it."""
    try:
        with open(name, "rb") as f:
            return f.read(MAX_PLAYLIST_BYTES + 1)
    except FileNotFoundError:
        raise LibraryImportError(f"{name}: no such file") from None
    except OSError as e:
        raise LibraryImportError(f"{name}: cannot read: {e.strerror or e}") from None


def read_m3u(path, data: bytes | None = None) -> tuple[list[Sequence], Problems]:
    """One M3U/M3U8 (or PLS) playlist: its entries in order, relative paths taken from its folder.

    The text is decoded by :func:`decode_playlist` (``.m3u8`` is UTF-8, old ``.m3u`` files are often
    Windows-1252, some Windows tools write UTF-16, livedj writes a name that is not UTF-8 as its bytes). ``#`` lines (``#EXTM3U``, ``#EXTINF``) are
    comments; URLs other than ``file:`` are problems. A ``.pls`` file (or one starting
    ``[playlist]``) gives its ``FileN=`` entries in the order of N. ``data``: its bytes when they were read
    already (a stream, which cannot be read twice).
    """
    name = os.fsdecode(path)
    raw = read_capped(name) if data is None else data
    if len(raw) > MAX_PLAYLIST_BYTES:
        raise LibraryImportError(f"{name}: larger than {MAX_PLAYLIST_BYTES >> 20} MiB: not a playlist")
    base = os.path.dirname(os.path.abspath(name))
    lines = decode_playlist(raw, base)
    head = "".join(lines)[:4096]
    if len(_BINARY.findall(head)) > max(8, len(head) // 20):  # an audio file, an image: no text
        raise LibraryImportError(f"{name}: {BINARY}")
    problems: Problems = []
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if name.lower().endswith(".pls") or first.lower() == "[playlist]":
        entries = []
        for n, line in enumerate(lines, 1):
            key, sep, value = line.strip().partition("=")
            key = key.strip()
            if not (sep and key.lower().startswith("file") and value.strip()):
                continue  # Title1=, Length1=, NumberOfEntries=, Version=
            if not re.fullmatch(r"[0-9]+", key[4:]):  # "File²" passed str.isdigit, then int() raised
                problems.append((f"{name}: line {n}", f"{key!r} is not a FileN key; skipped"))
                continue
            entries.append((int(key[4:]), n, value.strip()))
        entries.sort()
    else:
        entries = [(n, n, ln.strip()) for n, ln in enumerate(lines, 1) if ln.strip() and not ln.strip().startswith("#")]
    paths = [p for _, n, line in entries if (p := entry_path(line, base, f"{name}: line {n}", problems)) is not None]
    return [Sequence(Path(name).stem, "playlist", "m3u", tuple(paths))], problems


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
