"""MicSource through the virtual microphone, and FileSource feeding the same ring buffer."""
import time

import numpy as np
import pytest
import scipy.signal
from conftest import chirp, sine, write_audio

from livedj.audio.capture import CaptureError, FileSource, MicSource, list_input_devices
from livedj.audio.decode import DecodeError, decode
from livedj.audio.ringbuffer import RingBuffer

SR = 48000


def probe_signal(seconds=3.0, sr=SR):
    """Chirp plus noise bursts: a sharp, unambiguous cross-correlation peak."""
    x = chirp(300.0, 3000.0, seconds, sr, amplitude=0.25)
    rng = np.random.default_rng(7)
    for start in np.arange(0.25, seconds - 0.2, 0.5):
        i = int(start * sr)
        x[i:i + int(0.1 * sr)] += 0.2 * rng.standard_normal(int(0.1 * sr)).astype(np.float32)
    return x


def normalised_xcorr(haystack, needle):
    """Correlation of ``needle`` with every window of ``haystack``, each scaled to -1..1."""
    corr = scipy.signal.correlate(haystack, needle, mode="valid", method="fft")
    energy = np.concatenate([[0.0], np.cumsum(haystack.astype(np.float64) ** 2)])
    window = energy[needle.size:] - energy[:-needle.size]
    return corr / (np.linalg.norm(needle) * np.sqrt(np.maximum(window, 1e-12)))


@pytest.mark.audio
def test_list_input_devices_shows_pulse(virtual_mic):
    devices = list_input_devices()
    names = [d["name"] for d in devices]
    assert any(n.startswith("pulse") for n in names), names
    pulse = next(d for d in devices if d["name"].startswith("pulse"))
    assert pulse["channels"] >= 1 and pulse["default_samplerate"] > 0
    assert sum(d["is_default"] for d in devices) <= 1
    assert MicSource.default_samplerate("pulse") > 0


@pytest.mark.audio
def test_mic_captures_what_is_played(virtual_mic, tmp_path):
    played = probe_signal()
    wav = write_audio(tmp_path / "probe.wav", played, SR)
    ring = RingBuffer(10 * SR, SR)
    mic = MicSource(ring, device=virtual_mic.device)
    with mic:
        deadline = time.monotonic() + 5
        while mic.callbacks == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert mic.callbacks > 0, f"no audio callbacks from {virtual_mic.device!r}"
        time.sleep(0.2)
        before = ring.written
        virtual_mic.play(wav)  # blocks until paplay has drained
        time.sleep(0.5)
        assert mic.running and mic.error is None
    captured = ring.read(before, ring.written - before)
    score = normalised_xcorr(captured, played)
    lag = int(np.argmax(score))
    assert score[lag] > 0.9, f"peak normalised correlation {score[lag]:.3f}"
    assert lag < SR, f"signal arrived {lag / SR:.3f} s after playback started"
    assert mic.callbacks > 10 and mic.last_callback_time > 0
    assert mic.error is None


@pytest.mark.audio
def test_mic_unknown_device_is_one_line_capture_error(virtual_mic):
    mic = MicSource(RingBuffer(SR, SR), device="no-such-device-xyz")
    with pytest.raises(CaptureError) as info:
        mic.start()
    assert "no-such-device-xyz" in str(info.value) and "\n" not in str(info.value)
    assert mic.error == str(info.value)
    mic.stop()  # harmless when never started


@pytest.mark.audio
def test_mic_device_loss_sets_error_and_restart_works(virtual_mic):
    ring = RingBuffer(SR, SR)
    mic = MicSource(ring, device=virtual_mic.device)
    mic.start()
    try:
        deadline = time.monotonic() + 5
        while mic.callbacks == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        virtual_mic.unload_sink()
        deadline = time.monotonic() + 5
        while mic.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mic.error and "pulse" in mic.error
        assert not mic.running
    finally:
        mic.stop()
        virtual_mic.reload_sink()
    again = MicSource(ring, device=virtual_mic.device)
    with again:
        deadline = time.monotonic() + 5
        while again.callbacks < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert again.callbacks >= 5 and again.error is None


@pytest.fixture
def tone_file(tmp_path):
    x = chirp(200.0, 1000.0, 1.5, 16000)
    return write_audio(tmp_path / "tone.flac", x, 16000)


def test_file_source_realtime_writes_whole_file(tone_file):
    ring = RingBuffer(3 * 16000, 16000)
    src = FileSource(ring, tone_file, realtime=True, block=1600)
    t0 = time.monotonic()
    src.start()
    assert src.done.wait(10)
    elapsed = time.monotonic() - t0
    src.stop()
    assert src.error is None
    assert ring.written == 24000 and src.callbacks == 15
    # Paced at wall-clock speed: it cannot finish before the file's duration (a lower bound only).
    assert elapsed >= 1.4
    np.testing.assert_allclose(ring.latest(24000), decode(tone_file, 16000), atol=1e-6)


