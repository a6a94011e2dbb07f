"""The torch musicnn port against TensorFlow reference outputs, and its pre-processing against librosa."""
from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
librosa = pytest.importorskip("librosa")

from livedj.dsp import mel  # noqa: E402
from livedj.encoders import musicnn  # noqa: E402
from livedj.encoders.base import Encoder, top_tags  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "musicnn_reference.npz"


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return dict(data)


@pytest.fixture(scope="module")
def model():
    return musicnn.load_musicnn()[0]


@pytest.fixture(scope="module")
def encoder() -> musicnn.MusicnnEncoder:
    return musicnn.MusicnnEncoder()


def _run(model, logmel: np.ndarray) -> dict[str, np.ndarray]:
    with torch.inference_mode():
        return {k: v.numpy() for k, v in model(torch.from_numpy(np.asarray(logmel, np.float32))).items()}


def _audio(ref) -> np.ndarray:
    return ref["audio_pcm16"].astype(np.float32) / 32768


# --- pre-processing ---------------------------------------------------------------------------


def test_filterbank_is_librosa_slaney_bit_for_bit():
    expected = librosa.filters.mel(sr=16000, n_fft=512, n_mels=96, htk=False, norm="slaney")
    assert np.array_equal(mel.mel_filterbank(), expected)
    assert mel.mel_filterbank() is mel.mel_filterbank()  # cached


@pytest.mark.parametrize("sr, n_fft, n_mels, fmax", [(16000, 1024, 64, None), (16000, 1024, 40, 8000.0),
                                                     (44100, 2048, 40, 8000.0), (22050, 1024, 40, 6000.0)])
def test_filterbank_and_centres_match_librosa_for_other_shapes(sr, n_fft, n_mels, fmax):
    """The descriptor and tempo filterbanks come from here instead of librosa (start-up cost)."""
    expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmax=fmax)
    assert np.array_equal(mel.mel_filterbank(sr, n_fft, n_mels, fmax), expected)
    top = sr / 2 if fmax is None else fmax
    assert np.array_equal(mel.mel_frequencies(n_mels + 2, top), librosa.mel_frequencies(n_mels + 2, fmax=top))


def test_log_mel_matches_librosa_with_reflect_padding():
    rng = np.random.default_rng(3)
    t = np.arange(80000) / 16000
    y = (0.4 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    power = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=256, n_mels=96, pad_mode="reflect").T
    np.testing.assert_allclose(mel.mel_power(y), power, rtol=1e-5, atol=1e-7)
    expected = np.log10(10000 * power.astype(np.float16).astype(np.float32) + 1)
    ours = mel.log_mel(y)
    assert ours.shape == (313, 96) and ours.dtype == np.float32
    # float32 summation order may flip a rare float16 rounding: at most one float16 step apart
    assert np.mean(ours == expected) > 0.999
    assert np.abs(ours - expected).max() < 5e-4


def test_log_mel_of_loud_audio_stays_finite():
    t = np.arange(16000) / 16000
    loud = np.sin(2 * np.pi * 100 * t).astype(np.float32)  # full scale: 10000 * power overflows float16
    assert mel.mel_power(loud).max() > 100
    out = mel.log_mel(loud)
    assert np.isfinite(out).all() and out.max() > 6


def test_log_mel_rejects_wrong_rate_and_stereo():
    with pytest.raises(ValueError, match="16000"):
        mel.log_mel(np.zeros(8000, np.float32), sr=44100)
    with pytest.raises(ValueError, match="mono"):
        mel.mel_power(np.zeros((2, 8000), np.float32))


# --- network vs TensorFlow --------------------------------------------------------------------


