"""`livedj suggest FILE --at S`: one live update, offline, on a file's window."""
from __future__ import annotations

import json
import sys

from livedj.words import plural


HELP = "suggest records for a 5-s excerpt of a file"
DESCRIPTION = (
    "The offline form of one live update: analyse the window of FILE at the offset and print ranked "
    "suggestions.")


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--at", type=argtypes.seconds, default=0.0, metavar="SECONDS", help="window start (default 0)")
    parser.add_argument("--top", type=argtypes.count(1, 100), metavar="N", help="how many suggestions (default: ranking.top)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--mixxx-playlist", metavar="NAME", help="also append the suggestions to this Mixxx "
                                                                "playlist (only while Mixxx is not running)")


def main(args, config) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from livedj.audio.decode import DecodeError, decode
    from livedj.commands.oneline import describe, one_line_errors
    from livedj.engine.loader import load_engine
    from livedj.fsutil import printable
    from livedj.library.index import IndexUnusable
    from livedj.library.store import StoreError
    from livedj.outputs.cells import describe_why
    from livedj.outputs.osc_args import track_label
    from livedj.outputs.jsonlines import jsonable
    from livedj.outputs.terminal import writes_unicode

    from livedj.config import override

    if args.top is not None:
        config = override(config, {"ranking": {"top": args.top}})
    window_s = config["audio"]["window_s"]
    try:
        engine = load_engine(config)
        audio = decode(args.file, engine.encoder.sample_rate, args.at, window_s)
    except (IndexUnusable, StoreError, DecodeError) as exc:
        print(f"livedj suggest: {exc}", file=sys.stderr)
        return 1
    except one_line_errors() as exc:  # e.g. a damaged store: "database disk image is malformed"
        print(f"livedj suggest: {describe(exc, config['index']['path'])}", file=sys.stderr)
        return 1
    if len(audio) < engine.encoder.sample_rate:
        from livedj.audio.decode import too_short

        print(f"livedj suggest: {too_short(args.file, args.at, window_s)}", file=sys.stderr)
        return 1
    from livedj.engine.session import Session

    session = Session()  # as live: what is identified as playing is not suggested
    for _ in range(engine.now_playing.updates_to_confirm):  # the live loop confirms a match over consecutive updates
        update = engine.update(audio, engine.encoder.sample_rate, session=session,
                               t=args.at + len(audio) / engine.encoder.sample_rate)
    if update.status == "silence" and not args.json:  # ten records "like" silence, ranked by noise, said nothing
        from livedj.dsp.level import rms_db
        from livedj.engine.analyzer import SILENCE_DBFS

        print(f"livedj suggest: {printable(args.file)}: silent at {args.at:g} s ({rms_db(audio):.0f} dBFS; music is "
              f"{SILENCE_DBFS:.0f} dBFS or louder): no suggestions; give --at where it plays", file=sys.stderr)
        return 1
    if args.mixxx_playlist:
        from livedj.library.importers import default_mixxx_db
        from livedj.library.mixxx import MixxxBusy, append_to_playlist

        database = config["mixxx"]["database"] or default_mixxx_db()
        try:
            added = append_to_playlist(database, args.mixxx_playlist, [s.path for s in update.suggestions])
        except (MixxxBusy, OSError, ValueError) as exc:
            print(f"livedj suggest: {exc}", file=sys.stderr)
            return 1
        print(f"appended {plural(added, 'track')} to Mixxx playlist {args.mixxx_playlist!r}", file=sys.stderr)
    if args.json:
        print(json.dumps(jsonable(update.to_json()), ensure_ascii=not writes_unicode(sys.stdout)))
        return 0
    console = Console()
    if update.now_playing:
        console.print(f"playing: {track_label(update.now_playing)} "
                      f"(confidence {update.now_playing['confidence']:.2f}; not suggested)", markup=False)
    if update.tags:
        console.print("sounds like: " + ", ".join(f"{n} {p:.2f}" for n, p in update.tags))
    table = Table(title=Text(f"suggestions for {printable(args.file)} @ {args.at:g} s"))
    # every column fits the terminal: the figures keep their width ("0.5…" said nothing; past the edge the key
    # was cut off), artist and title give way, the path and the why come only where they fit. 43 = the "#"
    # and the figures, 2 + 5 + 6 + 5 + 3, plus 3 per column of padding and rule and the last rule (7 columns)
    room = console.width - 43
    wide = room - 39 >= 2 * 16  # the path: 36 + 3
    why = wide and room - 39 - 43 >= 2 * 16  # the fader move and key relation, as the dashboard says them: 40 + 3
    name_width = max(1, min(28, (room - 39 * wide - 43 * why) // 2))
    table.add_column("#", justify="right", no_wrap=True, min_width=2)
    for column in ("artist", "title"):
        table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=name_width)
    for column, width in (("score", 5), ("sim", 6), ("BPM", 5), ("key", 3)):
        table.add_column(column, justify="right", no_wrap=True, min_width=width)
    if wide:
        table.add_column("path", no_wrap=True, overflow="ellipsis", max_width=36)
    if why:
        table.add_column("why", no_wrap=True, overflow="ellipsis", max_width=40, style="dim")
    for s in update.suggestions:
        # Text: a title "Intro [/]" or "Song [feat. mc]" is no markup (an error, or lost)
        table.add_row(str(s.rank), Text(s.artist or ""), Text(s.title or ""), f"{s.score:.3f}", f"{s.similarity:.3f}",
                      f"{s.bpm:.1f}" if s.bpm else "", s.key or "", *([Text(printable(s.path))] if wide else []),
                      *([Text(describe_why(s.why))] if why else []))
    console.print(table)
    return 0
