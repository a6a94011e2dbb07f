"""rekordbox's XML collection export (File > Export Collection in xml format).

Format (rekordbox "Cross-DJ-software" XML, DJ_PLAYLISTS Version 1.0.0)::

    <DJ_PLAYLISTS Version="1.0.0">
      <PRODUCT Name="rekordbox" Version="6.8.5" Company="AlphaTheta"/>
      <COLLECTION Entries="N">
        <TRACK TrackID="1" Name=".." Artist=".." Album=".." TotalTime="312" AverageBpm="124.00"
               Tonality="Am" Location="file://localhost/Users/dj/Music/a%20b.mp3" .../>
      </COLLECTION>
      <PLAYLISTS>
        <NODE Type="0" Name="ROOT" Count="1">             (Type 0: folder)
          <NODE Type="1" Name="Warm up" KeyType="0" Entries="1">  (Type 1: playlist)
            <TRACK Key="1"/>                              (KeyType 0: Key = TrackID, 1: Key = Location)
          </NODE>
        </NODE>
      </PLAYLISTS>
    </DJ_PLAYLISTS>
"""
from __future__ import annotations

import os
import re
import urllib.parse
from collections import Counter

from livedj.library.importers.common import (NUL_IN_PATH, ImportedTrack, LibraryImportError, Problems, parse_bpm,
                                             parse_duration, parse_key_text, parse_size, parse_xml_root, text,
                                             tree)

_DRIVE_RE = re.compile(r"^/[A-Za-z]:([/\\]|$)")
# A streaming service's track: "soundcloud:tracks:123", which rekordbox writes as
# "file://localhostsoundcloud:tracks:123" (also spotify:, tidal:, beatport:): a URI scheme of two
# or more letters where a path would start (one letter is a Windows drive).
_STREAMING_RE = re.compile(r"^(?:file://localhost)?([a-z][a-z0-9+.-]+):(?!/)", re.IGNORECASE)
# Characters rekordbox leaves as they are in a Location; everything else is percent-encoded
# (UTF-8 bytes, so non-ASCII names and non-UTF-8 bytes both round-trip).
_SAFE = "/:-._~!$'()*,;=@+"


def streaming_service(location: str) -> str | None:
    """The streaming service of a rekordbox ``Location`` that is no file (``"soundcloud"`` for
    ``file://localhostsoundcloud:tracks:123``), or None for a file location."""
    match = _STREAMING_RE.match(location.strip())
    if match is None or match.group(1).lower() == "file":
        return None
    return match.group(1).lower()


def location_to_path(location: str) -> str:
    """The local path of a rekordbox ``Location`` URL.

    ``file://localhost/Users/dj/Caf%C3%A9.mp3`` -> ``/Users/dj/Café.mp3``; ``file:///...`` is the
    same; Windows drive URLs (``file://localhost/C:/Music/x.mp3``) keep the drive: ``C:/Music/x.mp3``.
    Percent-escapes are decoded as bytes, so a name that is not UTF-8 comes back in
    ``os.fsdecode`` form (surrogate escapes), like every livedj path.

    Raises
    ------
    ValueError
        Not a ``file:`` URL, a URL with no path, or one with a NUL (``%00``) in it.
    """
    loc = location.strip()
    low = loc.lower()
    if low.startswith("file://localhost/"):
        rest = loc[len("file://localhost"):]
    elif low.startswith("file:///"):
        rest = loc[len("file://"):]
    elif low.startswith("file://"):
        rest = "//" + loc[len("file://"):]  # file://server/share/x: a UNC path
    elif low.startswith("file:/"):
        rest = loc[len("file:"):]
    else:
        raise ValueError(f"not a file: URL: {location!r}")
    path = os.fsdecode(urllib.parse.unquote_to_bytes(rest))
    if _DRIVE_RE.match(path):
        path = path[1:]
    if not path.strip("/") or low.rstrip("/") == "file://localhost" or re.fullmatch(r"[A-Za-z]:[/\\]?", path):
        raise ValueError(f"no path in URL: {location!r}")  # nothing, a host alone, a drive alone
    if "\x00" in path:
        raise ValueError(NUL_IN_PATH)
    return path


def path_to_location(path: str) -> str:
    """The rekordbox ``Location`` URL of a local path (inverse of :func:`location_to_path`)."""
    raw = os.fsencode(path)
    if re.match(rb"^[A-Za-z]:[/\\]", raw):
        raw = b"/" + raw.replace(b"\\", b"/")
    return "file://localhost" + urllib.parse.quote_from_bytes(raw, safe=_SAFE)


