"""`livedj history`: list the sessions of the set log, show one, export it (M3U, CSV, rekordbox XML)."""
from __future__ import annotations

import sys
import time

from livedj.words import plural


#: the config's files this command only reads: a read-only set log is read, not refused as "not writable"
READS_ONLY = ("history.path",)

def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


HELP = "list sessions, show or export a set"
DESCRIPTION = (
    "The set log: every session and the tracks played in it (identified, told over OSC, or by Mixxx). "
    "Without arguments, lists sessions; --session N shows one; --export FILE writes the newest session "
    "(or --session N) as M3U (.m3u/.m3u8), CSV (.csv) or a rekordbox playlist (.xml); a record moved since "
    "it was played is exported under its path now (as the index knows it).")
#: --index: an export names a record moved since it was played by its path now (the index's store)
TAKES_INDEX = True


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("--session", type=argtypes.count(1, 2**62), metavar="N", help="show (or export) session N")
    parser.add_argument("--export", metavar="FILE", type=argtypes.output_file(".m3u", ".m3u8", ".csv", ".xml"),
                        help="write the newest session (or --session N) as .m3u/.m3u8, .csv or .xml (rekordbox)")
    parser.add_argument("--all", action="store_true", help="also list the sessions without plays (short test runs)")
    parser.add_argument("--relative", action="store_true", help="M3U: paths relative to the playlist's folder")


def paths_now(plays: list, config) -> list:
    """``plays`` with each record the index followed to another path since (library/moves.py) under its path
    now; as logged without an index (one line on stderr when the index is there but unreadable)."""
    import os

    from livedj.commands.oneline import one_line_errors
    from livedj.library.exports import with_paths_now
    from livedj.library.store import Store

    index_dir = config["index"]["path"]
    if not os.path.lexists(os.path.join(index_dir, Store.FILENAME)):
        return plays
    try:
        store = Store(index_dir, readonly=True)
        try:
            tracks = store.tracks()
        finally:
            store.close()
    except one_line_errors() as exc:
        print(f"livedj history: paths as logged (a record moved since is not followed): {exc}", file=sys.stderr)
        return plays
    return with_paths_now(plays, tracks)


def main(args, config) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from livedj.library.history import History

    from livedj.commands.oneline import one_line_errors

    import os

    path = config["history"]["path"]
    if not os.path.lexists(path):  # reading creates nothing: a mistyped history.path would hide behind a new file
        line = f"no set log yet at {path}: `livedj run` logs the records played each night"
        if args.session is not None or args.export:
            print(f"livedj history: {line} (nothing to show or export)", file=sys.stderr)
            return 1
        print(line)
        return 0
    try:
        history = History(path, readonly=True)  # read only: a read-only file, folder or filesystem is read
    except one_line_errors() as exc:
        print(f"livedj history: {config['history']['path']}: set log unusable: {exc}", file=sys.stderr)
        return 1
    try:
        every = history.sessions()
        sessions = every if getattr(args, "all", False) else [s for s in every if s.plays]
        console = Console()
        if args.session is None and not args.export:
            if not sessions:
                console.print(f"no sessions with plays yet in {history.path}"
                              + (f" ({len(every)} without: --all lists them)" if every else ""))
                return 0
            table = Table(title=f"sessions in {history.path}")
            for column in ("session", "started", "ended", "tracks", "name"):
                table.add_column(column)
            for s in sessions:
                table.add_row(str(s.id), _when(s.started_at), _when(s.ended_at), str(s.plays), Text(s.name or ""))
            console.print(table)
            if len(every) > len(sessions):
                console.print(f"{plural(len(every) - len(sessions), 'session')} without plays not shown (--all lists them)")
            return 0
        wanted = args.session if args.session is not None else (sessions[-1].id if sessions else None)
        if wanted is None:
            print(f"livedj history: no session with plays in {history.path} to export (--all lists the others)",
                  file=sys.stderr)
            return 1
        if wanted not in {s.id for s in every}:
            print(f"livedj history: no session {wanted} in {history.path}", file=sys.stderr)
            return 1
        plays = history.plays(wanted)
        if args.export:
            from livedj.library import exports

            out = args.export
            plays = paths_now(plays, config)
            try:
                if out.lower().endswith(".csv"):
                    written = exports.export_csv(plays, out)
                elif out.lower().endswith(".xml"):
                    written = exports.export_rekordbox_xml(plays, out, playlist_name=f"livedj session {wanted}")
                elif out.lower().endswith((".m3u", ".m3u8")):
                    written = exports.export_m3u(plays, out, relative=args.relative)
                else:
                    print(f"livedj history: {out}: use .m3u/.m3u8, .csv or .xml (rekordbox)", file=sys.stderr)
                    return 2
            except OSError as exc:
                print(f"livedj history: {out}: cannot write ({exc.strerror or exc})", file=sys.stderr)
                return 1
            # an M3U or rekordbox playlist cannot hold a play without a file: said, not counted as written
            left = f" ({plural(len(plays) - written, 'play')} without a file left out)" if written < len(plays) else ""
            print(f"wrote {plural(written, 'track')} of session {wanted} to {out}{left}")
            return 0
        table = Table(title=f"session {wanted}")
        for column in ("#", "time", "artist", "title", "how"):
            table.add_column(column)
        for i, p in enumerate(plays, 1):
            # Text: a title "Intro [/]" or "Song [feat. mc]" is no markup (an error, or lost)
            table.add_row(str(i), _when(p.at), Text(p.artist or ""), Text(p.title or ""), p.source)
        console.print(table)
        return 0
    finally:
        history.close()
