"""`livedj index`: bring the index up to date with the library, with a progress bar and a summary."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from livedj.words import plural

if TYPE_CHECKING:  # rich and the indexer (numpy, annoy, the encoders) load when indexing, not for `livedj --help`
    from rich.console import Console

    from livedj.library.indexer import Report, Settings


def files_per_second_column():
    """A progress column showing the indexing speed in files/s."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class FilesPerSecond(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.2f} files/s" if speed else "-- files/s", style="progress.data.speed")

    return FilesPerSecond()


def settings_from(config: dict) -> Settings:
    from livedj.encoders.adapted import resolve_head
    from livedj.library.indexer import Settings

    return Settings(encoder=config["analysis"]["encoder"], beginning_s=config["index"]["beginning_s"],
                    threads=config["analysis"]["threads"], segment_hop_s=config["index"]["segment_hop_s"],
                    head=str(resolve_head(config)), fit=config["index"].get("fit", "lda"),
                    fit_dims=config["index"].get("fit_dims", 16), fit_room=config["index"].get("fit_room", 0.25))


def run_index(paths, config: dict, *, jobs: int | None = None, console: Console | None = None,
              imported=(), maps=()) -> Report:
    """Index ``paths`` into the configured index directory, drawing progress on ``console``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from livedj.fsutil import printable
    from livedj.library.indexer import index_library
    from livedj.progress import Progress

    console = console or Console(stderr=True)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        files_per_second_column(), TimeRemainingColumn(), TextColumn("{task.fields[name]}", style="dim"), console=console,
                        transient=False)
    tasks: dict[str, int] = {}

    def on_progress(event: str, done: int, total: int, path: str) -> None:
        if event == "scan":
            if total:
                tasks["files"] = progress.add_task("analysing", total=total, name="")
        elif event == "file":
            name = printable(path.rsplit("/", 1)[-1])
            progress.update(tasks["files"], completed=done, name=name[:40])
        elif event == "fingerprint" and done == 0:
            tasks["fingerprint"] = progress.add_task("fingerprinting again (new parameters)", total=total, name="")
        elif event == "fingerprint":
            progress.update(tasks["fingerprint"], completed=done, name=printable(path.rsplit("/", 1)[-1])[:40])
        elif event == "key" and done == 0:
            tasks["key"] = progress.add_task("keys again (new key analysis)", total=total, name="")
        elif event == "key":
            progress.update(tasks["key"], completed=done, name=printable(path.rsplit("/", 1)[-1])[:40])
        elif event == "build" and done == 0:
            tasks["build"] = progress.add_task("building index", total=1, name="")
        elif event == "build":
            progress.update(tasks["build"], completed=1)

    with progress:
        report = index_library(paths, config["index"]["path"], settings_from(config), jobs=jobs,
                               n_trees=config["index"]["n_trees"], progress=on_progress, imported=imported,
                               maps=maps)
    return report


#: problems of one kind printed one by one before the rest are counted (--all-problems: every one)
PROBLEM_LINES = 20


def missing_lines(missing: list, limit: int | None = PROBLEM_LINES) -> list[str]:
    """A line per file the DJ's software lists and this machine lacks, ``limit`` per source (None: all),
    then one counting the rest: a collection whose drive is not plugged in printed 100,000 lines."""
    by_source: dict[str, list] = {}
    for m in sorted(missing, key=lambda m: m.note is None):  # a name found here but not taken: first, it needs a choice
        by_source.setdefault(m.source, []).append(m)
    lines = []
    for source, files in by_source.items():
        shown = files if limit is None else files[:limit]
        lines += [f"{m.path}: {m.reason}" for m in shown]
        rest = files[len(shown):]
        absent = [m for m in rest if m.there is None]
        if absent:
            lines.append(f"... and {len(absent)} more {'file' if len(absent) == 1 else 'files'} listed by {source} "
                         f"{'is' if len(absent) == 1 else 'are'} missing"
                         f"{_in_common([m.path for m in files if m.there is None])}; --all-problems lists every one")
        if len(rest) > len(absent):  # folders, files that cannot be read: no drive to plug in
            lines.append(f"... and {len(rest) - len(absent)} more listed by {source} "
                         f"{'is a folder or' if len(rest) - len(absent) == 1 else 'are folders or'} cannot be read; "
                         "--all-problems lists every one")
    return lines


def dj_problem_lines(problems: list[tuple[str, list]], limit: int | None = PROBLEM_LINES) -> list[str]:
    """A line per entry or field the DJ's software wrote that could not be used (a BPM of "fast", a key of
    "H#"), ``limit`` per collection (None: all), then one counting the rest by what was skipped: a
    collection with 50,000 bad BPMs printed 50,000 lines. ``problems``: (collection, [(where, why)])."""
    lines = []
    for source, trouble in problems:
        shown = trouble if limit is None else trouble[:limit]
        lines += [f"{where}: {why}" for where, why in shown]
        if len(trouble) > len(shown):
            kinds: dict[str, int] = {}
            for _, why in trouble[len(shown):]:  # "...; BPM skipped" -> "BPM skipped"
                kind = why.rpartition("; ")[2] if "; " in why else "other"
                kind = "entries skipped" if kind == "skipped" else kind
                kinds[kind] = kinds.get(kind, 0) + 1
            what = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
            lines.append(f"... and {plural(len(trouble) - len(shown), 'more problem')} in {source} ({what}); --all-problems "
                         "lists every one")
    return lines


def _in_common(paths: list[str]) -> str:
    """What many missing files share: their folder, and the likely reason (", all under X (why)")."""
    from livedj.library.scan import foreign

    try:
        folder = os.path.commonpath(paths)
    except ValueError:  # absolute and relative paths
        folder = ""
    kinds = {foreign(p) for p in paths}
    if kinds == {None}:
        why = "a drive not plugged in?"
    elif kinds <= {"a Windows path", "a Windows network path"}:
        why = "the collection comes from a Windows computer"
    else:
        why = "a drive not plugged in, or a collection from another computer?"
    return (f", all under {folder}" if folder.strip("/") else "") + f" ({why})"


def print_report(report: Report, console: Console, limit: int | None = PROBLEM_LINES,
                 dj_problems: list[tuple[str, list]] = ()) -> None:
    """The summary line, then what was skipped or repaired; ``dj_problems``: (collection, [(where, why)])
    of the DJ software's entries and fields that could not be used, counted among the skipped."""
    from rich.markup import escape
    from rich.text import Text

    from livedj.fsutil import printable
    from livedj.library.track_analysis import SILENT

    silent = sum(SILENT in reason for _, reason in report.skipped)
    moved = f"moved {len(report.moved)} (kept their analysis) · " if report.moved else ""
    console.print(f"[bold]indexed {report.indexed}[/] · unchanged {report.unchanged} · {moved}"
                  f"skipped {len(report.skipped) + len(report.missing)}" + (f" ({silent} silent)" if silent else "") +
                  # a BPM of "fast" skips a field, not the file: counted apart ("skipped 50,000" read as every file)
                  (f" · {plural(n_dj, 'entry or field', 'entries or fields')} of the DJ's software unused" if (n_dj := sum(
                      len(t) for _, t in dj_problems)) else "") +
                  f" · removed {report.removed} · "
                  f"{plural(report.index_items, 'track')} in {escape(printable(report.index_dir))} "
                  f"({report.seconds:.1f} s, {report.files_per_s:.2f} files/s)", soft_wrap=True)
    from livedj.library.relocate import summary

    for line in summary(report.relocated):
        console.print(Text.assemble(("  relocated ", "cyan"), printable(line)), soft_wrap=True)
    if report.moves_unsure:  # said, so the DJ knows why a record moved was analysed again
        console.print(Text.assemble(("  moved ", "cyan"), printable(
            f"{plural(len(report.moves_unsure), 'file')} analysed as new: each is one of several files that could be a "
            f"record gone from its folder (copies of it?), e.g. {report.moves_unsure[0]}")), soft_wrap=True)
    for line in missing_lines(report.missing, limit):
        console.print(Text.assemble(("  skipped ", "yellow"), printable(line)), soft_wrap=True)
    for path, reason in report.skipped:
        # a name from a playlist or a DJ library may hold a newline or a terminal's ESC: one line, escaped
        console.print(Text.assemble(("  skipped ", "yellow"), printable(f"{path}: {reason}")), soft_wrap=True)
    for line in dj_problem_lines(list(dj_problems), limit):
        console.print(Text.assemble(("  skipped ", "yellow"), printable(line)), soft_wrap=True)
    for why in report.repaired:
        console.print(Text.assemble(("  repaired ", "cyan"), f"rebuilt from the store: {why}"), soft_wrap=True)
    if report.damaged:
        console.print(Text.assemble(("  repaired ", "cyan"), f"{plural(report.damaged, 'track')} with damaged vectors (NaN or "
                                                             "infinite, from an older livedj) analysed again"),
                      soft_wrap=True)
    if report.resegmented:
        console.print(Text.assemble(("  repaired ", "cyan"), f"{plural(report.resegmented, 'track')} analysed again: an older "
                                                             "livedj made their segment vectors with another encoder"),
                      soft_wrap=True)
    if report.unsegmented:
        console.print(Text.assemble(("  repaired ", "cyan"), f"{plural(report.unsegmented, 'track')} analysed again: indexed "
                                    "with [index] segment_hop_s = 0, they had no segment vectors or fingerprint to be "
                                    "identified by"), soft_wrap=True)
    if report.rekeyed:
        console.print(Text.assemble(("  keys ", "cyan"), f"{plural(report.rekeyed, 'key')} estimated again (a newer key analysis; "
                                                         "keys from tags or the DJ's software kept)"), soft_wrap=True)
    if report.copies is not None and report.copies.groups:
        console.print(Text.assemble(("  copies ", "cyan"), copies_line(report.copies.groups)), soft_wrap=True)
    if report.copies_problem:
        console.print(Text.assemble(("  copies ", "yellow"), "not looked for this run (the index is built; the next "
                                    f"run looks again): {report.copies_problem}"), soft_wrap=True)
    if report.cleaned:
        console.print(Text.assemble(("  cleaned ", "cyan"), f"{plural(len(report.cleaned), 'leftover')} of an interrupted "
                                                            f"run: {', '.join(report.cleaned[:5])}"), soft_wrap=True)


