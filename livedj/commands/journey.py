"""`livedj journey A B [C ...] --steps N -o set.m3u`: plan a path through the library.

Between consecutive waypoints the target moves along the great circle from one song-beginning
vector to the next; each step takes the best-ranked neighbour of the target, ranked as a live
update ranks (similarity, tempo and key compatibility with the previous track, the configured
weights and rules), never a track already on the path, never a near-duplicate of one (cosine
above 0.995, or the same artist and title).
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from livedj.words import plural

if TYPE_CHECKING:  # numpy loads when the command runs, not for `livedj --help`
    import numpy as np

NEAR_DUPLICATE = 0.995


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between unit vectors ``a`` and ``b``."""
    import numpy as np

    omega = float(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0)))
    if omega < 1e-6:
        return a
    v = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    return v / np.linalg.norm(v)


def resolve(text: str, tracks: dict) -> int:
    """A track id from a file path or from words of 'artist - title' (must be unique)."""
    absolute = os.path.abspath(text)
    for t in tracks.values():
        if t.path == absolute:
            return t.id
    words = text.lower().split()
    hits = [t.id for t in tracks.values() if all(w in f"{t.artist} - {t.title}".lower() for w in words)]
    if len(hits) > 1:  # "Intro" also matches "Intro (Remix)": a whole title or 'artist - title' decides
        whole = " ".join(words)
        exact = [i for i in hits if whole in (" ".join(tracks[i].title.lower().split()),
                                              " ".join(f"{tracks[i].artist} - {tracks[i].title}".lower().split()))]
        hits = exact if len(exact) == 1 else hits
    if len(hits) > 1 and len({(tracks[i].artist.lower(), tracks[i].title.lower()) for i in hits}) == 1:
        # copies with the same tags: no words can choose one, only a path (which ones, then)
        from livedj.fsutil import printable

        named = sorted(printable(tracks[i].path) for i in hits)
        shown = ", ".join(named[:3]) + (", ..." if len(named) > 3 else "")
        raise LookupError(f"{text!r} matches {len(hits)} tracks with the same artist and title; give its path "
                          f"({shown})")
    if len(hits) != 1:
        if not hits and os.path.isfile(text):
            raise LookupError(f"{text}: not in the index (run `livedj index` on its folder first)")
        raise LookupError(f"{text!r} matches {plural(len(hits), 'track')} in the index; give "
                          + ("more words or its path" if hits else "its path"))
    return hits[0]


def check_waypoints(waypoints: list[int], tracks: dict) -> None:
    """Raise LookupError (one line) when two consecutive waypoints are one recording: the record itself
    twice, or two copies of it (``Track.recording``). The plan played it at both ends, the way between
    them only its neighbours, against "no repeats"."""
    from livedj.fsutil import printable

    for i, (a, b) in enumerate(zip(waypoints, waypoints[1:]), 1):
        ra, rb = getattr(tracks[a], "recording", None), getattr(tracks[b], "recording", None)
        if a == b:
            what = f"the same record ({printable(tracks[a].path)})"
        elif ra is not None and ra == rb:
            what = f"copies of one recording ({printable(tracks[a].path)} and {printable(tracks[b].path)})"
        else:
            continue
        raise LookupError(f"waypoints {i} and {i + 1} are {what}: a journey goes between two different records")


def check_vectors(waypoints: list[int], tracks: dict, vectors: dict, encoder: str) -> None:
    """Raise LookupError (one line naming the file) for a waypoint with no vector of ``encoder``: its row
    was analysed with another encoder (the config's encoder changed since `livedj index`), and its vector is
    not comparable with the index's. The plan raised KeyError."""
    from livedj.fsutil import printable

    for w in waypoints:
        if w not in vectors:
            raise LookupError(f"{printable(tracks[w].path)}: not analysed with the encoder in use ({encoder}; "
                              "its vector is another encoder's or missing): run `livedj index` on its folder again")


