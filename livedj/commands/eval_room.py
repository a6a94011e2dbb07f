"""`livedj eval DIR --room`: how well does each embedding hear the music through the booth microphone?

For every track under DIR (labels = first-level sub-folders, as in `livedj eval`) and every encoder:

* the index side, from clean audio: 5-s segment vectors every ``segment_hop_s`` (2.5 s) over the
  first ``max_track_s`` seconds, and the song-beginning vector exactly as `livedj index` computes it;
* the live side: at ``queries`` evenly spread positions the track is played through the simulated
  booth (:func:`livedj.dsp.room.booth`: random room, pink or crowd noise at 5-20 dB SNR, band
  limit, gain; seeded per track) straight, +6% and -6% on the pitch fader, and ``votes`` consecutive
  live updates (5-s windows ``update_s`` apart) are embedded.

Figures: identification top-1 (the nearest segment of all tracks belongs to the playing track), for
one update and voted over ``votes`` updates; label precision@k of booth queries and of clean
queries (the same moment, no booth) against the song beginnings of the other tracks; and
precision@k of beginnings against beginnings (what `livedj eval` reports). One decode per track and
one musicnn pass per window serve every musicnn-based encoder.
"""
from __future__ import annotations

import zlib
from collections import Counter
from typing import Callable, Sequence

import numpy as np

SR = 16000
WINDOW_S = 5.0
SPEEDS = (("straight", 1.0), ("+6%", 1.06), ("-6%", 0.94))


