"""`livedj train`: the stronger, optional fit of the index's vectors to the library (default), or
the booth head (``--booth-head``).

Default (library/contrastive.py): the index-time fit (centring + LDA over tracks, with the shipped
room nuisance) made stronger with what is too costly at index time -- ``--whole`` windows from
all over each track (decoded once and cached in the index: ``train-windows.npz``), and booth
views of them whose room nuisance joins the shipped one -- then refined by a contrastive head
(SupCon: windows of one track and room views of one window are positives, other tracks
negatives), and the index re-projected with it (no re-analysis). The manifest records the new
projection's hash, so live queries projected otherwise are refused. Measured (docs/fit.md): the
whole-track windows carry the gain; the head alone does not beat the LDA it starts from.

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

from livedj.words import plural


WHOLE_WINDOWS = 10  #: windows from all over each track that `livedj train` adds (docs/fit.md)
WHOLE_FILE, WHOLE_BOOTH_FILE = "train-windows.npz", "train-booth.npz"  #: their cache in the index directory
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
    "Make the index's library fit stronger: windows from all over each track and their simulated-booth views "
    "(decoded once, cached in the index), then a contrastive head; re-project the index with it (nothing "
    "re-analysed). --booth-head: train the booth head (encoder musicnn-booth) instead: cached "
    "musicnn features of clean and simulated-booth chunks, NT-Xent; written to <index dir>/head.safetensors.")


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("--booth-head", action="store_true",
                        help="train the booth head (musicnn-booth) instead of the library's contrastive head")
    parser.add_argument("--steps", type=argtypes.count(1, 100_000), default=300, metavar="N",
                        help="training steps of the contrastive head (default 300)")
    parser.add_argument("--whole", type=argtypes.count(0, 100), default=WHOLE_WINDOWS, metavar="N",
                        help=f"windows from all over each track (decoded once, cached in the index) added to the "
                             f"fit, with booth views of every other one; 0: the cached beginnings only, nothing "
                             f"decoded (default {WHOLE_WINDOWS})")
    parser.add_argument("--library", metavar="DIR", help="--booth-head: folder to train on (default: library.paths)")
    parser.add_argument("--hours", type=argtypes.positive, metavar="H",
                        help="--booth-head: time budget; chunks per track are chosen to fit (default 2)")
    # a .safetensors name: --out set.flac (a slip) was overwritten with the head after hours of work
    parser.add_argument("--out", metavar="FILE", type=argtypes.output_file(".safetensors"),
                        help="--booth-head: head file, .safetensors (default: <index dir>/head.safetensors)")
    parser.add_argument("--resume", action="store_true",
                        help="--booth-head: continue from the cache and checkpoint beside --out")


#: the options only the booth head reads (the library's head is written into the index, where `livedj run` reads it)
BOOTH_ONLY = ("out", "library", "hours", "resume")


def booth_only_given(args) -> str | None:
    """The first booth-head option given without --booth-head (``--out`` ...), else None: it was ignored
    without a word (`livedj train --out mine.safetensors` trained the library's head into the index)."""
    return next((f"--{name}" for name in BOOTH_ONLY if getattr(args, name, None) not in (None, False)), None)


def main(args, config) -> int:
    if getattr(args, "booth_head", False):
        return booth_head_main(args, config)
    given = booth_only_given(args)
    if given:
        print(f"livedj train: {given} is for --booth-head (the library's head is written into the index); give "
              f"--booth-head, or leave {given} out", file=sys.stderr)
        return 2
    return library_head_main(args, config)


def whole_track_windows(path: str, encoder, n: int, *, max_s: float = 1200.0):
    """Base vectors of ``n`` 5-s windows spread over the track after its first sound, and of one
    random simulated booth view (livedj.adapt.data) of every other one; None if it cannot be read."""
    import zlib

    import numpy as np

    from livedj.adapt.data import booth_params, booth_window
    from livedj.audio.decode import DecodeError, decode
    from livedj.dsp import WINDOW_S
    from livedj.dsp.level import first_sound

    sr = encoder.sample_rate
    size = int(WINDOW_S * sr)
    try:
        audio = decode(path, sr, 0.0, max_s)
    except DecodeError:
        return None
    start = int(first_sound(audio[:60 * sr], sr) * sr)
    span = len(audio) - start - size - sr // 2
    if span <= 0:
        return None
    at = [start + int(f * span) for f in (np.arange(n) + 0.5) / n]
    rng = np.random.default_rng(zlib.crc32(path.encode("utf-8", "surrogateescape")))
    views = [audio[p:p + size] for p in at] + [booth_window(audio, p, booth_params(rng), sr) for p in at[::2]]
    vectors = np.stack([e.vector for e in encoder.analyze_many(views)]) if hasattr(encoder, "analyze_many") \
        else np.stack([encoder.analyze(v).vector for v in views])
    return vectors[:n].astype(np.float32), vectors[n:].astype(np.float32)


def _whole_cache(index_dir: str, keys: list[bytes], settings, n: int, threads: int, console, columns):
    """``{path: whole-track windows}``, ``{path: booth views}``: cached ones read, the rest decoded (progress)."""
    import os

    import numpy as np

    from livedj.encoders import encoder_id, get_encoder
    from livedj.library import vectors
    from livedj.progress import Progress

    enc = encoder_id(settings.encoder, settings.head)
    # the cache's "beginning_s" slot holds n: a cache made with another --whole is not reused
    whole = vectors.load_windows(index_dir, enc, float(n), WHOLE_FILE)
    booth = vectors.load_windows(index_dir, enc, float(n), WHOLE_BOOTH_FILE)
    todo = [k for k in keys if k not in whole or k not in booth]
    if todo:
        encoder = get_encoder(settings.encoder, threads=threads, head=settings.head)
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("whole tracks", total=len(todo), note="")
            for i, key in enumerate(todo, 1):
                got = whole_track_windows(os.fsdecode(key), encoder, n, max_s=settings.max_track_s)
                if got is not None:  # at the cache's precision, so a later run that reads it fits the same
                    whole[key], booth[key] = (v.astype(np.float16).astype(np.float32) for v in got)
                bar.update(task, completed=i, note=os.path.basename(os.fsdecode(key))[:30])
                if i % 50 == 0 or i == len(todo):  # an interrupted run keeps what it decoded
                    vectors.save_windows(index_dir, whole, enc, float(n), WHOLE_FILE)
                    vectors.save_windows(index_dir, booth, enc, float(n), WHOLE_BOOTH_FILE)
    keep = set(keys)
    return {k: v for k, v in whole.items() if k in keep}, {k: v for k, v in booth.items() if k in keep}


def recording_owners(index_dir: str, keys: list[bytes]) -> list[int]:
    """The fit's class of each cache key (an encoded path): copies of one recording (``Track.recording``,
    found by `livedj index`) share one, a record held once has its own. An unreadable store: every key
    its own class (as before copies were known)."""
    from livedj.library.copies import recording_labels, recordings_by_path
    from livedj.library.store import Store

    try:
        store = Store(index_dir, readonly=True)
        try:
            by_path = recordings_by_path(store.tracks())
        finally:
            store.close()
    except Exception:  # noqa: BLE001 -- the windows are usable without it; copies are then apart
        by_path = {}
    return recording_labels(keys, by_path)


def library_head_main(args, config) -> int:
    """Train the contrastive head on the index's cached windows and re-project the index with it."""
    import numpy as np
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from livedj.commands.index import settings_from
    from livedj.encoders import encoder_id
    from livedj.library import fit as fitting
    from livedj.library import vectors
    from livedj.library.contrastive import HeadConfig, train_projection
    from livedj.library.errors import IndexUnusable
    from livedj.library.index import read_manifest
    from livedj.library.indexer import index_library
    from livedj.progress import Progress

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
        print(f"livedj train: {plural(len(cache), 'track')} with cached windows in {index_dir}; need at least "
              f"{fitting.MIN_TRACKS} (run `livedj index` on a bigger library)", file=sys.stderr)
        return 1
    began = time.monotonic()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[note]}"))
    keys = sorted(cache)
    labels = recording_owners(index_dir, keys)  # copies of one recording: one class, never pushed apart
    parts, owners = [cache[k] for k in keys], list(labels)
    room = fitting.load_room_nuisance(enc) if settings.fit_room > 0 else None
    nuisance = None if room is None else room[0]
    n_whole = int(getattr(args, "whole", WHOLE_WINDOWS))
    if n_whole:
        whole, booth = _whole_cache(index_dir, keys, settings, n_whole, int(config["analysis"]["threads"]),
                                    console, columns)
        have = [i for i, k in enumerate(keys) if k in whole]
        parts += [whole[keys[i]] for i in have]
        owners += [labels[i] for i in have]
        if have and settings.fit_room > 0:  # this library's own booth views, beside the shipped estimate
            own = fitting.room_nuisance(np.concatenate([whole[keys[i]][::2][:len(booth[keys[i]])] for i in have]),
                                        np.concatenate([booth[keys[i]][:len(whole[keys[i]][::2])] for i in have]))
            nuisance = own if nuisance is None else 0.5 * (nuisance + own)
    x = np.concatenate(parts)
    groups = np.concatenate([np.full(len(w), i) for w, i in zip(parts, owners)])
    start = fitting.fit_lda(x, groups, dims=settings.fit_dims, shrinkage=settings.fit_shrinkage, base=enc,
                            nuisance=nuisance, nuisance_weight=settings.fit_room)
    torch.set_num_threads(int(config["analysis"]["threads"]))
    head_config = HeadConfig(steps=int(args.steps))
    console.print(f"{plural(len(cache), 'track')}, {plural(len(x), 'window')} ({n_whole} from all over each track); contrastive head "
                  f"from the library fit ({start.kind}, {start.dim} dims{', room nuisance' if nuisance is not None else ''})")
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("training", total=head_config.steps, note="")
        projection = train_projection(x, groups, start, room=nuisance, config=head_config,
                                      progress=lambda i, n, loss: bar.update(task, completed=i,
                                                                             note=f"loss {loss:.3f}"))
    trained_s = time.monotonic() - began
    report = index_library([], index_dir, settings, n_trees=config["index"]["n_trees"], trained=projection)
    console.print(f"projection {projection.id} (contrastive, from {start.id}) trained in {trained_s:.1f} s; "
                  f"index re-projected: {plural(report.index_items, 'track')}, nothing decoded "
                  f"({time.monotonic() - began:.1f} s in all). `livedj index` keeps it until the library "
                  f"changes by {vectors.REFIT_SHARE:.0%}, then fits anew.")
    return 0