def wait_written(src, sample_index, timeout=10.0):
    """Poll as the live loop does (LiveLoop._wait_for): True once the ring holds ``sample_index``
    samples; False if the file ended first or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while src.ring.written < sample_index:
        if src.done.is_set() or time.monotonic() > deadline:
            return src.ring.written >= sample_index
        time.sleep(0.002)
    return True


def test_file_source_fast_never_overwrites_unread(tone_file):
    """A ring far smaller than the file: the consumer reads every sample exactly once."""
    ring = RingBuffer(2000, 16000)
    src = FileSource(ring, tone_file, realtime=False, block=700)
    src.start()
    got, pos, hop = [], 0, 900
    while True:
        src.allow_until(pos + hop)
        if not wait_written(src, pos + hop):
            got.append(ring.read(pos, ring.written - pos))
            break
        got.append(ring.read(pos, hop))  # raises OverwrittenError if the writer ran ahead
        pos += hop
    src.stop()
    assert src.done.is_set()
    np.testing.assert_allclose(np.concatenate(got), decode(tone_file, 16000), atol=1e-6)


def test_file_source_loop_and_stop(tmp_path):
    path = write_audio(tmp_path / "short.wav", sine(440.0, 0.1, 16000), 16000)
    ring = RingBuffer(16000, 16000)
    src = FileSource(ring, path, realtime=False, block=256, loop=True)
    src.start()
    src.allow_until(5000)  # 3+ passes over the 1600-sample file
    assert wait_written(src, 5000)
    assert not src.done.is_set()
    src.stop()
    assert src.done.is_set() and not src.running
    assert ring.written == 5000
    np.testing.assert_allclose(ring.read(1600, 1600), ring.read(0, 1600))


def test_file_source_bad_file_raises_at_start(tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio")
    src = FileSource(RingBuffer(1000, 16000), bad)
    with pytest.raises(DecodeError, match="bad.mp3"):
        src.start()
    assert not src.running


def test_file_source_error_mid_stream_is_kept(tmp_path, monkeypatch):
    import livedj.audio.capture as capture

    path = write_audio(tmp_path / "ok.wav", sine(440.0, 0.5, 16000), 16000)

    def failing_blocks(path, sample_rate, block):
        yield np.zeros(block, dtype=np.float32)
        raise DecodeError(path, "corrupt frame")

    monkeypatch.setattr(capture, "iter_blocks", failing_blocks)
    ring = RingBuffer(16000, 16000)
    src = FileSource(ring, path, realtime=False, block=100)
    src.start()
    src.allow_until(1000)
    assert src.done.wait(10)
    assert ring.written == 100
    assert src.error and "corrupt frame" in src.error and "ok.wav" in src.error


@pytest.mark.audio
def test_device_name_matching_two_inputs_is_one_line_and_not_waited_for(virtual_mic):
    """`[audio] device = "ALSA"` matches both "pulse, ALSA" and "default, ALSA": the message was three lines
    (sounddevice lists the matches on lines of their own) and `livedj run` then waited for ever for a
    device that more waiting never makes unique."""
    from livedj.audio.capture import AmbiguousDeviceError
    from livedj.commands.run_parts import make_source
    from livedj.config import defaults

    with pytest.raises(AmbiguousDeviceError) as info:
        MicSource.default_samplerate("ALSA")
    assert "\n" not in str(info.value) and "pulse" in str(info.value) and "default" in str(info.value)
    mic = MicSource(RingBuffer(SR, SR), device="ALSA")
    with pytest.raises(AmbiguousDeviceError) as info:
        mic.start()
    assert "\n" not in str(info.value) and mic.error == str(info.value)
    config = defaults()
    config["audio"]["device"] = "ALSA"  # the service's config, not typed: an absent device is waited for
    with pytest.raises(AmbiguousDeviceError):
        make_source(config, None, False)


def test_devices_lists_names_with_brackets_as_they_are(monkeypatch, capsys):
    """`livedj devices` handed names to rich as markup: "USB Audio [hw:1,0]" printed as "USB Audio", so the
    name a DJ copied into `[audio] device` was wrong. Mocked list: PortAudio's names here are the fixed
    "pulse" and "default" of the virtual mic, and no device with brackets in its name can be made."""
    import livedj.audio.capture as capture
    from livedj.commands import devices

    monkeypatch.setattr(capture, "list_input_devices", lambda: [
        {"index": 3, "name": "USB Audio [hw:1,0]", "channels": 2, "default_samplerate": 48000.0, "is_default": True},
        {"index": 4, "name": "Mixer [bold]B[/bold]", "channels": 2, "default_samplerate": 44100.0,
         "is_default": False}])
    monkeypatch.setenv("COLUMNS", "120")
    assert devices.main(None, {}) == 0
    out = capsys.readouterr().out
    assert "USB Audio [hw:1,0]" in out and "Mixer [bold]B[/bold]" in out