def copies_line(groups: list[tuple[int, ...]]) -> str:
    """One line for the recordings the library holds more than once (library/copies.py)."""
    twice = sum(len(g) == 2 for g in groups)
    more = len(groups) - twice
    held = " and ".join(part for part in (f"{plural(twice, 'recording')} held twice" if twice else "",
                                          f"{plural(more, 'recording')} held 3 times or more" if more else "") if part)
    return f"{held}: one copy suggested at a time, none once any copy has played"


def read_dj_libraries(args, console: Console) -> tuple[list, list[tuple[str, list[tuple[str, str]]]]]:
    """Tracks (with the DJ's BPM/key) from --from-rekordbox/--from-traktor/--from-mixxx, and the problems
    of each collection: (its file, [(where, why)])."""
    from functools import partial

    from livedj.fsutil import printable
    from livedj.library import importers

    # a playlist's problems are the playlist step's to report (update_context): here they were printed twice
    sources = [(partial(importers.read_rekordbox_xml, playlists=False), f) for f in args.from_rekordbox or []]
    sources += [(partial(importers.read_traktor_nml, playlists=False), f) for f in args.from_traktor or []]
    if args.from_mixxx is not None:
        sources.append((importers.read_mixxx_library, args.from_mixxx or None))
    tracks, problems = [], []
    for reader, source in sources:
        found, trouble = reader(source)
        name = os.fsdecode(source or importers.default_mixxx_db())
        console.print(printable(f"{name}: {plural(len(found), 'track')}"), highlight=False, markup=False, soft_wrap=True)
        tracks += found
        if trouble:
            problems.append((name, trouble))
    return tracks, problems


