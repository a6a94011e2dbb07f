"""`livedj run`: the daemon. Wires a source, the ring buffer, the engine and the publishers."""
from __future__ import annotations

import signal
import sys
import threading

from livedj.engine.daemon import LiveLoop


def _device(value):
    if value in (None, ""):
        return None
    if isinstance(value, int):
        return value
    return int(value) if str(value).isdigit() else value


def make_source(config: dict, input_file: str | None, fast: bool, device=None):
    """(ring buffer, source, description) for a file fed in as if it were the microphone, or the mic itself."""
    from livedj.audio.ringbuffer import RingBuffer

    audio = config["audio"]
    if input_file:
        from livedj.audio.capture import FileSource

        sample_rate = 16000  # decoded straight to the encoders' rate: no resampling per update
        ring = RingBuffer(int(audio["buffer_s"] * sample_rate), sample_rate)
        return ring, FileSource(ring, input_file, realtime=not fast), f"file {input_file}"
    from livedj.audio.capture import MicSource

    device = _device(device if device is not None else audio["device"])
    sample_rate = audio["samplerate"] or int(MicSource.default_samplerate(device))
    ring = RingBuffer(int(audio["buffer_s"] * sample_rate), sample_rate)
    source = MicSource(ring, device=device, channels=audio["channels"])
    return ring, source, f"device {device if device is not None else '(default)'} @ {sample_rate} Hz"


def make_publishers(config: dict, extra_targets=()):
    from livedj.outputs.osc import OscPublisher, parse_target

    targets = [(t["host"], t["port"]) for t in config["osc"]["targets"]]
    targets += [parse_target(t) for t in extra_targets or ()]
    return OscPublisher(targets) if targets else None


def run_live(config: dict, *, input_file=None, fast=False, duration=None, dashboard=True, json_lines=False,
             device=None, osc_targets=(), record=None, engine=None, out=sys.stdout, err=sys.stderr) -> LiveLoop:
    """Run the live loop until it ends (duration, end of input, SIGINT/SIGTERM); return it for its stats."""
    from livedj.engine.analyzer import load_engine
    from livedj.outputs.jsonlines import JsonLinesWriter

    engine = engine or load_engine(config)
    ring, source, description = make_source(config, input_file, fast, device)
    osc = make_publishers(config, osc_targets)
    loop = LiveLoop(engine, ring, source, window_s=config["audio"]["window_s"], hop_s=config["audio"]["hop_s"],
                    duration_s=duration, publishers=[osc.publish] if osc else [], fast=fast)
    writer = JsonLinesWriter(out) if json_lines else None
    recorder = None
    if record:
        from livedj.audio.recorder import Recorder

        recorder = Recorder(ring, record)
    show_dashboard = dashboard and not json_lines and config["dashboard"]["enabled"] and out.isatty()

    def on_signal(signum, frame):
        loop.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} \
        if threading.current_thread() is threading.main_thread() else {}
    info = {"input": description, "encoder": engine.encoder.name, "index_size": engine.index.size,
            "hop_s": config["audio"]["hop_s"], "outputs": osc.summary() if osc else "no OSC targets"}
    try:
        if recorder:
            recorder.start()
        loop.start()
        if show_dashboard:
            from livedj.outputs.dashboard import Dashboard

            def get_info():
                return {**info, "status": "listening" if not loop.finished.is_set() else "stopped",
                        "outputs": osc.summary() if osc else "no OSC targets"}

            Dashboard().run(lambda: loop.latest, get_info, loop.finished, fps=config["dashboard"]["fps"])
        else:
            _drain(loop, writer, err, log=not json_lines)
    finally:
        loop.stop()
        loop.join(timeout=5)
        if recorder:
            recorder.stop()
        _drain(loop, writer, err, log=not json_lines, once=True)
        if osc:
            osc.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if loop.error is not None:
        raise loop.error
    return loop


def _drain(loop: LiveLoop, writer, err, *, log: bool, once: bool = False) -> None:
    """Main thread without a dashboard: print each update (JSON lines) or a line when the top pick changes."""
    import queue

    last_top = None
    while True:
        try:
            update = loop.outputs.get(timeout=0.1)
        except queue.Empty:
            if once or loop.finished.is_set() and loop.outputs.empty():
                return
            continue
        if writer is not None:
            writer.publish(update)
        elif log and update.suggestions and update.suggestions[0].track_id != last_top:
            top = update.suggestions[0]
            last_top = top.track_id
            print(f"t={update.t:.0f}s next: {top.artist} - {top.title} (score {top.score:.3f}) "
                  f"[{update.latency_ms:.0f} ms]", file=err, flush=True)


def print_summary(loop: LiveLoop, err=sys.stderr) -> None:
    s = loop.stats.summary()
    lat = s.get("latency_ms", {})
    stages = " ".join(f"{k} {v['p50']:.1f}/{v['p95']:.1f}" for k, v in s["stage_ms"].items())
    print(f"livedj: {s['updates']} updates; latency p50 {lat.get('p50', 0):.1f} ms, p95 {lat.get('p95', 0):.1f} ms; "
          f"per stage p50/p95 ms: {stages}; overflows {getattr(loop.source, 'overflows', 0)}", file=err)


def main(args, config) -> int:
    from livedj.audio.capture import CaptureError
    from livedj.audio.decode import DecodeError
    from livedj.library.index import IndexUnusable
    from livedj.library.store import StoreError

    if args.fast and not args.input:
        print("livedj run: --fast needs --input FILE (a microphone runs in real time)", file=sys.stderr)
        return 2
    try:
        loop = run_live(config, input_file=args.input, fast=args.fast, duration=args.duration,
                        dashboard=not args.no_dashboard, json_lines=args.json_lines, device=args.device,
                        osc_targets=args.osc, record=args.record)
    except (IndexUnusable, StoreError, DecodeError, CaptureError, FileNotFoundError) as exc:
        print(f"livedj run: {exc}", file=sys.stderr)
        return 1
    print_summary(loop)
    error = getattr(loop.source, "error", None)
    if error:
        print(f"livedj run: {error}", file=sys.stderr)
        return 1
    return 0
