"""The demo library: a dozen synthetic tracks spanning tempo, key, timbre and groove."""
from __future__ import annotations

from .render import TrackSpec

__all__ = ["DEMO_TRACKS"]

DEMO_TRACKS: tuple[TrackSpec, ...] = (
    TrackSpec("Slow Orbit", "Aurora Drift", 85.0, "E major", "ambient", 11),
    TrackSpec("Echo Chamber", "King Tubby Bot", 88.0, "G minor", "dub", 12),
    TrackSpec("Dusty Crates", "MC Sampler", 94.0, "D minor", "hiphop", 13),
    TrackSpec("Neon Highway", "Retro Grid", 102.0, "C# minor", "synthwave", 14),
    TrackSpec("Robot Rock", "Planet Funk Unit", 108.0, "F# minor", "electro", 15),
    TrackSpec("Mirror Ball", "Studio 54 Machine", 116.0, "Bb major", "disco", 16),
    TrackSpec("Warehouse Piano", "Chicago Circuit", 123.0, "C major", "house", 17),
    TrackSpec("Acid Rain", "Berlin Basement", 130.0, "A minor", "techno", 18),
    TrackSpec("Broken Glass", "Chemical Breaks", 136.0, "E minor", "breakbeat", 19),
    TrackSpec("Skyward", "Euphoria Project", 140.0, "B minor", "trance", 20),
    TrackSpec("Juke Jam", "Footwork Kid", 160.0, "D major", "footwork", 21),
    TrackSpec("Amen Horizon", "Jungle Signal", 174.0, "F minor", "dnb", 22),
)