HELP = "index a music library"
DESCRIPTION = (
    "Scan folders for audio (mp3, m4a/aac, flac, ogg/opus, webm/mka, wav, aiff), embed each song's beginning and "
    "write the Annoy index and metadata store. Only new or changed files are analysed again.")


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("paths", nargs="*", metavar="PATH", help="folders or files (default: library.paths)")
    parser.add_argument("--jobs", type=argtypes.count(1, 256), metavar="N", help="worker processes (default: number of CPUs)")
    parser.add_argument("--from-rekordbox", action="append", metavar="FILE",
                        help="also index the tracks of a rekordbox collection XML, with its BPM/key")
    parser.add_argument("--from-traktor", action="append", metavar="FILE",
                        help="also index the tracks of a Traktor collection.nml, with its BPM/key")
    parser.add_argument("--from-mixxx", nargs="?", const="", metavar="DB",
                        help="also index Mixxx's library (read-only; default: its usual mixxxdb.sqlite)")
    parser.add_argument("--playlists", action="append", metavar="PATH",
                        help="also learn from M3U/M3U8/PLS/XSPF playlists or a set exported by `livedj history --export` "
                             "(a file, or a folder of playlists); the playlists, "
                             "crates and history of --from-* libraries are always read (see `livedj context`)")
    parser.add_argument("--map-path", action="append", type=argtypes.path_map, metavar="OLD=NEW",
                        help="the DJ software's folder OLD is NEW here: its tracks under OLD are looked for under NEW, "
                             "e.g. /Users/dj/Music=/home/dj/Music or C:/Music=/media/dj/USB/Music (repeatable; adds "
                             "to library.map_paths). Without one, a track not found is looked for by its name among "
                             "the scanned files")
    parser.add_argument("--all-problems", action="store_true",
                        help=f"list every missing file, unusable entry or field of the DJ's software (a BPM of "
                             f"\"fast\") and skipped playlist entry (default: the first {PROBLEM_LINES} "
                             "of each source, then how many more)")


