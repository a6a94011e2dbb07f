"""The checks a config.toml value gets: ranges, choices, paths, hosts and ports.

Each check takes a value of the right type and returns a message when it is unusable (None when
it is fine); :mod:`livedj.config` names them in its schema and adds the file and key to the message.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable


def in_range(lo: float | None = None, hi: float | None = None) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if lo is not None and value < lo:
            return f"must be >= {lo}, got {value}"
        if hi is not None and value > hi:
            return f"must be <= {hi}, got {value}"
        return None

    return check


def one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(map(repr, choices))}, got {value!r}"

    return check


def sample_rate(value: Any) -> str | None:
    """0 (the device's own rate) or a rate an audio device has: a rate of 1 Hz passed and failed at capture."""
    return None if value == 0 or 8000 <= value <= 384000 else f"must be 0 (the device's default) or 8000-384000 Hz, got {value}"


def input_device(value: Any) -> str | None:
    """A name (any text) or an index, which is never negative (`livedj devices` lists them)."""
    if isinstance(value, int) and value < 0:
        return f"a device index is 0 or more (`livedj devices` lists them), got {value}"
    return None


def history_span(value: Any) -> str | None:
    import re

    if value == "session" or re.fullmatch(r"\d+(\.\d+)?[hd]", value):
        return None
    return f'must be "session" or a span like "12h" or "7d", got {value!r}'

def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` for a message, bounded: a 5,000-digit integer or a 1,000-deep list must not crash it."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, (list, dict)):
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def generic_check(value: Any) -> str | None:
    """Checks every value gets: finite floats, 64-bit integers, strings without NUL (all are passed to C)."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**63:
        return f"out of range: {shown(value)}"
    if isinstance(value, str) and "\x00" in value:
        return "must not contain a NUL character"
    return None


def toml_key(name: str) -> str:
    """A key as written in TOML, quoted (one line, bounded) when it is not a bare key."""
    import re

    return name if re.fullmatch(r"[A-Za-z0-9_-]{1,60}", name) else shown(name)


def expand_path(value: str) -> str:
    """A path as written in the config: ``~`` and environment variables (``$HOME``, ``${XDG_MUSIC_DIR}``) expanded."""
    return os.path.expanduser(os.path.expandvars(value))


def _unset_variable(value: str) -> str | None:
    """The first ``$NAME`` of ``value`` that no environment variable expands, when the path is not literally there."""
    import re

    left = re.search(r"\$(\w+|\{[^}]*\})", os.path.expandvars(value))
    return left.group(0) if left and not os.path.exists(os.path.expanduser(value)) else None


def _path_check(check: Callable[[str], str | None]) -> Callable[[Any], str | None]:
    """A path check that reports a path the system refuses (too long, a loop, no permission) instead of raising."""
    def guarded(value: Any) -> str | None:
        try:
            if isinstance(value, str) and (name := _unset_variable(value)):
                return f"{shown(value)}: {name} is not set (no such environment variable)"
            return check(value)
        except (OSError, ValueError) as exc:
            return f"unusable path ({getattr(exc, 'strerror', None) or exc})"

    guarded.__doc__ = check.__doc__
    return guarded


@_path_check
def any_path(value: str) -> str | None:
    """A path that may not exist yet (only an unset ``$VARIABLE`` in it is a problem)."""
    return None


@_path_check
def existing_file(value: str) -> str | None:
    if value and not os.path.isfile(expand_path(value)):
        return f"no such file: {value!r}" if not os.path.exists(expand_path(value)) else f"not a file: {value!r}"
    return None


@_path_check
def directory_or_absent(value: str) -> str | None:
    if value and os.path.exists(expand_path(value)) and not os.path.isdir(expand_path(value)):
        return f"must be a directory, got the file {value!r}"
    return None


@_path_check
def writable_file(value: str) -> str | None:
    """A file livedj writes: not a directory, and writable (or creatable in a writable folder)."""
    if not value:
        return None
    path = Path(expand_path(value))
    if path.is_dir():
        return f"must be a file, got the directory {value!r}"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"not writable: {value!r}"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {str(parent)!r} is not a writable folder"
    return None


@_path_check
def file_not_folder(value: str) -> str | None:
    """A file livedj only reads (for a command that reads what :func:`writable_file` names): not a directory."""
    if value and Path(expand_path(value)).is_dir():
        return f"must be a file, got the directory {value!r}"
    return None


#: a writable file's check for a command that only reads it
READ_ONLY_CHECKS = {writable_file: file_not_folder}


def host_or_ip(value: Any) -> str | None:
    """A host name or IP address, not resolved (DNS may be down at boot); bad ones failed only at start."""
    import ipaddress

    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    if not value or any(c.isspace() or c in ":/[]" for c in value):
        return f"must be a host name or an IP address (the port is its own key), got {shown(value)}"
    try:
        value.encode("idna")  # a part empty or over 63 characters raised UnicodeError at start: a traceback
    except UnicodeError:
        return f"not a valid host name (a part empty or over 63 characters): {shown(value)}"
    return None


def osc_prefix(value: Any) -> str | None:
    """An OSC address prefix: empty, or "/..." without spaces or OSC pattern characters (a trailing "/" is dropped)."""
    text = value.rstrip("/")
    if text and (not text.startswith("/") or any(c in text for c in " #*,?[]{}")):
        return f"OSC prefix must start with '/' and hold no spaces or #*,?[]{{}}, got {shown(value)}"
    return None


def udp_port(value: Any) -> str | None:
    return None if 1 <= value <= 65535 else f"must be a UDP port 1-65535, got {value}"
