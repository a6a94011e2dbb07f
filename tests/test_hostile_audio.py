"""The audio files of a real DJ library that are not the clean MP3/FLAC/OGG/WAV of the other tests.

Every file is built here from generated music with ffmpeg (and byte patches for what no encoder writes:
FairPlay-protected AAC, WAV headers of streaming tools) and goes through the real decoder and indexer
(the `features` encoder). The standard: each file is indexed, with the audio that plays, or skipped with a
one-line reason naming it.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.faults

SR = 44100
SECONDS = 12.0


def _encoders() -> str:
    if shutil.which("ffmpeg") is None:
        return ""
    return subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout


ENCODERS = _encoders()


def _need(*names: str) -> None:
    if not ENCODERS:
        pytest.skip("ffmpeg is not installed")
    for name in names:
        if f" {name} " not in ENCODERS:
            pytest.skip(f"ffmpeg has no {name} encoder")


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """12 s of generated stereo music as a 16-bit WAV."""
    from livedj.synth import DEMO_TRACKS, render_track

    x = render_track(DEMO_TRACKS[0], duration=SECONDS, sample_rate=SR).astype(np.float32)
    path = tmp_path_factory.mktemp("src") / "src.wav"
    sf.write(path, np.stack([x, 0.9 * x], axis=1), SR, subtype="PCM_16")
    return path


def _ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


def _index(folder: Path, index_dir: Path):
    from livedj.library.indexer import Settings, index_library

    return index_library([str(folder)], str(index_dir), Settings(encoder="features"), jobs=1)


def _durations(index_dir: Path) -> dict[str, float | None]:
    from livedj.library.store import Store

    store = Store(index_dir, readonly=True)
    try:
        return {os.path.basename(t.path): t.duration for t in store.tracks().values()}
    finally:
        store.close()


def _like(audio: np.ndarray, reference: np.ndarray, at: int = 0) -> float:
    """Peak normalised cross-correlation of ``audio`` with ``reference[at:]`` within +-50 ms (encoder delays)."""
    a = audio[800:-800]
    best = 0.0
    for lag in range(0, 1600, 2):
        seg = reference[at + lag:at + lag + a.size]
        best = max(best, float(np.dot(a, seg) / (np.linalg.norm(a) * np.linalg.norm(seg) + 1e-12)))
    return best


# -- DRM --------------------------------------------------------------------------------------------
def _protected(plain: Path, out: Path) -> None:
    """An iTunes-protected AAC file as far as a decoder can tell: sample entry "drms", scrambled payload."""
    data = bytearray(plain.read_bytes())
    entry = data.index(b"mp4a", data.index(b"stsd"))
    data[entry:entry + 4] = b"drms"
    mdat = data.index(b"mdat")
    size = struct.unpack(">I", data[mdat - 4:mdat])[0]
    noise = np.random.default_rng(0).integers(0, 256, size - 8, dtype=np.uint8).tobytes()
    data[mdat + 4:mdat - 4 + size] = bytes(a ^ b for a, b in zip(data[mdat + 4:mdat - 4 + size], noise))
    out.write_bytes(bytes(data))


def test_a_drm_protected_m4a_or_m4p_is_skipped_as_protected(source, tmp_path):
    """It was "64 undecodable packets in a row: Invalid data found..." (.m4a), or not even looked at (.m4p)."""
    from livedj.audio.decode import DecodeError, decode

    _need("aac")
    plain, lib = tmp_path / "plain.m4a", tmp_path / "lib"
    _ffmpeg("-i", source, "-c:a", "aac", plain)
    lib.mkdir()
    _protected(plain, lib / "bought.m4p")
    _protected(plain, lib / "bought.m4a")
    with pytest.raises(DecodeError, match=r"bought\.m4a: cannot decode audio: protected \(DRM\): cannot be decoded$"):
        decode(lib / "bought.m4a")
    report = _index(lib, tmp_path / "index")
    reasons = {os.path.basename(path): why for path, why in report.skipped}
    assert reasons == {"bought.m4a": "protected (DRM): cannot be decoded",
                       "bought.m4p": "protected (DRM): cannot be decoded"}


# -- Opus downloads ---------------------------------------------------------------------------------
def test_opus_in_webm_and_mka_is_indexed(source, tmp_path):
    """A folder of .webm/.mka downloads (Opus in Matroska) was passed over without a word."""
    _need("libopus")
    lib = tmp_path / "lib"
    lib.mkdir()
    _ffmpeg("-i", source, "-c:a", "libopus", lib / "download.webm")
    _ffmpeg("-i", source, "-c:a", "libopus", lib / "download.mka")
    report = _index(lib, tmp_path / "index")
    assert report.indexed == 2 and report.skipped == []


# -- lengths the headers get wrong ------------------------------------------------------------------
def _wav_claiming(source: Path, out: Path, data_size: int, riff_size: int) -> None:
    data = bytearray(source.read_bytes())
    chunk = data.index(b"data")
    data[4:8] = struct.pack("<I", riff_size)
    data[chunk + 4:chunk + 8] = struct.pack("<I", data_size)
    out.write_bytes(bytes(data))


def test_the_stored_duration_is_the_audio_s_not_a_wrong_header_s(source, tmp_path):
    """A WAV from a streaming tool (sizes 0xFFFFFFFF: "6.7 hours" for 12 s, or 0: no duration), one whose
    header claims 3 times its length, and a VBR MP3 without a Xing header (length guessed from the first
    frame's bitrate) were stored, and exported to playlists, with the header's length."""
    _need("libmp3lame")
    lib = tmp_path / "lib"
    lib.mkdir()
    size = source.stat().st_size - 44
    _wav_claiming(source, lib / "streamed.wav", 0xFFFFFFFF, 0xFFFFFFFF)
    _wav_claiming(source, lib / "zero.wav", 0, 0)
    _wav_claiming(source, lib / "longer.wav", 3 * size, 36 + 3 * size)
    # a quiet start, then loud: the first frame's low bitrate makes the guess several times too long
    x, _ = sf.read(source, dtype="float32")
    x[: SR * 2] *= 0.001
    quiet = tmp_path / "quiet-start.wav"
    sf.write(quiet, x, SR)
    _ffmpeg("-i", quiet, "-c:a", "libmp3lame", "-q:a", "2", "-write_xing", "0", lib / "vbr.mp3")
    report = _index(lib, tmp_path / "index")
    assert report.indexed == 4, report.skipped
    durations = _durations(tmp_path / "index")
    assert all(d is not None and abs(d - SECONDS) < 0.2 for d in durations.values()), durations


# -- already fine: kept so ----------------------------------------------------------------------------
CASES = {  # name: (encoder needed, ffmpeg arguments after the input)
    "video-first.mp4": ("libx264", ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-map", "1:v", "-map",
                                    "0:a", "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]),
    "alac.m4a": ("alac", ["-c:a", "alac"]),
    "six.flac": ("flac", ["-af", "pan=5.1|FL=c0|FR=c1|FC=c0|LFE=c1|BL=c0|BR=c1"]),
    "eight.wav": ("pcm_s16le", ["-af", "pan=7.1|FL=c0|FR=c1|FC=c0|LFE=c1|BL=c0|BR=c1|SL=c0|SR=c1"]),
    "hi.wav": ("pcm_s16le", ["-ar", "192000"]),
    "lo.mp3": ("libmp3lame", ["-ar", "8000"]),
    "u8.wav": ("pcm_u8", ["-c:a", "pcm_u8"]),
    "f32.wav": ("pcm_f32le", ["-c:a", "pcm_f32le"]),
    "plain.aiff": ("pcm_s16be", []),
}


def test_unusual_but_playable_files_decode_to_the_music(source, tmp_path):
    """Video before audio, ALAC, 6 and 8 channels, 192 kHz and 8 kHz, 8-bit unsigned, 32-bit float, AIFF, and
    an M4A/MP3 with a 10-MB cover: the decoded audio is the music, not the video, silence or noise."""
    from livedj.audio.decode import decode

    if not ENCODERS:
        pytest.skip("ffmpeg is not installed")
    reference = decode(source, 16000, 0.0, 6.0)
    built = []
    for name, (encoder, args) in CASES.items():
        if f" {encoder} " in ENCODERS:
            _ffmpeg("-i", source, *args, tmp_path / name)
            built.append(tmp_path / name)
    if " aac " in ENCODERS and " libmp3lame " in ENCODERS:
        from mutagen.id3 import APIC, ID3
        from mutagen.mp4 import MP4, MP4Cover

        cover = b"\xff\xd8\xff\xe0" + os.urandom(10 << 20) + b"\xff\xd9"
        _ffmpeg("-i", source, "-c:a", "aac", tmp_path / "cover.m4a")
        _ffmpeg("-i", source, "-c:a", "libmp3lame", tmp_path / "cover.mp3")
        tags = MP4(tmp_path / "cover.m4a")
        tags["covr"] = [MP4Cover(cover, MP4Cover.FORMAT_JPEG)]
        tags.save()
        id3 = ID3()
        id3.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="cover", data=cover))
        id3.save(tmp_path / "cover.mp3")
        built += [tmp_path / "cover.m4a", tmp_path / "cover.mp3"]
    assert built
    for path in built:
        audio = decode(path, 16000, 0.0, 6.0)
        assert audio.size == reference.size, path.name
        assert _like(audio, reference) > 0.9, path.name
        later = decode(path, 16000, 4.0, 1.5)  # a seek lands in the music too
        assert _like(later, reference, 4 * 16000) > 0.9, path.name
