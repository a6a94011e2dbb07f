"""Export a set log (:class:`livedj.library.history.Play` rows) for other software.

* :func:`export_m3u` - extended M3U, UTF-8 (``.m3u8`` semantics), for any player or DJ software;
* :func:`export_csv` - a spreadsheet of the night (UTF-8 with BOM so Excel reads accents right);
* :func:`export_rekordbox_xml` - a rekordbox collection XML with the set as one playlist
  (rekordbox: File > Import > Import Playlist/Collection, or the "rekordbox xml" tree);
  :func:`livedj.library.importers.read_rekordbox_xml` reads it back.

Every writer writes a temporary file next to the target and renames it into place, so an
interrupted export never leaves a truncated file where a good one was. Each returns the number
of entries written (plays without a path are skipped: no format can carry them).
"""
from __future__ import annotations

import csv
import os
import re
import xml.etree.ElementTree as ET
from datetime import datetime

from livedj.dsp.tonal import camelot, key_name, key_short
from livedj.fsutil import atomic_write
from livedj.library.history import Play
from livedj.library.importers.common import BPM_RANGE
from livedj.library.importers.playlists import WINDOWS_DRIVE
from livedj.library.importers.rekordbox import path_to_location

CSV_COLUMNS = ("position", "time", "artist", "title", "album", "bpm", "key_camelot", "key", "source",
               "confidence", "path")

# rekordbox's "Kind" column, by extension (informative only; rekordbox re-reads the file).
_KINDS = {".mp3": "MP3 File", ".wav": "WAV File", ".aif": "AIFF File", ".aiff": "AIFF File",
          ".flac": "FLAC File", ".m4a": "M4A File", ".mp4": "M4A File", ".aac": "AAC File", ".ogg": "OGG File"}


def _atomic_write(out_path, write) -> None:
    """Call ``write(binary_file)`` on a temporary file, then rename it to ``out_path``."""
    atomic_write(out_path, write, make_folder=False)  # the user named the file: never a tree made silently


# Characters XML 1.0 cannot carry at all (C0 controls but tab/newline/CR, lone surrogates, U+FFFE/F).
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _one_line(s: str | None) -> str:
    return " ".join(_XML_BAD.sub("\ufffd", s or "").split())


def _bpm(play: Play) -> str | None:
    """The play's BPM with two decimals, or None: none, or one no DJ software reads (a garbage -5 or 100000)."""
    ok = play.bpm is not None and BPM_RANGE[0] <= play.bpm <= BPM_RANGE[1]
    return f"{play.bpm:.2f}" if ok else None


def _label(play: Play) -> str:
    artist, title = _one_line(play.artist), _one_line(play.title)
    if artist and title:
        return f"{artist} - {title}"
    return title or artist or _one_line(os.path.splitext(os.path.basename(play.path))[0])  # a name may hold a newline


def with_paths_now(plays: list[Play], tracks: dict) -> list[Play]:
    """``plays`` with each record that moved since it was logged under its path now.

    Parameters
    ----------
    plays : list of Play
        A session of the set log, as logged.
    tracks : dict of int to Track
        The index's tracks (:meth:`livedj.library.store.Store.tracks`): their paths now and the paths
        they were indexed under before they moved (``Track.moved_from``, library/moves.py).

    Returns
    -------
    list of Play
        The same plays, in order; a play of a former path names the track's path now, the rest of
        its row as logged. A play of a file the index does not know (or without a file) is as it was.
    """
    from dataclasses import replace

    from livedj.library.sequences import path_ids, path_key

    ids = path_ids(tracks)
    out = []
    for play in plays:
        track_id = ids.get(path_key(play.path)) if play.path else None
        now = tracks[track_id].path if track_id is not None else None
        out.append(replace(play, path=now) if now is not None and path_key(now) != path_key(play.path) else play)
    return out


def export_m3u(plays: list[Play], out_path, *, relative_to: str | None = None, relative: bool = False) -> int:
    """Write an extended M3U playlist of the set, in play order.

    Parameters
    ----------
    plays : list of Play
    out_path : str or os.PathLike
        ``.m3u8`` (or ``.m3u``); always UTF-8.
    relative_to : str, optional
        Write paths relative to this directory (falls back to absolute where impossible, e.g.
        another Windows drive).
    relative : bool
        Write paths relative to the playlist's own directory (``relative_to`` wins if given).

    Returns
    -------
    int
        Entries written.

    Notes
    -----
    Lines are ``#EXTINF:<seconds, -1 if unknown>,<Artist - Title>`` then the path. Paths are
    written as their original bytes (``os.fsencode``), so a file name that is not valid UTF-8
    still points at the file; a path no line can carry (a newline in it, a space at either end, a
    leading ``#``, a backslash in a POSIX name) is written as a ``file://`` URL.
    """
    base = relative_to if relative_to is not None else (
        os.path.dirname(os.path.abspath(os.fsdecode(out_path))) if relative else None)
    lines = [b"#EXTM3U\n"]
    for p in plays:
        if not p.path:
            continue
        seconds = int(round(p.duration)) if p.duration and p.duration > 0 else -1
        lines.append(f"#EXTINF:{seconds},{_label(p)}\n".encode("utf-8", "replace"))
        raw = os.fsencode(p.path)
        if base is not None and os.path.isabs(p.path):  # another computer's path (C:/Music/x.mp3) as logged
            try:
                raw = os.fsencode(os.path.relpath(os.fsdecode(raw), os.fsdecode(base)))
            except ValueError:  # different drive: keep it absolute
                pass
        if (b"\n" in raw or b"\r" in raw or raw != raw.strip() or raw.startswith(b"#")
                or (b"\\" in raw and os.sep == "/")):
            # a line cannot hold it (a newline splits it, readers strip spaces, "#" makes a comment, a backslash
            # is read as Windows' separator): a URL can
            raw = path_to_location(p.path if WINDOWS_DRIVE.match(p.path) else os.path.abspath(p.path)).encode("ascii")
        lines.append(raw + b"\n")
    _atomic_write(out_path, lambda f: f.writelines(lines))
    return (len(lines) - 1) // 2


