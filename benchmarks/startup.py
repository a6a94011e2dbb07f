"""Daemon start-up and memory: ``livedj run --input F`` with a 100k-track index vs a 1k-track one.

Each daemon is a fresh process (``python -m livedj run --input F --fast --json-lines --duration S
--no-dashboard --index DIR``), sampled every 10 ms with psutil for its resident memory:

- time to listening: spawn until the first JSON line, less that update's own analysis time
  (``latency_ms``); the daemon does not announce "listening" yet (see the README's proposal);
- time to first update: spawn until the first JSON line;
- peak RSS over the run (target < 600 MB with the 100k index);

and, in another fresh process, where start-up goes: the imports (torch, annoy, av, livedj),
loading the Annoy index (CRC check + mmap), the store's track table, and building the encoder.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.common import REPO, cache_dir, fake_index, row, synth_library

BIG, SMALL = 100_000, 1_000
RSS_TARGET_MB = 600.0

_PHASES = r"""
import json, sys, time
t = {}
c = time.perf_counter()
def lap(name):
    global c
    now = time.perf_counter(); t[name] = now - c; c = now
import livedj.cli, livedj.config, livedj.engine.daemon, livedj.engine.analyzer, livedj.audio.capture
lap("import livedj")
import numpy, scipy.signal
lap("import numpy+scipy")
import av
lap("import av")
import annoy
lap("import annoy")
import torch
lap("import torch")
from livedj.encoders import encoder_dim, encoder_id
from livedj.library import index as annoy_index
from livedj.library.store import Store
index = annoy_index.load(sys.argv[1], encoder=encoder_id("musicnn"), dim=encoder_dim("musicnn"))
lap("index load (crc+mmap)")
store = Store(sys.argv[1], readonly=True); tracks = store.tracks(); store.close()
lap("store tracks")
from livedj.encoders import get_encoder
enc = get_encoder("musicnn", threads=2)
lap("encoder")
import numpy as np
enc.analyze(np.zeros(80000, dtype=np.float32))
lap("first analyze")
print(json.dumps(t))
"""


def _config_file() -> Path:
    path = cache_dir("startup") / "config.toml"
    path.write_text("[analysis]\nencoder = \"musicnn\"\nthreads = 2\n\n[dashboard]\nenabled = false\n",
                    encoding="utf-8")
    return path


def _rss_anon(pid: int) -> int:
    """Anonymous resident bytes (heap, torch, Python objects), without the memory-mapped index pages.

    The Annoy file is mapped read-only: its pages count in RSS once queries touch them, but they are
    clean page cache the kernel can drop, so RSS alone overstates what the index costs.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_daemon(index_dir, audio, duration_s: float) -> dict:
    """One daemon run: seconds to the first update, its latency, wall time, peak RSS (MB)."""
    import psutil

    cmd = [sys.executable, "-m", "livedj", "run", "--config", str(_config_file()), "--index", str(index_dir),
           "--input", str(audio), "--fast", "--json-lines", "--no-dashboard", "--duration", str(duration_s)]
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    first: dict = {}

    def read() -> None:
        for line in proc.stdout:
            if not first and line.startswith("{"):
                first.update(json.loads(line), at=time.perf_counter() - began)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    peak = peak_anon = 0
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
            peak_anon = max(peak_anon, _rss_anon(proc.pid))
        except (psutil.Error, OSError):
            break
        time.sleep(0.01)
    wall = time.perf_counter() - began
    reader.join(5)
    err = proc.stderr.read()
    if proc.returncode != 0 or not first:
        raise RuntimeError(f"livedj run failed ({proc.returncode}): {err[-2000:]}")
    return {"first_update_s": first["at"], "first_latency_ms": first.get("latency_ms", 0.0), "wall_s": wall,
            "peak_rss_mb": peak / 2**20, "peak_anon_mb": peak_anon / 2**20, "listening_s": first["at"] - first.get("latency_ms", 0.0) / 1000}


def phases(index_dir) -> dict:
    """Seconds per start-up phase, measured in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", _PHASES, str(index_dir)], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"start-up phases failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[dict]:
    """Start-up time and peak RSS of the daemon with a big and a small index; rows as in common.row."""
    big = 10_000 if quick else BIG
    audio = synth_library(1, 20.0, "mp3", name="live-quick")[0]
    small_dir = fake_index(cache_dir("index", f"startup-{SMALL}"), SMALL)
    big_dir = fake_index(cache_dir("index", f"startup-{big}"), big)
    duration = 4.0
    repeats = 1 if quick else 3
    runs = {"small": [], "big": []}
    for _ in range(repeats):  # interleaved: load from other processes hits both alike
        runs["small"].append(run_daemon(small_dir, audio, duration))
        runs["big"].append(run_daemon(big_dir, audio, duration))

    def best(which, key):
        return min(r[key] for r in runs[which])

    label = f"{big // 1000}k-track index; baseline {SMALL // 1000}k"
    rows = [
        row("startup.listening_s", f"spawn -> listening (first update less its analysis), {label}",
            best("big", "listening_s"), "s", baseline=best("small", "listening_s")),
        row("startup.first_update_s", f"spawn -> first JSON line (--fast), {label}", best("big", "first_update_s"),
            "s", baseline=best("small", "first_update_s")),
        row("startup.peak_rss", f"peak RSS of the daemon over a {duration:g}-s --fast run, {label}",
            max(r["peak_rss_mb"] for r in runs["big"]), "MB", baseline=max(r["peak_rss_mb"] for r in runs["small"]),
            target=RSS_TARGET_MB),
        row("startup.peak_rss_anon", f"peak anonymous RSS (RSS less mapped files: the index pages), {label}",
            max(r["peak_anon_mb"] for r in runs["big"]), "MB", baseline=max(r["peak_anon_mb"] for r in runs["small"])),
    ]
    if quick:  # the phases need two more fresh interpreters: only in a full run
        return rows
    p_big, p_small = phases(big_dir), phases(small_dir)
    for name, seconds in p_big.items():
        slug = re.sub(r"[^a-z0-9]+", "_", name.split(" (")[0].lower()).strip("_")
        rows.append(row(f"startup.phase.{slug}", f"start-up phase: {name}, {label}", seconds * 1000, "ms",
                        baseline=p_small.get(name, 0.0) * 1000))
    return rows


if __name__ == "__main__":
    from benchmarks.__main__ import print_rows

    print_rows(run(quick="--quick" in sys.argv[1:]))
