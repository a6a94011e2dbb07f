"""The booth simulator (livedj.dsp.room): each effect does what it says, and the chain is deterministic."""
import numpy as np
import pytest
from scipy import signal

from livedj.dsp import room

SR = 16000


def tone(freq, seconds=2.0, sr=SR, amplitude=0.3):
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def band_power(y, sr, lo, hi):
    f, p = signal.welch(y, sr, nperseg=2048)
    return float(p[(f >= lo) & (f <= hi)].sum())


def peak_freq(y, sr):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y)), 1 << 18))
    return float(np.argmax(spectrum) * sr / (1 << 18))


def music_like(seconds=3.0, sr=SR, seed=1):
    rng = np.random.default_rng(seed)
    return (tone(220, seconds, sr) + tone(330, seconds, sr) + 0.05 * rng.standard_normal(int(seconds * sr))) \
        .astype(np.float32)


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 10.0, 25.0])
@pytest.mark.parametrize("kind", ["pink", "crowd"])
def test_add_noise_reaches_the_snr(snr_db, kind):
    y = music_like()
    noise = room.pink_noise(len(y), 3) if kind == "pink" else room.crowd_noise(len(y), SR, 3)
    noisy = room.add_noise(y, noise, snr_db)
    residual = noisy.astype(np.float64) - y
    achieved = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean(residual**2))
    assert abs(achieved - snr_db) < 0.5


def test_add_noise_tiles_a_short_noise_and_keeps_silence():
    y = music_like(1.0)
    assert room.add_noise(y, room.pink_noise(100), 10).shape == y.shape
    silent = np.zeros(1000, dtype=np.float32)
    assert not np.any(room.add_noise(silent, room.pink_noise(1000), 10))


def test_pink_noise_falls_3_db_per_octave():
    y = room.pink_noise(1 << 18, seed=2)
    assert abs(np.sqrt(np.mean(y.astype(np.float64) ** 2)) - 1.0) < 1e-3
    low, high = band_power(y, SR, 250, 500), band_power(y, SR, 2000, 4000)
    # equal power per octave for pink noise (within 2 dB)
    assert abs(10 * np.log10(low / high)) < 2.0


