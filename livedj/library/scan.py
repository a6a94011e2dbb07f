"""Finding audio files under the DJ's folders (no decoding here)."""
from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass
from typing import Iterable, Iterator

from livedj.config import AUDIO_EXTENSIONS
from livedj.fsutil import printable
from livedj.library.relocate import Listed, Moved, PathMap, mapped, match_by_name
from livedj.pathmap import WINDOWS_PATH
from livedj.words import plural

#: Folders an operating system keeps on a drive: a USB stick's trash holds deleted records, which
#: must not come back as suggestions. Hidden folders (".Trashes", ".Trash-1000", ".Spotlight-V100",
#: ".git"…) are skipped as well; a root named explicitly is always scanned, hidden or not.
SYSTEM_FOLDERS = frozenset({"$recycle.bin", "system volume information", "lost+found", "recycler"})


def is_skipped_folder(name: str) -> bool:
    """Whether a sub-folder called ``name`` is left out of a scan (hidden or kept by the system)."""
    return name.startswith(".") or name.lower() in SYSTEM_FOLDERS


@dataclass(frozen=True)
class FoundFile:
    path: str  #: os.fsdecode form (surrogate-escaped when the name is not UTF-8)
    size: int
    mtime_ns: int


def scan(roots: Iterable[str | os.PathLike], extensions: tuple[str, ...] = AUDIO_EXTENSIONS,
         problems: list[tuple[str, str]] | None = None, seen: _Seen | None = None) -> Iterator[FoundFile]:
    """Yield every audio file under ``roots`` (recursively, sorted, symlinked folders not followed).

    A root that is a file is yielded as is when its extension matches. Hidden files, hidden
    sub-folders and the system's folders (trash, recycle bin: `is_skipped_folder`) are left out.
    Unreadable folders are appended to ``problems`` as (path, reason) instead of stopping the scan.
    A file reached twice (roots that overlap, a folder or file named again through a link, a hard
    link) is yielded once, under the first name found: see `_Seen` (``seen``: one to go on with).
    """
    extensions = tuple(e.lower() for e in extensions)
    seen = seen if seen is not None else _Seen()
    for root in roots:
        root = os.fsdecode(root)
        if os.path.isfile(root):
            if not root.lower().endswith(extensions):  # named by the user: say why nothing was indexed
                if problems is not None:
                    problems.append((root, f"not an audio file ({os.path.splitext(root)[1] or 'no extension'})"))
            elif (found := seen.first(root, _found(root, problems), problems)) is not None:
                yield found
            continue
        if not os.path.isdir(root):
            if problems is not None:
                problems.append((root, "not a folder or an audio file" if os.path.exists(root) else "no such folder"))
            continue
        for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: _walk_error(e, problems)):
            dirnames[:] = sorted(d for d in dirnames if not is_skipped_folder(d))  # os.walk descends into what is left
            if problems is not None:  # "Album.mp3/" is a folder: say so, its contents are scanned
                problems.extend((os.path.join(dirpath, d), "a folder named like an audio file (not a file; its "
                                 "contents are scanned)") for d in dirnames if d.lower().endswith(extensions))
            for name in sorted(filenames):
                if name.lower().endswith(extensions) and not name.startswith("."):
                    path = os.path.join(dirpath, name)
                    if (found := seen.first(root, _found(path, problems), problems)) is not None:
                        yield found
        seen.end_root(root, problems)


class _Seen:
    """The files a scan has yielded, by (device, inode): the same record under two names was indexed
    twice (suggested twice, counted twice). Duplicates from an earlier root (``~/Music`` and a link to
    it named together) are summed up in one line per root; one inside a root is named by itself."""

    def __init__(self):
        self.names: dict[tuple, tuple[str, str]] = {}  # identity -> (path, its root)
        self.again: dict[str, int] = {}  # an earlier root -> its files found again under this root

    def first(self, root: str, found: tuple[FoundFile, tuple] | None, problems) -> FoundFile | None:
        if found is None:
            return None
        file, identity = found
        if identity not in self.names:
            self.names[identity] = (file.path, root)
            return file
        path, its_root = self.names[identity]
        if path == file.path:  # overlapping roots (a folder and its sub-folder): nothing to say
            return None
        if its_root != root and root != file.path:  # a root that is a file is named by itself
            self.again[its_root] = self.again.get(its_root, 0) + 1
        elif problems is not None:
            problems.append((file.path, f"the same file as {printable(path)} (a link): indexed once, under that name"))
        return None

    def end_root(self, root: str, problems) -> None:
        if problems is not None:
            problems.extend((root, f"{plural(n, 'file')} already found under {printable(earlier)} (the same files, through a "
                             "link): indexed once, under that folder") for earlier, n in self.again.items())
        self.again.clear()


