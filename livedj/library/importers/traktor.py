"""Traktor's collection (``collection.nml``, also history and exported playlist ``.nml`` files).

Format (NML VERSION 19/20, Traktor Pro 3/4)::

    <NML VERSION="19"><HEAD .../>
      <COLLECTION ENTRIES="N">
        <ENTRY TITLE=".." ARTIST="..">
          <LOCATION DIR="/:Users/:dj/:Music/:" FILE="a.mp3" VOLUME="Macintosh HD" VOLUMEID="..."/>
          <ALBUM TITLE=".."/>
          <INFO PLAYTIME="312" PLAYTIME_FLOAT="311.8" KEY="1m" .../>
          <TEMPO BPM="124.000000" BPM_QUALITY="100"/>
          <MUSICAL_KEY VALUE="21"/>
        </ENTRY>
      </COLLECTION>
      <PLAYLISTS><NODE TYPE="FOLDER" NAME="$ROOT"><SUBNODES>
        <NODE TYPE="PLAYLIST" NAME="Warm up"><PLAYLIST TYPE="LIST">
          <ENTRY><PRIMARYKEY TYPE="TRACK" KEY="Macintosh HD/:Users/:dj/:Music/:a.mp3"/></ENTRY>
        </PLAYLIST></NODE>
      </SUBNODES></NODE></PLAYLISTS>
    </NML>

``MUSICAL_KEY VALUE`` is Traktor's analysed key, 0-11 = C, C#/Db, ..., B major and 12-23 = C ...
B minor (21 = A minor = Open Key 1m) - the same order as livedj's key index. Sources: the
Open-Key tables in public NML tools (0 -> "1d"/8B C major, 12 -> "10m"/5A C minor, 21 -> "1m"/8A A
minor, e.g. bsm3d/Traktor-Bridge's key translator), consistent with the example
``<MUSICAL_KEY VALUE="21"/>`` of an A-minor track. ``INFO KEY`` is the same key as text in the
notation chosen in Traktor's preferences; it is the fallback, and a disagreement is reported.

Paths (the rule Mixxx's own Traktor importer uses, made portable): ``DIR`` uses ``/:`` as the
separator. With a drive-letter ``VOLUME`` ("C:") the path is ``VOLUME + DIR + FILE``
("C:/Music/a.mp3"). Otherwise ``VOLUME`` is a macOS volume name. The startup disk ("Macintosh
HD": ``/Volumes/<VOLUME>`` links to ``/``, or the file is at ``DIR + FILE``, or that is a macOS
home folder, ``/Users/...``) gives ``DIR + FILE`` ("/Users/dj/Music/a.mp3"). Another volume gives
the path under its mount point: the one among ``/Volumes/<VOLUME>``, ``/media/$USER/<VOLUME>``,
``/run/media/$USER/<VOLUME>``, ``/media/<VOLUME>``, ``/mnt/<VOLUME>`` that holds the file; when
none does (the drive is not plugged in), the volume keeps its name in the path, under where this
system will mount it (``/Volumes`` on macOS, else ``/run/media/$USER`` where that exists, else
``/media/$USER``), so the path matches once the drive is back. ``volumes`` overrides this per
volume name.
"""
from __future__ import annotations

import getpass
import os
import re

from livedj.dsp.tonal import key_name
from livedj.library.importers.common import (ImportedTrack, LibraryImportError, Problems, parse_bpm,
                                             parse_duration, parse_key_text, parse_xml_root, text, tree)

#: Traktor MUSICAL_KEY VALUE -> livedj key index (the identity: both are C..B major, C..B minor).
TRAKTOR_KEYS = {value: value for value in range(24)}

_DRIVE_RE = re.compile(r"^[A-Za-z]:$")


