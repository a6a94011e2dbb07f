"""The indexer's window helpers: batched embedding gives each window's own vector, in order."""
from __future__ import annotations

import numpy as np

from livedj.encoders import get_encoder
from livedj.library.track_analysis import beginning_windows, segment_vectors
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


def test_an_indexing_worker_imports_neither_the_index_nor_numba():
    # Every spawned worker imports livedj.library.indexer; the Annoy/fingerprint index modules are the
    # parent's alone (numba comes with the peak picker's kernels, at a worker's first file, not here).
    import subprocess
    import sys

    heavy = ("numba", "annoy", "livedj.library.index", "livedj.library.fingerprints", "livedj.library.refingerprint")
    code = f"import sys, livedj.library.indexer; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_worker_keeps_freed_arrays_for_the_next_file():
    # glibc returns freed multi-MB blocks to the kernel by default; a worker keeps them, so the next
    # file's arrays of the same size do not fault their pages in again (counted by the kernel).
    import platform
    import subprocess
    import sys

    import pytest

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    code = """if True:
        import resource, sys
        import numpy as np
        from livedj.library import indexer
        if sys.argv[1] == "keep":
            assert indexer.keep_freed_memory()
        faults = []
        for _ in range(6):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            a = np.ones(3_000_000, dtype=np.float32)  # 12 MB, like a four-minute track at 16 kHz
            b = a * 2.0
            del a, b
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        print(sum(faults[1:]))
    """
    counts = {mode: int(subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                                       check=True).stdout) for mode in ("default", "keep")}
    assert counts["keep"] < counts["default"] / 10, counts


def test_a_short_or_silent_file_is_skipped_for_its_true_reason(tmp_path):
    """The sound of a short file in its last, partial 128-ms frame was not heard ("0.0 s of sound"),
    and a silent 20-s file was "too short: 0.0 s" rather than silent. Both analysis paths."""
    from livedj.dsp.level import first_sound
    from livedj.library.track_analysis import Settings, analyze_file
    from livedj.synth import write_audio

    sr = 44100

    def tone(seconds, db=-10.0):
        t = np.arange(int(seconds * sr)) / sr
        return (10 ** (db / 20) * np.sin(2 * np.pi * 440 * t)).astype(np.float32)

    silence = lambda seconds: np.zeros(int(seconds * sr), np.float32)  # noqa: E731
    files = {"tail.wav": np.concatenate([silence(0.4), tone(0.1)]), "tone.wav": tone(0.5),
             "blank.wav": silence(0.5), "silent.wav": silence(20.0), "hiss.flac": tone(20.0, db=-60.0)}
    for name, audio in files.items():
        write_audio(tmp_path / name, audio, sr)
    encoder = get_encoder("features", threads=1)
    for hop in (5.0, 0.0):  # the whole track decoded, or only its beginning
        settings = Settings(encoder="features", segment_hop_s=hop)
        why = {name: analyze_file(str(tmp_path / name), settings, encoder).error for name in files}
        assert why == {"tail.wav": "too short: 0.1 s of sound (3 s needed)",
                       "tone.wav": "too short: 0.5 s of sound (3 s needed)",
                       "blank.wav": "too short: 0.0 s of sound (3 s needed)",
                       "silent.wav": "silent or near-silent: not music (nothing above -50 dBFS in 20.0 s)",
                       "hiss.flac": "silent or near-silent: not music (nothing above -50 dBFS in 20.0 s)"}, hop
    # a record: its first sound is where it was (the partial frame is never looked at when a whole one is loud)
    record = _track(20.0)
    assert first_sound(record, SR) == first_sound(record[:len(record) // 2048 * 2048], SR) == 0.384  # LEAD_IN 0.5 s
    assert first_sound(np.zeros(100, np.float32), SR) == 100 / SR  # shorter than a frame, silent
    assert first_sound(np.full(100, 0.1, np.float32), SR) == 0.0
