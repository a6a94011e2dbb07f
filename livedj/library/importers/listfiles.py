"""A playlist file named to ``livedj index --playlists``, whatever its format: told by its content.

M3U/M3U8/PLS are read by :func:`~livedj.library.importers.playlists.read_m3u`; besides them:

XSPF (``.xspf``, VLC's and many players' playlist)
    ``<playlist xmlns="http://xspf.org/ns/0/"><title/><trackList><track><location>URI</location>``:
    ``file:`` URIs and URIs relative to the file's folder (percent-encoded); other schemes are problems.
livedj's set CSV (``livedj history --export set.csv``; a ``.csv`` file, or one with its header)
    its ``path`` column, in play order: a ``set`` (a ``playlist`` when every row's source is "playlist":
    a chain ``livedj playlist -o x.csv`` suggested).
a rekordbox collection XML or a Traktor NML
    their playlists (the file given to ``--playlists`` instead of ``--from-rekordbox``/``--from-traktor``).

Before, every one of these was read as an M3U: each line of XML or CSV a "path", learned as a list.
"""
from __future__ import annotations

import csv
import io
import os
import stat
import urllib.parse
from pathlib import Path

from livedj.library.exports import CSV_COLUMNS  # the header `livedj history --export set.csv` writes
from livedj.library.importers import playlists as pl
from livedj.library.importers.common import (NUL_IN_PATH, LibraryImportError, Problems, parse_xml_root, text,
                                             xml_root)
from livedj.library.importers.playlists import Sequence, entry_path

XSPF_NS = "{http://xspf.org/ns/0/}"
#: the files of a folder given to --playlists that are read: M3U/PLS, XSPF, Traktor NML (its History folder)
FOLDER_EXTENSIONS = (*pl.M3U_EXTENSIONS, ".xspf", ".nml")


def read_playlist_file(path) -> tuple[list, Problems]:
    """One playlist file of any format livedj reads (see the module docstring), told by its content.

    Raises
    ------
    LibraryImportError
        Missing or unreadable, an XML file that is no playlist livedj reads, or not well-formed.
    """
    name = os.fsdecode(path)
    data = None
    if os.path.exists(name) and not os.path.isfile(name):  # a pipe (--playlists <(...), /dev/stdin) cannot be
        data = pl.read_capped(name)                          # read twice: read once, within the cap, and told
        if len(data) > pl.MAX_PLAYLIST_BYTES:                # by its content as a file is
            raise LibraryImportError(f"{name}: larger than {pl.MAX_PLAYLIST_BYTES >> 20} MiB: not a playlist")
        head = data[:4096]
    else:
        try:
            with open(name, "rb") as f:
                head = f.read(4096)
        except FileNotFoundError:
            raise LibraryImportError(f"{name}: no such file") from None
        except OSError as e:
            raise LibraryImportError(f"{name}: cannot read: {e.strerror or e}") from None
    first = next((ln.strip() for ln in pl.decode_playlist(head) if ln.strip()), "")
    if first.startswith("<") and not name.lower().endswith(pl.M3U_EXTENSIONS):  # an M3U line may start with "<"
        # refuses entity declarations (a bomb, an external entity)
        tag = xml_root(name if data is None else io.BytesIO(data), name, "playlist file")
        if tag is None:
            parse_xml_root(name, "playlist", "playlist file (XSPF)", data)  # raises the one-line reason
        if tag == "DJ_PLAYLISTS":
            return pl.read_rekordbox_playlists(name, data)
        if tag == "NML":
            return pl.read_traktor_playlists(name, data=data)
        if tag == "playlist":
            return read_xspf(name, data)
        raise LibraryImportError(f"{name}: an XML file with root element <{tag}>: not a playlist livedj "
                                 "reads (M3U/M3U8/PLS, XSPF, a rekordbox XML or Traktor NML, livedj's set CSV)")
    if name.lower().endswith(".csv") or tuple(c.strip().lower() for c in next(csv.reader([first]), [])) == CSV_COLUMNS:
        return read_set_csv(name, data)
    return pl.read_m3u(name, data)


def read_xspf(path, data: bytes | None = None) -> tuple[list, Problems]:
    """An XSPF playlist: its tracks' first ``location`` in order, named by its ``title`` (else the file's name)."""
    name = os.fsdecode(path)
    root = parse_xml_root(name, ("playlist", f"{XSPF_NS}playlist"), "playlist file (XSPF)", data)
    ns = XSPF_NS if root.tag.startswith(XSPF_NS) else ""
    base = os.path.dirname(os.path.abspath(name))
    problems: Problems = []
    paths = []
    for n, track in enumerate(root.iterfind(f"{ns}trackList/{ns}track"), 1):
        where = f"{name}: track {n}"
        location = next((text(loc.text) for loc in track.iterfind(f"{ns}location") if text(loc.text)), None)
        if location is None:
            problems.append((where, "no location; skipped"))
            continue
        if ":" not in location.split("/", 1)[0]:  # a relative URI: percent-encoded, from the file's folder
            location = os.fsdecode(urllib.parse.unquote_to_bytes(location))
            if "\x00" in location:
                problems.append((where, f"{NUL_IN_PATH}; skipped"))
                continue
            paths.append(os.path.normpath(os.path.join(base, location)))
        elif (got := entry_path(location, base, where, problems)) is not None:
            paths.append(got)
    title = root.find(f"{ns}title")
    return [Sequence(text(title.text if title is not None else None) or Path(name).stem, "playlist", "xspf",
                     tuple(paths))], problems


