"""`livedj playlist SEED [--n 20] [--lookback 3] [--drunk 0.2] [-o set.m3u] [--relative]`.

A chain of records from a seed: each next record is what the live loop would suggest while the
previous one plays -- the same query (the session's lookback blend of the last vectors, plus its
drunk noise) and the same ranking (similarity, tempo reach from the previous record's tempo,
Camelot key) -- never a record already on the chain, never a near-duplicate of one (cosine
above 0.995, or the same artist and title). The seed is a library track (path or unique title
words) or any audio file, analysed like a live window (``--at``).
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from livedj.words import plural

if TYPE_CHECKING:
    import numpy as np

HELP = "a playlist chained from one seed record, as the live loop would suggest it"
DESCRIPTION = (
    "From SEED (a library track, or any audio file analysed like a live window) chain N records, each the best "
    "suggestion while the previous one plays: similarity, tempo reach, Camelot key, lookback and drunk as live; "
    "no repeats, no near-duplicates. Writes M3U, CSV or rekordbox XML by the extension of -o.")

NEAR_DUPLICATE = 0.995


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("seed", metavar="SEED", help="library track (path or unique title words) or an audio file")
    parser.add_argument("--n", type=int, default=20, metavar="N", help="records after the seed (default 20)")
    parser.add_argument("--lookback", type=int, default=3, metavar="K",
                        help="query with the mean of the last K records' vectors (default 3)")
    parser.add_argument("--drunk", type=float, default=0.2, metavar="X",
                        help="random wander of the query, as the live /drunk (default 0.2; 0 = deterministic)")
    parser.add_argument("--seed-random", type=argtypes.count(0, 2**63 - 1), metavar="INT", help="random seed for --drunk (repeatable chains)")
    parser.add_argument("--at", type=argtypes.seconds, default=30.0, metavar="SECONDS",
                        help="where to analyse a SEED file that is not in the library (default 30)")
    parser.add_argument("-o", "--output", metavar="FILE", type=argtypes.output_file(".m3u", ".m3u8", ".csv", ".xml"),
                        help="write the chain: .m3u/.m3u8, .csv or .xml (rekordbox)")
    parser.add_argument("--relative", action="store_true", help="M3U paths relative to the playlist's folder")


def chain(seed_vector: np.ndarray, seed_bpm: float | None, seed_key: int | None, index, tracks: dict,
          vectors: dict, n: int, *, lookback: int = 3, drunk: float = 0.0, ranking=None,
          seed_id: int | None = None, rng: np.random.Generator | None = None) -> list[int]:
    """Chain ``n`` track ids from a seed, each the live loop's best suggestion after the last.

    Parameters
    ----------
    seed_vector : np.ndarray
        Unit embedding of the seed.
    seed_bpm, seed_key : float or None, int or None
        Tempo and key of the seed (the "live" tempo/key of the first step).
    index : BeginningsIndex
        ``query(vector, n, search_k) -> (ids, similarities)``.
    tracks : dict of int to Track
        Library metadata.
    vectors : dict of int to np.ndarray
        Song-beginning vectors (for the lookback and the near-duplicate test).
    n : int
        Records to chain.
    lookback, drunk : int, float
        As the session's (OSC ``/lookback``, ``/drunk``).
    ranking : livedj.engine.analyzer.Ranking, optional
        Weights, rules, candidates, search_k (defaults otherwise).
    seed_id : int, optional
        The seed's track id when it is in the library (never chained again).
    rng : np.random.Generator, optional
        For the drunk noise.

    Returns
    -------
    list of int
        Track ids in play order (shorter than ``n`` when the library runs out).
    """
    from livedj.engine.analyzer import Ranking
    from livedj.engine.ranker import rank
    from livedj.engine.session import Session

    ranking = ranking or Ranking()
    session = Session(lookback=lookback, drunk=drunk)
    if rng is not None:
        session._rng = rng  # noqa: SLF001 - the session's own noise source, made repeatable
    path: list[int] = []
    on_path = [seed_vector]
    names = set()
    if seed_id is not None and seed_id in tracks:
        names.add((tracks[seed_id].artist.lower(), tracks[seed_id].title.lower()))
    last_vector, bpm, key = seed_vector, seed_bpm, seed_key
    for _ in range(n):
        query = session.query_vector(last_vector)
        exclude = set(path) | ({seed_id} if seed_id is not None else set())
        want = ranking.candidates + len(exclude)
        while True:
            ids, sims = index.query(query, want, ranking.search_k)
            ranked = rank(ids, sims, tracks, top=len(ids), live_bpm=bpm, live_key=key, exclude=exclude,
                          weights=ranking.weights, rules=ranking.rules)
            chosen = next((s.track_id for s in ranked if _fits(s.track_id, tracks, vectors, names, on_path)), None)
            # every candidate near a duplicate: the chain stopped while farther records fitted; look at all
            size = getattr(index, "size", 0)
            if chosen is not None or len(ids) < want or want >= size:
                break
            want = size
        if chosen is None:
            break
        t = tracks[chosen]
        path.append(chosen)
        names.add((t.artist.lower(), t.title.lower()))
        last_vector = vectors.get(chosen, last_vector)
        on_path.append(last_vector)
        bpm, key = t.bpm or bpm, t.key if t.key is not None else key
    return path


def _fits(track_id: int, tracks: dict, vectors: dict, names: set, on_path: list) -> bool:
    """Neither the same artist and title as a record on the chain, nor a near-duplicate of one's sound."""
    import numpy as np

    t, v = tracks[track_id], vectors.get(track_id)
    if (t.artist or t.title) and (t.artist.lower(), t.title.lower()) in names:
        return False
    return v is None or not any(float(np.dot(v, p)) > NEAR_DUPLICATE for p in on_path)


