"""`livedj mix TRACK... | --m3u FILE | --journey A B [--steps N] -o mix.mp3`, and
`livedj mix --preview NOW NEXT -o preview.wav`: render a beat-matched mix (:mod:`livedj.mix`)."""
from __future__ import annotations

import os
import sys

from livedj.words import plural

HELP = "render records into one beat-matched mix (MP3/FLAC/OGG/WAV) with a cue sheet"
DESCRIPTION = (
    "Render TRACK... (or the entries of an M3U, or a journey planned through the library) into one mix: "
    "beat grids, the incoming record time-stretched with key lock to the outgoing tempo and back, blends on "
    "phrase boundaries with a bass swap, loudness matched, no clipping. Writes FILE.cue and FILE.txt (tracklist) "
    "beside the mix. --preview NOW NEXT renders only the one transition (about 30 s).")

TAKES_INDEX = True
#: The longest blend or tempo ramp accepted, in bars (128 bars: 4 min at 128 BPM, 8.5 min at 60).
MAX_BARS = 128


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("tracks", nargs="*", metavar="TRACK", help="audio files in play order")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--m3u", metavar="FILE", help="take the records from this playlist (M3U/PLS, XSPF, or a set CSV "
                        "of `livedj history --export`)")
    source.add_argument("--journey", nargs=2, metavar=("A", "B"), help="plan a journey through the library from A to B")
    source.add_argument("--preview", nargs=2, metavar=("NOW", "NEXT"), help="only the transition NOW -> NEXT")
    parser.add_argument("--steps", type=argtypes.count(0, 1000), metavar="N", help="records between A and B of --journey (default 8)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="the mix: .mp3, .flac, .ogg or .wav")
    parser.add_argument("--blend-bars", type=argtypes.count(1, MAX_BARS), metavar="BARS",
                        help=f"length of each blend, 1-{MAX_BARS} (default 16; preview 8)")
    parser.add_argument("--phrase-bars", type=int, default=16, choices=(8, 16, 32),
                        help="blends start on these phrase boundaries (default 16)")
    parser.add_argument("--ramp-bars", type=argtypes.count(0, MAX_BARS), default=8, metavar="BARS",
                        help="bars over which the incoming record returns to its own tempo after the blend (default 8)")
    parser.add_argument("--lufs", type=argtypes.number(-70.0, 0.0), default=-14.0, help="loudness of every record, LUFS (default -14)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def read_m3u(path: str) -> list[str]:
    """The entries of an (extended) M3U, M3U8, PLS, XSPF or livedj's set CSV, relative paths taken from the
    playlist's folder, read as `livedj index --playlists` reads them (any encoding, ``file:`` URLs); skipped
    entries are told on stderr."""
    from livedj.fsutil import printable
    from livedj.library.importers import LibraryImportError
    from livedj.library.importers.listfiles import read_playlist_file
    from livedj.library.importers.playlists import BINARY

    try:
        lists, problems = read_playlist_file(path)  # M3U/PLS, XSPF, a set CSV of `livedj history --export`
    except LibraryImportError as exc:  # one line naming the file, as the other bad inputs
        hint = "; give records as TRACK..." if str(exc).endswith(BINARY) else ""  # an audio file named as the list
        raise LookupError(printable(str(exc)) + hint) from None
    if len(lists) != 1:  # a rekordbox XML or Traktor NML: which of its playlists?
        raise LookupError(f"{printable(path)}: {len(lists)} playlists in it; give one playlist file (export it "
                          "from the DJ software as M3U)")
    paths = list(lists[0].paths)
    for where, why in problems:
        print(f"livedj mix: {printable(where)}: {printable(why)}", file=sys.stderr)
    return paths


def _mixed_sources(args) -> str | None:
    """Why the records to mix are given twice over (TRACK... and a source option; --steps without
    --journey), else None: the one not used was dropped without a word."""
    from livedj.fsutil import printable

    source = next((f"--{name}" for name in ("m3u", "journey", "preview") if getattr(args, name)), None)
    if source and args.tracks:
        return (f"give records either as TRACK... or with {source}, not both "
                f"({' '.join(map(printable, args.tracks))} would be left out)")
    if args.steps is not None and not args.journey:
        return "--steps is the number of records between A and B of --journey; give --journey A B too"
    return None


def check_not_repeated(paths: list[str], preview: bool = False, recording_of: dict | None = None) -> None:
    """Raise LookupError (one line naming the file) when two consecutive records are one file (the same path,
    or the same file spelled another way or linked), or two copies of one recording the library holds
    (``recording_of``: :func:`library_recordings`): the mix blended the record into itself, as `livedj
    journey A A` is refused for. The same record again later (A B A) is the DJ's choice: mixed."""
    from livedj.fsutil import printable

    recording_of = recording_of or {}

    def recording(path):
        for key in (os.path.abspath(path), os.path.realpath(path)):
            if os.fsencode(key) in recording_of:
                return recording_of[os.fsencode(key)]
        return None

    for i, (a, b) in enumerate(zip(paths, paths[1:]), 1):
        try:
            same = a == b or os.path.samefile(a, b)
        except (OSError, ValueError):  # either missing: said when it is read
            same = False
        which = "NOW and NEXT" if preview else f"records {i} and {i + 1}"
        if same:
            raise LookupError(f"{which} are the same record ({printable(a)}): a mix blends each record into another; "
                              "give it once")
        ra = recording(a)
        if ra is not None and ra == recording(b):
            raise LookupError(f"{which} are copies of one recording ({printable(a)} and {printable(b)}): a mix "
                              "blends each record into another; give it once")


def library_recordings(index_dir: str) -> dict[bytes, int]:
    """Encoded path -> recording, for the records the library holds more than once (found by `livedj index`);
    empty without a readable index (records mixed from anywhere need none)."""
    from livedj.library.copies import recordings_by_path
    from livedj.library.store import Store

    try:
        if not os.path.isdir(index_dir):
            return {}
        store = Store(index_dir, readonly=True)
        try:
            return recordings_by_path(store.tracks())
        finally:
            store.close()
    except Exception:  # noqa: BLE001 -- no index, an older or damaged one: copies are then not known
        return {}


def _journey(args, config) -> list[str]:
    from livedj.commands.journey import check_vectors, check_waypoints, plan, resolve
    from livedj.encoders import encoder_id
    from livedj.encoders.adapted import resolve_head
    from livedj.engine.loader import ranking_from_config
    from livedj.library import index as annoy_index
    from livedj.library.store import Store

    enc = encoder_id(config["analysis"]["encoder"], resolve_head(config))
    index = annoy_index.load(config["index"]["path"], encoder=enc)
    store = Store(config["index"]["path"], readonly=True)
    try:
        tracks = store.tracks()
        vectors = dict(store.vectors(enc))
    finally:
        store.close()
    waypoints = [resolve(w, tracks) for w in args.journey]
    ranking = ranking_from_config(config["ranking"])  # as `livedj journey` plans it
    check_waypoints(waypoints, tracks)
    check_vectors(waypoints, tracks, vectors, enc)
    steps = 8 if args.steps is None else args.steps  # None: given or not tells --steps without --journey
    ids = plan(waypoints, vectors, tracks, index, steps, weights=ranking.weights, rules=ranking.rules,
               candidates=ranking.candidates)
    return [tracks[i].path for i in ids]


def main(args, config) -> int:
    from livedj.audio.decode import DecodeError
    from livedj.mix.make import OutputError, make_mix, make_preview
    from livedj.mix.render import MixOptions

    problem = _mixed_sources(args)
    if problem:
        print(f"livedj mix: {problem}", file=sys.stderr)
        return 2
    blend = args.blend_bars if args.blend_bars is not None else (8 if args.preview else 16)
    options = MixOptions(blend_bars=blend, phrase_bars=args.phrase_bars, ramp_bars=args.ramp_bars,
                         target_lufs=args.lufs)
    try:
        if args.preview:
            check_not_repeated(list(args.preview), preview=True,
                               recording_of=library_recordings(config["index"]["path"]))
            entries, stats = make_preview(*args.preview, args.output, options)
        else:
            if args.m3u:
                paths = read_m3u(args.m3u)
            elif args.journey:
                paths = _journey(args, config)
            else:
                paths = list(args.tracks)
            if len(paths) < 1:
                print("livedj mix: give records (TRACK..., --m3u or --journey)", file=sys.stderr)
                return 2
            check_not_repeated(paths, recording_of=library_recordings(config["index"]["path"]))

            def said(entry):
                if entry.start is None:
                    print(f"livedj mix: {entry.path}: {entry.transition}", file=sys.stderr)

            entries, stats = make_mix(paths, args.output, options, show_progress=not args.no_progress,
                                      on_record=said)
    except (OutputError, DecodeError, LookupError, OSError) as exc:
        print(f"livedj mix: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the index may be missing for --journey
        from livedj.library.index import IndexUnusable
        from livedj.library.store import StoreError

        if isinstance(exc, (IndexUnusable, StoreError)):
            print(f"livedj mix: {exc}", file=sys.stderr)
            return 1
        raise
    from livedj.mix.cue import tracklist

    sys.stdout.write(tracklist(entries, stats))
    played = sum(e.start is not None for e in entries)
    print(f"wrote {args.output} ({plural(played, 'record')}, {stats['duration'] / 60:.1f} min)"
          + ("" if args.preview else f", {os.path.splitext(args.output)[0]}.cue and .txt"))
    return 0 if played else 1
