"""A labelled folder (each file's first-level sub-folder is its label) and what `livedj eval` and
`livedj eval --room` share: the file list, the random baseline, and the report body."""
from __future__ import annotations

import json
import os
import sys
from collections import Counter


def labelled_files(root: str) -> list[tuple[str, str]]:
    return split_files(root)[0]


def split_files(root: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(path, label) of the audio files in a sub-folder of ``root``, and the audio files lying directly
    in ``root`` (no sub-folder, so no label: left out)."""
    from livedj.library.scan import scan

    out, loose = [], []
    for found in scan([root]):
        rel = os.path.relpath(found.path, root)
        parts = rel.split(os.sep)
        if len(parts) >= 2:
            out.append((found.path, parts[0]))
        else:
            loose.append(found.path)
    return out, loose


def left_out(root: str, loose: list[str]) -> str:
    """The line for audio files lying directly in ``root``: they have no label, so eval leaves them out."""
    n = len(loose)
    one = n == 1
    return (f"livedj eval: left out {n} audio file{'' if one else 's'} lying directly in {root}: a file's label "
            f"is its sub-folder, and {'it is' if one else 'they are'} in none (move {'it' if one else 'them'} "
            f"into one to count {'it' if one else 'them'})")


def one_label(root: str, label: str) -> str:
    """The line for a folder whose usable files all carry one label: every neighbour would share it
    (precision 1.000 for every encoder and for random neighbours alike: nothing measured)."""
    return (f"livedj eval: {root}: every file is in one sub-folder ({label!r}), so every neighbour shares its "
            f"label; give at least 2 sub-folders (the labels), e.g. your crates")


def random_precision(labels: list[str]) -> float:
    """Expected precision@k of random neighbours (independent of k)."""
    import numpy as np

    counts = Counter(labels)
    n = len(labels)
    return float(np.mean([(counts[label] - 1) / (n - 1) for label in labels])) if n > 1 else 0.0


def report(args, what: str, measure, print_table) -> int:
    """The body `livedj eval` and `livedj eval --room` share: run ``measure(progress)`` under a
    transient progress bar (``progress(i, n[, phase])``), then print JSON or ``print_table(result)``
    and the skipped files. Exit code 1 when fewer than 2 tracks could be used."""
    from rich.console import Console

    from livedj.progress import Progress

    console = Console(stderr=True)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(what, total=None)
        result = measure(lambda i, n, phase=what: bar.update(task, completed=i, total=n, description=phase))
    if result["tracks"] < 2:
        print(f"livedj eval: {args.dir}: need at least 2 audio files in sub-folders (the labels)", file=sys.stderr)
        return 1
    if len(result["labels"]) < 2:
        print(one_label(args.dir, next(iter(result["labels"]))), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print_table(result)
    for path, why in result["skipped"]:
        console.print(f"skipped {path}: {why}", markup=False)
    return 0
