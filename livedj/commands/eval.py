"""`livedj eval DIR`: how often are a track's nearest neighbours from the same folder?

Each file's first-level sub-folder under DIR is its label (album, artist, crate). For every
encoder asked for, the song-beginning vectors are computed exactly as `livedj index` does, and
precision@k is the mean, over all tracks, of the share of its k nearest other tracks (cosine,
exact search) that carry the same label. The random baseline is its expectation when
neighbours are drawn at random: the mean of (n_label - 1) / (n - 1). Files are decoded once.
"""
from __future__ import annotations

import os
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING

from livedj.commands.labelled import labelled_files, left_out, one_label, random_precision, report, split_files

if TYPE_CHECKING:  # numpy loads when measuring, not for `livedj --help`
    import numpy as np


def precision_at_k(vectors: np.ndarray, labels: list[str], k: int = 10) -> float:
    """Mean share of same-label tracks among each track's ``k`` nearest others (cosine)."""
    import numpy as np

    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    k = min(k, len(labels) - 1)
    nearest = np.argsort(-sims, axis=1)[:, :k]
    labels_arr = np.asarray(labels)
    return float(np.mean(labels_arr[nearest] == labels_arr[:, None]))


def evaluate(root: str, encoders: list[str], *, k: int = 10, beginning_s: float = 15.0, progress=None,
             head: str | None = None) -> dict:
    """Precision@k of each encoder's beginning vectors by the folder labels under ``root``
    (``head``: the booth head file for ``musicnn-booth``)."""
    import numpy as np

    from livedj.audio.decode import DecodeError
    from livedj.encoders import get_encoder
    from livedj.library.track_analysis import MIN_AUDIO_S, beginning_vector, load_beginning

    files = labelled_files(root)
    models = {name: get_encoder(name, threads=2, head=head) for name in encoders}
    vectors: dict[str, list] = {name: [] for name in encoders}
    seconds = {name: 0.0 for name in encoders}
    labels, skipped = [], []
    for i, (path, label) in enumerate(files, 1):
        try:
            audio, _ = load_beginning(path, beginning_s)
        except DecodeError as exc:
            skipped.append((path, exc.reason))
            continue
        if len(audio) < MIN_AUDIO_S * 16000:
            skipped.append((path, "too short"))
            continue
        labels.append(label)
        for name, model in models.items():
            began = time.perf_counter()
            vectors[name].append(beginning_vector(audio, model))
            seconds[name] += time.perf_counter() - began
        if progress:
            progress(i, len(files))
    result = {"dir": root, "tracks": len(labels), "labels": dict(Counter(labels)), "k": k,
              "skipped": skipped, "precision": {}, "ms_per_track": {}}
    for name in encoders:
        if len(labels) > 1:
            result["precision"][name] = precision_at_k(np.stack(vectors[name]), labels, k)
            result["ms_per_track"][name] = 1000 * seconds[name] / len(labels)
    result["precision"]["random"] = random_precision(labels)
    return result


HELP = "measure suggestion quality on a labelled folder"
DESCRIPTION = (
    "Each file's sub-folder is its label (album, artist, crate). Reports precision@10 of same-label "
    "neighbours among song-beginning vectors, per encoder, beside a random baseline.")
TAKES_INDEX = False  #: no --index option: the command does not read the index


def encoder_names(text: str) -> str:
    """``--encoders``: comma-separated names, each a known encoder (checked before any file is decoded)."""
    import argparse

    from livedj.encoders import ENCODERS

    names = [e.strip() for e in text.split(",") if e.strip()]
    unknown = [n for n in names if n not in ENCODERS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"{'unknown encoder ' + repr(unknown[0]) if unknown else 'no encoder'}; "
                                         f"choose from {', '.join(ENCODERS)}")
    return text


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("dir", metavar="DIR")
    parser.add_argument("--encoders", type=encoder_names, default="musicnn,features",
                        help="comma-separated (default: musicnn,features)")
    parser.add_argument("--k", type=argtypes.count(1, 1000), default=10, help="neighbours per query (default 10)")
    parser.add_argument("--room", action="store_true", help="booth robustness: identification and label precision "
                                                           "of simulated booth queries, per encoder")
    parser.add_argument("--booth", choices=("random", "standard"), default="random",
                        help="--room: booth settings drawn from the training ranges (default) or the standard "
                             "booth (RT60 0.5 s, direct path +5 dB, pink noise 10 dB SNR, 100-8000 Hz)")
    parser.add_argument("--protocol", choices=("transductive", "split", "both"), default=None,
                        help="the library fit (no labels) beside the unadapted encoder: fitted on the whole folder "
                             "(transductive), on half the tracks and measured on the other half (split), or both; "
                             "with beginnings, clean and standard-booth 5-s queries at 40 %% of each track")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def main(args, config) -> int:
    if not os.path.isdir(args.dir):  # said before any model loads: "need 2 files in sub-folders" hid the typo
        why = "not a folder" if os.path.exists(args.dir) else "no such folder"
        print(f"livedj eval: {args.dir}: {why} (give a folder with one sub-folder per label, e.g. your crates)",
              file=sys.stderr)
        return 1
    files, loose = split_files(args.dir)
    if loose:  # they were dropped without a word
        print(left_out(args.dir, loose), file=sys.stderr)
    labels = {label for _, label in files}
    if len(labels) == 1:  # said before any file is decoded
        print(one_label(args.dir, labels.pop()), file=sys.stderr)
        return 1
    if getattr(args, "room", False):
        from livedj.commands import eval_room

        return eval_room.main(args, config)
    if getattr(args, "protocol", None):
        from livedj.commands import eval_fit

        encoder = [e.strip() for e in args.encoders.split(",") if e.strip()][0]
        return report(args, "library fit", lambda progress: eval_fit.evaluate_fit(
            args.dir, encoder, beginning_s=config["index"]["beginning_s"], protocol=args.protocol,
            dims=config["index"]["fit_dims"], room_weight=config["index"].get("fit_room", 0.25), k=args.k,
            progress=progress), eval_fit.print_fit_table)
    from livedj.encoders.adapted import resolve_head

    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    return report(args, "embedding", lambda progress: evaluate(
        args.dir, encoders, k=args.k, beginning_s=config["index"]["beginning_s"], progress=progress,
        head=str(resolve_head(config))),
        lambda result: print_precision_table(result, args.k))


def print_precision_table(result: dict, k: int) -> None:
    """Precision@k per encoder beside the random baseline, and the embedding cost (rich)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"precision@{k} of same-label neighbours, {result['tracks']} tracks, "
                        f"{len(result['labels'])} labels")
    table.add_column("embedding")
    table.add_column(f"P@{k}", justify="right")
    table.add_column("ms / track", justify="right")
    for name, p in result["precision"].items():
        ms = result["ms_per_track"].get(name)
        table.add_row(name, f"{p:.3f}", f"{ms:.0f}" if ms is not None else "")
    Console().print(table)
    # these are the encoders' own vectors: `livedj index` also fits them to the library (index.fit)
    Console().print("unadapted vectors; what `livedj index` gives (the library fit, clean and booth "
                    "queries): livedj eval DIR --protocol both", markup=False)
