"""Classic descriptors and the "features" encoder, on generated audio."""
import numpy as np
import pytest

from livedj.dsp.descriptors import DIM, FEATURE_NAMES, GROUPS, descriptor_vector
from livedj.encoders.base import Encoder, Embedding
from livedj.encoders.descriptors import LOCATION, SCALE, FeaturesEncoder

SR = 16000


def _t(seconds):
    return np.arange(int(seconds * SR)) / SR


def tone(f0, seconds=5.0, partials=1):
    t = _t(seconds)
    return (0.3 * sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, partials + 1))).astype(np.float32)


def beat(bpm=128, seconds=12.0, seed=0):
    """Kick on every beat plus a noisy hat on the off-beats."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * SR))
    t = np.arange(int(0.2 * SR)) / SR
    kick = np.sin(2 * np.pi * np.cumsum(50 + 90 * np.exp(-30 * t)) / SR) * np.exp(-15 * t)
    hat = 0.2 * np.diff(rng.standard_normal(800), prepend=0.0) * np.exp(-np.arange(800) / 60)
    period = 60.0 / bpm
    for i, start in enumerate(np.arange(0, seconds, period / 2)):
        s = int(start * SR)
        sound = kick if i % 2 == 0 else hat
        y[s:s + sound.size] += sound[: max(0, y.size - s)]
    return (y + 0.005 * rng.standard_normal(y.size)).astype(np.float32)


def pad(seconds=12.0):
    """A slow E minor / C major chord pad with rich partials."""
    t = _t(seconds)
    y = np.zeros_like(t)
    for i, chord in enumerate([(64, 67, 71), (60, 64, 67)] * int(seconds)):
        seg = (t >= i * 2.0) & (t < (i + 1) * 2.0)
        for m in chord:
            f = 440 * 2 ** ((m - 69) / 12)
            y[seg] += sum(np.sin(2 * np.pi * f * h * t[seg]) / h ** 1.5 for h in range(1, 8))
    return (0.1 * y).astype(np.float32)


def noise(seconds=12.0, seed=3):
    rng = np.random.default_rng(seed)
    return (0.1 * np.cumsum(rng.standard_normal(int(seconds * SR))) / 50).astype(np.float32)


# --- descriptor_vector ------------------------------------------------------------------

def test_layout():
    assert DIM == len(FEATURE_NAMES) == sum(len(v) for v in GROUPS.values()) == 77
    assert len(set(FEATURE_NAMES)) == DIM
    v = descriptor_vector(beat(seconds=5.0))
    assert v.shape == (DIM,) and v.dtype == np.float32 and np.all(np.isfinite(v))


def test_silence_and_short_input_are_finite():
    for y in (np.zeros(5 * SR, dtype=np.float32), np.zeros(100, dtype=np.float32), tone(440, 0.05)):
        v = descriptor_vector(y)
        assert v.shape == (DIM,) and np.all(np.isfinite(v))


def test_gain_invariant():
    y = beat(seconds=5.0)
    np.testing.assert_allclose(descriptor_vector(0.01 * y), descriptor_vector(y), rtol=1e-3, atol=1e-3)


def test_chroma_finds_the_pitch_class():
    v = descriptor_vector(tone(440.0, partials=3))  # A4
    chroma = v[[FEATURE_NAMES.index(n) for n in GROUPS["chroma"]]]
    assert GROUPS["chroma"][int(np.argmax(chroma))] == "chroma_A"


def test_centroid_follows_brightness():
    i = FEATURE_NAMES.index("log2_centroid_mean")
    low, high = descriptor_vector(tone(110.0))[i], descriptor_vector(tone(2000.0))[i]
    assert high - low > 2.0  # > 2 octaves apart


def test_onset_periodicity_separates_beats_from_noise():
    i = FEATURE_NAMES.index("flux_periodicity")
    rng = np.random.default_rng(0)
    assert descriptor_vector(beat(seconds=5.0))[i] > descriptor_vector(
        (0.1 * rng.standard_normal(5 * SR)).astype(np.float32))[i] + 0.3


def test_zcr_tracks_frequency():
    i = FEATURE_NAMES.index("zcr_mean")
    assert descriptor_vector(tone(3000.0))[i] > 5 * descriptor_vector(tone(200.0))[i]


@pytest.mark.parametrize("bad", [np.zeros((2, SR), dtype=np.float32), np.zeros(0, dtype=np.float32)])
def test_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        descriptor_vector(bad)


# --- FeaturesEncoder --------------------------------------------------------------------

def test_constants():
    assert LOCATION.shape == SCALE.shape == (DIM,)
    assert np.all(np.isfinite(LOCATION)) and np.all(SCALE > 0)


def test_implements_the_encoder_protocol():
    enc = FeaturesEncoder()
    assert isinstance(enc, Encoder)
    assert enc.name == "features" and enc.dim == DIM and enc.sample_rate == SR
    assert enc.tag_names == () and isinstance(enc.version, str)
    e = enc.analyze(beat(seconds=5.0))
    assert isinstance(e, Embedding) and e.tags is None
    assert e.vector.shape == (DIM,) and e.vector.dtype == np.float32
    assert np.linalg.norm(e.vector) == pytest.approx(1.0, abs=1e-5)


def test_registry_builds_it():
    from livedj.encoders import encoder_dim, encoder_id, get_encoder
    assert isinstance(get_encoder("features", threads=1), FeaturesEncoder)
    assert encoder_id("features") == f"features/{FeaturesEncoder.VERSION}"
    assert encoder_dim("features") == DIM


def test_deterministic_and_batch_equals_single():
    enc = FeaturesEncoder()
    windows = [beat(seconds=5.0), pad(5.0), noise(5.0)]
    a = [enc.analyze(w).vector for w in windows]
    b = [e.vector for e in enc.analyze_many(windows)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a[0], enc.analyze(beat(seconds=5.0)).vector)


def test_silence_is_still_a_unit_vector():
    v = FeaturesEncoder().analyze(np.zeros(5 * SR, dtype=np.float32)).vector
    assert np.all(np.isfinite(v)) and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)


def test_excerpts_of_the_same_signal_are_closer():
    enc = FeaturesEncoder()
    signals = [beat(124), beat(90, seed=1) + pad(), pad(), noise()]
    first = np.stack([enc.analyze(s[: 5 * SR]).vector for s in signals])
    second = np.stack([enc.analyze(s[6 * SR: 11 * SR]).vector for s in signals])
    sim = first @ second.T
    for i in range(len(signals)):
        others = np.delete(sim[i], i)
        assert sim[i, i] > others.max(), (i, sim[i])


def test_groups_weigh_about_equally():
    # No group may dominate the standardised vector on typical music.
    enc = FeaturesEncoder()
    z = enc.standardise(descriptor_vector(beat(seconds=5.0) + pad(5.0)))
    energy, start = [], 0
    for names in GROUPS.values():
        energy.append(float(np.sum(z[start:start + len(names)] ** 2)))
        start += len(names)
    assert max(energy) / sum(energy) < 0.75


def test_shipped_chroma_filterbank_is_librosas():
    """livedj/data holds librosa's chroma filters for 16 kHz so workers need not import librosa."""
    import librosa

    from livedj.dsp import descriptors

    assert descriptors._CHROMA_FILE.exists()
    expected = librosa.filters.chroma(sr=16000, n_fft=descriptors.N_FFT, norm=None).astype(np.float32)
    assert np.array_equal(descriptors.chroma_filters(16000), expected)
    assert descriptors.chroma_filters(22050).shape == (12, descriptors.N_FFT // 2 + 1)  # from librosa
