"""Tempo estimation on synthesised drum patterns with known BPMs."""
import numpy as np
import pytest
from scipy.signal import resample_poly

from livedj.dsp.rhythm import estimate_tempo, onset_envelope

SR = 16000

# One bar of sixteenth-note steps per instrument: kick, snare, hat.
PATTERNS = {
    "house": {"kick": (0, 4, 8, 12), "snare": (4, 12), "hat": (2, 6, 10, 14)},
    "trance": {"kick": (0, 4, 8, 12), "snare": (), "hat": (2, 6, 10, 14)},
    "boombap": {"kick": (0, 8), "snare": (4, 12), "hat": tuple(range(0, 16, 2))},
    "hiphop": {"kick": (0, 10), "snare": (4, 12), "hat": tuple(range(0, 16, 2))},
    "dnb": {"kick": (0, 10), "snare": (4, 12), "hat": tuple(range(0, 16, 2))},
}


def _sounds(rng):
    t = np.arange(int(0.25 * SR)) / SR
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-30 * t)) / SR) * np.exp(-12 * t)
    t = np.arange(int(0.18 * SR)) / SR
    snare = (0.6 * rng.standard_normal(t.size) + 0.4 * np.sin(2 * np.pi * 190 * t)) * np.exp(-25 * t)
    t = np.arange(int(0.05 * SR)) / SR
    hat = 0.3 * np.diff(rng.standard_normal(t.size), prepend=0.0) * np.exp(-80 * t)
    return {"kick": kick, "snare": snare, "hat": hat}


def drums(bpm, style, seconds=12.0, seed=0):
    """``seconds`` of a drum pattern at ``bpm``, float32 at 16 kHz."""
    rng = np.random.default_rng(seed)
    sounds = _sounds(rng)
    n = int(seconds * SR)
    y = np.zeros(n + SR)
    step = 60.0 / bpm / 4
    for bar in range(int(seconds / (16 * step)) + 1):
        for name, steps in PATTERNS[style].items():
            for s in steps:
                i = int(round((bar * 16 + s) * step * SR))
                if i < n:
                    y[i:i + sounds[name].size] += sounds[name][: y.size - i]
    y = y[:n] + 0.01 * rng.standard_normal(n)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize("bpm, style", [
    (90, "boombap"), (124, "house"), (128, "house"), (140, "trance"), (174, "dnb"),
    (100, "boombap"), (160, "house"), (172, "dnb"),
])
def test_known_tempo_within_2_percent(bpm, style):
    estimate, confidence = estimate_tempo(drums(bpm, style), SR)
    assert estimate == pytest.approx(bpm, rel=0.02)
    assert 0.3 < confidence <= 1.0


def test_precision_is_much_better_than_2_percent():
    errors = [abs(estimate_tempo(drums(b, "house"), SR)[0] / b - 1) for b in (122, 125, 127.5, 131)]
    assert max(errors) < 0.005


@pytest.mark.parametrize("bpm, style", [(124, "house"), (128, "house"), (90, "boombap")])
def test_sped_up_track(bpm, style):
    # Played 6 % faster: fewer samples for the same bars, read at the original rate.
    y = resample_poly(drums(bpm, style, seconds=13.0), 50, 53).astype(np.float32)[: 12 * SR]
    estimate, _ = estimate_tempo(y, SR)
    assert estimate == pytest.approx(bpm * 1.06, rel=0.02)


def test_dnb_stays_fast_and_half_time_hiphop_stays_slow():
    assert estimate_tempo(drums(174, "dnb"), SR)[0] == pytest.approx(174, rel=0.02)
    assert estimate_tempo(drums(87, "hiphop"), SR)[0] == pytest.approx(87, rel=0.02)


def test_range_folds_octaves():
    # 190 is outside the default 70-180 range: it must come back at half time.
    assert estimate_tempo(drums(190, "house"), SR)[0] == pytest.approx(95, rel=0.02)
    # A narrower range forces the other reading of the same track.
    bpm, _ = estimate_tempo(drums(174, "dnb"), SR, min_bpm=60, max_bpm=120)
    assert bpm == pytest.approx(87, rel=0.02)


def test_clicks_other_sample_rate():
    import librosa
    sr = 22050
    times = np.arange(0, 12, 60 / 128)
    y = librosa.clicks(times=times, sr=sr, length=12 * sr).astype(np.float32)
    assert estimate_tempo(y, sr)[0] == pytest.approx(128, rel=0.02)


def test_confidence_separates_noise_from_beats():
    rng = np.random.default_rng(1)
    _, c_noise = estimate_tempo(0.1 * rng.standard_normal(12 * SR).astype(np.float32), SR)
    _, c_beat = estimate_tempo(drums(128, "house"), SR)
    assert c_noise < 0.2 < c_beat


def test_silence():
    bpm, confidence = estimate_tempo(np.zeros(12 * SR, dtype=np.float32), SR)
    assert confidence == 0.0 and 70 <= bpm <= 180


def test_result_always_in_range():
    rng = np.random.default_rng(2)
    for style, b in (("house", 60), ("trance", 200), ("boombap", 140)):
        bpm, _ = estimate_tempo(drums(b, style) + 0.05 * rng.standard_normal(12 * SR).astype(np.float32), SR)
        assert 70 <= bpm <= 180


def test_onset_envelope_rate():
    env, fps = onset_envelope(drums(128, "house", seconds=5.0), SR)
    assert fps == pytest.approx(100.0)
    assert env.shape[0] == pytest.approx(5 * fps, abs=5)
    assert np.all(env >= 0)


@pytest.mark.parametrize("kwargs", [dict(min_bpm=100, max_bpm=90), dict(min_bpm=0), dict(start_bpm=-1)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        estimate_tempo(drums(128, "house", seconds=3.0), SR, **kwargs)


def test_rejects_stereo():
    with pytest.raises(ValueError):
        estimate_tempo(np.zeros((2, 5 * SR), dtype=np.float32), SR)
