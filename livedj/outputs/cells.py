"""How one value is drawn in the dashboard: a bar, a time, a Camelot colour, why a record is suggested.

Pure functions of a value, apart from the dashboard's layout so that each reads on its own.
"""
from __future__ import annotations

import colorsys
import re

from rich.color import Color
from rich.style import Style
from rich.text import Text

from livedj.outputs.jsonlines import safe_text

_EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int, style: str = "green", empty: str = "grey23") -> Text:
    """A horizontal bar ``width`` cells wide, filled to ``fraction`` at 1/8-cell resolution."""
    fraction = min(max(fraction if fraction == fraction else 0.0, 0.0), 1.0)  # NaN -> 0
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = Text("█" * full, style=style)
    if part and full < width:
        text.append(_EIGHTHS[part], style=Style.parse(style) + Style(bgcolor=empty))
        full += 1
    text.append(" " * (width - full), style=Style(bgcolor=empty))
    return text


def fmt_time(seconds: float) -> str:
    """``seconds`` as "mm:ss.s", or "h:mm:ss.s" from an hour on (negative reads as 0)."""
    minutes, secs = divmod(max(seconds, 0.0), 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes:02d}:{secs:04.1f}"


def camelot_style(key: str | None) -> Style | str:
    """A colour per Camelot number, around the wheel (A keys darker than B keys); "default" for no key."""
    match = re.fullmatch(r"(\d{1,2})([AB])", key or "")
    if not match or not 1 <= int(match[1]) <= 12:
        return "default"
    hue = ((int(match[1]) - 1) / 12.0 + 0.15) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55, 0.95 if match[2] == "B" else 0.8)
    return Style(color=Color.from_rgb(r * 255, g * 255, b * 255), bold=True)


#: the Camelot relation in a DJ's words (`rules.key_relation`); "unknown" says nothing
_KEY_WORDS = {"same": "same key", "adjacent": "adjacent key", "relative": "relative key",
              "boost": "key +2 (energy boost)", "clash": "key clash"}


def describe_why(why: dict) -> str:
    """Why a record is suggested, in a DJ's words: the pitch-fader move, the key relation, the DJ's lists.

    The similarity has its own column; the raw terms are in ``--json-lines`` and OSC. A tempo the
    fader does not reach (``reachable``, from the ranker's pitch range) says so, as does a move to half or
    double time.
    """
    parts = ["pinned"] if why.get("pinned") else []
    delta = why.get("bpm_delta_pct")
    if isinstance(delta, (int, float)) and delta == delta:
        pitch = f"pitch {delta:+.1f} %"
        ratio = why.get("bpm_ratio")
        if ratio == 2.0:
            pitch += " at double time"  # 64 BPM mixed into 128 (`rules.tempo_compatibility`)
        elif ratio == 0.5:
            pitch += " at half time"
        if why.get("reachable") is False:
            pitch += " (too far)"  # for the pitch fader alone
        parts.append(pitch)
    words = _KEY_WORDS.get(str(why.get("key_relation")))
    if words:
        parts.append(words)
    if why.get("context_why"):
        parts.append(safe_text(why["context_why"]))
    return " · ".join(parts)
