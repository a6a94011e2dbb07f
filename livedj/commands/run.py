"""`livedj run`: the daemon. Wires a source, the ring buffer, the engine and the publishers (each made in
:mod:`livedj.commands.run_parts`), runs them and stops them."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING

from livedj.commands.run_parts import (LogOffTheLivePath, ReloadableOsc, make_control, make_mixxx_follower,
                                       make_previewer, make_session, make_source)
from livedj.words import plural

if TYPE_CHECKING:  # the engine (numpy, scipy, torch) loads in run_live, not for `livedj --help`
    from livedj.engine.daemon import LiveLoop


def run_live(config: dict, *, input_file=None, fast=False, duration=None, dashboard=True, json_lines=False,
             device=None, osc_targets=(), record=None, config_path=None, index_dir=None, notifier=None) -> LiveLoop:
    """Run the live loop until it ends (duration, end of input, SIGINT/SIGTERM, no JSON reader); return it.
    ``notifier``: the service manager's (systemd's READY/STOPPING; a test's to know when it listens)."""
    from livedj.engine.daemon import LiveLoop
    from livedj.engine.loader import load_engine
    from livedj.outputs.jsonlines import JsonLinesWriter
    from livedj.outputs.terminal import Terminal
    from livedj.service.notify import Notifier

    notifier, out, err = notifier or Notifier(), sys.stdout, sys.stderr  # the streams of now
    if input_file is not None and not os.path.isfile(input_file):  # before seconds of loading the engine
        from livedj.audio.decode import DecodeError

        raise DecodeError(input_file, "no such file" if not os.path.exists(input_file) else "not a file")
    engine = load_engine(config)
    # a file's sound begins where the file does: its first sound is a record's opening (the key shown uses it)
    engine.listener.hears_stream_start = input_file is not None
    ring, source, description = make_source(config, input_file, fast, device)
    osc = ReloadableOsc(config, osc_targets)  # a reload may change its targets
    from livedj.engine.current import CurrentLibrary

    library = CurrentLibrary(engine)  # one id/path lookup for the set log, OSC in and Mixxx, swapped on reload
    resolve = library.resolve
    session, setlog = make_session(config, library, resolve)
    loops: list = []  # the preview worker reads the loop's latest update (the loop is made below)
    previewer = make_previewer(loops) if config["osc_in"]["enabled"] else None
    control = make_control(config, session, resolve, err, previewer=previewer)
    mixxx = make_mixxx_follower(config, session, resolve)
    loop = LiveLoop(engine, ring, source, window_s=config["audio"]["window_s"], hop_s=config["audio"]["hop_s"],
                    duration_s=duration, publishers=[osc.publish], fast=fast, session=session,
                    notifier=notifier, context_s=max(12.0, config["analysis"]["identify_s"]))
    library.follow(lambda: loop.pending_engine or loop.engine)  # a reload swaps every lookup with the engine
    loops.append(loop)
    writer = JsonLinesWriter(out) if json_lines else None
    recorder = None
    if record:
        from livedj.audio.recorder import Recorder

        recorder = Recorder(ring, record)
    show_dashboard = dashboard and not json_lines and config["dashboard"]["enabled"] and out.isatty()
    if mixxx is not None and not show_dashboard:  # the first failure of each kind, once: polls go on
        mixxx.on_error = lambda text: say(f"livedj run: {mixxx.describe(text)}", err)

    def on_signal(signum, frame):
        notifier.stopping()
        loop.stop()

    # SIGHUP reloads config and index without stopping (a new index built meanwhile). The handler only
    # sets an event: starting a thread inside a signal handler can deadlock on the interpreter's locks.
    reload_requested, stopping = threading.Event(), threading.Event()
    # A terminal that hangs up (the ssh session drops) sends SIGHUP too: the night goes on without it.
    terminal, hung_up = Terminal(), threading.Event()

    def reloader() -> None:  # also tries again, every RETRY_S, the OSC targets not reachable at start
        from livedj.outputs.osc import RETRY_S

        retry_at, told = time.monotonic() + RETRY_S, False
        while not stopping.is_set():
            if hung_up.is_set() and not told:  # said here, once, whichever way the hang-up was seen
                told = say(HUNG_UP, err) or True
            if reload_requested.wait(0.2):
                reload_requested.clear()
                reload(loop, config_path, index_dir, notifier, err, osc=osc, running=config)
            if time.monotonic() >= retry_at:
                retry_at = time.monotonic() + RETRY_S
                osc.retry_waiting()

    threading.Thread(target=reloader, daemon=True, name="livedj-reload").start()

    def on_hup(signum, frame):
        if terminal.hung_up():  # not a reload: the terminal is gone (its writes give EIO from now on)
            terminal.detach()
            hung_up.set()
        else:
            reload_requested.set()

    handlers = {signal.SIGINT: on_signal, signal.SIGTERM: on_signal, signal.SIGHUP: on_hup}
    previous = {s: signal.signal(s, h) for s, h in handlers.items()} \
        if threading.current_thread() is threading.main_thread() else {}
    info = {"input": description, "encoder": engine.encoder.name, "index_size": engine.index.size,
            "hop": config["audio"]["hop_s"], "outputs": osc.summary()}
    loop.control, loop.setlog = control, setlog  # for the closing summary (OSC-in counts, set-log state)
    del engine  # the loop holds it: a reload's swap must free it (its index's private copy, mapped all night)
    started = False  # a loop that never started has no thread to join (its error is the one to report)
    logs = LogOffTheLivePath()
    try:
        logs.start()
        setlog.start()
        for part in (control, mixxx):
            if part is not None:
                part.start()
        if recorder:
            recorder.start()
        loop.start()
        started = True
        if show_dashboard:
            from livedj.outputs.dashboard import Dashboard

            def get_info():
                return dashboard_info(loop, info, osc, control, setlog, mixxx)

            if not Dashboard().run(lambda: loop.latest, get_info, loop.finished, fps=config["dashboard"]["fps"],
                                   leave=hung_up) and not loop.finished.is_set():
                terminal.detach()  # a write said EIO before the SIGHUP was handled
                hung_up.set()
                _drain(loop, writer, err, log=not json_lines, notifier=notifier)  # headless from now on
        else:
            _drain(loop, writer, err, log=not json_lines, notifier=notifier)
    finally:
        stopping.set()
        loop.stop()
        if started:
            loop.join(timeout=5)
        else:
            source.stop()
        if recorder:
            recorder.stop()
        for part in (control, mixxx, previewer):
            if part is not None:
                part.stop()
        setlog.stop()  # flushes every play logged so far
        logs.stop()
        _drain(loop, writer, err, log=not json_lines and not show_dashboard, once=True)
        loop.osc_summary = osc.summary() if osc else None  # for the closing summary, while it has its targets
        osc.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if loop.error is not None:
        raise loop.error
    return loop


