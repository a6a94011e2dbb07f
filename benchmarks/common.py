"""Helpers every benchmark shares: result rows, percentiles, the data cache, generated libraries, fake indexes.

All data is generated here (synthetic tracks encoded with real encoders, random unit vectors), so the
benchmarks run anywhere. Generated files are cached under ``$LIVEDJ_BENCH_DIR`` (default ``.bench/``
in the repository, git-ignored); delete the folder to regenerate.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterable

import numpy as np

THREADS = 2  #: torch threads of the live analysis, as config.toml sets them
REPO = Path(__file__).resolve().parents[1]


def cache_dir(*parts: str) -> Path:
    """``$LIVEDJ_BENCH_DIR/<parts>`` (default ``<repo>/.bench``), created."""
    root = Path(os.environ.get("LIVEDJ_BENCH_DIR") or REPO / ".bench")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def script(module: str, description: str, body, argv=None, arguments=()) -> int:
    """A helper module run on its own (``python -m benchmarks.MODULE``): ``--help`` with its one-line
    ``description``, then ``body(args)``. ``arguments``: ``(name or flags, add_argument keywords)``.
    What it needs and lacks (the fluidsynth CLI, a soundfont, music21, a file) is one line, exit 1."""
    import argparse
    import sys

    prog = f"python -m benchmarks.{module}"
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for flags, kw in arguments:
        parser.add_argument(*([flags] if isinstance(flags, str) else flags), **kw)
    args = parser.parse_args(argv)
    try:
        code = body(args)
    except ImportError as exc:
        print(f"{prog}: {exc} (pip install -e '.[bench]')", file=sys.stderr)
        return 1
    except (RuntimeError, OSError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


def row(benchmark: str, figure: str, value: float, unit: str, *, baseline: float | None = None,
        target: float | None = None, higher_is_better: bool = False, note: str = "") -> dict:
    """One result row.

    Parameters
    ----------
    benchmark : str
        Dotted name, e.g. ``"live.embed.p50"``.
    figure : str
        What was measured, in words.
    value, baseline : float
        The measurement and the in-process baseline in the same unit; ``ratio = value / baseline``.
    target : float, optional
        The performance target; ``ok`` says whether ``value`` meets it (``<=`` unless
        ``higher_is_better``). None: no target, ``ok`` is None.
    """
    ratio = value / baseline if baseline not in (None, 0) and value is not None else None
    ok = None
    if target is not None and value is not None and not (isinstance(value, float) and math.isnan(value)):
        ok = bool(value >= target) if higher_is_better else bool(value <= target)
    return {"benchmark": benchmark, "figure": figure, "value": _round(value), "unit": unit,
            "baseline": _round(baseline), "ratio": _round(ratio), "target": target, "ok": ok,
            **({"note": note} if note else {})}


def _round(x):
    if x is None or isinstance(x, (int, str)):
        return x
    return float(f"{x:.4g}")


def pct(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation (NaN when empty)."""
    values = np.asarray(list(values), dtype=np.float64)
    return float(np.quantile(values, q)) if values.size else float("nan")