#: a Windows computer's paths (`livedj.pathmap.WINDOWS_PATH`), never looked for here (on Windows: none, they are its own)
_WINDOWS_PATH = WINDOWS_PATH if os.sep == "/" else None


def foreign(path: str) -> str | None:
    """What kind of path ``path`` is when it cannot be one of this machine's ("a Windows path", "a Windows
    network path", "a relative path"), else None."""
    if _WINDOWS_PATH is not None and (match := _WINDOWS_PATH.match(path)):
        return "a Windows path" if match.group(2) is not None else "a Windows network path"
    return None if os.path.isabs(path) else "a relative path"


@dataclass(frozen=True)
class MissingFile:
    """A file the DJ's software lists that is not on this machine."""

    path: str  #: as the DJ's software wrote it (os.fsdecode form)
    source: str  #: "rekordbox", "traktor" or "mixxx"
    note: str | None = None  #: why a file of its name here was not taken for it (`livedj.library.relocate`)

    @functools.cached_property
    def there(self) -> str | None:
        """What is at the path when something is (a folder, a file that cannot be read), else None: missing.
        A folder or an unreadable file was reported as missing, which sent the DJ looking for a drive."""
        if foreign(self.path) is not None:
            return None
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:  # a folder on the way without permission, a link loop
            return f"cannot be read: {exc.strerror or exc}"
        if stat.S_ISDIR(st.st_mode):
            return "a folder, not an audio file"
        return None if stat.S_ISREG(st.st_mode) else "not a regular file (a pipe or a device), not read"

    @property
    def reason(self) -> str:
        kind = foreign(self.path)
        if kind is None and self.there is not None:
            why = f"in the {self.source} library: {self.there}"
        elif kind is None:
            why = f"in the {self.source} library, but the file is missing"
        elif kind == "a relative path":
            why = f"in the {self.source} library: a relative path (it names no folder to look in), not looked for"
        else:
            why = f"in the {self.source} library: {kind} (the collection comes from a Windows computer), not found here"
        return why if self.note is None else f"{why}; {self.note}"


