"""The ``livedj`` command line: parse arguments, load the config, call one function per command.

Each command lives in one module of :mod:`livedj.commands`, its options next to its code (beets'
style); this file only adds the common options, sets up logging and dispatches. Command modules
import heavy libraries (numpy, rich, torch, librosa, sounddevice) inside the functions that use
them, so building the parser stays cheap and ``livedj --help`` and ``livedj devices`` start fast.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib import import_module


def _add_common(p: argparse.ArgumentParser, index: bool = True) -> None:
    from livedj.commands.argtypes import given_path  # "" is an error, not the default file or index

    p.add_argument("--config", metavar="F", type=given_path,
                   help="config file (default: $XDG_CONFIG_HOME/livedj/config.toml, else built-in defaults)")
    if index:
        p.add_argument("--index", metavar="DIR", type=given_path,
                       help="index directory (default: index.path from the config)")


#: The subcommands, in the order ``livedj --help`` lists them; each is a module of
#: :mod:`livedj.commands` with ``HELP``, ``DESCRIPTION``, ``add_arguments(parser)``, ``main(args, config)``
#: and, when it reads no index, ``TAKES_INDEX = False``.
COMMANDS = ("devices", "index", "suggest", "run", "demo", "analyze", "history", "journey", "train", "service",
            "eval", "context", "playlist", "mix")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livedj", description="Listen at the DJ booth and suggest the next record, live.")
    parser.add_argument("--version", action="version", version=f"livedj {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        command = import_module(f"livedj.commands.{name}")
        p = sub.add_parser(name, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(p)
        _add_common(p, index=getattr(command, "TAKES_INDEX", True))
    return parser


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is *now*: while the dashboard runs, rich redirects it so
    log lines print above the live display instead of tearing it. `livedj run` moves it off its
    live path (:class:`livedj.commands.run_parts.LogOffTheLivePath`)."""

    writes_stderr = True

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
    from livedj.outputs.terminal import prepare_streams

    prepare_streams()  # before the command modules bind sys.stdout: a closed or ASCII-only one is made safe
    args = build_parser().parse_args(argv)
    # torch's OpenMP workers otherwise spin while waiting: on a busy 2-core box a 2-thread
    # embedding then took 0.4-1.1 s instead of ~55 ms (measured; see models/MODEL_CARD.md)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import logging

    # one line per event on stderr (the journal, when run as a service)
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("livedj: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    from livedj.config import ConfigError, load, override

    command = import_module(f"livedj.commands.{args.command}")
    try:
        config = load(args.config, reads=getattr(command, "READS_ONLY", ()))  # e.g. history reads the set log
    except ConfigError as exc:
        print(f"livedj: config error:\n{exc}" if len(exc.problems) > 1 else f"livedj: config error: {exc}",
              file=sys.stderr)
        return 2
    if getattr(args, "index", None):
        config = override(config, {"index": {"path": args.index}})
    from livedj.commands.oneline import describe, one_line_errors

    try:
        return int(command.main(args, config) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `livedj ... | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):  # rich's answer to a closed pipe is exit 1: same as above
            return 0
        raise
    except one_line_errors() as exc:  # any command: a damaged store, an unusable index, a file it cannot read
        print(f"livedj {args.command}: {describe(exc, config['index']['path'])}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
