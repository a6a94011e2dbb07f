"""StreamingMusicnn against the per-window encoder: same embeddings, cached frames exact, caches bounded and reset."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from threadpoolctl import threadpool_limits  # noqa: E402

from livedj.dsp.mel import log_mel  # noqa: E402
from livedj.encoders import musicnn  # noqa: E402
from livedj.encoders.streaming import StreamingMusicnn, mel_frames  # noqa: E402

SR = 16000
WINDOW = 5 * SR

pytestmark = pytest.mark.skipif(not musicnn.default_weights_path().is_file(), reason="musicnn weights missing")


@pytest.fixture(scope="module")
def encoder() -> musicnn.MusicnnEncoder:
    return musicnn.MusicnnEncoder()


@pytest.fixture(scope="module")
def stream() -> np.ndarray:
    """14 s of generated music at 16 kHz (drums, bass, chords), the same on every run."""
    from livedj.synth import DEMO_TRACKS, render_track

    return render_track(DEMO_TRACKS[2], duration=14.0, sample_rate=SR)


def _hops(stream: np.ndarray, hop: int = SR, first_end: int = 7 * SR, context: int = 7 * SR):
    """(audio, end_sample) pairs as the live loop makes them: the newest ``context`` samples, every ``hop``."""
    for end in range(first_end, stream.size + 1, hop):
        yield stream[max(0, end - context):end], end


def _all_but_round_off(got: np.ndarray, want: np.ndarray, atol: float) -> None:
    """``got`` equals ``want`` bit for bit but in at most 0.1 % of its values, and those within ``atol``: a
    frame cached from another hop is the same frame (a frame off by one would differ everywhere), but numpy's
    FFT and OpenBLAS batch rows in SIMD lanes, and where a row falls can move its last bit (seen on an AVX2
    machine: 1 of 29,856 mel values, one float16 step of musicnn's rounding, 1.5e-4)."""
    assert got.shape == want.shape
    assert np.mean(got != want) <= 1e-3
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)


def test_mel_frames_equal_log_mel_frames():
    rng = np.random.default_rng(1)
    y = (0.3 * rng.standard_normal(SR)).astype(np.float32)
    with threadpool_limits(limits=1, user_api="blas"):  # as the streaming encoder computes them
        full = log_mel(y)
        _all_but_round_off(mel_frames(y[256 * 9:256 * 30 + 256]), full[10:31], atol=1e-3)


def test_every_hop_matches_the_per_window_encoder(encoder, stream):
    streaming = StreamingMusicnn(encoder)
    for audio, end in _hops(stream):
        got, want = streaming.embed(audio, end), encoder.analyze(stream[end - WINDOW:end])
        assert float(got.vector @ want.vector) > 0.98  # the contract; in practice equal to round-off
        np.testing.assert_allclose(got.vector, want.vector, atol=1e-5)
        np.testing.assert_allclose(got.tags, want.tags, atol=1e-5)
        assert list(np.argsort(got.tags)[-5:]) == list(np.argsort(want.tags)[-5:])
        assert abs(float(np.linalg.norm(got.vector)) - 1.0) < 1e-5
        assert got.vector.dtype == np.float32 and got.tags.dtype == np.float32
    assert streaming.resets == 2  # one grid per phase (16000 = 62.5 frames), each started once


def test_odd_hops_and_a_repeated_end(encoder, stream):
    streaming = StreamingMusicnn(encoder)
    for end in (6 * SR + 77, 6 * SR + 77, 6 * SR + 5000, 7 * SR + 5333, 9 * SR + 1):
        got, want = streaming.embed(stream[end - 6 * SR:end], end), encoder.analyze(stream[end - WINDOW:end])
        np.testing.assert_allclose(got.vector, want.vector, atol=1e-5)


def test_cached_frames_equal_one_long_pass(encoder, stream):
    """Cached mel and front-end frames are those of one pass over the whole stream (same phase), to round-off."""
    streaming = StreamingMusicnn(encoder)
    hop = 256 * 62  # a hop on the frame grid: one phase
    for audio, end in _hops(stream, hop=hop):
        streaming.embed(audio, end)
    (phase, grid), = streaming._grids.items()
    # one BLAS thread, as the streaming encoder computes its frames: with two, OpenBLAS splits the filterbank's
    # product otherwise
    with threadpool_limits(limits=1, user_api="blas"):
        long_mel = log_mel(stream[phase:])  # frame k centred on phase + 256 k, as the grid's
    with torch.inference_mode():
        front = encoder.model.front(torch.from_numpy(long_mel)[None])[0]
    mel = grid.mel
    want_mel = long_mel[mel.lo:mel.hi] * streaming._in_scale + streaming._in_shift
    _all_but_round_off(mel.frames.numpy().T, want_mel, atol=1e-3)
    for cache, rows in ((grid.timbral, slice(0, 408)), (grid.temporal, slice(408, 561))):
        assert cache.hi - cache.lo > 100
        _all_but_round_off(cache.frames.numpy(), front[rows, cache.lo:cache.hi].numpy(), atol=1e-3)


def test_backwards_jump_and_gap_reset_the_cache(encoder, stream):
    streaming = StreamingMusicnn(encoder)
    hop = 256 * 62
    for end in (8 * SR, 8 * SR + hop):
        streaming.embed(stream[end - WINDOW:end], end)
    assert streaming.resets == 1
    back = 6 * SR
    got = streaming.embed(stream[back - WINDOW:back], back)  # a seek backwards: everything restarts
    assert streaming.resets == 2 and len(streaming._grids) == 1
    np.testing.assert_allclose(got.vector, encoder.analyze(stream[back - WINDOW:back]).vector, atol=1e-5)
    far = back + 256 * 400  # same phase as `back`, but past every cached frame
    assert (far - back) % 256 == 0
    got = streaming.embed(stream[far - WINDOW:far], far)
    assert streaming.resets == 3
    np.testing.assert_allclose(got.vector, encoder.analyze(stream[far - WINDOW:far]).vector, atol=1e-5)
    streaming.reset()
    assert streaming.cached_frames == 0


def test_memory_is_bounded(encoder):
    rng = np.random.default_rng(0)
    stream = (0.2 * rng.standard_normal(14 * SR)).astype(np.float32)
    streaming = StreamingMusicnn(encoder, window_s=3.0, max_context_s=4.0)
    assert streaming.max_frames == 4 * SR // 256
    for audio, end in _hops(stream, hop=SR // 2, first_end=4 * SR, context=4 * SR):
        emb = streaming.embed(audio, end)
        assert streaming.cached_frames <= streaming.max_frames
        assert len(streaming._grids) <= 2
    assert abs(float(np.linalg.norm(emb.vector)) - 1.0) < 1e-5
    want = encoder.analyze(stream[-3 * SR:])
    np.testing.assert_allclose(emb.vector, want.vector, atol=1e-5)


def test_rejects_short_audio_and_windows(encoder):
    streaming = StreamingMusicnn(encoder)
    with pytest.raises(ValueError):
        streaming.embed(np.zeros(WINDOW - 1, np.float32), 10 * SR)
    with pytest.raises(ValueError):
        StreamingMusicnn(encoder, window_s=1.0)