def _rekordbox_name(node, prefix: str | None) -> str:
    """A NODE's "Folder/Playlist" name; the top folder is rekordbox's nameless "ROOT": not part of the names."""
    name = node.get("Name") or "(unnamed)"
    if prefix is None and node.get("Type") != "1":
        return ""
    return f"{prefix}/{name}" if prefix else name


def rekordbox_nodes(playlists):
    """``(NODE, name)`` of every NODE under PLAYLISTS (folders and playlists), in document order."""
    if playlists is None:
        return iter(())
    return tree(playlists.findall("NODE"), lambda n: n.findall("NODE") if n.get("Type") != "1" else [],
                _rekordbox_name)


def _playlists(root, by_id: dict[str, str], by_location: dict[str, str], where_file: str,
               problems: Problems, streaming: set[str]) -> dict[str, list[str]]:
    """``{path: [playlist names]}`` from PLAYLISTS; nested folders give "Folder/Playlist" names."""
    crates: dict[str, list[str]] = {}

    for child, full in rekordbox_nodes(root.find("PLAYLISTS")):
        if child.get("Type") != "1":
            continue
        key_type = child.get("KeyType", "0")
        for ref in child.findall("TRACK"):
            key = ref.get("Key")
            path = by_location.get(key) if key_type == "1" else by_id.get(key)
            if path is None and key in streaming:
                continue  # a streaming track: counted once, with the collection
            if path is None:
                problems.append((f"{where_file}: playlist {full!r}",
                                 f"TRACK Key={key!r} is not in the COLLECTION; skipped"))
                continue
            names = crates.setdefault(path, [])
            if full not in names:
                names.append(full)
    return crates


def read_rekordbox_xml(path, *, playlists: bool = True) -> tuple[list[ImportedTrack], Problems]:
    """Read a rekordbox collection XML.

    Parameters
    ----------
    path : str or os.PathLike
        The exported ``.xml`` file.

    Returns
    -------
    tracks : list of ImportedTrack
        One per COLLECTION/TRACK with a usable Location, in file order; ``crates`` are the
        playlists (Type 1 NODEs) it appears in.
    problems : list of (str, str)
        ``(where, why)`` for every skipped TRACK or field; streaming tracks (SoundCloud, Spotify,
        TIDAL, Beatport: no file to analyse) are not listed one by one but counted in one entry.
        Also every playlist entry that names no track, unless ``playlists`` is False (the caller
        reads the playlists with :mod:`~livedj.library.importers.playlists`, which reports them).

    Raises
    ------
    LibraryImportError
        The file is missing, not well-formed XML, or not a DJ_PLAYLISTS document.
    """
    name = os.fsdecode(path)
    root = parse_xml_root(path, "DJ_PLAYLISTS", "rekordbox collection XML")
    problems: Problems = []
    rows = []
    by_id: dict[str, str] = {}
    by_location: dict[str, str] = {}
    streaming: Counter[str] = Counter()
    streaming_keys: set[str] = set()  # their TrackIDs and Locations, for the playlists
    collection = root.find("COLLECTION")
    if collection is None:
        raise LibraryImportError(f"{name}: no <COLLECTION> element (export the whole collection)")
    for n, el in enumerate(collection.findall("TRACK"), 1):
        track_id = el.get("TrackID")
        where = f"{name}: TRACK {track_id or f'#{n}'}"
        location = el.get("Location")
        if not location:
            problems.append((where, "no Location; skipped"))
            continue
        service = streaming_service(location)
        if service is not None:
            streaming[service] += 1
            streaming_keys.update(k for k in (track_id, location) if k)
            continue
        try:
            tpath = location_to_path(location)
        except ValueError as e:
            problems.append((where, f"Location: {e}; skipped"))
            continue
        if track_id:
            by_id[track_id] = tpath
        by_location[location] = tpath
        rows.append((tpath, dict(
            title=text(el.get("Name")), artist=text(el.get("Artist")), album=text(el.get("Album")),
            duration=parse_duration(el.get("TotalTime"), where, "TotalTime", problems),
            bpm=parse_bpm(el.get("AverageBpm"), where, "AverageBpm", problems),
            key=parse_key_text(el.get("Tonality"), where, "Tonality", problems), size=parse_size(el.get("Size")))))
    crates = _playlists(root, by_id, by_location, name, problems if playlists else [], streaming_keys)
    if streaming:
        services = ", ".join(f"{service} {n}" for service, n in streaming.most_common())
        problems.append((name, f"{sum(streaming.values())} streaming tracks ({services}): no file to analyse; "
                               "skipped"))
    tracks = [ImportedTrack(path=p, source="rekordbox", crates=tuple(crates.get(p, ())), **f) for p, f in rows]
    return tracks, problems