def dashboard_info(loop: LiveLoop, info: dict, osc, control, setlog, mixxx) -> dict:
    """The dashboard's slowly changing state of the running loop (its header; what plays while no update of
    its own says it: before the first, and while the input is lost)."""
    from livedj.outputs.dashboard import now_playing_line

    return {**info, "status": loop.status if not loop.finished.is_set() else "stopped",
            "now_playing": now_playing_line(loop.latest.now_playing if loop.latest else None),
            "outputs": osc.summary(),
            **({"control": control.summary()} if control else {}),
            **({"set log": setlog.status()} if setlog.status() else {}),
            "mixxx": mixxx.status() if mixxx else None}  # None: following, or not asked to


#: the daemon's line when its terminal hangs up
HUNG_UP = ("livedj: the terminal hung up (SIGHUP): the dashboard is off, the night goes on (set log, OSC, "
           "OSC in); stop it with SIGTERM")


#: what a reload leaves as it is until the next start (systemd/README.md, ExecReload): whole tables, and keys
#: ``analysis.threads``: torch's thread count is per thread once set (each thread reads the process-wide value at
#: its first parallel op, then keeps its own), so setting it on the reload thread never reached the analysis
#: thread; the reload builds any new encoder with the running count.
RESTART_ONLY = ("audio", "osc_in", "history", "mixxx", "dashboard", ("ranking", "exclude_now_playing"),
                ("index", "path"), ("analysis", "threads"))


def restart_only_changes(running: dict | None, config: dict) -> list[str]:
    """The keys ("audio.samplerate") a reload to ``config`` changes but cannot apply to the ``running`` loop."""
    if running is None:
        return []
    changed = []
    for part in RESTART_ONLY:
        table, keys = (part, None) if isinstance(part, str) else (part[0], part[1:])
        old, new = running.get(table, {}), config.get(table, {})
        changed += [f"{table}.{key}" for key in (keys or sorted(set(old) | set(new))) if old.get(key) != new.get(key)]
    return changed