def booth_head_main(args, config) -> int:
    import numpy as np
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from livedj.adapt.data import FeatureCache, build_cache
    from livedj.adapt.head import save_head
    from livedj.adapt.train import TrainConfig, prepare, train_head
    from livedj.encoders.musicnn import load_musicnn
    from livedj.progress import Progress

    console = Console(stderr=True)
    paths = [args.library] if args.library else list(config["library"]["paths"])
    if not paths:
        print("livedj train: no library: give --library DIR or set library.paths", file=sys.stderr)
        return 2
    out = Path(args.out or Path(config["index"]["path"]) / "head.safetensors").expanduser()
    if out.is_dir():  # found otherwise only when the head is written, after hours of work
        print(f"livedj train: --out {out}: is a folder; give a file name", file=sys.stderr)
        return 2
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
    began, budget = time.monotonic(), float(2.0 if args.hours is None else args.hours) * 3600.0
    per_chunk = seconds_per_chunk(model, views) * 1.15  # decoding and chunking on top
    chunks = int(np.clip(0.85 * budget / (len(files) * per_chunk), *CHUNK_RANGE))
    if args.resume and os.path.isfile(cache_path):  # keep the interrupted run's settings, or the cache is void
        chunks = int(FeatureCache.load(cache_path).meta.get("settings", {}).get("max_chunks", chunks))
    console.print(f"{plural(len(files), 'track')}, {chunks} chunks each, {views} booth views: about "
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