class _Embedders:
    """Embeds windows for several encoders, sharing one musicnn pass between musicnn-based ones."""

    def __init__(self, names: Sequence[str], threads: int = 2):
        from livedj.encoders import get_encoder
        from livedj.encoders.musicnn import MusicnnEncoder

        # a name, or a (label, encoder instance) pair: e.g. two heads compared side by side
        self.models = dict(n if isinstance(n, tuple) else (n, get_encoder(n, threads=threads)) for n in names)
        self.shared = None
        for model in self.models.values():
            base = getattr(model, "base", model)
            if isinstance(base, MusicnnEncoder):
                self.shared = self.shared or base

    def _vector_fn(self, model):
        from livedj.encoders.base import unit
        from livedj.encoders.musicnn import MusicnnEncoder

        if hasattr(model, "vectors") and getattr(model, "base", None) is not None \
                and model.base.mode == self.shared.mode:
            return model.vectors
        if isinstance(model, MusicnnEncoder) and model.mode == self.shared.mode:
            return lambda out: np.stack([unit(v) for v in out[model.layer]])
        return None

    def __call__(self, windows: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """``{name: [len(windows), dim]}`` unit vectors (windows of any lengths)."""
        out: dict[str, list] = {name: [None] * len(windows) for name in self.models}
        fns = {name: self._vector_fn(m) for name, m in self.models.items()} if self.shared else {}
        by_length: dict[int, list[int]] = {}
        for i, w in enumerate(windows):
            by_length.setdefault(len(w), []).append(i)
        for indices in by_length.values():
            for s in range(0, len(indices), 8):
                chunk = indices[s:s + 8]
                raw = None
                for name, model in self.models.items():
                    if fns.get(name) is not None:
                        if raw is None:
                            raw = self.shared._run(np.stack([self.shared.logmel(windows[i]) for i in chunk]))
                        vectors = fns[name](raw)
                    else:
                        vectors = [model.analyze(windows[i]).vector for i in chunk]
                    for i, v in zip(chunk, vectors):
                        out[name][i] = v
        return {name: np.stack(v).astype(np.float32) for name, v in out.items()}


def _label_precision(queries: np.ndarray, q_track: np.ndarray, keys: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean share of same-label tracks among each query's ``k`` nearest beginnings of *other* tracks."""
    sims = queries @ keys.T
    sims[np.arange(len(queries)), q_track] = -np.inf  # the query's own track is not a neighbour
    k = min(k, len(keys) - 1)
    nearest = np.argsort(-sims, axis=1)[:, :k]
    return float(np.mean(labels[nearest] == labels[q_track][:, None]))


def _beginning_precision(vectors: np.ndarray, labels: np.ndarray, k: int) -> float:
    return _label_precision(vectors, np.arange(len(vectors)), vectors, labels, k)


def evaluate_room(root: str, encoders: Sequence, *, k: int = 10, beginning_s: float = 15.0,
                  queries: int = 5, votes: int = 4, update_s: float = 1.0, segment_hop_s: float = 2.5,
                  max_track_s: float = 180.0, seed: int = 0, threads: int = 2,
                  progress: Callable[[int, int], None] | None = None) -> dict:
    """Booth-robustness figures of ``encoders`` on the labelled folder ``root`` (see the module doc).

    ``encoders`` holds encoder names (:func:`livedj.encoders.get_encoder`) or ``(label, encoder)`` pairs.

    Returns
    -------
    dict
        ``tracks``, ``labels``, ``queries`` (per track and speed), ``skipped`` and, per encoder,
        ``results[name]`` with ``id_top1[speed]``, ``id_voted[speed]``, ``booth_p``, ``clean_p``,
        ``beginning_p``; ``random_p`` is the random-neighbour baseline.
    """
    from livedj.adapt.data import booth_params, booth_window
    from livedj.audio.decode import DecodeError, decode
    from livedj.commands.eval import labelled_files, random_precision
    from livedj.library.indexer import MIN_AUDIO_S, WINDOW_S as INDEX_WINDOW_S, first_sound

    files = labelled_files(root)
    embed = _Embedders(encoders, threads=threads)
    size, names = int(WINDOW_S * SR), list(embed.models)
    seg_vecs: dict[str, list] = {n: [] for n in names}
    seg_track: list[np.ndarray] = []
    begin_vecs: dict[str, list] = {n: [] for n in names}
    live: dict[str, dict[str, list]] = {n: {s: [] for s, _ in SPEEDS} for n in names}  # [tracks][q, votes, dim]
    clean_q: dict[str, list] = {n: [] for n in names}
    labels, skipped, q_tracks = [], [], []
    for f, (path, label) in enumerate(files, 1):
        try:
            audio = decode(path, SR, 0.0, max_track_s)
        except DecodeError as exc:
            skipped.append((path, exc.reason))
            continue
        start = int(first_sound(audio[:60 * SR], SR) * SR)
        span = int((WINDOW_S + (votes - 1) * update_s) * 1.06 * SR) + 1  # track audio one voted query needs
        if len(audio) - start < max(MIN_AUDIO_S * SR, span, size):
            skipped.append((path, "too short"))
            continue
        t = len(labels)
        labels.append(label)
        hop = int(segment_hop_s * SR)
        segments = [audio[i:i + size] for i in range(0, len(audio) - size + 1, hop)]
        head = audio[start:start + int(beginning_s * SR)]
        step = int(INDEX_WINDOW_S * SR)
        begins = [head[i:i + step] for i in range(0, max(1, len(head) - step + 1), step)]
        positions = np.linspace(start, len(audio) - span, queries).astype(int)
        rng = np.random.default_rng(zlib.crc32(path.encode("utf-8", "surrogateescape")) ^ (seed + 1000))
        heard = []
        for p in positions:
            for _, speed in SPEEDS:
                params = dict(booth_params(rng), speed=speed)
                # one booth pass over the whole voted stretch, then the live windows every update_s
                stretch = booth_window(audio, int(p), params, window_s=WINDOW_S + (votes - 1) * update_s)
                heard += [stretch[int(u * update_s * SR):][:size] for u in range(votes)]
        windows = segments + begins + heard + [audio[p:p + size] for p in positions]
        vectors = embed(windows)
        a, b, c = len(segments), len(segments) + len(begins), len(segments) + len(begins) + len(heard)
        for n in names:
            v = vectors[n]
            seg_vecs[n].append(v[:a])
            mean = v[a:b].mean(axis=0)
            begin_vecs[n].append(mean / max(np.linalg.norm(mean), 1e-12))
            by_speed = v[b:c].reshape(queries, len(SPEEDS), votes, -1)
            for j, (s, _) in enumerate(SPEEDS):
                live[n][s].append(by_speed[:, j])
            clean_q[n].append(v[c:])
        seg_track.append(np.full(a, t))
        q_tracks.append(np.full(queries, t))
        if progress:
            progress(f, len(files))
    result = {"dir": root, "tracks": len(labels), "labels": dict(Counter(labels)), "k": k, "queries": queries,
              "votes": votes, "skipped": skipped, "results": {}, "random_p": random_precision(labels)}
    if len(labels) < 2:
        return result
    label_arr, seg_t, q_t = np.asarray(labels), np.concatenate(seg_track), np.concatenate(q_tracks)
    for n in names:
        segs, begins = np.concatenate(seg_vecs[n]), np.stack(begin_vecs[n])
        r = {"id_top1": {}, "id_voted": {}}
        booth_first = []
        for s, _ in SPEEDS:
            q = np.concatenate(live[n][s])  # [Q, votes, dim]
            sims = q.reshape(-1, q.shape[-1]) @ segs.T
            top = seg_t[np.argmax(sims, axis=1)].reshape(len(q), votes)
            r["id_top1"][s] = float(np.mean(top == q_t[:, None]))
            best = sims.max(axis=1).reshape(len(q), votes)
            voted = [max(Counter(row).items(), key=lambda kv: (kv[1], best[i][row == kv[0]].sum()))[0]
                     for i, row in enumerate(top)]  # majority; ties go to the larger summed similarity
            r["id_voted"][s] = float(np.mean(np.asarray(voted) == q_t))
            booth_first.append(q[:, 0])
        r["booth_p"] = _label_precision(np.concatenate(booth_first), np.tile(q_t, len(SPEEDS)), begins, label_arr, k)
        r["clean_p"] = _label_precision(np.concatenate(clean_q[n]), q_t, begins, label_arr, k)
        r["beginning_p"] = _beginning_precision(begins, label_arr, k)
        result["results"][n] = r
    return result


def print_room_table(result: dict, console=None) -> None:
    """The side-by-side table of :func:`evaluate_room`'s figures (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    k = result["k"]
    table = Table(title=f"through the booth: {result['tracks']} tracks, {len(result['labels'])} labels, "
                        f"{result['queries']} queries/track/speed",
                  caption=f"id: top-1 identification of one 5-s booth window (speed 0/+6/-6%); vote: over "
                          f"{result['votes']} updates; P: label precision@{k} against song beginnings of booth "
                          f"queries, clean queries, and beginnings themselves")
    table.add_column("embedding")
    for prefix in ("id", "vote"):
        for col in ("0", "+6", "-6"):
            table.add_column(f"{prefix} {col}", justify="right")
    for col in ("booth P", "clean P", "b/c", "begin P"):
        table.add_column(col, justify="right")
    for name, r in result["results"].items():
        ratio = r["booth_p"] / r["clean_p"] if r["clean_p"] > 0 else float("nan")
        table.add_row(name, *(f"{r['id_top1'][s]:.3f}" for s, _ in SPEEDS),
                      *(f"{r['id_voted'][s]:.3f}" for s, _ in SPEEDS),
                      f"{r['booth_p']:.3f}", f"{r['clean_p']:.3f}", f"{ratio:.2f}", f"{r['beginning_p']:.3f}")
    table.add_row("random", *([""] * 6), f"{result['random_p']:.3f}", f"{result['random_p']:.3f}", "",
                  f"{result['random_p']:.3f}")
    console.print(table)


def main(args, config) -> int:
    """`livedj eval DIR --room`: run :func:`evaluate_room` with a progress bar and print the table (or JSON)."""
    import json
    import sys

    from rich.console import Console
    from rich.progress import Progress

    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    console = Console(stderr=True)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("through the booth", total=None)
        result = evaluate_room(args.dir, encoders, k=args.k, beginning_s=config["index"]["beginning_s"],
                               threads=config["analysis"]["threads"],
                               progress=lambda i, n: bar.update(task, completed=i, total=n))
    if result["tracks"] < 2:
        print(f"livedj eval: {args.dir}: need at least 2 audio files in sub-folders (the labels)", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print_room_table(result)
    for path, why in result["skipped"]:
        console.print(f"skipped {path}: {why}", markup=False)
    return 0