def _mount_candidates(volume: str) -> list[str]:
    """Where ``volume`` may be mounted, the place this system would mount it first."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name (containers): skip the per-user mounts
        user = None
    roots = [f"/Volumes/{volume}"]
    if user:
        per_user = [f"/run/media/{user}/{volume}", f"/media/{user}/{volume}"]  # udisks2: Fedora/Arch, Debian
        if not os.path.isdir(f"/run/media/{user}"):
            per_user.reverse()
        roots += per_user
    roots += [f"/media/{volume}", f"/mnt/{volume}"]
    if not os.path.isdir("/Volumes"):  # not macOS: /Volumes/<VOLUME> is only a place to look
        roots.append(roots.pop(0))
    return roots


def _is_root(path: str) -> bool:
    try:
        return os.path.samefile(path, "/")
    except OSError:  # absent, or a stale mount point
        return False


def traktor_path(volume: str | None, directory: str | None, file: str | None,
                 volumes: dict[str, str] | None = None, *, roots: list[str] | None = None) -> str:
    """The local path of a Traktor LOCATION (see the module docstring for the rule).

    ``roots``: where the volume may be mounted, the preferred place for an absent one first
    (default: this system's places, :func:`_mount_candidates`).
    """
    d = (directory or "").replace("/:", "/")
    rel = d + (file or "")
    if not rel.startswith("/"):
        rel = "/" + rel
    volume = (volume or "").strip()
    if volumes and volume in volumes:
        return volumes[volume].rstrip("/\\") + rel
    if _DRIVE_RE.match(volume):
        return volume + rel
    if not volume:
        return rel
    roots = roots if roots is not None else _mount_candidates(volume)
    for root in roots:
        if _is_root(root):
            return rel  # macOS: /Volumes/<startup disk> links to /
        if os.path.lexists(root + rel):
            return root + rel
    if os.path.lexists(rel) or rel.startswith("/Users/") or not roots:
        return rel  # on the startup disk
    return roots[0] + rel  # a volume not mounted now: where it will be

def _key(entry, where: str, problems: Problems) -> int | None:
    mk = entry.find("MUSICAL_KEY")
    info = entry.find("INFO")
    from_text = None
    if info is not None and text(info.get("KEY")):
        from_text = parse_key_text(info.get("KEY"), where, "INFO KEY", problems)
    if mk is None or text(mk.get("VALUE")) is None:
        return from_text
    raw = mk.get("VALUE")
    try:
        number = float(raw)
        value = int(number) if number.is_integer() else None  # "1.5" is no key (it was taken as 1)
    except (TypeError, ValueError, OverflowError):  # "inf", "1e400"
        value = None
    if value not in TRAKTOR_KEYS:
        problems.append((where, f"MUSICAL_KEY VALUE={raw!r} is not 0-23; key skipped"))
        return from_text
    key = TRAKTOR_KEYS[value]
    if from_text is not None and from_text != key:
        problems.append((where, f"MUSICAL_KEY VALUE={value} ({key_name(key)}) disagrees with INFO KEY="
                                f"{info.get('KEY')!r} ({key_name(from_text)}); using MUSICAL_KEY"))
    return key


def traktor_nodes(root):
    """``(NODE, name)`` of every NODE under the "$ROOT" folder (folders and playlists), in document order."""
    tops = [node for top in root.findall("PLAYLISTS/NODE") for node in top.findall("SUBNODES/NODE")]
    return tree(tops, lambda n: n.findall("SUBNODES/NODE") if n.get("TYPE") == "FOLDER" else [],
                lambda n, prefix: f"{prefix}/{n.get('NAME') or '(unnamed)'}" if prefix else n.get("NAME") or "(unnamed)")


def _playlists(root, by_key: dict[str, str], name: str, problems: Problems) -> dict[str, list[str]]:
    crates: dict[str, list[str]] = {}

    for child, full in traktor_nodes(root):
        if child.get("TYPE") != "PLAYLIST" or (child.get("NAME") or "").startswith("_"):  # _LOOPS, _RECORDINGS
            continue
        for pk in child.findall("PLAYLIST/ENTRY/PRIMARYKEY"):
            if pk.get("TYPE") != "TRACK":
                continue
            path = by_key.get(pk.get("KEY"))
            if path is None:
                problems.append((f"{name}: playlist {full!r}",
                                 f"PRIMARYKEY {pk.get('KEY')!r} is not in the COLLECTION; skipped"))
                continue
            names = crates.setdefault(path, [])
            if full not in names:
                names.append(full)
    return crates


def read_traktor_nml(path, *, volumes: dict[str, str] | None = None,
                     playlists: bool = True) -> tuple[list[ImportedTrack], Problems]:
    """Read a Traktor ``collection.nml`` (or any NML with a COLLECTION).

    Parameters
    ----------
    path : str or os.PathLike
        The NML file.
    volumes : dict, optional
        Volume name -> local mount point, overriding the path rule (e.g. ``{"Macintosh HD": "/"}``,
        ``{"DJ USB": "/media/dj/DJ USB"}``).
    playlists : bool
        Report the playlist entries that name no track of the COLLECTION (False: the caller reads the
        playlists with :mod:`~livedj.library.importers.playlists`, which reports them).

    Returns
    -------
    tracks : list of ImportedTrack
    problems : list of (str, str)

    Raises
    ------
    LibraryImportError
        The file is missing, not well-formed XML, not an NML document, or has no COLLECTION.
    """
    name = os.fsdecode(path)
    root = parse_xml_root(path, "NML", "Traktor NML file")
    if root.find("COLLECTION") is None:
        raise LibraryImportError(f"{name}: no <COLLECTION> element (pass Traktor's collection.nml "
                                 "or an exported playlist)")
    problems: Problems = []
    rows = []
    by_key: dict[str, str] = {}
    for n, entry in enumerate(root.findall("COLLECTION/ENTRY"), 1):
        title, artist = text(entry.get("TITLE")), text(entry.get("ARTIST"))
        where = f"{name}: ENTRY #{n}" + (f" ({artist or '?'} - {title})" if title else "")
        loc = entry.find("LOCATION")
        if loc is None or not text(loc.get("FILE")):
            problems.append((where, "no LOCATION FILE; skipped"))
            continue
        tpath = traktor_path(loc.get("VOLUME"), loc.get("DIR"), loc.get("FILE"), volumes)
        by_key[(loc.get("VOLUME") or "") + (loc.get("DIR") or "") + loc.get("FILE")] = tpath
        info = entry.find("INFO")
        album = entry.find("ALBUM")
        tempo = entry.find("TEMPO")
        duration = None
        if info is not None:
            field = "PLAYTIME_FLOAT" if text(info.get("PLAYTIME_FLOAT")) else "PLAYTIME"
            duration = parse_duration(info.get(field), where, f"INFO {field}", problems)
        rows.append((tpath, dict(
            title=title, artist=artist, album=text(album.get("TITLE")) if album is not None else None,
            duration=duration,
            bpm=parse_bpm(tempo.get("BPM"), where, "TEMPO BPM", problems) if tempo is not None else None,
            key=_key(entry, where, problems))))
    crates = _playlists(root, by_key, name, problems if playlists else [])
    return [ImportedTrack(path=p, source="traktor", crates=tuple(crates.get(p, ())), **f) for p, f in rows], problems
