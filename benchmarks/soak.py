"""Soak: `livedj run` on the virtual microphone for a long stretch, as a service would run.

A private PulseAudio (tests/virtual_mic) plays a generated mix on a loop into its null sink;
`livedj run --device pulse --no-dashboard --json-lines` listens with a small generated index and
sends OSC to a python-osc server on 127.0.0.1. Reported: input overflows (target 0), update
latency p50/p99 (from the JSON lines), RSS at the start and the end of the run (from /proc),
and the OSC messages received. The baseline for RSS is the start of the same run.

    python -m benchmarks.soak --minutes 30     # the full soak
    python -m benchmarks soak --quick          # 20 s, to check it still runs
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

from benchmarks.common import REPO, cache_dir, pct, row, synth_library

IN_ALL = False  # 5+ minutes: run it by name (python -m benchmarks soak)
DEFAULT_MINUTES = float(os.environ.get("LIVEDJ_SOAK_MINUTES", "5"))


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _mix(paths, seconds: float) -> str:
    """A WAV of the library's tracks back to back (48 kHz, what the null sink runs at)."""
    import numpy as np
    import soundfile

    from livedj.audio.decode import decode

    out = cache_dir("soak") / f"mix-{int(seconds)}s.wav"
    if not out.exists():
        parts = [decode(p, 48000) for p in paths]
        audio = np.concatenate(parts)
        soundfile.write(out, audio[: int(seconds * 48000)], 48000)
    return str(out)


def soak(seconds: float) -> list[dict]:
    sys.path.insert(0, str(REPO / "tests" / "virtual_mic"))
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer
    from vmic import VirtualMic, VirtualMicError, missing_tools

    if missing_tools():
        return [row("soak.skipped", f"virtual microphone unavailable: missing {', '.join(missing_tools())}",
                    float("nan"), "")]
    library = synth_library(6, 30.0, "flac", name="soak-6x30s")
    index = cache_dir("soak", "index")
    subprocess.run([sys.executable, "-m", "livedj", "index", str(library[0].parent), "--index", str(index)],
                   check=True, capture_output=True)
    mix = _mix(library, 180.0)
    received = [0]
    dispatcher = Dispatcher()
    dispatcher.set_default_handler(lambda *a: received.__setitem__(0, received[0] + 1))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = cache_dir("soak") / "config.toml"
    config.write_text(f'[history]\npath = "{cache_dir("soak") / "history.sqlite"}"\n'
                      f'[osc]\ntargets = [{{host = "127.0.0.1", port = {server.server_address[1]}}}]\n'
                      f'[osc_in]\nenabled = false\n')
    try:
        mic = VirtualMic().start()
    except VirtualMicError as exc:
        return [row("soak.skipped", f"virtual microphone did not start: {exc}", float("nan"), "")]
    player_stop = threading.Event()

    def play_forever():
        while not player_stop.is_set():
            mic.play(mix, wait=False).wait()

    updates, rss = [], []
    try:
        threading.Thread(target=play_forever, daemon=True).start()
        process = subprocess.Popen(
            [sys.executable, "-m", "livedj", "run", "--device", mic.device, "--no-dashboard", "--json-lines",
             "--duration", str(seconds + 5), "--index", str(index), "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=mic.full_env())
        began = None
        for line in process.stdout:
            update = json.loads(line)
            updates.append(update)
            if began is None:
                began = time.monotonic()
                rss.append(_rss_mb(process.pid))
            elif time.monotonic() - began >= seconds:
                rss.append(_rss_mb(process.pid))
                process.terminate()
                break
        process.wait(timeout=30)
    finally:
        player_stop.set()
        mic.stop()
        server.shutdown()
    live = [u for u in updates if u["seq"] >= 0]
    latency = [u["latency_ms"] for u in live]
    minutes = seconds / 60
    return [
        row("soak.overflows", f"input overflows in {minutes:.1f} min on the virtual microphone",
            float(live[-1]["overflows"]) if live else float("nan"), "count", target=0),
        row("soak.latency.p50", "update latency p50", pct(latency, 0.5), "ms", target=50.0),
        row("soak.latency.p99", "update latency p99", pct(latency, 0.99), "ms", target=100.0),
        row("soak.rss.end", "daemon RSS at the end (baseline: at the first update)", rss[-1] if rss else float("nan"),
            "MB", baseline=rss[0] if rss else None, target=600.0),
        row("soak.osc", f"OSC messages received over {minutes:.1f} min", float(received[0]), "messages"),
        row("soak.updates", "updates", float(len(live)), "count",
            note=f"input lost {sum(1 for u in updates if u['status'].startswith('input lost'))} times"),
    ]


def run(quick: bool = False) -> list[dict]:
    return soak(20.0 if quick else DEFAULT_MINUTES * 60)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES)
    args = parser.parse_args()
    from benchmarks.__main__ import print_rows

    print_rows(soak(args.minutes * 60), title="livedj soak")