def path_maps(args, config) -> list:
    """--map-path, then library.map_paths (a longer OLD wins whichever gives it)."""
    from livedj.pathmap import parse_map

    return [*(getattr(args, "map_path", None) or ()), *map(parse_map, config["library"].get("map_paths", ()))]


def update_context(args, config, console, report: Report | None = None) -> int:
    """Learn the context model: the lists of --from-*/--playlists (or the saved ones) and the set log."""
    from livedj.commands.context import sound_map_judged
    from livedj.encoders import encoder_id
    from livedj.fsutil import printable
    from livedj.library.context_update import read_lists
    from livedj.library.context_update import update_context as update
    from livedj.library.importers import LibraryImportError

    from pathlib import Path

    from livedj.library.sequences import FILENAME

    given = bool(args.from_rekordbox or args.from_traktor or args.from_mixxx is not None or args.playlists)
    if not given and not (Path(config["index"]["path"]) / FILENAME).exists():
        return 0  # no list was ever imported: the set log alone is learned when the engine loads
    lists = None
    if given:
        try:
            lists, problems = read_lists(rekordbox=args.from_rekordbox or (), traktor=args.from_traktor or (),
                                         mixxx=args.from_mixxx, m3u=args.playlists or ())
        except LibraryImportError as exc:
            print(f"livedj index: {exc}", file=sys.stderr)
            return 1
        shown = problems if args.all_problems else problems[:PROBLEM_LINES]
        for where, why in shown:
            console.print(printable(f"  playlists: {where}: {why}"), highlight=False, markup=False, soft_wrap=True)
        if len(problems) > len(shown):
            console.print(f"  playlists: ... and {plural(len(problems) - len(shown), 'more entry', 'more entries')} skipped; --all-problems "
                          "lists every one", highlight=False)
        if not lists:  # an empty folder, a stick not mounted: the lists learned before must not be forgotten
            sources = [*(args.from_rekordbox or ()), *(args.from_traktor or ()), *(args.playlists or ())]
            if args.from_mixxx is not None:
                sources.append(args.from_mixxx or "Mixxx's database")
            saved = (Path(config["index"]["path"]) / FILENAME).exists()
            console.print(printable(f"no playlists, crates or sets found in {', '.join(map(os.fsdecode, sources))}"
                                    + ("; the lists learned before are kept" if saved else "")),
                          highlight=False, markup=False, soft_wrap=True)
            if not saved:
                return 0  # as when no list was ever imported
            lists = None
    from livedj.library.store import StoreError

    try:
        moved = {m.listed: m.path for m in report.relocated} if report is not None else None
        model, report = update(config["index"]["path"], encoder_id(config["analysis"]["encoder"]), lists=lists,
                               history_path=config["history"]["path"], moved=moved, maps=path_maps(args, config))
    except StoreError as exc:
        print(f"livedj index: {exc}", file=sys.stderr)
        return 1
    for name, part in (("lists", report.imported), ("set log", report.set_log)):
        if part is not None and part.sequences:
            console.print(printable(f"{name}: " + "; ".join(part.lines())), highlight=False, markup=False,
                          soft_wrap=True)
    for where, why in report.problems:
        console.print(printable(f"  {where}: {why}"), highlight=False, markup=False, soft_wrap=True)
    if not model.empty:
        s = model.stats
        console.print(f"context: {plural(s['lists'], 'list')}, {plural(s['learned'], 'track')} in them, {s['predicted']} placed by their "
                      f"sound{sound_map_judged(s)}, {s['seconds']:.1f} s", highlight=False, soft_wrap=True)
    return 0