def read_set_csv(path, data: bytes | None = None) -> tuple[list, Problems]:
    """livedj's set CSV read back: its ``path`` column in play order, a ``set``; a row without a path (a
    record that was not identified) is a problem. Written UTF-8 (BOM) with a name's non-UTF-8 bytes kept;
    a spreadsheet may have saved it again as UTF-16 (with its BOM)."""
    name = os.fsdecode(path)
    raw = pl.read_capped(name) if data is None else data
    if len(raw) > pl.MAX_PLAYLIST_BYTES:
        raise LibraryImportError(f"{name}: larger than {pl.MAX_PLAYLIST_BYTES >> 20} MiB: not a set livedj exported")
    codec = next((codec for bom, codec in pl.BOMS if raw.startswith(bom) and codec != "utf-8-sig"), None)
    decoded = raw.decode(codec, "replace") if codec else raw.decode("utf-8-sig", "surrogateescape")
    rows = csv.reader(io.StringIO(decoded, newline=""))
    base = os.path.dirname(os.path.abspath(name))
    problems: Problems = []
    paths = []
    try:
        header = [c.strip().lower() for c in next(rows, [])]
        if "path" not in header:
            raise LibraryImportError(f"{name}: no 'path' column (livedj reads back the CSV of `livedj history "
                                     "--export`)")
        column = header.index("path")
        source = header.index("source") if "source" in header else None
        sources = set()
        for row in rows:
            where = f"{name}: line {rows.line_num}"
            value = row[column] if len(row) > column else ""
            if source is not None and len(row) > source:
                sources.add(row[source].strip())
            if not value.strip():
                if any(c.strip() for c in row):
                    problems.append((where, "no path (a record not identified); skipped"))
                continue
            if "\x00" in value:
                problems.append((where, f"{NUL_IN_PATH}; skipped"))
                continue
            # another computer's path (C:/Music/x.mp3) as written, for a path map; a relative one from the CSV's folder
            paths.append(value if pl.WINDOWS_DRIVE.match(value) else os.path.normpath(os.path.join(base, value)))
    except csv.Error as e:
        raise LibraryImportError(f"{name}: not a CSV livedj can read at line {rows.line_num}: {e}") from None
    # a chain livedj suggested (`livedj playlist -o x.csv`: source "playlist") is no set the DJ played
    kind = "playlist" if sources == {"playlist"} else "set"
    return [Sequence(Path(name).stem, kind, "livedj", tuple(paths))], problems


def first_time(path, seen: set | None) -> bool:
    """Whether the regular file ``path`` is read for the first time, adding it to ``seen`` (its device and
    inode: the same file however it is spelled or linked). A file given twice (``--playlists x.xml
    --playlists ./x.xml``, a file and its folder) counted its lists twice. Not a regular file (a pipe is
    read once anyway), unreadable, or no ``seen``: True."""
    if seen is None:
        return True
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return True  # the reader says why
    if not stat.S_ISREG(st.st_mode):
        return True
    key = (st.st_dev, st.st_ino)
    if key in seen:
        return False
    seen.add(key)
    return True


def read_m3u_tree(path, seen: set | None = None) -> tuple[list, Problems]:
    """A playlist file, or every M3U/M3U8/PLS/XSPF/NML one under a folder (recursively, sorted by path; the
    NML files of a Backup folder, Traktor's copies of the collection, left out).

    A file is read as its content says (:func:`read_playlist_file`):
    M3U, PLS, XSPF, livedj's set CSV, a rekordbox XML or Traktor NML. ``seen``: the files read already
    (:func:`first_time`), read not again."""
    name = os.fsdecode(path)
    if not os.path.isdir(name):
        if not os.path.exists(name):
            raise LibraryImportError(f"{name}: no such file or folder")
        if not first_time(name, seen):
            return [], []
        return read_playlist_file(name)  # a file, or a pipe the DJ named (--playlists <(...))
    out: list[Sequence] = []
    problems: Problems = []
    for dirpath, dirnames, filenames in os.walk(name):
        dirnames.sort()
        # Traktor's folder keeps dated copies of the collection under Backup/: each playlist would count many times
        backup = "backup" in (part.lower() for part in Path(os.path.relpath(dirpath, name)).parts)
        for f in sorted(filenames):
            if f.lower().endswith(FOLDER_EXTENSIONS) and not (backup and f.lower().endswith(".nml")):
                file = os.path.join(dirpath, f)
                try:
                    if not stat.S_ISREG(os.stat(file).st_mode):  # a named pipe would wait for a writer forever
                        raise LibraryImportError(f"{file}: not a file (a pipe or a device); skipped")
                    if not first_time(file, seen):
                        continue
                    found, trouble = read_playlist_file(file)
                except OSError as e:  # a link to nothing
                    problems.append((file, f"cannot read: {e.strerror or e}; skipped"))
                    continue
                except LibraryImportError as e:
                    problems.append((file, str(e).removeprefix(f"{file}: ")))
                    continue
                out += found
                problems += trouble
    return out, problems