def test_crowd_noise_is_speech_band_and_modulated():
    y = room.crowd_noise(4 * SR, SR, seed=0)
    assert band_power(y, SR, 300, 3400) > 5 * band_power(y, SR, 5000, 8000)
    envelope = np.abs(signal.hilbert(y))
    frames = envelope[: len(y) // 400 * 400].reshape(-1, 400).mean(axis=1)
    assert frames.std() / frames.mean() > 0.1  # babble fluctuates, unlike stationary noise


def test_band_limit_attenuates_outside_the_band():
    for freq, inside in ((40, False), (1000, True), (5000, True), (12_000, False)):
        y = tone(freq, 2.0, 32000)
        out = room.band_limit(y, 32000, 100, 8000)
        gain_db = 10 * np.log10(np.mean(out[4000:-4000].astype(np.float64) ** 2) / np.mean(y[4000:-4000] ** 2.0))
        if inside:
            assert gain_db > -1.5, (freq, gain_db)
        else:
            assert gain_db < -12, (freq, gain_db)


def test_band_limit_open_edges_are_a_no_op():
    y = music_like(1.0)
    np.testing.assert_allclose(room.band_limit(y, SR, None, None), y, atol=1e-7)


@pytest.mark.parametrize("speed", [1.06, 0.94])
def test_speed_change_moves_tempo_and_pitch_together(speed):
    y = tone(1000.0, 2.0)
    out = room.speed_change(y, speed, SR)
    assert abs(len(out) - len(y) / speed) <= 2
    assert abs(peak_freq(out, SR) - 1000.0 * speed) < 2.0


def test_speed_one_is_identity():
    y = music_like(0.5)
    np.testing.assert_array_equal(room.speed_change(y, 1.0, SR), y)


@pytest.mark.parametrize("rt60", [0.3, 0.6, 1.2])
def test_synthetic_ir_decays_as_asked(rt60):
    ir = room.synthetic_ir(SR, rt60=rt60, seed=4)
    assert ir[0] == 1.0
    tail = ir.copy()
    tail[0] = 0.0  # the direct path would dominate the early decay
    measured = room.rt60_schroeder(tail, SR)
    assert abs(measured - rt60) < 0.2 * rt60


def test_synthetic_ir_direct_to_reverb_ratio():
    ir = room.synthetic_ir(SR, rt60=0.5, direct_to_reverb_db=5.0).astype(np.float64)
    assert abs(10 * np.log10(ir[0] ** 2 / np.sum(ir[1:] ** 2)) - 5.0) < 0.1


def test_load_ir_normalises_and_trims(tmp_path):
    from livedj.synth import write_audio

    ir = np.zeros(SR // 2, dtype=np.float32)
    tail = room.synthetic_ir(SR, rt60=0.3)
    ir[800:800 + len(tail)] = 0.5 * tail
    path = tmp_path / "ir.wav"
    write_audio(path, ir, SR)
    loaded = room.load_ir(path, SR)
    assert abs(float(np.max(np.abs(loaded))) - 1.0) < 1e-6
    assert int(np.argmax(np.abs(loaded))) == int(0.001 * SR)


def test_booth_is_deterministic_and_keeps_length():
    y = music_like(3.0)
    a = room.booth(y, SR, rt60=0.4, snr_db=10, noise="crowd", speed=1.06, seed=7)
    b = room.booth(y, SR, rt60=0.4, snr_db=10, noise="crowd", speed=1.06, seed=7)
    c = room.booth(y, SR, rt60=0.4, snr_db=10, noise="crowd", speed=1.06, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and abs(len(a) - len(y) / 1.06) <= 2
    assert np.max(np.abs(a)) <= 1.0


def test_booth_dry_chain_is_the_input():
    y = music_like(1.0)
    out = room.booth(y, SR, rt60=0, snr_db=None, band=None)
    np.testing.assert_allclose(out, y, atol=1e-7)


def test_booth_gain_and_recorded_ir():
    y = 0.5 * music_like(1.0)
    louder = room.booth(y, SR, rt60=0, snr_db=None, band=None, gain_db=6.0)
    assert abs(20 * np.log10(np.max(np.abs(louder)) / np.max(np.abs(y))) - 6.0) < 0.05
    echo = np.zeros(800, dtype=np.float32)
    echo[0], echo[-1] = 1.0, 0.5
    out = room.booth(y, SR, ir=echo, snr_db=None, band=None)
    np.testing.assert_allclose(out[799:], y[799:] + 0.5 * y[:-799], atol=1e-5)


def test_booth_presets_differ_and_rumble_is_low():
    from scipy import signal as _signal

    y = np.sin(2 * np.pi * 440 * np.arange(2 * SR) / SR).astype(np.float32) * 0.3
    outs = {name: room.booth_preset(y, SR, name, seed=1) for name in room.BOOTHS}
    assert all(o.shape == y.shape and np.isfinite(o).all() for o in outs.values())
    names = list(outs)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            assert not np.allclose(outs[names[a]], outs[names[b]]), (names[a], names[b])
    f, p = _signal.welch(room.rumble_noise(4 * SR, SR, 2), SR, nperseg=2048)
    assert p[f < 250].sum() > 10 * p[f > 500].sum()  # most energy below 250 Hz
    ir = room.reflections_ir(SR, rt60=0.6, seed=3)
    assert ir[0] == 1.0 and 0.1 < room.rt60_schroeder(ir, SR) < 1.2  # the direct path and early echoes hold half the energy
    with pytest.raises(ValueError, match="unknown booth"):
        room.booth_preset(y, SR, "nope")