def reload(loop: LiveLoop, config_path, index_dir, notifier, err, osc: ReloadableOsc | None = None,
           running: dict | None = None) -> None:
    """SIGHUP: re-read config.toml and the index off the live thread, then hand the new engine over
    (and to ``osc`` the config's OSC targets, when they changed). Changes the running loop cannot take
    (its ``running`` config's ``[audio]``, ``[history]``, ...: :data:`RESTART_ONLY`) are named in the line."""
    from livedj.config import ConfigError, load, override, source_path
    from livedj.engine.loader import load_engine
    from livedj.library.index import IndexUnusable
    from livedj.library.store import StoreError

    from livedj.commands.oneline import describe

    notifier.reloading()
    try:
        config = load(config_path)
        if index_dir:
            config = override(config, {"index": {"path": index_dir}})
        waiting = restart_only_changes(running, config)
        if "index.path" in waiting:  # another library's track ids would name other records in tonight's session
            config = override(config, {"index": {"path": running["index"]["path"]}})
        if "analysis.threads" in waiting:  # a new encoder would set torch's count process-wide (new threads)
            config = override(config, {"analysis": {"threads": running["analysis"]["threads"]}})
        loop.pending_engine = load_engine(config, reuse=loop.engine)
        targets = osc.retarget(config) if osc is not None else None  # None: the same targets
        say(f"livedj: reloaded {source_path(config_path)} and the index "
            f"({plural(loop.pending_engine.index.size, 'track')})"
            + (f"; OSC now to {', '.join(targets) or 'no target'}" if targets is not None else "")
            + (f"; {', '.join(waiting)} changed: kept as running until the next start" if waiting else ""), err)
    except (ConfigError, IndexUnusable, StoreError, OSError) as exc:
        say(f"livedj: reload failed, keeping the running config and index: {describe(exc, index_dir)}", err)
    except Exception as exc:  # anything deeper in loading: the running night goes on, in one line
        say(f"livedj: reload failed, keeping the running config and index: {type(exc).__name__}: "
            f"{describe(exc, index_dir)}", err)
    finally:
        notifier.ready("reloaded")  # systemd leaves RELOADING whatever happened


def say(line: str, err) -> bool:
    """Print one line of the running daemon to ``err``; False where it cannot be written (``2>>log`` on a
    full disk, a terminal gone): the line is dropped, the night goes on."""
    try:
        print(line, file=err, flush=True)
        return True
    except (OSError, ValueError):  # ValueError: the stream was closed
        return False


def _drain(loop: LiveLoop, writer, err, *, log: bool, once: bool = False, notifier=None) -> None:
    """Main thread without a dashboard: print each update (JSON lines) or a line when the top pick changes."""
    import queue

    from livedj.outputs.osc_args import track_label

    last_top = None
    while True:
        try:
            update = loop.outputs.get(timeout=0.1)
        except queue.Empty:
            if once or loop.finished.is_set() and loop.outputs.empty():
                return
            continue
        if writer is not None:
            if not writer.publish(update) and writer.broken and not once:
                loop.stop()  # `livedj run --json-lines | head -1`: like SIGPIPE, end (a microphone never would)
        elif log and update.suggestions and update.suggestions[0].track_id != last_top:
            top = update.suggestions[0]
            last_top = top.track_id
            say(f"t={update.t:.0f}s next: {track_label(top)} (score {top.score:.3f}) "
                f"[{update.latency_ms:.0f} ms]", err)
            if notifier is not None:
                notifier.status(f"next: {track_label(top)} (t={update.t:.0f}s)")


def print_summary(loop: LiveLoop, err=sys.stderr) -> None:
    s = loop.stats.summary()
    lat = s.get("latency_ms", {})
    stages = " ".join(f"{k} {v['p50']:.1f}/{v['p95']:.1f}" for k, v in s["stage_ms"].items())
    say(f"livedj: {s['updates']} updates; latency p50 {lat.get('p50', 0):.1f} ms, p95 {lat.get('p95', 0):.1f} ms; "
        f"per stage p50/p95 ms: {stages}; overflows {getattr(loop.source, 'overflows', 0)}", err)
    outputs, control, setlog = (getattr(loop, name, None) for name in ("osc_summary", "control", "setlog"))
    if outputs:  # OSC out and its failed sends ("logged once; counted"): without the dashboard, said nowhere else
        say(f"livedj: {outputs}", err)
    if control is not None:
        rejected = ", ".join(f"{n} {kind}" for kind, n in sorted(control.rejected.items()))
        say(f"livedj: {control.summary()}" + (f" ({rejected})" if rejected else ""), err)
    if setlog is not None:
        say(f"livedj: set log {setlog.path}: {plural(setlog.written, 'play')} written"
            + (f"; {setlog.status()}" if setlog.status() else ""), err)


