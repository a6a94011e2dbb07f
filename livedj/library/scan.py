"""Finding audio files under the DJ's folders (no decoding here)."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Iterable, Iterator

from livedj.config import AUDIO_EXTENSIONS

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
         problems: list[tuple[str, str]] | None = None) -> Iterator[FoundFile]:
    """Yield every audio file under ``roots`` (recursively, sorted, symlinked folders not followed).

    A root that is a file is yielded as is when its extension matches. Hidden files, hidden
    sub-folders and the system's folders (trash, recycle bin: `is_skipped_folder`) are left out.
    Unreadable folders are appended to ``problems`` as (path, reason) instead of stopping the scan.
    """
    extensions = tuple(e.lower() for e in extensions)
    for root in roots:
        root = os.fsdecode(root)
        if os.path.isfile(root):
            if not root.lower().endswith(extensions):  # named by the user: say why nothing was indexed
                if problems is not None:
                    problems.append((root, f"not an audio file ({os.path.splitext(root)[1] or 'no extension'})"))
            elif (found := _found(root, problems)) is not None:
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
                    found = _found(os.path.join(dirpath, name), problems)
                    if found is not None:
                        yield found


def _found(path: str, problems: list | None) -> FoundFile | None:
    try:
        st = os.stat(path)
    except OSError as exc:
        if problems is not None:
            problems.append((path, f"cannot stat: {exc.strerror}"))
        return None
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device named x.mp3 would block or never end the decoder
        if problems is not None:
            problems.append((path, "not a regular file"))
        return None
    return FoundFile(path, st.st_size, st.st_mtime_ns)


def _walk_error(exc: OSError, problems: list | None) -> None:
    if problems is not None:
        problems.append((exc.filename or "?", f"cannot read folder: {exc.strerror}"))