def why_short(ids: list[int], tracks: dict, vectors: dict, seed_id: int | None, rules) -> str:
    """Why a chain holds fewer records than asked: the library has no more, or what the rest are."""
    rest = [i for i in tracks if i not in set(ids) and i != seed_id]
    if not rest:
        return f"the library has no more records ({plural(len(tracks), 'record')} in all)"
    on_chain = [i for i in ([seed_id] if seed_id is not None else []) + ids if i in tracks]
    names = {(tracks[i].artist.lower(), tracks[i].title.lower()) for i in on_chain}
    on_path = [vectors[i] for i in on_chain if i in vectors]
    doubles = sum(not _fits(i, tracks, vectors, names, on_path) for i in rest)
    if doubles == len(rest):
        return (f"the library has no more that fit: the rest ({plural(len(rest), 'record')}) repeat records on it "
                "(the same recording, or the same artist and title)")
    hard = [name for name in ("harmonic_only", "reachable_only") if getattr(rules, name, False)]
    because = f"; ranking.{' and ranking.'.join(hard)} leave out the rest" if hard else ""
    return (f"the library has no more that fit: of the rest, {doubles} repeat records on it, "
            f"{len(rest) - doubles} are left out by the ranking{because}")


class SilentSeed(ValueError):
    """A seed file that is silent, or too quiet to analyse, where it is analysed; one line naming it."""


def _seed(args, config, engine, tracks, vectors):
    """(vector, bpm, key, track id or None) of the seed; raises LookupError / DecodeError / SilentSeed."""
    import os

    from livedj.audio.decode import DecodeError, decode
    from livedj.commands.journey import resolve
    from livedj.dsp.level import rms_db
    from livedj.fsutil import printable
    from livedj.library.track_analysis import SILENT_DBFS

    try:
        seed_id = resolve(args.seed, tracks)
    except LookupError:
        if not os.path.isfile(args.seed):
            raise
        seed_id = None
    if seed_id is not None and seed_id in vectors:
        t = tracks[seed_id]
        return vectors[seed_id], t.bpm, t.key, seed_id
    sr = engine.encoder.sample_rate
    listen_s = 12.0  # the live loop's tempo/key stretch
    audio, at = decode(args.seed, sr, args.at, listen_s), f"{args.at:g} s in"
    if len(audio) < engine.window_s * sr:  # shorter than --at + a window: from the start
        audio, at = decode(args.seed, sr, 0.0, listen_s), "from its start"
    if len(audio) < sr:
        raise DecodeError(args.seed, "less than 1 s of audio")
    window = audio[-int(engine.window_s * sr):]
    level = rms_db(window)
    if level < SILENT_DBFS:  # digital silence, a hum: the chain was one "like" nothing, and said nothing
        raise SilentSeed(f"{printable(args.seed)}: silent or too quiet to analyse ({level:.0f} dBFS where it was "
                         f"analysed, {at}; a seed needs {SILENT_DBFS:.0f} dBFS or louder, as an indexed record): "
                         "give a record, or --at where it plays")
    vector = engine.encoder.analyze(window).vector
    engine.listener.update(audio, sr)
    return vector, engine.listener.bpm, engine.listener.key, seed_id


