"""What every importer shares: the track record, the error, and field parsing that reports."""
from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from livedj.dsp.tonal import parse_key

#: BPMs outside this range are analysis garbage, not tempi.
BPM_RANGE = (20.0, 400.0)

Problems = list[tuple[str, str]]

#: why a path is refused: no file system has a name with a NUL (os.stat raised ValueError on it)
NUL_IN_PATH = "a NUL character in the path"


class LibraryImportError(ValueError):
    """A library file that cannot be read at all; the message is one line naming the file."""


@dataclass(frozen=True)
class ImportedTrack:
    """One track as a DJ application knows it.

    Attributes
    ----------
    path : str
        The file's path as the DJ software wrote it, ``os.fsdecode`` form: usually an absolute local
        path, but a collection made on Windows keeps its drive letters and shares (``C:/Music/x.mp3``,
        ``//nas/music/x.mp3``) and Mixxx may store a relative one (``Music/x.mp3``); none is resolved
        here (see :func:`livedj.library.scan.foreign`). The file may not exist.
    title, artist, album : str or None
    duration : float or None
        Seconds.
    bpm : float or None
    key : int or None
        Key index 0-23 (C..B major, then C..B minor), as :mod:`livedj.dsp.tonal`.
    source : str
        ``"rekordbox"``, ``"traktor"`` or ``"mixxx"``.
    crates : tuple of str
        Playlists/crates the track is in.
    size : int or None
        The file's size in bytes as the DJ software knows it (rekordbox's ``Size``): a file found by
        its name elsewhere (:mod:`livedj.library.relocate`) must have it.
    """

    path: str
    title: str | None
    artist: str | None
    album: str | None
    duration: float | None
    bpm: float | None
    key: int | None
    source: str
    crates: tuple[str, ...] = ()
    size: int | None = None


def text(value) -> str | None:
    """Stripped text, or ``None`` for missing/empty."""
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def db_text(value) -> str | None:
    """A name from a database as text: SQLite keeps whatever a writer put in a column (a BLOB, a number)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return text(value)


def parse_bpm(value, where: str, field: str, problems: Problems) -> float | None:
    """A BPM from text or number; 0/empty mean "not analysed" (``None``, no problem)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        bpm = float(value)
    except (TypeError, ValueError):
        problems.append((where, f"{field}={value!r} is not a number; BPM skipped"))
        return None
    if bpm == 0.0:
        return None
    if not math.isfinite(bpm) or not BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
        problems.append((where, f"{field}={value!r} is outside {BPM_RANGE[0]:g}-{BPM_RANGE[1]:g}; BPM skipped"))
        return None
    return bpm


def parse_size(value) -> int | None:
    """A file size in bytes; empty, 0 or not a whole number: unknown (only a hint, never reported)."""
    try:
        size = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return size if 0 < size < 2**63 else None


def parse_duration(value, where: str, field: str, problems: Problems) -> float | None:
    """A duration in seconds; empty means unknown."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        problems.append((where, f"{field}={value!r} is not a number; duration skipped"))
        return None
    if not math.isfinite(seconds) or seconds < 0:
        problems.append((where, f"{field}={value!r} is not a duration; skipped"))
        return None
    return seconds or None


def parse_key_text(value, where: str, field: str, problems: Problems) -> int | None:
    """A key written as text (musical, Camelot, Open Key); empty means unknown."""
    s = text(value)
    if s is None:
        return None
    key = parse_key(s)
    if key is None:
        problems.append((where, f"{field}={s!r} is not a key; key skipped"))
    return key


#: expat's errors for entities: a bomb (billion laughs), external entities (never fetched), undefined ones
_ENTITY_ERRORS = ("AMPLIFICATION_LIMIT_BREACH", "EXTERNAL_ENTITY_HANDLING", "ATTRIBUTE_EXTERNAL_ENTITY_REF",
                  "UNDEFINED_ENTITY", "RECURSIVE_ENTITY_REF", "BINARY_ENTITY_REF", "PARAM_ENTITY_REF")


#: the root of a file another option reads: what the DJ gave, and where it goes
_OTHER_ROOTS = {"DJ_PLAYLISTS": "a rekordbox collection XML: give it with --from-rekordbox",
                "NML": "a Traktor NML file: give it with --from-traktor",
                "playlist": "an XSPF playlist: give it with --playlists",
                "{http://xspf.org/ns/0/}playlist": "an XSPF playlist: give it with --playlists"}


def _declared_encoding(path) -> str | None:
    """The encoding the file's XML declaration names (None: none named, or the file cannot be read)."""
    try:
        with open(path, "rb") as f:
            head = f.read(200)
    except OSError:
        head = b""
    match = re.search(rb"""encoding\s*=\s*["']([^"']{1,40})["']""", head)
    return match.group(1).decode("ascii", "replace") if match else None


def parse_xml_root(path, expected_root: str, what: str) -> ET.Element:
    """Parse a whole XML file, or raise a one-line :class:`LibraryImportError` naming it."""
    name = os.fsdecode(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise LibraryImportError(f"{name}: no such file") from None
    except ET.ParseError as e:
        from xml.parsers.expat import errors

        line, col = e.position
        reason = errors.messages.get(e.code, "not well-formed")
        if reason in {getattr(errors, f"XML_ERROR_{n}", None) for n in _ENTITY_ERRORS}:
            # an entity bomb or an external entity (a file it names is never read): no DJ software writes one
            raise LibraryImportError(f"{name}: refused at line {line}, column {col + 1}: {reason} "
                                     f"(not a {what} as DJ software writes it)") from None
        raise LibraryImportError(f"{name}: not well-formed XML at line {line}, column {col + 1}: {reason} "
                                 f"(is it a complete {what}?)") from None
    except OSError as e:
        raise LibraryImportError(f"{name}: cannot read: {e.strerror or e}") from None
    except (LookupError, ValueError) as e:  # an encoding unknown to Python (LookupError), or multi-byte: not expat's
        encoding = _declared_encoding(path)
        if encoding is None:
            raise LibraryImportError(f"{name}: cannot read: {e}") from None
        raise LibraryImportError(f"{name}: the XML declaration names encoding {encoding!r}, which cannot be read "
                                 "(DJ software writes UTF-8)") from None
    if root.tag != expected_root:
        other = _OTHER_ROOTS.get(root.tag)
        raise LibraryImportError(f"{name}: root element is <{root.tag}>, a {what} has <{expected_root}>"
                                 + (f" (this is {other})" if other else ""))
    return root


def tree(tops, children, label):
    """``(element, name)`` of ``tops`` and every element below them, depth first in document order.

    ``children(element)`` lists the elements to go into (``[]`` for a playlist); ``label(element,
    prefix)`` names one from its parent's name (``prefix`` is None for a top element). A loop, not
    recursion: a file may nest folders thousands deep (a RecursionError was a traceback).
    """
    stack = [(el, None) for el in reversed(list(tops))]
    while stack:
        el, prefix = stack.pop()
        name = label(el, prefix)
        yield el, name
        stack.extend((child, name) for child in reversed(list(children(el))))