def main(args, config) -> int:
    from rich.console import Console

    from livedj.library.importers import LibraryImportError

    paths = args.paths or ([] if (args.from_rekordbox or args.from_traktor or args.from_mixxx is not None)
                           else config["library"]["paths"])
    console = Console(stderr=True)
    try:
        imported, problems = read_dj_libraries(args, console)
    except LibraryImportError as exc:
        print(f"livedj index: {exc}", file=sys.stderr)
        return 1
    if not paths and not imported and not args.playlists:
        named = [*(args.from_rekordbox or ()), *(args.from_traktor or ())] + (
            [args.from_mixxx or "Mixxx's database"] if args.from_mixxx is not None else [])
        print(f"livedj index: {' and '.join(map(os.fsdecode, named))} list{'s' * (len(named) == 1)} no track, and no folder "
              "is given" if named else
              "livedj index: no folders given, no DJ library imported, and library.paths is empty in the config",
              "name your music folder, e.g. `livedj index ~/Music`", sep=": ", file=sys.stderr)
        return 2
    from livedj.commands.oneline import describe, one_line_errors

    report = None
    try:
        if paths or imported:
            report = run_index(paths, config, jobs=args.jobs, console=console, imported=imported,
                               maps=path_maps(args, config))
            print_report(report, Console(), None if args.all_problems else PROBLEM_LINES, problems)
            if paths and not imported and not any(os.path.exists(p) for p in paths):
                return 1  # every folder named is missing (a typo, a drive not plugged in): nothing was done
            if not report.index_items:  # a first run on the wrong folder: say what livedj looks for
                print("livedj index: the index is empty: no audio file (mp3, m4a/aac, flac, ogg/opus, webm/mka, wav, "
                      f"aiff) could be indexed from {', '.join(map(str, paths)) or 'the DJ library'}", file=sys.stderr)
        return update_context(args, config, console, report)
    except one_line_errors() as exc:
        print(f"livedj index: {describe(exc, config['index']['path'])}", file=sys.stderr)
        return 1
