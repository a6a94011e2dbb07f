"""`livedj train`: the stronger, optional fit of the index's vectors to the library (default), or
the booth head (``--booth-head``).

Default (library/contrastive.py): reads the index's window cache (nothing is decoded), fits the
index-time projection (centring + LDA over tracks, with the shipped room nuisance) and refines it
with a contrastive head (SupCon: windows of one track and room views of one window are
positives, other tracks negatives); then re-projects the index with it. The manifest records the
new projection's hash, so live queries projected otherwise are refused. Measured (docs/fit.md):
it did not beat the index-time fit on the dev corpora, which is why that fit stays the default.

``--booth-head`` (the booth head, encoder musicnn-booth):

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


HELP = "train a contrastive head on the indexed library (or, --booth-head, the booth head)"
DESCRIPTION = (
    "Refine the index's library fit with a contrastive head trained on its cached windows (no decoding) and "
    "re-project the index with it. --booth-head: train the booth head (encoder musicnn-booth) instead: cached "
    "musicnn features of clean and simulated-booth chunks, NT-Xent; written to <index dir>/head.safetensors.")


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("--booth-head", action="store_true",
                        help="train the booth head (musicnn-booth) instead of the library's contrastive head")
    parser.add_argument("--steps", type=argtypes.count(1, 100_000), default=300, metavar="N",
                        help="training steps of the contrastive head (default 300)")
    parser.add_argument("--library", metavar="DIR", help="--booth-head: folder to train on (default: library.paths)")
    parser.add_argument("--hours", type=argtypes.positive, default=2.0, metavar="H",
                        help="time budget; chunks per track are chosen to fit (default 2)")
    parser.add_argument("--out", metavar="FILE", help="head file (default: <index dir>/head.safetensors)")
    parser.add_argument("--resume", action="store_true", help="continue from the cache and checkpoint beside --out")


def main(args, config) -> int:
    if getattr(args, "booth_head", False):
        return booth_head_main(args, config)
    return library_head_main(args, config)


def library_head_main(args, config) -> int:
    """Train the contrastive head on the index's cached windows and re-project the index with it."""
    import numpy as np
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from livedj.commands.index import settings_from
    from livedj.encoders import encoder_id
    from livedj.library import fit as fitting
    from livedj.library import vectors
    from livedj.library.contrastive import HeadConfig, train_projection
    from livedj.library.errors import IndexUnusable
    from livedj.library.index import read_manifest
    from livedj.library.indexer import index_library

    console = Console(stderr=True)
    index_dir = config["index"]["path"]
    settings = settings_from(config)
    enc = encoder_id(settings.encoder, settings.head)
    try:
        manifest = read_manifest(index_dir)
    except (OSError, ValueError, IndexUnusable) as exc:
        print(f"livedj train: {exc}; run `livedj index` first", file=sys.stderr)
        return 1
    if settings.fit == "none":
        print("livedj train: index.fit = \"none\": the index has no fit to train; set index.fit = \"lda\"",
              file=sys.stderr)
        return 2
    if (manifest.get("vector") or {}).get("encoder") != enc:
        print(f"livedj train: {index_dir} holds vectors of {(manifest.get('vector') or {}).get('encoder')!r}, "
              f"analysis.encoder gives {enc!r}; run `livedj index` first", file=sys.stderr)
        return 1
    cache = vectors.load_windows(index_dir, enc, settings.beginning_s)
    cache = {k: w for k, w in cache.items() if len(w)}
    if len(cache) < fitting.MIN_TRACKS:
        print(f"livedj train: {len(cache)} tracks with cached windows in {index_dir}; need at least "
              f"{fitting.MIN_TRACKS} (run `livedj index` on a bigger library)", file=sys.stderr)
        return 1
    began = time.monotonic()
    x = np.concatenate(list(cache.values()))
    groups = np.concatenate([np.full(len(w), i) for i, w in enumerate(cache.values())])
    room = fitting.load_room_nuisance(enc) if settings.fit_room > 0 else None
    nuisance = None if room is None else room[0]
    start = fitting.fit_lda(x, groups, dims=settings.fit_dims, shrinkage=settings.fit_shrinkage, base=enc,
                            nuisance=nuisance, nuisance_weight=settings.fit_room)
    torch.set_num_threads(int(config["analysis"]["threads"]))
    head_config = HeadConfig(steps=int(args.steps))
    console.print(f"{len(cache)} tracks, {len(x)} cached windows; contrastive head from the library fit "
                  f"({start.kind}, {start.dim} dims{', room nuisance' if room else ''})")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[note]}"))
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("training", total=head_config.steps, note="")
        projection = train_projection(x, groups, start, room=nuisance, config=head_config,
                                      progress=lambda i, n, loss: bar.update(task, completed=i,
                                                                             note=f"loss {loss:.3f}"))
    trained_s = time.monotonic() - began
    report = index_library([], index_dir, settings, n_trees=config["index"]["n_trees"], trained=projection)
    console.print(f"projection {projection.id} (contrastive, from {start.id}) trained in {trained_s:.1f} s; "
                  f"index re-projected: {report.index_items} tracks, nothing decoded "
                  f"({time.monotonic() - began:.1f} s in all). `livedj index` keeps it until the library "
                  f"changes by {vectors.REFIT_SHARE:.0%}, then fits anew.")
    return 0


def booth_head_main(args, config) -> int:
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