def main(args, config) -> int:
    import numpy as np

    from livedj.audio.decode import DecodeError
    from livedj.engine.loader import load_engine
    from livedj.library.index import IndexUnusable
    from livedj.library.store import Store, StoreError

    if args.n < 1 or args.lookback < 1 or not 0 <= args.drunk <= 1:
        print("livedj playlist: need --n >= 1, --lookback >= 1, 0 <= --drunk <= 1", file=sys.stderr)
        return 2
    try:
        engine = load_engine(config)
        store = Store(config["index"]["path"], readonly=True)
        try:
            vectors = dict(store.vectors(engine.index.manifest["encoder"]))
        finally:
            store.close()
        vector, bpm, key, seed_id = _seed(args, config, engine, engine.tracks, vectors)
    except (IndexUnusable, StoreError, LookupError, DecodeError, SilentSeed) as exc:
        print(f"livedj playlist: {exc}", file=sys.stderr)
        return 1
    rng = np.random.default_rng(args.seed_random)
    ids = chain(vector, bpm, key, engine.index, engine.tracks, vectors, args.n, lookback=args.lookback,
                drunk=args.drunk, ranking=engine.ranking, seed_id=seed_id, rng=rng)
    short = None
    if len(ids) < args.n:  # --n 100000: it stopped short, and said nothing
        short = (f"livedj playlist: {plural(len(ids), 'record')} after the seed, not {args.n}: "
                 f"{why_short(ids, engine.tracks, vectors, seed_id, engine.ranking.rules)}")
    ids = ([seed_id] if seed_id is not None else []) + ids
    from livedj.dsp.tonal import camelot
    from livedj.outputs.osc_args import track_label

    tracks = engine.tracks
    for i, track_id in enumerate(ids, 1):
        t = tracks[track_id]
        print(f"{i:3d}{'*' if track_id == seed_id else ' '} {track_label(t)}  [{t.bpm or 0:.1f} BPM, "
              f"{camelot(t.key) if t.key is not None else '?'}]")
    if args.output:
        write_playlist(ids, tracks, args.output, relative=args.relative, name="livedj playlist")
        print(f"wrote {plural(len(ids), 'track')} to {args.output}")
    if short:
        sys.stdout.flush()  # after the list, where the DJ looks for the end of it
        print(short, file=sys.stderr)
    return 0


def write_playlist(ids: list[int], tracks: dict, out_path: str, *, relative: bool = False, name: str = "livedj") -> int:
    """Write track ids as M3U/CSV/rekordbox XML (by extension) through :mod:`livedj.library.exports`."""
    import os

    from livedj.library.exports import export_csv, export_m3u, export_rekordbox_xml
    from livedj.library.history import Play

    plays = [Play(0, 0, None, tracks[i].path, tracks[i].title, tracks[i].artist, tracks[i].album,
                  tracks[i].duration, tracks[i].bpm, tracks[i].key, "playlist", None) for i in ids]
    ext = os.path.splitext(out_path)[1].lower()
    if ext == ".csv":
        return export_csv(plays, out_path)
    if ext == ".xml":
        return export_rekordbox_xml(plays, out_path, name)
    return export_m3u(plays, out_path, relative=relative)
