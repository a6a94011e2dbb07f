"""Reading tags with mutagen: title, artist, album, duration, and the DJ's own BPM/key."""
from __future__ import annotations

import os
import re

from livedj.dsp.tonal import parse_key

# C0 and C1 control characters and DEL: a tag's ESC would drive the terminal (clear the screen, set the
# window's title) wherever the title is shown, a newline would split a table's row
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]+")


#: longer tag text is cut (ending "…"): a 1 MB title (junk, or a whole lyrics sheet) was stored, read on
#: every load of the library and printed whole in every table that showed the record
MAX_TAG_CHARS = 500


def tag_text(text: str | None) -> str:
    """A tag's text as one line of plain characters: control characters become spaces, runs of white
    space one space, at most `MAX_TAG_CHARS` characters. Applied where tags enter (files, the store,
    the set log), so every display is safe."""
    text = (text or "")[:8 * MAX_TAG_CHARS]  # white space collapses: keep enough, not megabytes
    text = " ".join(_CONTROLS.sub(" ", text).split())
    return text if len(text) <= MAX_TAG_CHARS else text[:MAX_TAG_CHARS - 1].rstrip() + "…"


def _first(tags, *names: str) -> str | None:
    for name in names:
        try:
            value = tags.get(name)
        except (KeyError, ValueError):
            value = None
        if value:
            text = tag_text(str(value[0] if isinstance(value, list) else value))
            if text:
                return text
    return None


def _parse_bpm(text: str | None) -> float | None:
    """A tag's BPM ("124", "123,5") when plausible (30-300), else None."""
    try:
        bpm = float(text.replace(",", ".")) if text else None
    except ValueError:
        return None
    return bpm if bpm is not None and 30.0 <= bpm <= 300.0 else None


def read_tags(path: str | os.PathLike) -> dict:
    """Return ``{"title", "artist", "album", "duration", "bpm", "key"}`` (missing ones absent).

    ``bpm`` comes from ID3 TBPM / Vorbis BPM / MP4 tmpo, ``key`` (an index 0-23, see
    :mod:`livedj.dsp.tonal`) from ID3 TKEY / Vorbis INITIALKEY / KEY. A file mutagen cannot
    parse gives ``{}``: whether it is audio at all is for the decoder to say.
    """
    import mutagen

    try:
        audio = mutagen.File(path, easy=True)
    except Exception:  # mutagen raises many types for damaged files
        return {}
    if audio is None:
        return {}
    out: dict = {}
    if getattr(audio, "info", None) is not None and getattr(audio.info, "length", 0):
        out["duration"] = float(audio.info.length)
    tags = audio.tags or {}
    for field in ("title", "artist", "album"):
        value = _first(tags, field)
        if value:
            out[field] = value
    bpm = _parse_bpm(_first(tags, "bpm", "BPM", "tempo"))
    if bpm is not None:
        out["bpm"] = bpm
    key_text = _first(tags, "initialkey", "INITIALKEY", "key", "KEY")
    if not {"title", "artist", "album", "bpm"} <= set(out) or key_text is None:
        raw = _raw_tags(path)  # ID3 chunks in WAV/AIFF, MP4 freeform keys: not in the easy interface
        for field, value in raw.items():
            if field == "bpm":
                if "bpm" not in out and _parse_bpm(value) is not None:
                    out["bpm"] = _parse_bpm(value)
            elif field == "key":
                key_text = key_text or value
            else:
                out.setdefault(field, value)
    if key_text:
        key = parse_key(key_text)
        if key is not None:
            out["key"] = key
    return out


_RAW_FRAMES = {
    "title": ("TIT2",), "artist": ("TPE1",), "album": ("TALB",), "bpm": ("TBPM",),
    "key": ("TKEY", "----:com.apple.iTunes:initialkey", "----:com.apple.iTunes:KEY"),
}


def _raw_tags(path) -> dict[str, str]:
    """Frames that mutagen's easy interface does not map, by livedj field name."""
    import mutagen

    try:
        audio = mutagen.File(path)
    except Exception:
        return {}
    tags = getattr(audio, "tags", None)
    if not tags:
        return {}
    out = {}
    for field, names in _RAW_FRAMES.items():
        for name in names:
            try:
                frame = tags.get(name)
            except Exception:
                frame = None
            if not frame:
                continue
            value = frame.text[0] if hasattr(frame, "text") else frame[0]
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            text = tag_text(str(value))
            if text:
                out[field] = text
                break
    return out
