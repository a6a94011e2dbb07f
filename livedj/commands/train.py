"""`livedj train`: adapt the embedding to the booth microphone on the DJ's own library.

1. Features: 5-s chunks of every track, clean and through ``views`` random simulated booths, go
   through the frozen musicnn once and are cached in ``<out>.cache.npz`` (resumable). The time
   budget (``--hours``) sets how many chunks per track are taken, and caching stops when 85% of it
   is spent (tracks are visited in a fixed shuffled order, so a cut-short run is still a fair sample).
2. Head: NT-Xent on the cached features (:mod:`livedj.adapt.train`), a progress bar and the held-out
   identification figure per epoch, a checkpoint ``<out>.ckpt.pt`` after each (``--resume``).
3. The head is written to ``--out`` (default ``<index dir>/head.safetensors``) with its metadata.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path


CHUNK_RANGE = (4, 24)  #: chunks per track, fewest and most
MAX_STEPS = 6000  #: training steps in all (epochs shrink for big libraries; the cache dominates anyway)


def library_files(paths: list[str]) -> list[tuple[str, str]]:
    """(path, label) of the audio under ``paths``; the label is the first sub-folder (only recorded)."""
    from livedj.library.scan import scan

    out = []
    for found in scan(paths):
        root = next((p for p in paths if os.path.abspath(found.path).startswith(os.path.abspath(p))), "")
        rel = os.path.relpath(found.path, root) if root else os.path.basename(found.path)
        out.append((found.path, rel.split(os.sep)[0] if os.sep in rel else ""))
    return out


def seconds_per_chunk(model, views: int) -> float:
    """Measured cost of one chunk (clean + ``views`` booth versions through musicnn), s."""
    import numpy as np

    from livedj.adapt.data import SR, booth_params, booth_window, pool_features

    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(SR * 7) * 0.1).astype(np.float32)
    pool_features(model, [audio[:5 * SR]])  # warm-up
    began = time.perf_counter()
    windows = [audio[:5 * SR]] + [booth_window(audio, SR, booth_params(rng)) for _ in range(views)]
    pool_features(model, windows)
    return time.perf_counter() - began


HELP = "adapt the embedding to the booth microphone"
DESCRIPTION = (
    "Train the booth head (encoder musicnn-booth) on your library: cached musicnn features of clean and "
    "simulated-booth chunks, NT-Xent; written to <index dir>/head.safetensors. Re-index afterwards.")


def add_arguments(parser) -> None:
    parser.add_argument("--library", metavar="DIR", help="folder to train on (default: library.paths)")
    parser.add_argument("--hours", type=float, default=2.0, metavar="H",
                        help="time budget; chunks per track are chosen to fit (default 2)")
    parser.add_argument("--out", metavar="FILE", help="head file (default: <index dir>/head.safetensors)")
    parser.add_argument("--resume", action="store_true", help="continue from the cache and checkpoint beside --out")


def main(args, config) -> int:
    import numpy as np
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from livedj.adapt.data import FeatureCache, build_cache
    from livedj.adapt.head import save_head
    from livedj.adapt.train import TrainConfig, prepare, train_head
    from livedj.encoders.musicnn import load_musicnn

    console = Console(stderr=True)
    paths = [args.library] if args.library else list(config["library"]["paths"])
    if not paths:
        print("livedj train: no library: give --library DIR or set library.paths", file=sys.stderr)
        return 2
    out = Path(args.out or Path(config["index"]["path"]) / "head.safetensors").expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    cache_path, ckpt = f"{out}.cache.npz", f"{out}.ckpt.pt"
    files = library_files(paths)
    if len(files) < 4:
        print(f"livedj train: {len(files)} audio files under {', '.join(paths)}; need at least 4", file=sys.stderr)
        return 1
    order = np.random.default_rng(0).permutation(len(files))
    files = [files[i] for i in order]
    torch.set_num_threads(int(config["analysis"]["threads"]))
    model, _ = load_musicnn()
    views = 2
    began, budget = time.monotonic(), float(args.hours) * 3600.0
    per_chunk = seconds_per_chunk(model, views) * 1.15  # decoding and chunking on top
    chunks = int(np.clip(0.85 * budget / (len(files) * per_chunk), *CHUNK_RANGE))
    if args.resume and os.path.isfile(cache_path):  # keep the interrupted run's settings, or the cache is void
        chunks = int(FeatureCache.load(cache_path).meta.get("settings", {}).get("max_chunks", chunks))
    console.print(f"{len(files)} tracks, {chunks} chunks each, {views} booth views: about "
                  f"{len(files) * chunks * per_chunk / 60:.0f} min of features (cache {cache_path})")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[note]}"))
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("features", total=len(files), note="")
        cache = build_cache(files, cache_path, model, views=views, max_chunks=chunks, resume=args.resume,
                            progress=lambda i, n, name: bar.update(task, completed=i,
                                                                   note=os.path.basename(name)[:30]),
                            stop=lambda: time.monotonic() - began > 0.85 * budget)
    if len(cache.paths) < 4:
        print(f"livedj train: only {len(cache.paths)} usable tracks; need at least 4", file=sys.stderr)
        return 1
    n_chunks = len(cache.clean)
    steps = int(np.ceil(n_chunks * 0.9 / min(64, len(cache.paths))))
    train_config = TrainConfig(epochs=int(np.clip(MAX_STEPS // steps, 5, 40)))
    feats = prepare(cache, train_config.base, model)
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("training", total=None, note="")

        def progress(step: int, total: int, figures: dict) -> None:
            bar.update(task, completed=step, total=total)
            if figures:
                note = f"epoch {figures['epoch']}: loss {figures['loss']:.3f}"
                if "val_track_top1" in figures:
                    note += (f", held-out booth->clean top-1 {figures['val_track_top1']:.3f} "
                             f"(base {figures['base_track_top1']:.3f})")
                bar.update(task, note=note)
                console.print(note)

        head, history = train_head(feats, train_config, checkpoint=ckpt, resume=args.resume, progress=progress)
    from dataclasses import asdict

    info = {"trained_on": {"library": [os.path.abspath(p) for p in paths], "tracks": len(cache.paths),
                           "chunks": n_chunks, "booth_views": views, "chunks_per_track": chunks,
                           "labels": dict(sorted(zip(*np.unique(cache.labels, return_counts=True))))},
            "config": asdict(train_config), "final": history[-1] if history else {},
            "seconds": round(time.monotonic() - began, 1)}
    info["trained_on"]["labels"] = {str(k): int(v) for k, v in info["trained_on"]["labels"].items()}
    digest = save_head(head, out, info)
    console.print(f"head {digest} written to {out} ({time.monotonic() - began:.0f} s); "
                  f"use it with analysis.encoder = \"musicnn-booth\" (LIVEDJ_BOOTH_HEAD={out})")
    return 0
