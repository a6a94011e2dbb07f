"""A folder of another computer and where it is on this one: ``OLD=NEW`` (``--map-path``, ``library.map_paths``).

The parsing alone, beside the config that checks it; the matching is in `livedj.library.relocate`.
"""
from __future__ import annotations

import os
import re
import unicodedata
from typing import NamedTuple

#: a drive letter ("C:/Music/x.mp3"), a network share ("\\\\nas\\music\\x.mp3"; rekordbox's file://nas/music/x.mp3
#: reads "//nas/music/x.mp3"): a Windows computer's path (its names are compared case-insensitively); group 2 is
#: set for a drive letter
WINDOWS_PATH = re.compile(r"^([A-Za-z]:([/\\]|$)|\\\\|//[^/])")


def is_windows(path: str) -> bool:
    """Whether ``path`` is a Windows computer's (``C:/...``, ``E:\\...``, ``//nas/...``)."""
    return bool(WINDOWS_PATH.match(path))


def parts(path: str, windows: bool | None = None) -> list[str]:
    """The components of ``path`` as they are compared: NFC, and case-folded for a Windows path."""
    windows = is_windows(path) if windows is None else windows
    text = unicodedata.normalize("NFC", path)
    if windows:
        return [p.casefold() for p in re.split(r"[/\\]", text) if p]
    return [p for p in text.split("/") if p]


class PathMap(NamedTuple):
    """``OLD=NEW``: the leading folders ``OLD`` of a listed path are ``NEW`` on this machine."""

    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.old}={self.new}"


def parse_map(text: str) -> PathMap:
    """``"OLD=NEW"`` as a :class:`PathMap` (``~`` and ``$VARIABLES`` expand in NEW).

    Raises
    ------
    ValueError
        No ``=``, an empty side, or a NEW that is not an absolute path of this machine.
    """
    old, sep, new = text.partition("=")
    old, new = old.strip(), os.path.expanduser(os.path.expandvars(new.strip()))
    if not sep or not old or not new:
        raise ValueError(f"expected OLD=NEW (e.g. /Users/dj/Music=/home/dj/Music), got {text!r}")
    if not os.path.isabs(new) or is_windows(new):
        raise ValueError(f"NEW must be an absolute path of this machine, got {new!r}")
    if not parts(old):
        raise ValueError(f"OLD must name a folder, got {old!r}")
    return PathMap(old, new)
