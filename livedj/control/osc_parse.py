"""A small strict OSC 1.0 parser: a datagram (a message or nested bundles) to (address, args) pairs,
or :class:`MalformedPacket`.

Not python-osc's: python-osc 1.10 loops forever on a bundle element with a negative size, lets
UnicodeDecodeError escape on a bad address and logs to the root logger per bad element; the booth's
OSC server (:mod:`livedj.control.osc_in`) must survive whatever arrives.
"""
from __future__ import annotations

import struct

#: Deepest nesting of bundles accepted.
MAX_BUNDLE_DEPTH = 8
_BUNDLE = b"#bundle\x00"


class Unsupported(tuple):
    """An argument of a type livedj never takes (blob, timetag, MIDI, array...)."""


class MalformedPacket(ValueError):
    """The datagram is not valid OSC 1.0."""


def _string(data: bytes, i: int) -> tuple[str, int]:
    end = data.find(b"\x00", i)
    if end < 0:
        raise MalformedPacket("unterminated string")
    after = end + 1 + (-(end + 1 - i) % 4)
    if after > len(data):
        raise MalformedPacket("string padding runs past the end")
    try:
        return data[i:end].decode("utf-8"), after
    except UnicodeDecodeError:
        raise MalformedPacket("string is not UTF-8") from None


def _fixed(data: bytes, i: int, fmt: str) -> tuple[object, int]:
    size = struct.calcsize(fmt)
    if i + size > len(data):
        raise MalformedPacket("argument runs past the end")
    return struct.unpack_from(fmt, data, i)[0], i + size


def _message(data: bytes) -> tuple[str, tuple]:
    address, i = _string(data, 0)
    if not address.startswith("/"):
        raise MalformedPacket("address does not start with '/'")
    if i == len(data):
        return address, ()  # no type tag string: old senders, no arguments
    tags, i = _string(data, i)
    if not tags.startswith(","):
        raise MalformedPacket("type tags do not start with ','")
    args: list = []
    for tag in tags[1:]:
        if tag == "i":
            value, i = _fixed(data, i, ">i")
        elif tag == "f":
            value, i = _fixed(data, i, ">f")
        elif tag in "sS":
            value, i = _string(data, i)
        elif tag == "h":
            value, i = _fixed(data, i, ">q")
        elif tag == "d":
            value, i = _fixed(data, i, ">d")
        elif tag in "TF":
            value = tag == "T"
        elif tag in "NI[]":  # nil, impulse, array brackets: no data, never meaningful here
            value = Unsupported((tag,))
        elif tag in "crm":  # char, RGBA colour, MIDI: 4 bytes
            _, i = _fixed(data, i, ">I")
            value = Unsupported((tag,))
        elif tag == "t":  # time tag: 8 bytes
            _, i = _fixed(data, i, ">Q")
            value = Unsupported((tag,))
        elif tag == "b":
            size, i = _fixed(data, i, ">i")
            if size < 0 or i + size + (-size % 4) > len(data):
                raise MalformedPacket("blob runs past the end")
            i += size + (-size % 4)
            value = Unsupported((tag,))
        else:
            raise MalformedPacket(f"unknown type tag {tag!r}")
        args.append(value)
    if i != len(data):
        raise MalformedPacket("bytes left after the last argument")
    return address, tuple(args)


def _packet(data: bytes, depth: int, out: list) -> None:
    if data.startswith(_BUNDLE):
        if depth >= MAX_BUNDLE_DEPTH:
            raise MalformedPacket("bundles nested too deep")
        if len(data) < 16:
            raise MalformedPacket("bundle shorter than its header")
        i = 16  # "#bundle\0" and the time tag, ignored: commands are applied as they come
        # our own parser, not python-osc's: its OscBundle loops forever on a negative element size
        # (tests/test_osc_in.py::test_python_osc_hangs_on_a_negative_bundle_element_size)
        while i < len(data):
            size, i = _fixed(data, i, ">i")
            if size <= 0 or size % 4 or i + size > len(data):
                raise MalformedPacket("bundle element size out of bounds")
            _packet(data[i:i + size], depth + 1, out)
            i += size
    elif data.startswith(b"/"):
        if len(data) % 4:
            raise MalformedPacket("length is not a multiple of 4")
        out.append(_message(data))
    else:
        raise MalformedPacket("neither a message nor a bundle")


def parse_packet(data: bytes) -> list[tuple[str, tuple]]:
    """All messages in an OSC 1.0 datagram (a message or a bundle, nested), as (address, args).

    A bundle is all or nothing: if any part is malformed, nothing of it is returned.

    Raises
    ------
    MalformedPacket
        When ``data`` is not valid OSC 1.0 (empty, truncated, bad padding or sizes, unknown type
        tags, non-UTF-8 strings, bundles nested deeper than :data:`MAX_BUNDLE_DEPTH`).
    """
    out: list = []
    _packet(bytes(data), 0, out)
    return out
