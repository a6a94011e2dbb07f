"""The ``livedj`` command line: parse arguments, load the config, call one function per command.

The work itself lives in :mod:`livedj.commands` (one module per command); this file only knows
the arguments. Heavy modules (torch, librosa, sounddevice) are imported by the commands that
need them, so ``livedj --help`` and ``livedj devices`` start fast.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib import import_module


def _add_common(p: argparse.ArgumentParser, index: bool = True) -> None:
    p.add_argument("--config", metavar="F", help="config file (default: $XDG_CONFIG_HOME/livedj/config.toml, "
                                                 "else built-in defaults)")
    if index:
        p.add_argument("--index", metavar="DIR", help="index directory (default: index.path from the config)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livedj", description="Listen at the DJ booth and suggest the next record, live.")
    parser.add_argument("--version", action="version", version=f"livedj {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("devices", help="list audio input devices", description="List audio input devices.")
    _add_common(p, index=False)

    p = sub.add_parser("index", help="index a music library", description=(
        "Scan folders for audio (mp3, m4a/aac, flac, ogg/opus, wav, aiff), embed each song's beginning and "
        "write the Annoy index and metadata store. Only new or changed files are analysed again."))
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders or files (default: library.paths)")
    p.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: number of CPUs)")
    p.add_argument("--from-rekordbox", action="append", metavar="FILE",
                   help="also index the tracks of a rekordbox collection XML, with its BPM/key")
    p.add_argument("--from-traktor", action="append", metavar="FILE",
                   help="also index the tracks of a Traktor collection.nml, with its BPM/key")
    p.add_argument("--from-mixxx", nargs="?", const="", metavar="DB",
                   help="also index Mixxx's library (read-only; default: its usual mixxxdb.sqlite)")
    _add_common(p)

    p = sub.add_parser("suggest", help="suggest records for a 5-s excerpt of a file", description=(
        "The offline form of one live update: analyse the window of FILE at the offset and print ranked "
        "suggestions."))
    p.add_argument("file", metavar="FILE")
    p.add_argument("--at", type=float, default=0.0, metavar="SECONDS", help="window start (default 0)")
    p.add_argument("--top", type=int, metavar="N", help="how many suggestions (default: ranking.top)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--mixxx-playlist", metavar="NAME", help="also append the suggestions to this Mixxx playlist "
                                                           "(only while Mixxx is not running)")
    _add_common(p)

    p = sub.add_parser("run", help="the live daemon", description=(
        "Listen (the configured input device, or --input FILE fed through the same ring buffer) and publish "
        "suggestions every hop: OSC to the configured targets, the dashboard, and JSON lines."))
    p.add_argument("--input", metavar="FILE", help="play FILE into the ring buffer instead of capturing")
    p.add_argument("--fast", action="store_true", help="with --input: as fast as analysis allows, not real time")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds of audio")
    p.add_argument("--no-dashboard", action="store_true", help="no rich dashboard")
    p.add_argument("--json-lines", action="store_true", help="one JSON object per update on stdout")
    p.add_argument("--device", metavar="DEV", help="input device name or index (overrides audio.device)")
    p.add_argument("--osc", action="append", metavar="HOST:PORT", help="send OSC here too (repeatable)")
    p.add_argument("--record", metavar="FILE", help="also write what is heard to FILE (wav/flac/ogg)")
    _add_common(p)

    p = sub.add_parser("demo", help="generate a demo library, index it and run live on a demo input",
                       description="Works with no microphone and no music library: nothing is downloaded.")
    p.add_argument("--dir", metavar="DIR", help="where the demo library and index go "
                                               "(default: $XDG_CACHE_HOME/livedj/demo)")
    p.add_argument("--duration", type=float, default=20.0, metavar="S", help="seconds of live demo (default 20)")
    p.add_argument("--fast", action="store_true", help="run the live part as fast as possible")
    p.add_argument("--no-dashboard", action="store_true", help="print JSON lines instead of the dashboard")
    _add_common(p, index=False)

    p = sub.add_parser("analyze", help="BPM, key, tags and now-playing for a 5-s excerpt", description=(
        "What the live loop would show for the window of FILE at the offset: BPM, key (Camelot and musical), "
        "tags, and the library track identified as playing (or 'not in library')."))
    p.add_argument("file", metavar="FILE")
    p.add_argument("--at", type=float, default=0.0, metavar="SECONDS", help="window start (default 0)")
    p.add_argument("--json", action="store_true")
    _add_common(p)

    p = sub.add_parser("history", help="list sessions, show or export a set", description=(
        "The set log: every session and the tracks played in it (identified, told over OSC, or by Mixxx). "
        "Without arguments, lists sessions; --session N shows one; --export FILE writes the newest session "
        "(or --session N) as M3U (.m3u/.m3u8), CSV (.csv) or a rekordbox playlist (.xml)."))
    p.add_argument("--session", type=int, metavar="N")
    p.add_argument("--export", metavar="FILE")
    p.add_argument("--relative", action="store_true", help="M3U: paths relative to the playlist's folder")
    _add_common(p, index=False)

    p = sub.add_parser("journey", help="a path through the library from one track to another", description=(
        "Plan a set: from track A to B (via C ...), interpolating in embedding space, respecting the tempo and key "
        "rules, with no repeats or near-duplicates."))
    p.add_argument("waypoints", nargs="+", metavar="TRACK", help="file paths (or unique title words) of A B [C ...]")
    p.add_argument("--steps", type=int, default=10, metavar="N", help="tracks between consecutive waypoints")
    p.add_argument("-o", "--output", metavar="FILE", help="write the path as M3U")
    _add_common(p)

    p = sub.add_parser("train", help="adapt the embedding to the booth microphone", description=(
        "Train the booth head (encoder musicnn-booth) on your library: cached musicnn features of clean and "
        "simulated-booth chunks, NT-Xent; written to <index dir>/head.safetensors. Re-index afterwards."))
    p.add_argument("--library", metavar="DIR", help="folder to train on (default: library.paths)")
    p.add_argument("--hours", type=float, default=2.0, metavar="H",
                   help="time budget; chunks per track are chosen to fit (default 2)")
    p.add_argument("--out", metavar="FILE", help="head file (default: <index dir>/head.safetensors)")
    p.add_argument("--resume", action="store_true", help="continue from the cache and checkpoint beside --out")
    _add_common(p)

    p = sub.add_parser("service", help="run livedj as a systemd user service", description=(
        "unit: print the systemd user unit for this installation; install: write it to "
        "$XDG_CONFIG_HOME/systemd/user/livedj.service; uninstall: stop, disable and remove it; "
        "status: systemctl --user status livedj. See systemd/README.md."))
    p.add_argument("action", choices=("unit", "install", "uninstall", "status"))
    p.add_argument("--enable", action="store_true",
                   help="install: also run systemctl --user daemon-reload and enable --now")
    p.add_argument("--sandbox", action="store_true",
                   help="install: also write the filesystem-sandbox drop-in (needs unprivileged user namespaces)")
    _add_common(p, index=False)

    p = sub.add_parser("eval", help="measure suggestion quality on a labelled folder", description=(
        "Each file's sub-folder is its label (album, artist, crate). Reports precision@10 of same-label "
        "neighbours among song-beginning vectors, per encoder, beside a random baseline."))
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--encoders", default="musicnn,features", help="comma-separated (default: musicnn,features)")
    p.add_argument("--k", type=int, default=10, help="neighbours per query (default 10)")
    p.add_argument("--room", action="store_true", help="booth robustness: identification and label precision "
                                                       "of simulated booth queries, per encoder")
    p.add_argument("--booth", choices=("random", "standard"), default="random",
                   help="--room: booth settings drawn from the training ranges (default) or the standard booth "
                        "(RT60 0.5 s, direct path +5 dB, pink noise 10 dB SNR, 100-8000 Hz)")
    p.add_argument("--json", action="store_true")
    _add_common(p, index=False)
    return parser


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is *now*: while the dashboard runs, rich redirects it so
    log lines print above the live display instead of tearing it."""

    def emit(self, record):
        self.stream = sys.stderr
        super().emit(record)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("livedj")
    except Exception:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # torch's OpenMP workers otherwise spin while waiting: on a busy 2-core box a 2-thread
    # embedding then took 0.4-1.1 s instead of ~55 ms (measured; see models/MODEL_CARD.md)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import logging

    # one line per event on stderr (the journal, when run as a service)
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("livedj: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    from livedj.config import ConfigError, load

    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"livedj: config error:\n{exc}" if len(exc.problems) > 1 else f"livedj: config error: {exc}",
              file=sys.stderr)
        return 2
    if getattr(args, "index", None):
        config["index"]["path"] = args.index
    from livedj.encoders.adapted import HEAD_ENV, resolve_head

    os.environ.setdefault(HEAD_ENV, str(resolve_head(config)))  # index workers inherit it
    command = import_module(f"livedj.commands.{args.command}")
    try:
        return int(command.main(args, config) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `livedj ... | head`: the reader left; not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
