"""The indexer's window helpers: batched embedding gives each window's own vector, in order."""
from __future__ import annotations

import numpy as np

from livedj.encoders import get_encoder
from livedj.library.indexer import beginning_windows, segment_vectors
from livedj.synth import TrackSpec, render_track

SR = 16000


def _track(seconds: float) -> np.ndarray:
    return render_track(TrackSpec("t", "a", 124.0, "A minor", "house", 3), seconds, SR).astype(np.float32)


def test_segment_vectors_are_each_windows_vector_with_nan_where_silent():
    encoder = get_encoder("features", threads=1)
    audio = _track(30.0)
    audio[int(10 * SR):int(16 * SR)] = 0.0  # the window starting at 10 s is silent
    rows = segment_vectors(audio, encoder, hop_s=5.0)
    assert rows.shape == (6, encoder.dim) and rows.dtype == np.float32
    assert np.isnan(rows[2]).all() and not np.isnan(np.delete(rows, 2, axis=0)).any()
    for i in (0, 1, 3, 5):
        np.testing.assert_allclose(rows[i], encoder.analyze(audio[i * 5 * SR:(i + 1) * 5 * SR]).vector, atol=1e-6)


def test_beginning_windows_batched_equal_one_window_at_a_time():
    encoder = get_encoder("musicnn", threads=1)
    audio = _track(16.0)
    windows = beginning_windows(audio, encoder)
    assert windows.shape == (3, encoder.dim)
    for i, row in enumerate(windows):
        np.testing.assert_allclose(row, encoder.analyze(audio[i * 5 * SR:(i + 1) * 5 * SR]).vector, atol=1e-5)
    assert not np.allclose(windows[0], windows[2])
