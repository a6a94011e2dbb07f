"""`livedj demo`: the whole product on a machine with no microphone and no music library.

1. generate a small library of distinct synthetic tracks (real audio files: mp3, flac, ogg, m4a, wav);
2. index it like any library;
3. play a demo "mix" that is *not* in the library -- one held-out track crossfading into another
   of a different style -- through the live loop, with the dashboard;
4. summarise what was suggested while each part played.

Nothing is downloaded; a re-run reuses the generated files and the index.
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

from livedj.config import override, xdg_dir


def _mix_specs():
    """The two held-out records of the demo input: styles the library has, but other songs.

    Another seed alone would give the same record with another lead line (same drums, bass and
    chords, exactly in time), which the fingerprints rightly recognise; so each also moves to
    another key and a tempo 10 % away, as a different record in that style would be. 10 %, not
    less: the matcher's key-lock hypotheses reach +-8 % of tempo, and at 7 % they found the
    library record's drum pattern (same samples) and named it NOW PLAYING.
    """
    from livedj.synth import DEMO_TRACKS, TrackSpec

    by_style = {t.style: t for t in DEMO_TRACKS}
    styles = list(by_style)
    first = by_style.get("techno", DEMO_TRACKS[0])
    second = by_style.get("ambient", by_style[styles[len(styles) // 2]])
    return (TrackSpec(title="Demo Input (part 1)", artist="livedj demo", bpm=round(first.bpm * 0.9),
                      key="D minor", style=first.style, seed=first.seed + 1000),
            TrackSpec(title="Demo Input (part 2)", artist="livedj demo", bpm=round(second.bpm * 1.1),
                      key="A major", style=second.style, seed=second.seed + 1000))


def make_input(path: Path, duration: float, sample_rate: int = 22050) -> list[tuple[float, float, str]]:
    """Write the demo mix to ``path``; return its parts as (start s, end s, style)."""
    import numpy as np

    from livedj.synth import render_track, write_audio

    a_spec, b_spec = _mix_specs()
    half, fade = duration / 2 + 2.0, 4.0
    a = render_track(a_spec, duration=half + fade / 2, sample_rate=sample_rate)
    b = render_track(b_spec, duration=half + fade / 2, sample_rate=sample_rate)
    n_fade = int(fade * sample_rate)
    ramp = np.linspace(0.0, 1.0, n_fade, dtype=np.float32)
    mix = np.concatenate([a[:-n_fade], a[-n_fade:] * (1 - ramp) + b[:n_fade] * ramp, b[n_fade:]])
    if not path.exists():
        write_audio(path, mix.astype(np.float32), sample_rate, title="livedj demo mix", artist="livedj")
    cut = len(a) / sample_rate - fade / 2
    return [(0.0, cut, a_spec.style), (cut, len(mix) / sample_rate, b_spec.style)]


HELP = "generate a demo library, index it and run live on a demo input"
DESCRIPTION = "Works with no microphone and no music library: nothing is downloaded."
TAKES_INDEX = False  #: no --index option: the command does not read the index


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("--dir", metavar="DIR", help="where the demo library and index go "
                                                    "(default: $XDG_CACHE_HOME/livedj/demo)")
    parser.add_argument("--duration", type=argtypes.number(1.0, 3600.0), default=20.0, metavar="S",
                        help="seconds of live demo, 1-3600 (default 20)")
    parser.add_argument("--fast", action="store_true", help="run the live part as fast as possible")
    parser.add_argument("--no-dashboard", action="store_true", help="print JSON lines instead of the dashboard")


def _where_from(dir_arg) -> str:
    """Where the demo folder's path came from, for an error naming it."""
    if dir_arg:
        return "--dir"
    if os.environ.get("XDG_CACHE_HOME"):
        return "from $XDG_CACHE_HOME"
    return f"from HOME={os.environ['HOME']}" if os.environ.get("HOME") else "from the user's home"


def main(args, config) -> int:
    from livedj.commands.index import print_report, run_index
    from livedj.commands.run import print_summary, run_live
    from rich.console import Console

    from livedj.library.verify import IndexBusy, lock, unlock
    from livedj.synth import DEMO_TRACKS, build_demo_library

    console = Console(stderr=True)
    root = Path(args.dir) if args.dir else xdg_dir("CACHE", ".cache") / "demo"
    library, index_dir = root / "library", root / f"index-{config['analysis']['encoder']}"
    # the demo's plays go to its own set log, never into the DJ's real one
    config = override(config, {"index": {"path": str(index_dir)}, "history": {"path": str(root / "history.sqlite")}})

    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # it said only "livedj demo: /nonexistent: Permission denied" (a service user's home)
        print(f"livedj demo: cannot make the demo folder {root}: {exc.strerror or exc} "
              f"({_where_from(args.dir)}); choose a writable one with --dir DIR", file=sys.stderr)
        return 1
    console.rule("[bold]livedj demo")
    console.print(f"1/3 generating {len(DEMO_TRACKS)} synthetic tracks in {library}")
    with console.status("rendering and encoding audio ..."):
        build_demo_library(library)
    console.print("2/3 indexing the demo library")
    while True:  # two demos started together: the second waits for the first's index, then finds it built
        try:
            report = run_index([str(library)], config, console=console)
            break
        except IndexBusy:  # it died "another `livedj index` is building this index"
            console.print("another livedj is indexing the demo library: waiting for it")
            unlock(lock(index_dir, wait=True))  # until the first demo's build lets go of the lock
    print_report(report, console)
    mix_path = root / f"demo-mix-v3-{int(args.duration)}s.wav"
    parts = make_input(mix_path, args.duration)
    console.print(f"3/3 playing a mix that is not in the library ({parts[0][2]} into {parts[1][2]}) through the "
                  f"live loop for {args.duration:.0f} s" + (" (fast)" if args.fast else ""))
    style_of = {(t.artist, t.title): t.style for t in DEMO_TRACKS}
    loop = run_live(config, input_file=str(mix_path), fast=args.fast, duration=args.duration,
                    dashboard=not args.no_dashboard, json_lines=args.no_dashboard)
    seen = list(loop.history)
    console.rule("[bold]summary")
    print_summary(loop, err=console.file)
    for start, end, style in parts:
        tops = [u.suggestions[0] for u in seen if start <= u.t - 2.5 < end and u.suggestions]
        styles = Counter(style_of.get((s.artist, s.title), "?") for s in tops)
        picks = Counter(f"{s.artist} - {s.title}" for s in tops).most_common(2)
        styles_text = ", ".join(f"{name} {n}x" for name, n in styles.most_common()) or "-"
        console.print(f"while [bold]{style}[/] played ({start:.0f}-{min(end, args.duration):.0f} s): top pick styles "
                      f"{styles_text}; most often: {', '.join(f'{p} ({n}x)' for p, n in picks) or '-'}",
                      markup=True, highlight=False)
    return 0
