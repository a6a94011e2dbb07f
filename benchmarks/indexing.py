"""Indexing throughput: files/s of ``index_library(jobs=2)`` on generated four-minute MP3s vs a naive pipeline.

livedj's index is built from scratch (fresh index directory) over ``N`` tracks: tags, the
song-beginning vector, BPM/key, and the segment vectors when the indexer makes them (``Settings
.segment_hop_s``). It is measured twice when segments exist: with them (the default) and without
(``segment_hop_s=0``), which shows what the segments cost.

The naive pipeline, on the first ``NAIVE_FILES`` of the same files in the same run, one file after
the other in this process (torch on 2 threads): ``librosa.load`` of the whole file at its native
rate, resampling to 16 kHz, the same musicnn model over the first 30 s, ``librosa.beat.beat_track``
and ``librosa.feature.chroma_cqt`` over the whole file.

Targets: >= 2 files/s, and >= 20x the naive pipeline's files/s.
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time

import numpy as np

from benchmarks.common import THREADS, pct, row, synth_library

TRACK_S = 240.0
N_FILES = 40  # enough that the workers' ~2 s start-up (torch import, model load) is not the figure
NAIVE_FILES = 3


def naive_analyze(path, encoder) -> dict:
    """The straightforward way: load everything with librosa, then analyse the whole file."""
    import librosa

    y, sr = librosa.load(path, sr=None, mono=True)
    y16 = librosa.resample(y, orig_sr=sr, target_sr=16000)
    vector = encoder.analyze(y16[:30 * 16000]).vector
    tempo, _ = librosa.beat.beat_track(y=y, sr=sr)
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr).mean(axis=1)
    return {"vector": vector, "bpm": float(np.atleast_1d(tempo)[0]), "key": int(np.argmax(chroma))}


def _index_once(folder, settings, jobs: int) -> tuple[float, object, float | None]:
    """(seconds, report, steady files/s): steady is between the first and the last finished file,
    i.e. without the workers' start-up (torch import, model load), which a 10,000-file run amortises."""
    from livedj.library.indexer import index_library

    index_dir = tempfile.mkdtemp(prefix="livedj-bench-index-")
    done: list[float] = []

    def progress(event, i, n, path):
        if event == "file":
            done.append(time.perf_counter())

    try:
        began = time.perf_counter()
        report = index_library([str(folder)], index_dir, settings, jobs=jobs, progress=progress)
        steady = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 2 and done[-1] > done[0] else None
        return time.perf_counter() - began, report, steady
    finally:
        shutil.rmtree(index_dir, ignore_errors=True)


def run(quick: bool = False) -> list[dict]:
    """Files/s of the full index vs the naive pipeline; rows as in benchmarks.common.row."""
    import torch

    from livedj.encoders import get_encoder
    from livedj.library.indexer import Settings

    n, duration = (2, 20.0) if quick else (N_FILES, TRACK_S)
    paths = synth_library(n, duration, "mp3")
    folder = paths[0].parent
    rows = []
    fields = {f.name for f in dataclasses.fields(Settings)}
    variants = [("full", Settings(encoder="musicnn"))]
    if "segment_hop_s" in fields:
        variants.append(("no_segments", Settings(encoder="musicnn", segment_hop_s=0.0)))
    results = {}
    for name, settings in variants:
        seconds, report, steady = _index_once(folder, settings, jobs=2)
        if report.indexed != n:
            raise RuntimeError(f"indexing benchmark: indexed {report.indexed} of {n}: {report.skipped[:3]}")
        results[name] = (seconds, n / seconds, steady)

    previous = torch.get_num_threads()
    encoder = get_encoder("musicnn", threads=THREADS)
    try:
        naive_paths = paths[:1 if quick else NAIVE_FILES]
        naive_s = []
        for p in naive_paths:
            began = time.perf_counter()
            naive_analyze(str(p), encoder)
            naive_s.append(time.perf_counter() - began)
    finally:
        torch.set_num_threads(previous)
    naive_rate = 1.0 / float(np.mean(naive_s))

    what = f"{n} x {duration:.0f}-s MP3s, index_library(jobs=2) from scratch"
    seconds, rate, steady = results["full"]
    segs = " incl. segment vectors" if "no_segments" in results else ""
    rows.append(row("indexing.files_per_s", f"files/s, {what}{segs}; baseline naive librosa pipeline "
                                             f"({len(naive_paths)} of the files)", rate, "files/s",
                    baseline=naive_rate, target=2.0, higher_is_better=True))
    rows.append(row("indexing.speedup_vs_naive", "livedj files/s over naive files/s", rate / naive_rate, "x",
                    target=20.0, higher_is_better=True))
    if steady is not None:
        rows.append(row("indexing.files_per_s.steady", "files/s once the workers run (first to last file done): "
                                                       "what a 10,000-file library sees", steady, "files/s",
                        baseline=naive_rate, target=2.0, higher_is_better=True))
        rows.append(row("indexing.steady_speedup_vs_naive", "steady files/s over naive files/s", steady / naive_rate,
                        "x", target=20.0, higher_is_better=True))
        rows.append(row("indexing.minutes_10k", "minutes for a 10,000-file library at the steady rate",
                        10_000 / steady / 60, "min", target=90.0))
    if "no_segments" in results:
        _, rate0, _ = results["no_segments"]
        rows.append(row("indexing.files_per_s.no_segments", f"files/s, {what}, segment_hop_s=0 (beginning, BPM, "
                                                            f"key only); baseline naive", rate0, "files/s",
                        baseline=naive_rate, target=2.0, higher_is_better=True))
        rows.append(row("indexing.segments_share", "share of indexing time spent on segment vectors",
                        100 * (1 - rate / rate0), "%"))
    rows.append(row("indexing.naive_s_per_file", f"naive pipeline, s per {duration:.0f}-s file (p50)",
                    pct(naive_s, 0.5), "s"))
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import print_rows

    print_rows(run(quick="--quick" in sys.argv[1:]))
