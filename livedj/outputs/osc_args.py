"""One OSC message and its arguments made safe to send: finite floats, floored dB levels, and the
"Artist - Title" and "8A, 124 BPM" labels of a track, for every profile of :mod:`livedj.outputs.osc_profiles`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from livedj.outputs.jsonlines import safe_text


class Message(NamedTuple):
    """One OSC message: ``int`` args are sent as ``i``, ``float`` as ``f``, ``str`` as ``s``."""

    address: str
    args: tuple = ()


def finite(value: float | None, default: float = 0.0) -> float:
    """A float for an ``f`` argument: None, NaN, infinities and junk become ``default``."""
    if value is None:
        return default
    try:
        value = float(value)
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


def floored_db(value: float | None) -> float:
    """A level in dBFS, floored at -120 (silence is -inf before the floor)."""
    return max(finite(value, -120.0), -120.0)


def get_field(obj: object, name: str, default: object = None) -> object:
    """``obj.name`` or ``obj[name]``: now-playing may be a Suggestion or a dict."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def track_label(obj: object) -> str:
    """"Artist - Title" of a suggestion or now-playing record (title, or file name, when fields miss)."""
    artist = safe_text(get_field(obj, "artist") or "").strip()
    title = safe_text(get_field(obj, "title") or "").strip()
    if not title:
        title = safe_text(get_field(obj, "path") or "").replace("\\", "/").rsplit("/", 1)[-1]
    return f"{artist} - {title}" if artist and title else (title or artist)


def track_details(obj: object) -> str:
    """"8A, 124 BPM" (the parts known), or ""."""
    parts = []
    key = safe_text(get_field(obj, "key") or "")
    if key:
        parts.append(key)
    bpm = finite(get_field(obj, "bpm"))
    if bpm > 0:
        parts.append(f"{bpm:.0f} BPM")
    return ", ".join(parts)
