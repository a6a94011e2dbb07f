"""`livedj index`'s per-file analysis of another commit against this one: the same FileResult, and the CPU.

A speed change to the indexer must not change what is stored. Two analysis processes run side by
side, one on ``--before`` (a git revision, its ``livedj`` package read with ``git archive``), one on
the working tree, each with ``indexer.Worker.load(indexer.Settings())`` and torch on one thread (as
an indexing worker). This process hands them the same files in turn, alternating which goes first,
``--rounds`` times, and compares every field of the two :class:`FileResult` s (vectors, windows,
segments, landmarks, tempo, keys and their confidences): ``max|diff|`` per array field, equality
for the rest. CPU per file (``time.process_time`` in each analysis process): medians, current over
former, user and system time apart (system time is mostly page faults: a robust figure where user
time varies by +-5-15 % on a shared machine; an A/A run, ``--before HEAD``, shows the noise). Also
the CPU each process spent importing the indexer and starting as a worker (``_init_worker``: paid
by each worker of a ``livedj index`` run).

``python -m benchmarks._index_ab --before main`` (files: the ``indexing`` benchmark's four-minute
MP3s, ``--n`` of them, rendered once into the cache; or ``--files PATH...``).
"""
from __future__ import annotations

import argparse
import base64
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import REPO, synth_library

IN_ALL = False

#: The analysis process: start-up CPU on its first line, then one line per path read from stdin.
_SERVER = r"""
import base64, pickle, resource, sys, time
t = time.process_time()
from livedj.library import indexer  # first, as in a worker: livedj sets BLAS to one thread before numpy loads
import torch
torch.set_num_threads(1)
indexer._init_worker(indexer.Settings(threads=1))  # what a spawned indexing worker runs
worker = indexer._worker
print(time.process_time() - t, flush=True)
for line in sys.stdin:
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = worker.analyze(line.rstrip("\n"))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)
    print(base64.b64encode(pickle.dumps((cpu, result))).decode(), flush=True)
"""


class _Analyser:
    def __init__(self, tree: Path):
        env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER], cwd=tree, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.startup = float(self.proc.stdout.readline())

    def analyze(self, path: str):
        self.proc.stdin.write(path + "\n")
        self.proc.stdin.flush()
        return pickle.loads(base64.b64decode(self.proc.stdout.readline()))

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def _tree(rev: str, into: Path) -> Path:
    """``rev``'s livedj package (and its data) unpacked under ``into``, this checkout's models beside it."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "livedj"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    (into / "models").symlink_to(REPO / "models")  # the weights (not in git), found beside the package
    return into


def differences(a, b) -> dict[str, float]:
    """Field -> max|a - b| (arrays; NaN where both are NaN counts as equal) or 0/inf (other fields)."""
    out = {}
    for name in vars(a):
        x, y = getattr(a, name), getattr(b, name)
        if name == "landmarks" and x is not None and y is not None:
            out[name] = max(_diff(p, q) for p, q in zip(x, y))
        elif isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            out[name] = _diff(x, y)
        elif isinstance(x, float) and isinstance(y, float):
            out[name] = abs(x - y)
        else:
            out[name] = 0.0 if x == y else float("inf")
    return out


def _diff(x, y) -> float:
    if x is None or y is None or np.shape(x) != np.shape(y):
        return 0.0 if x is None and y is None else float("inf")
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    same_nan = np.isnan(x) == np.isnan(y)
    if not same_nan.all():
        return float("inf")
    d = np.abs(np.nan_to_num(x) - np.nan_to_num(y))
    return float(d.max()) if d.size else 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git revision to compare with (default: main)")
    parser.add_argument("--n", type=int, default=3, help="generated four-minute MP3s (default 3)")
    parser.add_argument("--files", nargs="*", help="analyse these files instead")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    files = [str(p) for p in (args.files or synth_library(args.n, 240.0, "mp3"))]
    with tempfile.TemporaryDirectory(prefix="livedj-index-ab-") as tmp:
        before, now = _Analyser(_tree(args.before, Path(tmp))), _Analyser(REPO)
        try:
            cpu: dict[str, list[tuple[float, float]]] = {"before": [], "now": []}
            worst: dict[str, float] = {}
            for r in range(args.rounds):
                for i, path in enumerate(files):
                    order = [("before", before), ("now", now)][:: 1 if (r + i) % 2 == 0 else -1]
                    results = {}
                    for name, analyser in order:
                        seconds, results[name] = analyser.analyze(path)
                        cpu[name].append(seconds)
                    if r == 0:
                        for field, d in differences(results["before"], results["now"]).items():
                            worst[field] = max(worst.get(field, 0.0), d)
                        print(f"{Path(path).name}: ok={results['now'].ok} key={results['now'].key} "
                              f"bpm={results['now'].bpm}")
            changed = {k: v for k, v in worst.items() if v}
            print("FileResult fields that differ (max |diff|):", changed or "none, all identical")
            for label, pick in (("user+system", lambda c: c[0] + c[1]), ("user", lambda c: c[0]),
                                ("system (page faults mostly)", lambda c: c[1])):
                b, n = (float(np.median([pick(c) for c in cpu[k]])) for k in ("before", "now"))
                print(f"{label} CPU per file, median of {len(cpu['now'])}: before {b:.3f} s, now {n:.3f} s, "
                      f"now/before {n / b:.3f}" if b else f"{label}: before {b:.3f} s, now {n:.3f} s")
            print(f"start-up CPU (import + Worker.load): before {before.startup:.2f} s, now {now.startup:.2f} s")
        finally:
            before.close()
            now.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