def export_csv(plays: list[Play], out_path) -> int:
    """Write the set as CSV: one row per play, columns :data:`CSV_COLUMNS`.

    ``time`` is ISO 8601 local time with its UTC offset; ``key_camelot`` e.g. "8A" and ``key``
    e.g. "A minor"; ``bpm`` with two decimals. Returns the number of rows.
    """
    def write(f) -> None:
        # utf-8-sig: a BOM makes Excel read UTF-8; surrogateescape keeps non-UTF-8 path bytes.
        import io

        text = io.TextIOWrapper(f, encoding="utf-8-sig", errors="surrogateescape", newline="")
        w = csv.writer(text)
        w.writerow(CSV_COLUMNS)
        for i, p in enumerate(plays, 1):
            ok_key = p.key is not None and 0 <= p.key < 24
            w.writerow([
                i, datetime.fromtimestamp(p.at).astimezone().isoformat(timespec="seconds") if p.at is not None else "",
                _cell(p.artist), _cell(p.title), _cell(p.album),
                _bpm(p) or "",
                camelot(p.key) if ok_key else "", key_name(p.key) if ok_key else "",
                _cell(p.source), f"{p.confidence:.3f}" if p.confidence is not None else "", p.path])
        text.flush()
        text.detach()

    _atomic_write(out_path, write)
    return len(plays)


_SURROGATES = re.compile("[\ud800-\udfff]")
#: a spreadsheet reads a cell that starts with one of these as a formula (the CSV is written for Excel: its BOM)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str | None) -> str:
    """A tag as a CSV cell a spreadsheet shows as text: a leading apostrophe before a formula's first character
    (a title "=HYPERLINK(...)" from a downloaded file's tags ran as one; "-Intro-" showed #NAME?)."""
    text = _SURROGATES.sub("\ufffd", text or "")  # a tag is text: only the path column keeps a name's bytes
    return "'" + text if text.startswith(_FORMULA_START) else text


def _product_version() -> str:
    try:
        from importlib.metadata import version

        return version("livedj")
    except Exception:  # not installed (running from a checkout)
        return "0"


def export_rekordbox_xml(plays: list[Play], out_path, playlist_name: str) -> int:
    """Write a rekordbox XML (DJ_PLAYLISTS 1.0.0) with the set as one playlist.

    The COLLECTION holds each played file once (TrackID 1..N in order of first play); the
    playlist NODE (Type 1, KeyType 0) references them in play order, repeats included. A relative path
    in the set log is taken from the current folder (as :func:`export_m3u` does), so every ``Location`` is
    an absolute ``file://localhost/`` URL. Returns the number of playlist entries.
    """
    root = ET.Element("DJ_PLAYLISTS", Version="1.0.0")
    ET.SubElement(root, "PRODUCT", Name="livedj", Version=_product_version(), Company="livedj")
    ids: dict[str, int] = {}
    collection = ET.SubElement(root, "COLLECTION")
    order: list[int] = []
    for p in plays:
        if not p.path:
            continue
        if p.path not in ids:
            ids[p.path] = len(ids) + 1
            attrs = {"TrackID": str(ids[p.path]), "Name": _one_line(p.title), "Artist": _one_line(p.artist),
                     "Album": _one_line(p.album),
                     "Kind": _KINDS.get(os.path.splitext(p.path)[1].lower(), ""),
                     "TotalTime": str(int(round(p.duration))) if p.duration and p.duration > 0 else "0",
                     "AverageBpm": _bpm(p) or "0.00",
                     "Tonality": key_short(p.key) if p.key is not None and 0 <= p.key < 24 else "",
                     # a relative path (as logged) from the current folder, as the M3U export's URLs: rekordbox
                     # reads only absolute file:// locations ("file://localhostmusic/a.mp3" was no file)
                     "Location": path_to_location(p.path if WINDOWS_DRIVE.match(p.path) else os.path.abspath(p.path))}
            ET.SubElement(collection, "TRACK", attrs)
        order.append(ids[p.path])
    collection.set("Entries", str(len(ids)))
    folder = ET.SubElement(ET.SubElement(root, "PLAYLISTS"), "NODE", Type="0", Name="ROOT", Count="1")
    playlist = ET.SubElement(folder, "NODE", Name=_one_line(playlist_name), Type="1", KeyType="0", Entries=str(len(order)))
    for track_id in order:
        ET.SubElement(playlist, "TRACK", Key=str(track_id))
    ET.indent(root)

    def write(f) -> None:
        f.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')  # the declaration exactly as rekordbox writes it
        ET.ElementTree(root).write(f, encoding="UTF-8", xml_declaration=False)

    _atomic_write(out_path, write)
    return len(order)
