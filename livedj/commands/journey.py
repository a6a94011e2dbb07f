"""`livedj journey A B [C ...] --steps N -o set.m3u`: plan a path through the library.

Between consecutive waypoints the target moves along the great circle from one song-beginning
vector to the next; each step takes the library track nearest the target that the previous
track can mix into (tempo within the pitch range, a compatible key), never a track already on
the path, never a near-duplicate of one (cosine above 0.995, or the same artist and title).
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

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
    if len(hits) != 1:
        raise LookupError(f"{text!r} matches {len(hits)} tracks in the index" + ("" if hits else "; give its path"))
    return hits[0]


def plan(waypoints: list[int], vectors: dict[int, np.ndarray], tracks: dict, index, steps: int, *,
         pitch_range: float = 0.08, candidates: int = 50) -> list[int]:
    import numpy as np

    from livedj.engine.rules import key_relation, tempo_compatibility

    path = [waypoints[0]]
    for a, b in zip(waypoints, waypoints[1:]):
        for i in range(1, steps + 1):
            target = slerp(vectors[a], vectors[b], i / (steps + 1))
            prev = tracks[path[-1]]
            ids, sims = index.query(target, candidates + len(path))
            best, best_score = None, -np.inf
            for track_id, sim in zip(ids.tolist(), sims.tolist()):
                t = tracks.get(track_id)
                if t is None or track_id in path or track_id in waypoints:
                    continue
                if any(float(vectors[track_id] @ vectors[p]) > NEAR_DUPLICATE
                       or (t.artist, t.title) == (tracks[p].artist, tracks[p].title) for p in path):
                    continue
                tempo, _, _ = tempo_compatibility(prev.bpm, t.bpm, pitch_range)
                _, key = key_relation(prev.key, t.key)
                score = sim + 0.25 * tempo + 0.25 * key
                if score > best_score:
                    best, best_score = track_id, score
            if best is not None:
                path.append(best)
        path.append(b)
    return path


HELP = "a path through the library from one track to another"
DESCRIPTION = (
    "Plan a set: from track A to B (via C ...), interpolating in embedding space, respecting the tempo and key "
    "rules, with no repeats or near-duplicates.")


def add_arguments(parser) -> None:
    parser.add_argument("waypoints", nargs="+", metavar="TRACK",
                        help="file paths (or unique title words) of A B [C ...]")
    parser.add_argument("--steps", type=int, default=10, metavar="N", help="tracks between consecutive waypoints")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the path as M3U")


def main(args, config) -> int:
    from livedj.encoders import encoder_id
    from livedj.library import index as annoy_index
    from livedj.library.history import Play
    from livedj.library.store import Store, StoreError

    if len(args.waypoints) < 2:
        print("livedj journey: give at least two tracks (from A to B)", file=sys.stderr)
        return 2
    try:
        enc = encoder_id(config["analysis"]["encoder"])
        index = annoy_index.load(config["index"]["path"], encoder=enc)
        store = Store(config["index"]["path"], readonly=True)
        tracks = store.tracks()
        vectors = dict(store.vectors(enc))
        store.close()
        waypoints = [resolve(w, tracks) for w in args.waypoints]
    except (annoy_index.IndexUnusable, StoreError, LookupError) as exc:
        print(f"livedj journey: {exc}", file=sys.stderr)
        return 1
    path = plan(waypoints, vectors, tracks, index, args.steps, pitch_range=config["ranking"]["pitch_range"])
    from livedj.dsp.tonal import camelot

    for i, track_id in enumerate(path, 1):
        t = tracks[track_id]
        mark = "*" if track_id in waypoints else " "
        print(f"{i:3d}{mark} {t.artist} - {t.title}  [{t.bpm or 0:.1f} BPM, "
              f"{camelot(t.key) if t.key is not None else '?'}]")
    if args.output:
        from livedj.library.exports import export_m3u

        plays = [Play(0, 0, 0.0, tracks[i].path, tracks[i].title, tracks[i].artist, tracks[i].album,
                      tracks[i].duration, tracks[i].bpm, tracks[i].key, "journey", None) for i in path]
        export_m3u(plays, args.output)
        print(f"wrote {len(path)} tracks to {args.output}")
    return 0
