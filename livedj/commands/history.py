"""`livedj history`: list the sessions of the set log, show one, export it (M3U, CSV, rekordbox XML)."""
from __future__ import annotations

import sys
import time


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


HELP = "list sessions, show or export a set"
DESCRIPTION = (
    "The set log: every session and the tracks played in it (identified, told over OSC, or by Mixxx). "
    "Without arguments, lists sessions; --session N shows one; --export FILE writes the newest session "
    "(or --session N) as M3U (.m3u/.m3u8), CSV (.csv) or a rekordbox playlist (.xml).")
TAKES_INDEX = False  #: no --index option: the command does not read the index


def add_arguments(parser) -> None:
    parser.add_argument("--session", type=int, metavar="N")
    parser.add_argument("--export", metavar="FILE")
    parser.add_argument("--relative", action="store_true", help="M3U: paths relative to the playlist's folder")


def main(args, config) -> int:
    from rich.console import Console
    from rich.table import Table

    from livedj.library.history import History

    history = History(config["history"]["path"])
    try:
        sessions = history.sessions()
        console = Console()
        if args.session is None and not args.export:
            if not sessions:
                console.print(f"no sessions yet in {history.path}")
                return 0
            table = Table(title=f"sessions in {history.path}")
            for column in ("session", "started", "ended", "tracks", "name"):
                table.add_column(column)
            for s in sessions:
                table.add_row(str(s.id), _when(s.started_at), _when(s.ended_at), str(s.plays), s.name or "")
            console.print(table)
            return 0
        wanted = args.session if args.session is not None else (sessions[-1].id if sessions else None)
        if wanted is None or wanted not in {s.id for s in sessions}:
            print(f"livedj history: no session {wanted} in {history.path}", file=sys.stderr)
            return 1
        plays = history.plays(wanted)
        if args.export:
            from livedj.library import exports

            out = args.export
            if out.endswith(".csv"):
                exports.export_csv(plays, out)
            elif out.endswith(".xml"):
                exports.export_rekordbox_xml(plays, out, playlist_name=f"livedj session {wanted}")
            elif out.endswith((".m3u", ".m3u8")):
                exports.export_m3u(plays, out, relative=args.relative)
            else:
                print(f"livedj history: {out}: use .m3u/.m3u8, .csv or .xml (rekordbox)", file=sys.stderr)
                return 2
            print(f"wrote {len(plays)} tracks of session {wanted} to {out}")
            return 0
        table = Table(title=f"session {wanted}")
        for column in ("#", "time", "artist", "title", "how"):
            table.add_column(column)
        for i, p in enumerate(plays, 1):
            table.add_row(str(i), _when(p.at), p.artist, p.title, p.source)
        console.print(table)
        return 0
    finally:
        history.close()
