"""decode / iter_blocks / probe_duration on generated files in every supported format."""
import os

import numpy as np
import pytest
from conftest import AUDIO_FORMATS, chirp, sine, write_audio

from livedj.audio.decode import DecodeError, decode, iter_blocks, probe_duration

SR_IN = {"opus": 48000}  # libopus only takes 8/12/16/24/48 kHz; the rest use 44.1 kHz


def peak_hz(x, sr):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return np.argmax(spectrum) * sr / x.size


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """4-s stereo files: left and right both a 1 kHz sine (so the mono mean keeps 0.3 amplitude)."""
    d = tmp_path_factory.mktemp("decode")
    out = {}
    for ext in AUDIO_FORMATS:
        sr = SR_IN.get(ext, 44100)
        x = sine(1000.0, 4.0, sr)
        out[ext] = write_audio(d / f"tone.{ext}", np.stack([x, x]), sr)
    return out


@pytest.mark.parametrize("ext", AUDIO_FORMATS)
def test_formats_decode_to_16k_mono(files, ext):
    y = decode(files[ext], sample_rate=16000)
    assert y.dtype == np.float32 and y.ndim == 1
    # Lossy codecs may pad by up to a frame or so (aac ~ 1024 samples at 44.1 kHz).
    assert abs(y.size - 64000) <= 800, y.size
    assert abs(peak_hz(y[8000:56000], 16000) - 1000.0) < 2.0
    # Stereo is averaged, not folded down at -3 dB: the level matches the source.
    rms = float(np.sqrt(np.mean(y[8000:56000] ** 2)))
    assert rms == pytest.approx(0.3 / np.sqrt(2), rel=0.05)
    assert probe_duration(files[ext]) == pytest.approx(4.0, abs=0.1)


@pytest.mark.parametrize("ext", AUDIO_FORMATS)
def test_offset_and_duration(files, ext):
    y = decode(files[ext], sample_rate=16000, offset=1.5, duration=1.0)
    assert y.size == 16000
    assert abs(peak_hz(y, 16000) - 1000.0) < 3.0
    tail = decode(files[ext], sample_rate=22050, offset=3.0)
    assert abs(tail.size - 22050) <= 1200
    assert decode(files[ext], offset=10.0).size == 0  # past the end: empty, not an error


@pytest.mark.parametrize("ext", ["mp3", "flac", "ogg", "m4a", "opus", "wav"])
def test_seek_lands_on_the_right_sample(tmp_path, ext):
    """A chirp has a distinct waveform at every offset: the seeked decode must align with the full one."""
    sr_in = SR_IN.get(ext, 44100)
    path = write_audio(tmp_path / f"chirp.{ext}", chirp(200.0, 2000.0, 8.0, sr_in), sr_in)
    full = decode(path, sample_rate=16000)
    for offset in (0.5, 3.0, 6.25):
        part = decode(path, sample_rate=16000, offset=offset, duration=1.0)
        ref = full[int(offset * 16000):int(offset * 16000) + 16000]
        search = 200
        core = part[search:-search]
        corr = np.correlate(ref, core, mode="valid")
        lag = int(np.argmax(corr)) - search
        assert lag == 0, f"{ext} offset {offset}: lag {lag} samples"
        # Up to half a sample of resampling phase; waveform otherwise identical.
        assert np.max(np.abs(ref[search:-search] - core)) < 0.1


def test_iter_blocks_streams_the_whole_file(files):
    blocks = list(iter_blocks(files["flac"], sample_rate=16000, block=1000))
    assert all(b.size == 1000 for b in blocks[:-1]) and 0 < blocks[-1].size <= 1000
    np.testing.assert_allclose(np.concatenate(blocks), decode(files["flac"], 16000), atol=1e-6)


def test_resample_rate_and_mono_input(tmp_path):
    path = write_audio(tmp_path / "mono.wav", sine(440.0, 2.0, 8000), 8000)
    y = decode(path, sample_rate=48000)
    assert y.size == 96000
    assert abs(peak_hz(y, 48000) - 440.0) < 1.0


def test_non_utf8_file_name(tmp_path):
    name = os.fsencode(tmp_path) + b"/caf\xe9-\xff.flac"
    write_audio(name, sine(500.0, 1.0, 44100), 44100)
    y = decode(name)
    assert y.size == 16000
    assert abs(peak_hz(y, 16000) - 500.0) < 2.0
    assert probe_duration(name) == pytest.approx(1.0, abs=0.01)
    assert sum(b.size for b in iter_blocks(name)) == 16000


def one_line_error(path, match):
    with pytest.raises(DecodeError) as info:
        decode(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert os.path.basename(os.fsdecode(path)) in msg
    assert match in msg
    return msg


def test_errors_are_one_line_decode_errors(tmp_path):
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    one_line_error(empty, "empty")
    text = tmp_path / "notes.mp3"
    text.write_text("this is not an mp3\n" * 100)
    one_line_error(text, "cannot decode")
    one_line_error(tmp_path / "missing.mp3", "no such file")
    one_line_error(tmp_path, "directory")
    noise = tmp_path / "noise.m4a"
    noise.write_bytes(np.random.default_rng(0).bytes(20000))
    one_line_error(noise, "cannot decode")
    with pytest.raises(DecodeError):
        probe_duration(text)


@pytest.mark.parametrize("ext", ["mp3", "flac", "m4a", "ogg", "wav"])
@pytest.mark.parametrize("fraction", [0.5, 0.02])
def test_truncated_file_decodes_partly_or_raises(files, tmp_path, ext, fraction):
    data = files[ext].read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[:int(len(data) * fraction)])
    try:
        y = decode(cut)
    except DecodeError as e:
        assert "\n" not in str(e) and "cut." in str(e)
        return
    assert y.dtype == np.float32 and y.size <= 64000 + 800
    assert np.all(np.isfinite(y))