class Timer:
    """``with Timer() as t: ...`` then ``t.s`` (wall seconds, perf_counter)."""

    def __enter__(self):
        self.began = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.began


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """``n`` random unit vectors (float32, shape (n, dim)), like L2-normalised embeddings."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


# -- generated music ----------------------------------------------------------------------------
def track_specs(n: int):
    """``n`` distinct synthetic tracks: the demo tracks cycled with new seeds and nudged tempi."""
    from livedj.synth import DEMO_TRACKS

    out = []
    for i in range(n):
        base = DEMO_TRACKS[i % len(DEMO_TRACKS)]
        lap = i // len(DEMO_TRACKS)
        out.append(dataclasses.replace(base, title=f"{base.title} {lap + 1}", seed=base.seed + 100 * lap,
                                       bpm=round(base.bpm * (1 + 0.02 * lap), 2)))
    return out


def _render_one(args) -> str:
    spec, duration, path, sample_rate = args
    from livedj.synth import render_track, write_audio

    if not Path(path).exists():
        audio = render_track(spec, duration=duration, sample_rate=sample_rate)
        write_audio(path, audio, sample_rate, title=spec.title, artist=spec.artist)
    return path


def synth_library(n: int, duration: float, fmt: str = "mp3", *, name: str | None = None,
                  sample_rate: int = 44100, jobs: int = 2) -> list[Path]:
    """``n`` generated tracks of ``duration`` s encoded as ``fmt`` in the cache (rendered once, in ``jobs`` processes).

    Returns the paths, in order. The folder holds only these files, so it can be indexed as is.
    """
    folder = cache_dir("library", name or f"{fmt}-{n}x{int(duration)}s")
    specs = track_specs(n)
    todo = [(spec, duration, str(folder / f"{i:03d} {spec.artist} - {spec.title}.{fmt}"), sample_rate)
            for i, spec in enumerate(specs)]
    missing = [t for t in todo if not Path(t[2]).exists()]
    if len(missing) > 1 and jobs > 1:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(min(jobs, len(missing)), mp_context=get_context("spawn")) as pool:
            list(pool.map(_render_one, missing))
    else:
        for t in missing:
            _render_one(t)
    return [Path(t[2]) for t in todo]


# -- fake indexes -------------------------------------------------------------------------------
def fake_index(directory: Path, n_tracks: int, *, encoder: str = "musicnn", n_trees: int = 16,
               seed: int = 0) -> Path:
    """An index directory as ``livedj index`` writes it (real store + real Annoy), of random vectors.

    Store rows are written in one transaction (``Store.put`` commits per file, far too slow for 100k);
    ids, paths, tags, BPM and keys are plausible. Reused when the manifest already says ``n_tracks``.
    """
    from livedj.encoders import encoder_dim, encoder_id
    from livedj.library import index as annoy_index
    from livedj.library.store import Store

    directory = Path(directory)
    enc_id, dim = encoder_id(encoder), encoder_dim(encoder)
    try:
        manifest = annoy_index.read_manifest(directory)
        if manifest.get("items") == n_tracks and manifest.get("encoder") == enc_id:
            return directory
    except annoy_index.IndexUnusable:
        pass
    if directory.exists():
        for f in directory.iterdir():
            f.unlink()
    vectors = unit_vectors(n_tracks, dim, seed)
    rng = np.random.default_rng(seed + 1)
    bpms = rng.uniform(80, 175, n_tracks).round(1)
    keys = rng.integers(0, 24, n_tracks)
    store = Store(directory)
    try:
        now = time.time()
        store.db.executemany(
            """INSERT INTO tracks (id, path, size, mtime_ns, status, title, artist, album, duration, bpm, bpm_source,
                                   key, key_source, start_s, encoder, vector, indexed_at)
               VALUES (?,?,?,?,'ok',?,?,?,?,?,'tag',?,'tag',0.0,?,?,?)""",
            ((i + 1, os.fsencode(f"/music/Artist {i % 997}/Album {i % 89}/Track {i:06d}.mp3"), 8_000_000 + i,
              1_700_000_000_000_000_000 + i, f"Track {i:06d}", f"Artist {i % 997}", f"Album {i % 89}", 240.0,
              float(bpms[i]), int(keys[i]), enc_id, vectors[i].tobytes(), now) for i in range(n_tracks)))
        store.db.commit()
    except sqlite3.Error:
        store.close()
        raise
    store.close()
    annoy_index.build(directory, ((i + 1, vectors[i]) for i in range(n_tracks)), dim=dim, encoder=enc_id,
                      n_trees=n_trees)
    return directory


def index_of_other_params(path_prefix: Path):
    """A fingerprint index built with other fingerprint parameters (e.g. another index fanout), opened
    for a before/after measurement: :meth:`FingerprintIndex.load` refuses it (a live index must match the
    query's parameters), but the matcher reads only its hashes and times, whose layout does not change."""
    import json
    from unittest import mock

    from livedj.dsp import fingerprint as fp
    from livedj.library.fingerprints import FingerprintIndex

    stored = json.loads(Path(f"{path_prefix}.meta.json").read_text(encoding="utf-8"))["params"]
    with mock.patch.dict(fp.PARAMS, stored, clear=True):
        return FingerprintIndex.load(Path(path_prefix))