def plan(waypoints: list[int], vectors: dict[int, np.ndarray], tracks: dict, index, steps: int, *,
         weights=None, rules=None, candidates: int = 50) -> list[int]:
    """Track ids from the first waypoint to the last, ``steps`` chosen tracks between each pair.

    Each step ranks the neighbours of the interpolated target exactly as a live update ranks the
    neighbours of what is heard (:func:`livedj.engine.ranker.rank`, the configured ``weights`` and
    ``rules``), the previous track's tempo and key standing in for the live ones.
    """
    import numpy as np

    from livedj.engine.ranker import Rules, Weights, rank

    weights, rules = weights or Weights(), rules or Rules()
    path = [waypoints[0]]
    for a, b in zip(waypoints, waypoints[1:]):
        for i in range(1, steps + 1):
            target = slerp(vectors[a], vectors[b], i / (steps + 1))
            prev = tracks[path[-1]]
            ids, sims = index.query(target, candidates + len(path))
            # a row the index holds without a vector of this encoder (analysed again with another) is no candidate
            keep = [j for j, track_id in enumerate(ids.tolist()) if track_id in tracks and track_id in vectors and not any(
                float(vectors[track_id] @ vectors[p]) > NEAR_DUPLICATE
                or (tracks[track_id].artist, tracks[track_id].title) == (tracks[p].artist, tracks[p].title)
                for p in path)]
            best = rank(ids[keep], np.asarray(sims)[keep], tracks, top=1, live_bpm=prev.bpm, live_key=prev.key,
                        exclude=set(path) | set(waypoints), weights=weights, rules=rules)
            if best:
                path.append(best[0].track_id)
        path.append(b)
    return path

HELP = "a path through the library from one track to another"
DESCRIPTION = (
    "Plan a set: from track A to B (via C ...), interpolating in embedding space, respecting the tempo and key "
    "rules, with no repeats or near-duplicates. Two consecutive tracks may not be one recording (a track "
    "and itself, or a copy of it).")


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("waypoints", nargs="+", metavar="TRACK",
                        help="file paths (or unique title words) of A B [C ...]")
    parser.add_argument("--steps", type=argtypes.count(0, 1000), default=10, metavar="N", help="tracks between consecutive waypoints (default 10)")
    parser.add_argument("-o", "--output", metavar="FILE", type=argtypes.output_file(".m3u", ".m3u8"), help="write the path as M3U")


def main(args, config) -> int:
    from livedj.encoders import encoder_id
    from livedj.encoders.adapted import resolve_head
    from livedj.library import index as annoy_index
    from livedj.library.history import Play
    from livedj.commands.oneline import describe, one_line_errors
    from livedj.library.store import Store, StoreError

    if len(args.waypoints) < 2:
        print("livedj journey: give at least two tracks (from A to B)", file=sys.stderr)
        return 2
    try:
        enc = encoder_id(config["analysis"]["encoder"], resolve_head(config))
        index = annoy_index.load(config["index"]["path"], encoder=enc)
        store = Store(config["index"]["path"], readonly=True)
        tracks = store.tracks()
        vectors = dict(store.vectors(enc))
        store.close()
        waypoints = [resolve(w, tracks) for w in args.waypoints]
        check_waypoints(waypoints, tracks)
        check_vectors(waypoints, tracks, vectors, enc)
    except (annoy_index.IndexUnusable, StoreError, LookupError) as exc:
        print(f"livedj journey: {exc}", file=sys.stderr)
        return 1
    except one_line_errors() as exc:  # e.g. a damaged store
        print(f"livedj journey: {describe(exc, config['index']['path'])}", file=sys.stderr)
        return 1
    from livedj.engine.loader import ranking_from_config

    ranking = ranking_from_config(config["ranking"])  # what the live engine ranks with
    path = plan(waypoints, vectors, tracks, index, args.steps, weights=ranking.weights, rules=ranking.rules,
                candidates=ranking.candidates)
    from livedj.dsp.tonal import camelot
    from livedj.outputs.osc_args import track_label

    for i, track_id in enumerate(path, 1):
        t = tracks[track_id]
        mark = "*" if track_id in waypoints else " "
        print(f"{i:3d}{mark} {track_label(t)}  [{t.bpm or 0:.1f} BPM, "
              f"{camelot(t.key) if t.key is not None else '?'}]")
    if args.output:
        from livedj.library.exports import export_m3u

        plays = [Play(0, 0, None, tracks[i].path, tracks[i].title, tracks[i].artist, tracks[i].album,
                      tracks[i].duration, tracks[i].bpm, tracks[i].key, "journey", None) for i in path]
        try:
            export_m3u(plays, args.output)
        except OSError as exc:
            print(f"livedj journey: {args.output}: cannot write ({exc.strerror or exc})", file=sys.stderr)
            return 1
        print(f"wrote {plural(len(path), 'track')} to {args.output}")
    return 0
