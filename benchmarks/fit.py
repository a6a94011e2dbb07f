"""The library fit's cost per 1,000 tracks against indexing those 1,000 tracks on 2 cores.

The fit at `livedj index` time (library/vectors.py) reads the cached per-window base vectors,
fits centring + LDA over tracks, projects every window and writes the cache back. Here it runs on
random unit vectors of the shape a 1,000-track library gives (windows per track from the
configured beginning, 200-d musicnn), so no decoding is involved -- as at index time.

Baseline, in the same process: :func:`livedj.library.track_analysis.analyze_file` (decode, musicnn
beginning, BPM, key, segment vectors, fingerprints) of generated four-minute MP3s, one thread,
scaled to 1,000 files over 2 worker processes. Target: the fit adds <= 10 % to that.
"""
from __future__ import annotations

import tempfile
import time

import numpy as np

from benchmarks.common import row, synth_library

N_TRACKS = 1000
DIM = 200


def _fit_seconds(n_tracks: int, windows_per_track: int, repeat: int = 3) -> float:
    from livedj.encoders import encoder_id
    from livedj.library.vectors import FitSettings, adapted_items, load_windows, save_windows

    enc = encoder_id("musicnn")  # the real id: the shipped room nuisance is loaded and used, as at index time

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((n_tracks, DIM))
    cache = {f"/music/{i:05d}.mp3".encode(): (centres[i] + 0.7 * rng.standard_normal((windows_per_track, DIM)))
             .astype(np.float32) for i in range(n_tracks)}
    cache = {k: v / np.linalg.norm(v, axis=1, keepdims=True) for k, v in cache.items()}
    paths = {i + 1: k for i, k in enumerate(cache)}
    base = [(i, cache[p].mean(axis=0)) for i, p in paths.items()]
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="livedj-bench-fit-") as d:
            began = time.perf_counter()
            save_windows(d, cache, enc, 15.0)
            windows = load_windows(d, enc, 15.0)
            items, dim, entry = adapted_items(d, base, paths, windows, encoder=enc, beginning_s=15.0,
                                              window_s=5.0, fit=FitSettings(), manifest=None, changed=n_tracks)
            best = min(best, time.perf_counter() - began)
            assert entry["projection"]["kind"] == "lda" and len(items) == n_tracks
            assert "room" in entry["projection"]["settings"]
    return best


def run(quick: bool = False) -> list[dict]:
    from livedj.encoders import get_encoder
    from livedj.library.indexer import Settings
    from livedj.library.track_analysis import analyze_file

    settings = Settings(encoder="musicnn", threads=1)
    paths = synth_library(1 if quick else 3, 40.0 if quick else 240.0, "mp3")
    encoder = get_encoder("musicnn", threads=1)
    segment_encoder = get_encoder(settings.segment_encoder, threads=1)
    analyze_file(str(paths[0]), settings, encoder, segment_encoder)  # warm-up
    per_file = []
    for p in paths:
        began = time.perf_counter()
        analyze_file(str(p), settings, encoder, segment_encoder)
        per_file.append(time.perf_counter() - began)
    index_s = float(np.median(per_file)) * N_TRACKS / 2  # two worker processes
    windows = max(1, int(settings.beginning_s // 5))
    fit_s = _fit_seconds(200 if quick else N_TRACKS, windows)
    if quick:
        fit_s *= N_TRACKS / 200
    return [
        row("fit.seconds_per_1000", f"fit at index time, {N_TRACKS} tracks x {windows} windows x {DIM}-d (cache write "
                                    f"+ read, LDA with the room nuisance, projection); baseline: indexing {N_TRACKS} files on 2 cores",
            fit_s, "s", baseline=index_s),
        row("fit.share_of_indexing", "fit seconds over indexing seconds for 1,000 tracks", fit_s / index_s, "ratio",
            target=0.10),
    ]
