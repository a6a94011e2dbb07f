"""The files beside a rendered mix: a ``.cue`` sheet and a plain-text tracklist."""
from __future__ import annotations

from pathlib import Path

from livedj.fsutil import atomic_write

__all__ = ["cue_sheet", "tracklist", "write_sidecars"]


def _quote(text: str) -> str:
    return " ".join(str(text).replace('"', "'").split())


def _msf(seconds: float) -> str:
    """CD frames (75/s) as ``MM:SS:FF``, the cue sheet's INDEX format."""
    frames = int(round(seconds * 75))
    return f"{frames // 4500:02d}:{frames // 75 % 60:02d}:{frames % 75:02d}"


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def cue_sheet(entries, audio_name: str, title: str) -> str:
    """A cue sheet: one TRACK per record that plays, INDEX 01 where it starts in the mix."""
    kind = "WAVE" if audio_name.lower().endswith((".wav", ".flac", ".ogg")) else "MP3"
    lines = [f'TITLE "{_quote(title)}"', f'FILE "{_quote(audio_name)}" {kind}']
    number = 0
    for e in entries:
        if e.start is None:
            continue
        number += 1
        artist, _, name = e.label.partition(" - ") if " - " in e.label else ("", "", e.label)
        lines += [f"  TRACK {number:02d} AUDIO", f'    TITLE "{_quote(name)}"']
        if artist:
            lines.append(f'    PERFORMER "{_quote(artist)}"')
        lines.append(f"    INDEX 01 {_msf(e.start)}")
    return "\n".join(lines) + "\n"


def tracklist(entries, stats: dict | None = None) -> str:
    """One line per record: start time, label, tempo, and how it came in (or why it did not)."""
    lines = []
    for e in entries:
        when = _hms(e.start) if e.start is not None else "--:--"
        bpm = f"{e.bpm:6.1f} BPM" if e.bpm else " " * 10
        lines.append(f"{when}  {e.label}  [{bpm.strip()}]  {e.transition}" if e.bpm
                     else f"{when}  {e.label}  {e.transition}")
    if stats:
        lines.append(f"# length {_hms(stats['duration'])}, peak {stats['peak_db']:.1f} dBFS")
    return "\n".join(lines) + "\n"


def write_sidecars(entries, stats: dict, audio_path) -> tuple[Path, Path]:
    """Write ``<mix>.cue`` and ``<mix>.txt`` beside the mix; returns their paths."""
    audio_path = Path(audio_path)
    cue, txt = audio_path.with_suffix(".cue"), audio_path.with_suffix(".txt")
    body = cue_sheet(entries, audio_path.name, audio_path.stem)
    atomic_write(cue, lambda f: f.write(body.encode("utf-8")))
    listing = tracklist(entries, stats)
    atomic_write(txt, lambda f: f.write(listing.encode("utf-8")))
    return cue, txt
