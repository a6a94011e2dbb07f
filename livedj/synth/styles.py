"""Style recipes: drum patterns, bass line, harmony and lead for each genre, as plain data.

Pattern strings have one character per grid step (16 per bar, 12 for triplet styles):
drums ``x`` hit, ``o`` ghost, ``.`` rest; bass ``r`` root, ``o`` octave, ``f`` fifth,
``3`` third, ``7`` seventh; chords ``x``; lead ``x`` melody note or ``a`` arpeggio note;
``-`` ties the previous note over the step.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Style", "STYLES"]


@dataclass(frozen=True)
class Style:
    """Everything that makes a genre sound like itself; see the module docstring for patterns.

    ``drums`` maps a kit lane to (pattern A, pattern B, fill); B is used in every other
    8-bar phrase and the fill on the last bar of each phrase.
    """
    kit: str = "standard"
    steps: int = 16
    swing: float = 0.0                      # delay of odd steps, fraction of a step
    drums: dict = field(default_factory=dict)
    bass: str = "sub"
    bass_pattern: str = "r-------r-------"
    chords: str = ""
    chord_pattern: str = "x---------------"
    degrees: tuple = (0, 5, 3, 4)
    bars_per_chord: int = 1
    lead: str = ""
    lead_pattern: str = ""
    gains: tuple = (1.0, 0.8, 0.5, 0.35)    # drums, bass, chords, lead
    sidechain: float = 0.0                  # pumping depth on bass/chords
    delay: float = 0.0                      # echo mix on chords/lead (and rim) in beats' time
    delay_beats: float = 0.75


_4x4 = "x...x...x...x..."
_OFF = "..x...x...x...x."
_BACK = "....x.......x..."

STYLES: dict[str, Style] = {
    "techno": Style(
        kit="standard",
        drums={"kick": (_4x4, _4x4, "x...x...x.x.x.xx"),
               "hat": ("xoxoxoxoxoxoxoxo", "xoxoxoxoxoxoxoxo", "xoxoxoxoxoxoxoxo"),
               "ohat": (_OFF, _OFF, _OFF),
               "clap": (_BACK, _BACK, "....x.......x.xx"),
               "ride": ("................", "x.x.x.x.x.x.x.x.", "x.x.x.x.x.x.x.x.")},
        bass="acid", bass_pattern="r.orr.ofr.or3.o7",
        chords="stab", chord_pattern="......x.......x.", degrees=(0, 0, 5, 6),
        gains=(1.0, 0.55, 0.3, 0.0), sidechain=0.5),
    "house": Style(
        kit="standard",
        drums={"kick": (_4x4, _4x4, _4x4),
               "clap": (_BACK, _BACK, "....x.......x.x."),
               "ohat": (_OFF, _OFF, _OFF),
               "shaker": ("xoooxoooxoooxooo", "xoxoxoxoxoxoxoxo", "xoooxoooxoooxooo"),
               "hat": ("................", "x.o.x.o.x.o.x.o.", "................")},
        bass="saw_bass", bass_pattern="..r...r-..r..or.",
        chords="piano", chord_pattern="x--x--x-..x--x--", degrees=(0, 5, 3, 4),
        gains=(0.9, 0.6, 0.6, 0.0), sidechain=0.25),
    "disco": Style(
        kit="standard",
        drums={"kick": (_4x4, _4x4, _4x4),
               "snare": (_BACK, _BACK, "....x.......xxxx"),
               "ohat": (_OFF, _OFF, _OFF),
               "hat": ("x.x.x.x.x.x.x.x.", "xoxoxoxoxoxoxoxo", "x.x.x.x.x.x.x.x.")},
        bass="saw_bass", bass_pattern="r.o.r.o.r.o.r.o.",
        chords="strings", chord_pattern="x---------------", degrees=(0, 3, 0, 4),
        lead="clav", lead_pattern="x..x..x.x..x.x..",
        gains=(0.85, 0.6, 0.45, 0.3)),
    "trance": Style(
        kit="standard",
        drums={"kick": (_4x4, _4x4, "x...x...x...xxxx"),
               "ohat": (_OFF, _OFF, _OFF),
               "clap": (_BACK, _BACK, _BACK),
               "hat": ("................", "xoxoxoxoxoxoxoxo", "xxxxxxxxxxxxxxxx")},
        bass="saw_bass", bass_pattern=".rrr.rrr.rrr.rrr",
        chords="supersaw", chord_pattern="x---------------", degrees=(0, 5, 2, 6),
        lead="arp", lead_pattern="aaaaaaaaaaaaaaaa",
        gains=(1.0, 0.55, 0.5, 0.3), sidechain=0.7),
    "dnb": Style(
        kit="dnb",
        drums={"kick": ("x.........x.....", "x.........xx....", "x.x.......x.x..."),
               "snare": (_BACK, "....x..o....x.o.", "....x..o.x.xxxxx"),
               "hat": ("x.xxx.x.x.xxx.x.", "x.xxx.x.x.xxx.x.", "x.x.x.x.x.x.x.x."),
               "ride": ("x...x...x...x...", "x...x...x...x...", "................")},
        bass="reese", bass_pattern="r-----------f---",
        chords="pad", chord_pattern="x---------------", degrees=(0, 0, 5, 3),
        lead="bell", lead_pattern="x.......x...x...",
        gains=(1.0, 0.7, 0.35, 0.25)),
    "hiphop": Style(
        kit="lofi", swing=0.33,
        drums={"kick": ("x.........x.x...", "x......xx.x.....", "x.........x.x..x"),
               "snare": (_BACK, _BACK, "....x.......x.oo"),
               "hat": ("x.x.x.x.x.x.x.x.", "x.x.x.x.x.x.xox.", "x.x.x.x.x.x.x.x.")},
        bass="sub", bass_pattern="r-----.r--f---..",
        chords="epiano", chord_pattern="x-------x-----x-", degrees=(0, 3, 6, 4),
        lead="pluck", lead_pattern="x..x..x...x.x...",
        gains=(1.0, 0.8, 0.5, 0.35)),
    "dub": Style(
        kit="soft",
        drums={"kick": ("........x.......", "........x.......", "....x...x...x.x."),
               "rim": ("........x.......", "........x.....o.", "........x.x.x.xx"),
               "hat": ("x.x.x.x.x.x.x.x.", "x.xxx.x.x.xxx.x.", "x.x.x.x.x.x.x.x.")},
        bass="sub", bass_pattern="r-.3-.f.r-.3r-..",
        chords="skank", chord_pattern=_OFF, degrees=(0, 0, 3, 3),
        lead="melodica", lead_pattern="x-----x-x-------",
        gains=(0.9, 1.0, 0.45, 0.25), delay=0.5, delay_beats=0.75),
    "ambient": Style(
        kit="soft",
        drums={"shaker": ("x.o.x.o.x.o.x.o.", "x.o.x.o.x.o.x.o.", "x.o.x.o.x.o.x.o.")},
        bass="sub", bass_pattern="r---------------",
        chords="pad", chord_pattern="x---------------", degrees=(0, 3, 5, 4),
        lead="bell", lead_pattern="x.....x...x.....",
        gains=(0.15, 0.6, 0.8, 0.45), delay=0.6, delay_beats=1.5),
    "electro": Style(
        kit="808",
        drums={"kick": ("x......x..x.....", "x......x..x...x.", "x......x..x..xxx"),
               "clap": (_BACK, _BACK, _BACK),
               "cowbell": ("..x..x........x.", "..x..x.x......x.", "................"),
               "hat": ("x.xxx.xxx.xxx.xx", "x.xxx.xxx.xxx.xx", "x.x.x.x.x.x.x.x."),
               "tom": ("................", "................", "........x.x.x.x.")},
        bass="square_bass", bass_pattern="r..r..r.r..o..r.",
        lead="zap", lead_pattern="x.x..x.x....x...",
        gains=(1.0, 0.6, 0.0, 0.3)),
    "synthwave": Style(
        kit="808",
        drums={"kick": ("x.......x.......", "x.......x.x.....", "x.......x.......",),
               "snare": (_BACK, _BACK, "....x.......xxxx"),
               "hat": ("x.x.x.x.x.x.x.x.", "x.x.x.x.x.x.x.x.", "x.x.x.x.x.x.x.x."),
               "tomlo": ("................", "................", "............x.x.")},
        bass="square_bass", bass_pattern="rrrrrrrrrrrrrrrr",
        chords="pad", chord_pattern="x---------------", degrees=(0, 5, 2, 6),
        lead="arp_square", lead_pattern="a.a.a.a.a.a.a.a.",
        gains=(0.9, 0.5, 0.5, 0.3), delay=0.3, delay_beats=0.75),
    "breakbeat": Style(
        kit="dnb",
        drums={"kick": ("x.x.......x.....", "x.x.......xx..x.", "x.x.......x.x.x."),
               "snare": ("....x..o.o..x..o", "....x..o.o..x..o", "....x..x.x.xxxxx"),
               "hat": ("x.x.x.x.x.x.x.x.", "x.x.x.x.x.x.xxx.", "x.x.x.x.x.x.x.x."),
               "ohat": ("..............x.", "..............x.", "................")},
        bass="wobble", bass_pattern="r-------3---f---",
        chords="stab", chord_pattern="x.....x.........", degrees=(0, 0, 3, 6),
        gains=(1.0, 0.6, 0.35, 0.0)),
    "footwork": Style(
        kit="808", steps=12,
        drums={"kick": ("x.xx..x.xx..", "x..x.x.xx..x", "x.xx.xx.xxxx"),
               "clap": ("...x.....x..", "...x.....x..", "...x..x..xxx"),
               "hat": ("xoxxoxxoxxox", "xoxxoxxoxxox", "xoxxoxxoxxox")},
        bass="sub", bass_pattern="r-----r--f--",
        chords="chop", chord_pattern="x.x...x.x...", degrees=(0, 4, 3, 0),
        gains=(1.0, 0.7, 0.45, 0.0)),
}
