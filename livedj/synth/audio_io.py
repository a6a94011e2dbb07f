"""Write audio files with tags (PyAV, soundfile) and build the on-disk demo library."""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Callable, Iterable, Sequence

import av
import numpy as np
import soundfile as sf

from livedj.fsutil import short_name

from .render import TrackSpec, render_track
from .tracks import DEMO_TRACKS

__all__ = ["FORMATS", "write_audio", "library_path", "build_demo_library"]

# extension -> (PyAV container, codec, sample format, bit rate); None = written by soundfile
FORMATS: dict[str, tuple | None] = {
    "mp3": ("mp3", "libmp3lame", "fltp", 192_000),
    "m4a": ("ipod", "aac", "fltp", 160_000),
    "opus": ("ogg", "libopus", "flt", 128_000),
    "flac": ("flac", "flac", "s16", 0),
    "wav": ("wav", "pcm_s16le", "s16", 0),
    "aiff": ("aiff", "pcm_s16be", "s16", 0),
    # FFmpeg's own Vorbis encoder is experimental (stereo only, broken granule positions);
    # libsndfile links the reference libvorbis.
    "ogg": None,
}
_ALIAS = {"aif": "aiff", "oga": "ogg", "mp4": "m4a", "aac": "m4a"}


def _as_2d(audio: np.ndarray) -> np.ndarray:
    """(frames, channels) float32 clipped to [-1, 1]; 1-D input is mono."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError("audio must be 1-D (mono) or 2-D (frames, channels)")
    return np.clip(x, -1.0, 1.0)


def _encode_pyav(path: Path, x: np.ndarray, sr: int, spec: tuple, tags: dict) -> None:
    fmt, codec, sample_fmt, bit_rate = spec
    layout = "mono" if x.shape[1] == 1 else "stereo"
    if x.shape[1] > 2:
        raise ValueError("at most 2 channels")
    options = {"write_id3v2": "1"} if fmt == "aiff" else {}
    with av.open(str(path), "w", format=fmt, options=options) as out:
        out.metadata.update(tags)
        rates = av.codec.Codec(codec, "w").audio_rates
        rate = sr if not rates or sr in rates else min((r for r in rates if r >= sr),
                                                       default=max(rates))
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        stream.metadata.update(tags)   # Ogg keeps tags per stream (Vorbis comments)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x.T), format="fltp",
                                           layout=layout)
        frame.sample_rate = sr
        # the resampler converts format/rate and cuts the frames the encoder wants
        res = av.AudioResampler(format=sample_fmt, layout=layout, rate=rate,
                                frame_size=stream.codec_context.frame_size or 1024)
        for f in res.resample(frame) + res.resample(None):
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))


def _add_id3(path: Path, tags: dict) -> None:
    """WAV INFO chunks are invisible to mutagen; an ID3 chunk is read by both mutagen and FFmpeg."""
    from mutagen.id3 import TIT2, TPE1
    from mutagen.wave import WAVE

    f = WAVE(str(path))
    if f.tags is None:
        f.add_tags()
    if "title" in tags:
        f.tags.add(TIT2(encoding=3, text=[tags["title"]]))
    if "artist" in tags:
        f.tags.add(TPE1(encoding=3, text=[tags["artist"]]))
    f.save()


def write_audio(path, audio: np.ndarray, sample_rate: int, title: str | None = None,
                artist: str | None = None) -> None:
    """Encode audio to a file whose format follows the extension, with title/artist tags.

    Parameters
    ----------
    path : str or Path
        Destination; ``.mp3 .m4a .opus .ogg .flac .wav .aiff`` (also ``.aif``). Written to
        a temporary name first and renamed, so a reader never sees half a file.
    audio : np.ndarray
        Float samples in [-1, 1] (clipped), 1-D mono or (frames, channels).
    sample_rate : int
        Rate of ``audio``. Opus is always stored at 48 kHz (resampled), as it requires.
    title, artist : str, optional
        Tags; readable back with ``mutagen.File(path, easy=True)`` and PyAV.
    """
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    ext = _ALIAS.get(ext, ext)
    if ext not in FORMATS:
        raise ValueError(f"unsupported audio format {path.suffix!r}; use one of {sorted(FORMATS)}")
    x = _as_2d(audio)
    tags = {k: v for k, v in (("title", title), ("artist", artist)) if v}
    # a name of this writer's own: two `livedj demo` started together on a fresh cache write the same library,
    # and through one shared ".NAME.partial" the slower died "No such file or directory" (renamed away)
    tmp = path.with_name(f".{short_name(path.name)}.{os.getpid()}-{threading.get_ident()}.partial")
    try:
        if FORMATS[ext] is None:
            with sf.SoundFile(str(tmp), "w", int(sample_rate), x.shape[1], format="OGG",
                              subtype="VORBIS") as f:
                for k, val in tags.items():
                    setattr(f, k, val)
                f.write(x)
        else:
            _encode_pyav(tmp, x, int(sample_rate), FORMATS[ext], tags)
            if ext == "wav" and tags:
                _add_id3(tmp, tags)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _safe(name: str) -> str:
    """A file-system-safe version of a tag (no separators or control characters)."""
    s = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", name).strip(" .")
    return s or "_"


def library_path(directory, spec: TrackSpec, fmt: str) -> Path:
    """Where :func:`build_demo_library` puts a track: ``<dir>/<artist>/<title>.<fmt>``."""
    return Path(directory) / _safe(spec.artist) / f"{_safe(spec.title)}.{fmt}"


def build_demo_library(directory, tracks: Iterable[TrackSpec] = DEMO_TRACKS,
                       duration: float = 40.0,
                       formats: Sequence[str] = ("mp3", "flac", "ogg", "m4a", "wav"),
                       sample_rate: int = 22050,
                       callback: Callable[[int, int, Path], None] | None = None) -> list[Path]:
    """Render the demo tracks into a folder tree, cycling formats across tracks.

    Parameters
    ----------
    directory : str or Path
        Library root (created if needed).
    tracks : iterable of TrackSpec
        What to render; track ``i`` is written as ``formats[i % len(formats)]``.
    duration : float
        Seconds per track.
    formats : sequence of str
        Extensions to cycle through, so every decoder path gets exercised.
    sample_rate : int
        Rate of the rendered audio.
    callback : callable, optional
        Called as ``callback(i, n, path)`` after each track (written or already present).

    Returns
    -------
    list of Path
        One path per track, in order. Files already present are not rewritten.
    """
    tracks = list(tracks)
    paths = []
    for i, spec in enumerate(tracks):
        path = library_path(directory, spec, formats[i % len(formats)])
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            audio = render_track(spec, duration=duration, sample_rate=sample_rate)
            write_audio(path, audio, sample_rate, title=spec.title, artist=spec.artist)
        paths.append(path)
        if callback is not None:
            callback(i, len(tracks), path)
    return paths
