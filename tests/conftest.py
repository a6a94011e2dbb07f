"""Shared fixtures: generated audio files in any format, and the virtual microphone.

Nothing here reads /work/shared or any real recording: all audio is synthesised.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "virtual_mic"))
from vmic import VirtualMic, VirtualMicError, missing_tools  # noqa: E402

#: Extensions ``write_audio`` can produce, and how.
AUDIO_FORMATS = ("wav", "aiff", "flac", "ogg", "mp3", "m4a", "opus")


def sine(freq: float, seconds: float, sample_rate: int, amplitude: float = 0.3) -> np.ndarray:
    """A float32 sine, mono."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chirp(f0: float, f1: float, seconds: float, sample_rate: int, amplitude: float = 0.3) -> np.ndarray:
    """A linear float32 chirp from f0 to f1 Hz: every offset has a distinct waveform."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    k = (f1 - f0) / seconds
    return (amplitude * np.sin(2 * np.pi * (f0 * t + 0.5 * k * t * t))).astype(np.float32)


def _write_pyav(path, x: np.ndarray, sample_rate: int, codec: str) -> None:
    import av

    with av.open(os.fsdecode(path), "w") as container:
        stream = container.add_stream(codec, rate=sample_rate)
        stream.layout = "mono" if x.shape[0] == 1 else "stereo"
        planar = stream.codec_context.format.is_planar
        fmt = "fltp" if planar else "flt"
        for i in range(0, x.shape[1], 1024):
            block = np.ascontiguousarray(x[:, i:i + 1024], dtype=np.float32)
            data = block if planar else block.T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt,
                                               layout=stream.layout)
            frame.sample_rate = sample_rate
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def write_audio(path, x: np.ndarray, sample_rate: int) -> Path | bytes:
    """Write float audio to ``path``; the format comes from the extension (see AUDIO_FORMATS).

    Parameters
    ----------
    path : str, bytes or PathLike
        Destination; bytes names (non-UTF-8) are fine.
    x : numpy.ndarray
        Shape (n,) mono or (channels, n) with 1 or 2 channels, values in [-1, 1].
    sample_rate : int
        Hz. Opus only accepts 8/12/16/24/48 kHz.
    """
    import soundfile as sf

    x = np.atleast_2d(np.asarray(x, dtype=np.float32))
    ext = os.fsdecode(path).rsplit(".", 1)[-1].lower()
    if ext in ("wav", "aiff", "aif", "flac"):
        with open(path, "wb") as f:  # file object: soundfile then accepts bytes names too
            sf.write(f, x.T, sample_rate, format={"aif": "AIFF"}.get(ext, ext.upper()),
                     subtype="PCM_16")
    elif ext == "ogg":
        with open(path, "wb") as f:
            sf.write(f, x.T, sample_rate, format="OGG", subtype="VORBIS")
    elif ext in ("mp3", "m4a", "opus"):
        codec = {"mp3": "libmp3lame", "m4a": "aac", "opus": "libopus"}[ext]
        _write_pyav(path, x, sample_rate, codec)
    else:
        raise ValueError(f"write_audio: unsupported extension .{ext} for {os.fsdecode(path)}")
    return path


@pytest.fixture(scope="session")
def virtual_mic():
    """A private PulseAudio whose sink ``vsink`` is heard on the capture device "pulse".

    Sets XDG_RUNTIME_DIR and PULSE_SERVER in ``os.environ`` for the session (PortAudio reads
    them when it initialises: import sounddevice after this fixture, or call
    ``livedj.audio.capture.refresh_devices()``). Yields a ``VirtualMic`` with ``play(path)``,
    ``env``, ``full_env()``, ``unload_sink()`` and ``reload_sink()``.
    """
    missing = missing_tools()
    if missing:
        pytest.skip(f"virtual mic needs {', '.join(missing)} "
                    "(apt-get install pulseaudio pulseaudio-utils libasound2-plugins)")
    mic = VirtualMic()
    try:
        mic.start()
    except VirtualMicError as e:
        pytest.skip(f"virtual mic could not start: {e}")
    saved = {k: os.environ.get(k) for k in mic.env}
    os.environ.update(mic.env)
    _reinit_portaudio()
    try:
        yield mic
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        mic.stop()
        _reinit_portaudio()


def _reinit_portaudio():
    """If sounddevice was imported before the environment changed, make PortAudio re-enumerate."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd._terminate()
        sd._initialize()


@pytest.fixture(name="write_audio")
def write_audio_fixture():
    """The ``write_audio(path, x, sample_rate)`` helper, as a fixture."""
    return write_audio


def pytest_terminal_summary(terminalreporter):
    """The fault-injection suite's table (tests/fault_counts.py), when it ran."""
    import fault_counts

    if fault_counts.COUNTS:
        terminalreporter.write_sep("=", "fault injection: per area")
        terminalreporter.write_line(fault_counts.table())
        fault_counts.dump()


@pytest.fixture(scope="session")
def demo_records_16k() -> list[np.ndarray]:
    """The demo library's records (``livedj.synth.DEMO_TRACKS``), 24 s each at 16 kHz; read only."""
    from livedj.synth import DEMO_TRACKS, render_track

    return [render_track(spec, 24.0, 16000) for spec in DEMO_TRACKS]


@pytest.fixture(scope="session")
def demo_fingerprint_index(demo_records_16k, tmp_path_factory):
    """A real fingerprint index on disk of :func:`demo_records_16k` (track ids 1, 2, ... in order)."""
    from livedj.dsp import fingerprint as fp
    from livedj.library.fingerprints import FingerprintIndex

    prefix = tmp_path_factory.mktemp("fp") / "fingerprints-1"
    FingerprintIndex.build(((i + 1, *fp.landmarks(y, 16000)) for i, y in enumerate(demo_records_16k)), prefix)
    return FingerprintIndex.load(prefix)