def scan_with_imported(roots: Iterable[str | os.PathLike], imported: Iterable, problems: list[tuple[str, str]],
                       missing: list[MissingFile], *, maps: Iterable[PathMap] = (), moved: list[Moved] | None = None
                       ) -> tuple[list[FoundFile], dict[str, object], set[str]]:
    """`scan` ``roots``, then add the files the DJ's software lists (``imported``: ImportedTrack).

    Returns the files found, the DJ software's track of each file it lists by the name the file is
    indexed under, and the other names it lists those files under. A listed file is known by the
    scan's identity (`_Seen`): one the scan found under another name (a folder named through a link,
    /Volumes/Music -> ~/Music, a linked or hard-linked file) takes the DJ's BPM/key under the scan's
    name; one listed under two names is indexed once (under the scan's name, else the first) with the
    BPM/key of that entry, and the other entry is named in ``problems``. A listed file that is not
    here is looked for through ``maps`` (``OLD=NEW``), then among the scanned files by its name
    (`livedj.library.relocate`): found, it is that file (``moved`` gets a `Moved`); else it goes to
    ``missing``, once, as written.
    """
    seen = _Seen()
    found = list(scan(roots, problems=problems, seen=seen))
    scanned = {path: ident for ident, (path, _root) in seen.names.items()}
    tracks = list(imported)
    paths = [_listed(track.path) for track in tracks]
    here: dict[str, tuple | None] = {}  # a listed path (normalised) -> (path here, (file, identity)), None: not here
    lost: dict[str, object] = {}  # a listed path not here -> its first track
    notes: dict[str, str] = {}  # a listed path not here -> where else it was looked for, and why not taken
    for track, path in zip(tracks, paths):
        if path not in here:
            here[path] = None if foreign(path) else _with(path, _found(path, None))
            if here[path] is None and (by_map := mapped(path, maps)) is not None:
                here[path] = next((_with(p, got) for p in by_map[1] if (got := _found(p, None))), None)
                if here[path] is not None and moved is not None:
                    moved.append(Moved(path, here[path][0], track.source, by_map[0]))
                elif here[path] is None:
                    notes[path] = f"not at {by_map[1][-1]} either (the path map {by_map[0]})"
            if here[path] is None:
                lost[path] = track
    # a scanned file that a listed track names as it is (or through a link) is taken: not another's by name
    taken = {got[1][1] for got in here.values() if got is not None}
    free = [(f.path, f.size) for f in found if scanned.get(f.path) not in taken]
    by_name, refused = match_by_name((Listed(p, t.source, getattr(t, "size", None)) for p, t in lost.items()), free)
    for item, path in by_name.items():
        here[item.path] = (path, (FoundFile(path, 0, 0), scanned[path]))
        if moved is not None:
            moved.append(Moved(item.path, path, item.source))
    for item, note in refused.items():
        notes[item.path] = f"{notes[item.path]}; {note}" if item.path in notes else note
    dj: dict[str, object] = {}
    aliases: set[str] = set()
    listed: dict[tuple, tuple[str, str]] = {}  # identity -> (the first name the DJ's software lists, its source)
    absent: set[str] = set()
    for track, path in zip(tracks, paths):
        if (got := here[path]) is None:
            if path not in absent:
                absent.add(path)
                missing.append(MissingFile(path, track.source, notes.get(path)))
            continue
        path, (file, ident) = got
        if ident not in seen.names:
            seen.names[ident] = (path, path)
            found.append(file)
        name = seen.names[ident][0]
        if path != name:
            aliases.add(path)
        first, source = listed.setdefault(ident, (path, track.source))
        if first == path:  # or the same name again (rekordbox and Traktor list it): the later one's analysis
            dj[name] = track
            continue
        if path == name:  # the name the scan found comes second: the first one is the one set aside
            listed[ident], dj[name] = (path, track.source), track
            path, first, source = first, path, track.source
        problems.append((path, f"the same file as {printable(first)} in the {source} library (a link): indexed "
                         f"once, under {'that name' if first == name else printable(name)}"))
    return found, dj, aliases


def _listed(path: str) -> str:
    """A listed path as it is looked for: "C:/Music/x.mp3" (a collection made on Windows) or "Music/x.mp3"
    names no file of this machine (resolved against the current folder it was reported as
    "/home/dj/C:/Music/x.mp3", or indexed from there): kept as written; a local one normalised."""
    return path if foreign(path) else os.path.normpath(path)


def _with(path: str, got: tuple | None) -> tuple | None:
    return None if got is None else (path, got)


def identity(path: str) -> tuple | None:
    """The identity of the file at ``path`` as the scan knows it (None: not a regular file, or no file)."""
    got = _found(path, None)
    return got[1] if got is not None else None


def _found(path: str, problems: list | None) -> tuple[FoundFile, tuple] | None:
    try:
        st = os.stat(path)
    except OSError as exc:
        if problems is not None:
            problems.append((path, f"cannot stat: {exc.strerror}"))
        return None
    except ValueError:  # a NUL in the name (a set log or a list the readers did not screen): no such file
        if problems is not None:
            problems.append((path, "cannot stat: a NUL character in the path"))
        return None
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device named x.mp3 would block or never end the decoder
        if problems is not None:
            problems.append((path, "not a regular file"))
        return None
    # an inode of 0 (some network and FUSE file systems number no files): no identity, no de-duplication
    return FoundFile(path, st.st_size, st.st_mtime_ns), (st.st_dev, st.st_ino or path)


def _walk_error(exc: OSError, problems: list | None) -> None:
    if problems is not None:
        problems.append((exc.filename or "?", f"cannot read folder: {exc.strerror}"))
