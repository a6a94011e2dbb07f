"""The "now playing" matcher of another commit against this one: the same decisions, and how much faster.

A speed change to the matcher must not change a decision. This loads the matcher modules
(``fingerprints``, ``fpvote``, ``fpquery``, ``fpsame``, ``fpstream``, ``fpkeys``, ``fpchunks``, ``fpexplain`` where
they exist, and the peak picker and hashes ``livedj.dsp.fingerprint`` with its compiled loops
``livedj.dsp.fpkernels``) of ``--before`` (a git revision, read with ``git archive``) beside the current ones, in one process, and runs both on
the same 10-s windows of 26-s streams (as ``identify_stream``: an update every second from 10 s on,
a stream clock an hour in), alternating which goes first: ``match_audio`` (stateless) and the live
matcher (``LiveMatcher``). Every update's top 3 (track, aligned count, offset, speed, share, key lock,
copies) must be equal, float for float; any difference is printed. CPU time (``time.thread_time``,
one core) p50/p95 of each, the current over the former as the ratio. The index module (``fpindex``)
is the current one for both (the index format is unchanged by a speed change).

Streams: ``--n`` records per condition (clean; standard booth at speed 1, +6 %, -6 %; key lock +6 %
through the booth; records not in the library), from the library's real records, rendered once and
cached under ``$LIVEDJ_BENCH_DIR/fp-ab``. Library: ``--library 10k`` (the ``identify_scale`` library),
``100k`` (its ``--copies 9`` form), ``c1``/``c2`` (a development corpus indexed by ``livedj index``).

``python -m benchmarks._fp_ab --before main --library 10k --n 4`` (needs the development corpora).

``--before-index DIR``: the former matcher reads another index of the same library (its track ids
alike), e.g. one built with other fingerprint parameters: an ``fp-scale-*`` directory (``--library
10k``) or a ``livedj index`` directory (c1, c2). With ``--before HEAD`` this measures an index change
alone (the decisions then differ where the index does).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import REPO, cache_dir, row

IN_ALL = False
MODULES = ("fpexplain", "fpvote", "fpquery", "fpkeys", "fpsame", "fingerprints", "fpchunks", "fpstream")  # dependency order
#: the peak picker and hashes (``livedj.dsp.fingerprint``) of the former revision too, as ``_before.dsp_fingerprint``
DSP = "dsp_fingerprint"
_DSP_IMPORT = re.compile(r"^(\s*)from livedj\.dsp import fingerprint as (\w+)$", re.M)
#: and its compiled loops (``livedj.dsp.fpkernels``), as ``_before.dsp_fpkernels``
KERNELS = "dsp_fpkernels"
_KERNELS_IMPORT = re.compile(r"from livedj\.dsp( import |\.)fpkernels\b")
CONDS = ("clean", "standard", "standard+6", "standard-6", "keylock+6", "absent")
SR = 16000
_IMPORT = re.compile(r"^(\s*)from livedj\.library(?:\.(\w+))? import (.+)$", re.M)


def load_before(rev: str, root: Path):
    """The matcher modules of git revision ``rev`` as package ``_before`` (their imports of each other
    pointed there, everything else, e.g. the index and the peaks, the current code's)."""
    listing = subprocess.run(["git", "ls-tree", "--name-only", rev, "livedj/library/"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout.split()
    names = [m for m in MODULES if f"livedj/library/{m}.py" in listing]
    pkg = root / "_before"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")

    def point(match: re.Match) -> str:
        indent, module, what = match.groups()
        if module in names:
            return f"{indent}from _before.{module} import {what}"
        imported = [w.split(" as ")[0].strip(" ()") for w in what.split(",")]
        if module is None and all(w in names for w in imported):
            return f"{indent}from _before import {what}"
        return match.group(0)

    for name in names:
        src = subprocess.run(["git", "show", f"{rev}:livedj/library/{name}.py"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
        src = _DSP_IMPORT.sub(lambda m: f"{m.group(1)}from _before import {DSP} as {m.group(2)}", src)
        (pkg / f"{name}.py").write_text(_IMPORT.sub(point, src))
    dsp = subprocess.run(["git", "show", f"{rev}:livedj/dsp/fingerprint.py"], cwd=REPO, check=True, capture_output=True,
                         text=True).stdout
    # the peak picker's compiled loops of that revision too, where they had a module of their own
    kernels = subprocess.run(["git", "show", f"{rev}:livedj/dsp/fpkernels.py"], cwd=REPO, capture_output=True, text=True)
    if kernels.returncode == 0:
        (pkg / f"{KERNELS}.py").write_text(kernels.stdout)
        dsp = _KERNELS_IMPORT.sub(lambda m: f"from _before{m.group(1)}{KERNELS}", dsp)
    (pkg / f"{DSP}.py").write_text(dsp)
    sys.path.insert(0, str(root))
    import importlib

    return {name: importlib.import_module(f"_before.{name}") for name in names}


def _library(name: str):
    """(index, real records, records not in it) of ``--library``."""
    if name in ("c1", "c2"):
        from benchmarks.identify_stream import _corpus_library

        return _corpus_library(name)
    from benchmarks.identify_scale import get_index, scaled_index

    index, real, info, directory = get_index(10000)
    if name == "100k":
        index = scaled_index(index, len(real), 9, directory)
    return index, real, info["absent"]


def streams(real: list, absent: list, n: int, conds, seed: int = 11, directory: Path | None = None
            ) -> list[tuple[str, np.ndarray]]:
    """(condition, 26 s of audio) per stream, cached (in ``directory``, default ``$LIVEDJ_BENCH_DIR/fp-ab``)
    by the records' paths, ``n`` and ``seed``."""
    import hashlib
    import json

    from benchmarks.identify_scale import _query
    from benchmarks.identify_stream import CONDITIONS, _duration, _key_locked

    key = hashlib.sha1(json.dumps([[r["path"] for r in real], [r["path"] for r in absent], n, list(conds), seed])
                       .encode()).hexdigest()[:12]
    directory = Path(directory) if directory else cache_dir("fp-ab")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"streams-{key}.npz"
    if path.exists():
        z = np.load(path)
        return [(str(z[f"c{k}"]), z[f"y{k}"]) for k in range(len(z.files) // 2)]
    rng = np.random.default_rng(seed)
    out = []
    for cond in conds:
        booth, speed = CONDITIONS[cond]
        pool = absent if cond == "absent" else real
        for qi in rng.choice(len(pool), min(n, len(pool)), replace=False):
            r = pool[qi]
            start = float(rng.uniform(0, max(0.0, _duration(r) - 26 * speed - 0.7)))
            y = (_key_locked(r["path"], start, 26, speed, seed=int(qi)) if cond.startswith("keylock")
                 else _query(r["path"], start, 26, speed, booth, seed=int(qi)))
            out.append((cond, y))
    np.savez(path, **{f"c{k}": c for k, (c, _) in enumerate(out)}, **{f"y{k}": y for k, (_, y) in enumerate(out)})
    return out


def _evidence(matches) -> list[tuple]:
    return [(m.track_id, m.aligned, m.offset_s, m.speed, m.share, m.pitch_locked, m.same) for m in matches]


def _other_index(directory: str):
    """A fingerprint index from an ``fp-scale-*`` directory or a ``livedj index`` directory."""
    import json

    from benchmarks.common import index_of_other_params

    d = Path(directory)
    if (d / "real.json").exists():
        return index_of_other_params(d / "fp")
    return index_of_other_params(d / json.loads((d / "manifest.json").read_text())["fingerprints"]["prefix"])


def run(quick: bool = False, before: str = "main", library: str = "10k", n: int = 4, conds=CONDS,
        streams_dir: Path | None = None, before_index: str | None = None, by_condition: bool = False) -> list[dict]:
    from livedj.library import fingerprints as fpi
    from livedj.library import fpstream

    with tempfile.TemporaryDirectory() as tmp:
        old = load_before(before, Path(tmp))
        index, real, absent = _library(library)
        indexes = {"before": _other_index(before_index) if before_index else index, "after": index}
        todo = streams(real, absent, 1 if quick else n, conds, directory=streams_dir)
        now = {"fingerprints": fpi, "fpstream": fpstream}
        warm = (0.01 * np.random.default_rng(0).standard_normal(SR * 10)).astype(np.float32)
        live = {}
        for who, mods in (("before", old), ("after", now)):
            mods["fingerprints"].match_audio(warm, SR, indexes[who])
            live[who] = mods["fpstream"].LiveMatcher(indexes[who])
            live[who].match(warm, SR, 1.0)
        times = {(path, who): [] for path in ("stateless", "update", "first") for who in ("before", "after")}
        by_cond = {(c, who): [] for c in conds for who in ("before", "after")}  # live updates per condition
        differ = {"stateless": 0, "live": 0}
        updates = 0
        for qi, (cond, y) in enumerate(todo):
            for m in live.values():
                m.reset()
            for e, end in enumerate(np.arange(10.0, 26.0 + 1e-9, 1.0)):
                w = y[int((end - 10.0) * SR):int(end * SR)]
                order = ("before", "after") if (qi + e) % 2 == 0 else ("after", "before")
                got = {}
                for who in order:
                    mods = old if who == "before" else now
                    t0 = time.thread_time()
                    a = mods["fingerprints"].match_audio(w, SR, indexes[who], top=3)
                    t1 = time.thread_time()
                    b = live[who].match(w, SR, 3600.0 + 100.0 * qi + end, top=3)
                    t2 = time.thread_time()
                    times["stateless", who].append(t1 - t0)
                    times["first" if e == 0 else "update", who].append(t2 - t1)
                    if e:
                        by_cond[cond, who].append(t2 - t1)
                    got[who] = (_evidence(a), _evidence(b))
                for k, path in enumerate(("stateless", "live")):
                    if got["before"][k] != got["after"][k]:
                        differ[path] += 1
                        print(f"  {path} differs: stream {qi} ({cond}) at {end:.0f} s: {got['before'][k]} -> "
                              f"{got['after'][k]}", file=sys.stderr)
                updates += 1
    rows = []
    for path in ("stateless", "live"):
        rows.append(row(f"fp_ab.{library}.{path}.differing", f"updates whose top 3 differ ({updates} updates of "
                        f"{len(todo)} streams, before = {before})", differ[path], "", target=0))
    for path, label in (("stateless", "match_audio"), ("update", "live matcher, one update"),
                        ("first", "live matcher, first window")):
        for q in (50, 95):
            a = float(np.percentile(times[path, "after"], q)) * 1000
            b = float(np.percentile(times[path, "before"], q)) * 1000
            rows.append(row(f"fp_ab.{library}.{path}.ms_p{q}", f"{label}, CPU ms p{q} ({len(index.tracks)} tracks; "
                            f"baseline: {before})", a, "ms", baseline=b))
    for cond in conds if by_condition else ():
        if not by_cond[cond, "after"]:
            continue
        for q in (50, 95):
            a, b = (float(np.percentile(by_cond[cond, w], q)) * 1000 for w in ("after", "before"))
            rows.append(row(f"fp_ab.{library}.update.{cond}.ms_p{q}", f"live matcher, one update, {cond} streams, CPU ms "
                            f"p{q} (baseline: {before})", a, "ms", baseline=b))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="main", help="git revision of the former matcher")
    ap.add_argument("--library", default="10k", choices=("10k", "100k", "c1", "c2"))
    ap.add_argument("--n", type=int, default=4, help="streams per condition")
    ap.add_argument("--conds", default=",".join(CONDS))
    ap.add_argument("--before-index", default=None, metavar="DIR",
                    help="the former matcher reads this index of the same library (module docstring)")
    ap.add_argument("--by-condition", action="store_true", help="also the live update's p50/p95 per condition "
                    "(clean streams are named: their updates also read the explained-away residual)")
    ap.add_argument("--streams-dir", default=None, help="where the rendered streams are cached (default "
                    "$LIVEDJ_BENCH_DIR/fp-ab; elsewhere when that directory is another's, read-only)")
    a = ap.parse_args(argv)
    rows = run(before=a.before, library=a.library, n=a.n, conds=tuple(a.conds.split(",")), streams_dir=a.streams_dir,
               before_index=a.before_index, by_condition=a.by_condition)
    from benchmarks.__main__ import print_rows

    print_rows(rows, title=f"the matcher of {a.before} against this one"
               + (f" (before: index {a.before_index})" if a.before_index else ""))


if __name__ == "__main__":
    main()
