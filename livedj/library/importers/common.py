"""What every importer shares: the track record, the error, and field parsing that reports."""
from __future__ import annotations

import io
import math
import os
import re
import stat
import xml.etree.ElementTree as ET
from xml.parsers import expat
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


def _declared_encoding(source) -> str | None:
    """The encoding the file's XML declaration names (None: none named, or the file cannot be read)."""
    try:
        if isinstance(source, io.BytesIO):
            head = source.getvalue()[:200]
        else:
            with open(source, "rb") as f:
                head = f.read(200)
    except OSError:
        head = b""
    match = re.search(rb"""encoding\s*=\s*["']([^"']{1,40})["']""", head)
    return match.group(1).decode("ascii", "replace") if match else None


class _Prolog(Exception):
    """The root element began: no entity can be declared after it."""


#: the most read from a pipe (a whole collection is held in memory to be parsed anyway)
MAX_PIPE_BYTES = 2 << 30


def xml_source(path):
    """What the parsers read: the path of a file, or the bytes of a pipe (``<(...)``, /dev/stdin) read once,
    as it cannot be read twice (:func:`xml_root` reads the start, the parse all of it)."""
    name = os.fsdecode(path)
    try:
        if not stat.S_ISFIFO(os.stat(name).st_mode):
            return path
    except (OSError, ValueError):
        return path  # missing, unreadable: the parse says so
    with open(name, "rb") as f:
        data = f.read(MAX_PIPE_BYTES + 1)
    if len(data) > MAX_PIPE_BYTES:
        raise LibraryImportError(f"{name}: more than {MAX_PIPE_BYTES >> 30} GiB from a pipe: not a collection")
    return io.BytesIO(data)


def xml_root(source, name: str, what: str) -> str | None:
    """The local name of the root element, read up to it only; None if not well-formed up to there.

    Refuses a document that declares an entity (``<!ENTITY``): no DJ software writes one, and not
    expanding any is what keeps a bomb ("billion laughs") or an external entity (a local file it names,
    a device that never ends) harmless whatever expat this Python has (an expat before 2.4.1 has no
    amplification limit), as defusedxml's forbid_entities does.
    """
    parser = expat.ParserCreate(namespace_separator="}")

    def declared(entity, is_parameter, value, base, system_id, public_id, notation):
        kind = "an external entity" if system_id or public_id else "an entity"
        raise LibraryImportError(f"{name}: refused at line {parser.CurrentLineNumber}: it declares {kind} "
                                 f"({entity!r}), never expanded (not a {what} as DJ software writes it)")

    def started(tag, attributes):
        raise _Prolog(tag.rpartition("}")[2])

    parser.EntityDeclHandler = declared
    parser.StartElementHandler = started
    try:
        if isinstance(source, io.BytesIO):
            parser.Parse(source.getvalue(), True)
        else:
            with open(source, "rb") as f:
                parser.ParseFile(f)
    except _Prolog as e:
        return e.args[0]
    except LibraryImportError:  # a ValueError too
        raise
    except (expat.ExpatError, LookupError, ValueError, OSError):
        return None  # not well-formed, an encoding expat lacks, unreadable: the parse proper says which
    return None


def parse_xml_root(path, expected_root: str | tuple[str, ...], what: str, data: bytes | None = None) -> ET.Element:
    """Parse a whole XML file, or raise a one-line :class:`LibraryImportError` naming it (see :func:`xml_root`
    for the entities it refuses). ``expected_root``: the root's tag, or the tags it may have; ``data``: the
    file's bytes when they were read already (a stream, which cannot be read twice)."""
    name = os.fsdecode(path)
    source = path
    try:
        source = io.BytesIO(data) if data is not None else xml_source(path)
        xml_root(source, name, what)
        root = ET.parse(source).getroot()
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
    except LibraryImportError:  # xml_root's refusal (a ValueError too)
        raise
    except (LookupError, ValueError) as e:  # an encoding unknown to Python (LookupError), or multi-byte: not expat's
        encoding = _declared_encoding(source)
        if encoding is None:
            raise LibraryImportError(f"{name}: cannot read: {e}") from None
        raise LibraryImportError(f"{name}: the XML declaration names encoding {encoding!r}, which cannot be read "
                                 "(DJ software writes UTF-8)") from None
    accepted = expected_root if isinstance(expected_root, tuple) else (expected_root,)
    if root.tag not in accepted:
        other = _OTHER_ROOTS.get(root.tag)
        raise LibraryImportError(f"{name}: root element is <{root.tag}>, a {what} has <{accepted[0]}>"
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
