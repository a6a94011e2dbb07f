"""Deterministic synthetic music: the demo library, also the audio the tests use.

Everything is generated with numpy from a seed (no samples, no downloads), so ``livedj demo``
and the tests run anywhere. Typical use::

    from livedj.synth import DEMO_TRACKS, render_track, build_demo_library
    audio = render_track(DEMO_TRACKS[0], duration=20.0)          # float32, 22050 Hz
    paths = build_demo_library("~/.cache/livedj/demo")
"""
from .audio_io import FORMATS, build_demo_library, library_path, write_audio
from .render import LEAD_IN, TrackSpec, render_track
from .styles import STYLES
from .theory import parse_key
from .tracks import DEMO_TRACKS

__all__ = ["TrackSpec", "DEMO_TRACKS", "STYLES", "LEAD_IN", "render_track", "parse_key", "write_audio", "build_demo_library",
           "library_path", "FORMATS"]