def test_torch_port_matches_tensorflow_on_random_patches(model, ref):
    out = _run(model, ref["patches"])
    np.testing.assert_allclose(out["tags"], ref["patches_tags"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(out["penultimate"], ref["patches_penultimate"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(out["pool"], ref["patches_pool"], rtol=1e-5, atol=1e-3)


def test_whole_window_single_pass_matches_tensorflow(model, ref):
    assert ref["audio_logmel"].shape == (313, 96)  # one 5-s window
    out = _run(model, ref["audio_logmel"][None])
    np.testing.assert_allclose(out["tags"], ref["whole_tags"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(out["penultimate"], ref["whole_penultimate"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(out["pool"], ref["whole_pool"], rtol=1e-5, atol=1e-3)


def test_audio_patches_match_tensorflow(model, ref):
    starts = musicnn.patch_starts(313)
    assert starts == list(ref["audio_patch_starts"]) == [0, 126]
    out = _run(model, np.stack([ref["audio_logmel"][s:s + 187] for s in starts]))
    np.testing.assert_allclose(out["tags"], ref["audio_patches_tags"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(out["penultimate"], ref["audio_patches_penultimate"], rtol=0, atol=1e-4)


def test_end_to_end_from_audio_gives_tensorflow_top5(model, ref):
    ours = _run(model, mel.log_mel(_audio(ref))[None])["tags"][0]
    expected = ref["whole_tags"][0]
    assert list(np.argsort(ours)[::-1][:5]) == list(np.argsort(expected)[::-1][:5])
    np.testing.assert_allclose(ours, expected, atol=1e-3)


def test_reordered_front_end_equals_plain(ref):
    fast, _ = musicnn.load_musicnn(reorder=True)
    plain, _ = musicnn.load_musicnn(reorder=False)
    bn = fast.frontend.timbral_bn[0]
    assert (bn.weight < 0).any() and (bn.weight > 0).any()  # both the max and the min branch are exercised
    x = torch.from_numpy(ref["patches"][:2].astype(np.float32))
    with torch.inference_mode():
        front_fast, front_plain = fast.front(x), plain.front(x)
        a, b = fast(x), plain(x)
    # equal up to float32 round-off (folded BN, other conv summation order); features reach ~20. The
    # round-off grows with a value's size and with the CPU's kernels (an AVX2 machine put the pool's
    # values of ~10 1.5e-5 apart, relatively): a relative tolerance too. A wrong fold is off by > 1e-2.
    assert front_plain.abs().max() > 5
    torch.testing.assert_close(front_fast, front_plain, rtol=0, atol=1e-4)
    for key, atol in (("tags", 1e-6), ("penultimate", 1e-5), ("pool", 1e-4)):
        torch.testing.assert_close(a[key], b[key], rtol=5e-5, atol=atol)


def test_network_accepts_any_length_and_rejects_wrong_bands(model):
    x = np.random.default_rng(0).uniform(0, 3, (1, 40, 96)).astype(np.float32)
    assert _run(model, x)["penultimate"].shape == (1, 200)
    with pytest.raises(ValueError, match="96"):
        _run(model, x[:, :, :64])


# --- the Encoder --------------------------------------------------------------------------------


def test_analyze_returns_unit_vector_and_probabilities(encoder, ref):
    assert isinstance(encoder, Encoder)
    assert (encoder.name, encoder.dim, encoder.sample_rate) == ("musicnn", 200, 16000)
    assert (encoder.version, encoder.dim) == (musicnn.MusicnnEncoder.VERSION, musicnn.MusicnnEncoder.DIM)
    assert len(encoder.tag_names) == 50 and encoder.tag_names[0] == "rock"
    emb = encoder.analyze(_audio(ref))
    assert emb.vector.dtype == np.float32 and emb.vector.shape == (200,)
    assert abs(np.linalg.norm(emb.vector) - 1) < 1e-5
    assert emb.tags.shape == (50,) and emb.tags.dtype == np.float32
    assert np.all((emb.tags >= 0) & (emb.tags <= 1))
    expected = ref["whole_penultimate"][0] / np.linalg.norm(ref["whole_penultimate"][0])
    assert float(emb.vector @ expected) > 0.9999
    assert top_tags(encoder, emb.tags, 1)[0][0] == encoder.tag_names[int(np.argmax(ref["whole_tags"]))]


def test_pool_layer_and_patch_mode(ref):
    audio = _audio(ref)
    pooled = musicnn.MusicnnEncoder(layer="pool")
    assert pooled.dim == 1506 and pooled.analyze(audio).vector.shape == (1506,)
    patches = musicnn.MusicnnEncoder(mode="patches")
    assert patches.version != musicnn.MusicnnEncoder().version
    emb = patches.analyze(audio)
    np.testing.assert_allclose(emb.tags, ref["audio_patches_tags"].mean(axis=0), atol=1e-3)


def test_analyze_many_equals_analyze(ref):
    encoder = musicnn.MusicnnEncoder(batch_size=2)
    audio = _audio(ref)
    windows = [audio[:32000], audio[:16000], audio[40000:72000], audio[:32000] * 0.5, audio[::-1][:32000].copy()]
    many = encoder.analyze_many(windows)  # two batches of equal length windows, then the odd ones
    assert len(many) == len(windows)
    for window, emb in zip(windows, many):
        single = encoder.analyze(window)
        np.testing.assert_allclose(emb.vector, single.vector, atol=1e-5)
        np.testing.assert_allclose(emb.tags, single.tags, atol=1e-5)
    assert not np.allclose(many[0].vector, many[2].vector)  # different windows, different vectors


def test_too_short_audio_is_a_clear_error(encoder):
    with pytest.raises(ValueError, match="256 samples"):
        encoder.analyze(np.zeros(100, np.float32))


def test_missing_weights_file_names_path_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEDJ_MODELS_DIR", str(tmp_path))
    assert musicnn.default_weights_path() == tmp_path / "musicnn_msd.safetensors"
    with pytest.raises(FileNotFoundError) as err:
        musicnn.MusicnnEncoder()
    message = str(err.value)
    assert str(tmp_path / "musicnn_msd.safetensors") in message and "convert_musicnn.py" in message
    assert "\n" not in message


def test_default_weights_live_in_repo_models(monkeypatch):
    monkeypatch.delenv("LIVEDJ_MODELS_DIR", raising=False)
    assert musicnn.default_weights_path() == REPO / "models" / "musicnn_msd.safetensors"


# --- the converter's hand-written checkpoint parsing ---------------------------------------------


def _converter():
    spec = importlib.util.spec_from_file_location("convert_musicnn", REPO / "models" / "convert_musicnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def test_converter_reads_a_handmade_checkpoint():
    conv = _converter()
    tensors = {"a/kernel": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([7, -1], np.int64)}
    data, entries = b"", []
    for name, value in tensors.items():
        shape = b"".join(b"\x12" + _varint(len(_varint(d)) + 1) + b"\x08" + _varint(d) for d in value.shape)
        proto = (b"\x08" + _varint({np.float32: 1, np.int64: 9}[value.dtype.type]) + b"\x12" + _varint(len(shape))
                 + shape + b"\x20" + _varint(len(data)) + b"\x28" + _varint(value.nbytes))
        entries.append((name.encode(), proto))
        data += value.tobytes()

    def block(items):  # no prefix sharing, one restart point, uncompressed trailer
        body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in items)
        return body + struct.pack("<II", 0, 1)

    data_block = block([(b"", b"\x08\x01")] + entries)  # the empty key is the bundle header
    index_block = block([(entries[-1][0], _varint(0) + _varint(len(data_block)))])
    table = data_block + b"\x00\x00\x00\x00\x00"
    index_offset = len(table)
    table += index_block + b"\x00\x00\x00\x00\x00"
    footer = _varint(0) + _varint(0) + _varint(index_offset) + _varint(len(index_block))
    table += footer.ljust(40, b"\x00") + struct.pack("<Q", 0xDB4775248B80FB57)
    parsed = conv.read_checkpoint(table, data)
    assert parsed.keys() == tensors.keys()
    for name, value in tensors.items():
        assert parsed[name].dtype == value.dtype and np.array_equal(parsed[name], value)
    with pytest.raises(ValueError, match="magic"):
        conv.read_index(table[:-1] + b"\x00", "bad.index")


def test_committed_weights_carry_tag_names_and_load_strictly():
    model, tags = musicnn.load_musicnn()
    assert tags == _converter().MSD_LABELS
    # convs 54468 + 95880 + 11577 + 251392 + 2 * 28736, BN gamma/beta 4920, dense 301400 + 10050
    assert sum(p.numel() for p in model.parameters()) == 787_159
