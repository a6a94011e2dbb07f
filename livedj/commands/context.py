"""`livedj context [TRACK]`: what livedj learned from the DJ's playlists, crates and sets.

Without TRACK: how many lists of each kind, how many tracks they cover, how many got a context
vector from their sound, how well that sound -> context map predicts held-out tracks. With TRACK
(a path or unique words of "artist - title"): its nearest neighbours in context space, with why.
"""
from __future__ import annotations

import sys

from livedj.words import plural

HELP = "what was learned from your playlists, crates and sets"
DESCRIPTION = (
    "The context model: built by `livedj index --from-rekordbox/--from-traktor/--from-mixxx/--playlists` "
    "from the DJ's playlists, crates and history, and from livedj's own set log. Without TRACK, a summary; "
    "with TRACK (a path or unique words of 'artist - title'), its nearest neighbours in context space.")


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("track", nargs="?", metavar="TRACK", help="show this track's context neighbours")
    # 0 or a negative number showed one neighbour: [:0] of a list built with max(1, ...)
    parser.add_argument("--top", type=argtypes.count(1, 1000), default=10, metavar="N",
                        help="neighbours to show, 1-1000 (default 10)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild from the saved lists and the set log now")
    parser.add_argument("--json", action="store_true", help="print JSON")


def summary(model) -> dict:
    """The figures ``livedj context`` prints (also its JSON)."""
    stats = dict(model.stats)
    stats.pop("key", None)
    return {"lists": stats.get("lists", 0), "by_kind": stats.get("by_kind", {}), "sound_map_mean_cosine": stats.get("sound_map_mean_cosine"), "tracks": int(len(model.ids)),
            "in_lists": int(model.learned.sum()), "from_sound": stats.get("predicted", 0),
            "banned": int(model.banned.sum()), "transitions": stats.get("transitions", 0),
            "sound_map_cosine": stats.get("sound_map_cosine"), "build_s": stats.get("seconds")}


def sound_map_judged(stats: dict) -> str:
    """`` (held-out cosine X, the mean vector's Y)`` of a context model's stats, or "" where the sound map was
    judged on no held-out tracks (too few tracks in lists: it printed "cosine None")."""
    if stats.get("sound_map_cosine") is None:
        return ""
    return f" (held-out cosine {stats['sound_map_cosine']}, the mean vector's {stats['sound_map_mean_cosine']})"


def main(args, config) -> int:
    import json

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from livedj.commands.journey import resolve
    from livedj.encoders import encoder_id
    from livedj.engine.context_term import context_neighbours, context_scores
    from livedj.library.context_update import load_context, update_context
    from livedj.library.store import Store, StoreError

    index_dir = config["index"]["path"]
    encoder = encoder_id(config["analysis"]["encoder"])
    history = config["history"]["path"]
    try:
        store = Store(index_dir, readonly=True)
    except StoreError as exc:
        print(f"livedj context: {exc}", file=sys.stderr)
        return 1
    tracks = store.tracks()
    store.close()
    if args.rebuild:
        model, report = update_context(index_dir, encoder, history_path=history)
        problem = None
    else:
        model, problem = load_context(index_dir, encoder, history)
    if problem:
        print(f"livedj context: {problem}", file=sys.stderr)
    console = Console()
    if model is None or model.empty:
        console.print("no playlists, crates or sets learned yet: import them with `livedj index --from-rekordbox "
                      "FILE` (or --from-traktor, --from-mixxx, --playlists PATH); plays logged by `livedj run` "
                      "count from the next `livedj index`")
        return 0
    figures = summary(model)
    if args.track is None:
        if args.json:
            print(json.dumps(figures))
            return 0
        kinds = ", ".join(f"{n} {k}s" for k, n in figures["by_kind"].items() if n)
        judged = sound_map_judged(figures)
        console.print(f"[bold]{plural(figures['lists'], 'list')}[/] ({kinds}) · {figures['in_lists']} of "
                      f"{plural(figures['tracks'], 'track')} in them · {figures['from_sound']} placed by their sound{judged} · "
                      f"{figures['transitions']} transitions played · {figures['banned']} banned", highlight=False)
        return 0
    try:
        track_id = resolve(args.track, tracks)
    except LookupError as exc:
        print(f"livedj context: {exc}", file=sys.stderr)
        return 1
    near = context_neighbours(track_id, model, args.top)
    titles = {t.id: f"{t.artist} - {t.title}" if t.artist else t.title for t in tracks.values()}
    term = context_scores(near, track_id, model, titles=titles) or ([0.0] * len(near), [None] * len(near))
    rows = [{"track_id": int(t), "title": titles.get(int(t), str(t)), "path": tracks[int(t)].path if int(t) in tracks
             else None, "context": round(float(s), 3), "why": w} for t, s, w in zip(near.tolist(), *term)]
    if args.json:
        print(json.dumps({"track": titles.get(track_id), "neighbours": rows}))
        return 0
    r = model.row(track_id)
    if len(rows) == 0 and not (r is not None and model.learned[r]) and not model.stats.get("sound_map_train"):
        # in no list, and no sound map to place it by: the table was empty, without a word why
        print(f"{titles.get(track_id)} is in none of your playlists, crates or sets, and no sound map "
              f"that places such records was learned yet (it needs at least 8 listed tracks with "
              f"analysed audio): import more lists with `livedj index --from-rekordbox FILE` (or "
              f"--from-traktor, --from-mixxx, --playlists PATH)")  # one line, never wrapped
        return 0
    origin = "from your lists" if r is not None and model.learned[r] else "placed by its sound (in no list)"
    table = Table(title=Text(f"context neighbours of {titles.get(track_id)} ({origin})"))
    for name in ("#", "track", "context", "why"):
        table.add_column(name)
    for i, row in enumerate(rows, 1):
        # Text: a title "Intro [/]" or "Song [feat. mc]" is no markup (an error, or lost)
        table.add_row(str(i), Text(row["title"] or ""), f"{row['context']:.2f}", Text(row["why"] or ""))
    console.print(table)
    return 0