HELP = "the live daemon"
DESCRIPTION = (
    "Listen (the configured input device, or --input FILE fed through the same ring buffer) and publish "
    "suggestions every hop: OSC to the configured targets, the dashboard, and JSON lines.")


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("--input", metavar="FILE", help="play FILE into the ring buffer instead of capturing")
    parser.add_argument("--fast", action="store_true", help="with --input: as fast as analysis allows, not real time")
    parser.add_argument("--duration", type=argtypes.positive_seconds, metavar="S", help="stop after S seconds of audio")
    parser.add_argument("--no-dashboard", action="store_true", help="no rich dashboard")
    parser.add_argument("--json-lines", action="store_true", help="one JSON object per update on stdout")
    parser.add_argument("--device", metavar="DEV", help="input device name or index (overrides audio.device)")
    parser.add_argument("--osc", action="append", type=argtypes.osc_target, metavar="HOST:PORT", help="send OSC here too (repeatable)")
    parser.add_argument("--record", metavar="FILE", type=argtypes.output_file(".wav", ".flac", ".ogg"), help="also write what is heard to FILE (wav/flac/ogg)")


def main(args, config) -> int:
    import faulthandler

    from livedj.engine.daemon import first_update_s, nothing_analysed

    first = first_update_s(config["audio"]["hop_s"])
    if args.duration is not None and args.duration < first:  # said, not refused: OSC in and Mixxx still log plays
        print(f"livedj run: --duration {args.duration:g} ends before the first update, which comes after "
              f"{first:g} s of audio: no suggestions", file=sys.stderr, flush=True)
    faulthandler.enable()  # a watchdog SIGABRT on a hung analysis prints every thread's stack to the journal
    from livedj.audio.capture import CaptureError
    from livedj.audio.decode import DecodeError
    from livedj.library.index import IndexUnusable
    from livedj.commands.oneline import describe, one_line_errors
    from livedj.library.setlog import SetLogUnusable
    from livedj.library.store import StoreError

    if args.fast and not args.input:
        print("livedj run: --fast needs --input FILE (a microphone runs in real time)", file=sys.stderr)
        return 2
    try:
        loop = run_live(config, input_file=args.input, fast=args.fast, duration=args.duration,
                        dashboard=not args.no_dashboard, json_lines=args.json_lines, device=args.device,
                        osc_targets=args.osc, record=args.record, config_path=args.config,
                        index_dir=args.index)
    except SetLogUnusable as exc:  # named by its key, as a config error is: the key is what the DJ changes
        print(f"livedj run: history.path: {exc}", file=sys.stderr)
        return 1
    except (IndexUnusable, StoreError, DecodeError, CaptureError, FileNotFoundError) as exc:
        print(f"livedj run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the loop's own handler (loading torch, the index): nothing logged yet
        print("livedj run: stopped while starting", file=sys.stderr)
        exit_now(130)  # not the interpreter's exit hooks: torch's, interrupted in its import, print its INFO lines
    except one_line_errors() as exc:
        print(f"livedj run: {describe(exc, config['index']['path'])}", file=sys.stderr)
        return 1
    print_summary(loop)
    error = getattr(loop.source, "error", None) or (args.input and nothing_analysed(loop, args.input, first))
    if error:
        print(f"livedj run: {error}", file=sys.stderr)
    exit_now(1 if error else 0)


def exit_now(code: int) -> None:
    """End the process once the loop has stopped: the set log is flushed and closed, OSC closed,
    the summary printed. What is left is the interpreter's teardown (garbage-collecting the model's
    and the index's objects, thread pools), measured at 1-4 s on 2 cores -- time a DJ's Ctrl-C and
    systemd's stop wait for, with nothing left to save."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a full disk, a closed pipe: nothing more can be said there
            pass
    os._exit(code)
