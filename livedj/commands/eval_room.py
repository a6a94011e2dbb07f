"""`livedj eval DIR --room`: how well does each embedding hear the music through the booth microphone?

For every track under DIR (labels = first-level sub-folders, as in `livedj eval`) and every encoder:

* the index side, from clean audio: 5-s segment vectors every ``segment_hop_s`` (2.5 s) over the
  first ``max_track_s`` seconds, and the song-beginning vector exactly as `livedj index` computes it;
* the live side: at ``queries`` evenly spread positions the track is played through the simulated
  booth (:func:`livedj.dsp.room.booth`; ``booth="random"``: random room, pink or crowd noise at
  5-20 dB SNR, band limit, gain, as in training; ``"standard"``: :func:`standard_booth`, the booth
  the targets are stated for; seeded per track) straight, +6% and -6% on the pitch fader, and
  ``votes`` consecutive live updates (5-s windows ``update_s`` apart) are embedded; the landmark
  fingerprints match the last ``identify_s`` seconds at each update, as the daemon does.

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

from livedj.dsp import WINDOW_S

SR = 16000
SPEEDS = (("straight", 1.0), ("+6%", 1.06), ("-6%", 0.94))


def standard_booth(rng: np.random.Generator) -> dict:
    """The booth the targets are stated for: direct path 5 dB above an RT60 0.5 s tail, pink noise
    at 10 dB SNR, 100 Hz-8 kHz (a fresh room and noise per query, from ``rng``)."""
    from livedj.dsp.room import synthetic_ir

    seed = int(rng.integers(0, 2**31 - 1))
    return {"ir": synthetic_ir(SR, rt60=0.5, direct_to_reverb_db=5.0, seed=seed), "snr_db": 10.0,
            "noise": "pink", "band": (100.0, 8000.0), "gain_db": 0.0, "seed": seed}


class _Embedders:
    """Embeds windows for several encoders, sharing one musicnn pass between musicnn-based ones."""

    def __init__(self, names: Sequence[str], threads: int = 2, head: str | None = None):
        from livedj.encoders import get_encoder
        from livedj.encoders.musicnn import MusicnnEncoder

        # a name, or a (label, encoder instance) pair: e.g. two heads compared side by side
        self.models = dict(n if isinstance(n, tuple) else (n, get_encoder(n, threads=threads, head=head)) for n in names)
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
        """``{name: [len(windows), dim]}`` unit vectors (windows of any lengths), batched by the encoders."""
        fns = {name: self._vector_fn(m) for name, m in self.models.items()} if self.shared else {}
        shared = self.shared.outputs_many(windows) if any(fn is not None for fn in fns.values()) else None
        out = {}
        for name, model in self.models.items():
            if fns.get(name) is not None:
                out[name] = np.asarray(fns[name](shared), dtype=np.float32)
            else:
                out[name] = np.stack([e.vector for e in model.analyze_many(windows)]).astype(np.float32)
        return out


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
                  max_track_s: float = 180.0, seed: int = 0, threads: int = 2, fingerprints: bool = True,
                  identify_s: float = 10.0, booth: str = "random",
                  progress: Callable[..., None] | None = None, head: str | None = None) -> dict:
    """Booth-robustness figures of ``encoders`` on the labelled folder ``root`` (see the module doc).

    ``encoders`` holds encoder names (:func:`livedj.encoders.get_encoder`) or ``(label, encoder)`` pairs;
    ``head`` is the booth head file for ``musicnn-booth``.

    Returns
    -------
    dict
        ``tracks``, ``labels``, ``queries`` (per track and speed), ``skipped`` and, per encoder,
        ``results[name]`` with ``id_top1[speed]``, ``id_voted[speed]``, ``booth_p``, ``clean_p``,
        ``beginning_p``, and ``booth_p_blend`` / ``clean_p_blend`` (queries blended over ``votes``
        updates, as ``lookback`` does live); ``random_p`` is the random-neighbour baseline;
        ``fingerprints`` (unless disabled) as :meth:`_FingerprintEval.figures` returns them.
    """
    from livedj.adapt.data import booth_params, booth_window
    from livedj.audio.decode import DecodeError, decode
    from livedj.commands.labelled import labelled_files, random_precision
    from livedj.dsp.level import first_sound
    from livedj.library.track_analysis import MIN_AUDIO_S

    files = labelled_files(root)
    fp_eval = _FingerprintEval(files, max_track_s, confirm_votes=votes, progress=progress) if fingerprints else None
    embed = _Embedders(encoders, threads=threads, head=head)
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
        lead = max(0.0, identify_s - WINDOW_S) if fingerprints else 0.0  # the match hears further back
        run_s = lead + WINDOW_S + (votes - 1) * update_s  # the booth stretch of one live run
        span = int(run_s * 1.06 * SR) + 1  # track audio one voted query needs
        if len(audio) - start < max(MIN_AUDIO_S * SR, span, size):
            skipped.append((path, "too short"))
            continue
        t = len(labels)
        labels.append(label)
        hop = int(segment_hop_s * SR)
        segments = [audio[i:i + size] for i in range(0, len(audio) - size + 1, hop)]
        head = audio[start:start + int(beginning_s * SR)]
        step = int(WINDOW_S * SR)
        begins = [head[i:i + step] for i in range(0, max(1, len(head) - step + 1), step)]
        positions = np.linspace(start, len(audio) - span, queries).astype(int)
        rng = np.random.default_rng(zlib.crc32(path.encode("utf-8", "surrogateescape")) ^ (seed + 1000))
        heard, matched = [], []
        for p in positions:
            for _, speed in SPEEDS:
                params = dict(booth_params(rng) if booth == "random" else standard_booth(rng), speed=speed)
                # one booth pass over the whole voted stretch, then the live windows every update_s
                stretch = booth_window(audio, int(p), params, window_s=run_s)
                ends = [int((lead + WINDOW_S + u * update_s) * SR) for u in range(votes)]  # update u hears up to here
                heard += [stretch[e - size:e] for e in ends]
                matched.append([stretch[max(0, e - int(identify_s * SR)):e] for e in ends])
        clean = [audio[p + int((lead + u * update_s) * SR):][:size] for p in positions for u in range(votes)]
        windows = segments + begins + heard + clean
        if fp_eval is not None:
            fp_eval.query(f - 1, matched)
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
            clean_q[n].append(v[c:].reshape(queries, votes, -1))
        seg_track.append(np.full(a, t))
        q_tracks.append(np.full(queries, t))
        if progress:
            progress(f, len(files), "through the booth")
    result = {"dir": root, "booth": booth, "identify_s": identify_s, "tracks": len(labels), "labels": dict(Counter(labels)), "k": k, "queries": queries,
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
        clean = np.concatenate(clean_q[n])  # [Q, votes, dim]
        r["booth_p"] = _label_precision(np.concatenate(booth_first), np.tile(q_t, len(SPEEDS)), begins, label_arr, k)
        r["clean_p"] = _label_precision(clean[:, 0], q_t, begins, label_arr, k)
        booth_blend = np.concatenate([_blend(np.concatenate(live[n][s])) for s, _ in SPEEDS])
        r["booth_p_blend"] = _label_precision(booth_blend, np.tile(q_t, len(SPEEDS)), begins, label_arr, k)
        r["clean_p_blend"] = _label_precision(_blend(clean), q_t, begins, label_arr, k)
        r["beginning_p"] = _beginning_precision(begins, label_arr, k)
        result["results"][n] = r
    if fp_eval is not None:
        result["fingerprints"] = fp_eval.figures()
    return result


def _blend(q: np.ndarray) -> np.ndarray:
    """[Q, votes, dim] -> [Q, dim]: the unit mean over updates, the live ``lookback`` query."""
    m = q.mean(axis=1)
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


class _FingerprintEval:
    """Landmark-fingerprint "now playing" on the same booth queries as the embeddings.

    Three indexes of the clean tracks (first ``max_track_s`` s, as the queries): all of them, for
    identification; the even- and the odd-numbered ones, so that every track is also heard as a
    record *not in the library* (the index without it), for the false "now playing" rate. An
    update names a track by :func:`~livedj.library.fingerprints.identify`; NOW PLAYING follows
    the daemon's rule (:class:`~livedj.engine.now_playing.FingerprintConfirm`: ``confirm`` in a row).
    """

    def __init__(self, files, max_track_s: float, confirm_votes: int, progress: Callable[..., None] | None = None):
        import tempfile
        from pathlib import Path

        from livedj.audio.decode import DecodeError, decode
        from livedj.dsp import fingerprint as fp
        from livedj.library.fingerprints import FingerprintIndex

        self._tmp = tempfile.TemporaryDirectory(prefix="livedj-eval-fp-")
        items = []
        for f, (path, _) in enumerate(files):
            try:
                items.append((f + 1, *fp.landmarks(decode(path, SR, 0.0, max_track_s), SR)))
            except DecodeError:
                continue
            finally:
                if progress:
                    progress(f + 1, len(files), "fingerprinting the clean tracks")
        self.indexes = {}
        for name, keep in (("all", lambda i: True), ("even", lambda i: i % 2 == 0), ("odd", lambda i: i % 2 == 1)):
            prefix = Path(self._tmp.name) / name
            FingerprintIndex.build([it for it in items if keep(it[0])], prefix)
            self.indexes[name] = FingerprintIndex.load(prefix)
        self.votes = confirm_votes
        self.hits: dict[str, list] = {s: [] for s, _ in SPEEDS}  # per query: [names per update]
        self.truth: dict[str, list] = {s: [] for s, _ in SPEEDS}
        self.outside: list[list] = []  # names per update when the record is not in the library

    def query(self, f: int, stretches: list[list[np.ndarray]]) -> None:
        """``stretches``: per (position, speed) in SPEEDS order, the ``votes`` windows of one live run."""
        from livedj.library.fingerprints import identify

        track = f + 1
        without = self.indexes["odd" if track % 2 == 0 else "even"]
        for i, windows in enumerate(stretches):
            speed = SPEEDS[i % len(SPEEDS)][0]
            self.hits[speed].append([identify(w, SR, self.indexes["all"])[0] for w in windows])
            self.truth[speed].append(track)
            self.outside.append([identify(w, SR, without)[0] for w in windows])

    @staticmethod
    def _now_playing(names: list, confirm: int = 2) -> list:
        from livedj.engine.now_playing import FingerprintConfirm

        ident = FingerprintConfirm(confirm=confirm)
        return [ident.update(t, 1.0)[0] for t in names]

    def figures(self) -> dict:
        """``id_top1`` / ``id_voted`` per speed (one update; NOW PLAYING after the last update) and
        ``false_single`` / ``false_now_playing`` (any NOW PLAYING during a run) for absent records."""
        out = {"id_top1": {}, "id_voted": {}, "wrong_voted": {}}
        for s, _ in SPEEDS:
            names, truth = self.hits[s], np.asarray(self.truth[s])
            if not names:
                continue
            out["id_top1"][s] = float(np.mean([n == t for row, t in zip(names, truth) for n in row]))
            final = [self._now_playing(row)[-1] for row in names]
            out["id_voted"][s] = float(np.mean([n == t for n, t in zip(final, truth)]))
            out["wrong_voted"][s] = float(np.mean([n is not None and n != t for n, t in zip(final, truth)]))
        runs = self.outside
        out["false_single"] = float(np.mean([n is not None for row in runs for n in row])) if runs else 0.0
        out["false_now_playing"] = float(np.mean([any(n is not None for n in self._now_playing(row))
                                                  for row in runs])) if runs else 0.0
        out["absent_runs"] = len(runs)
        self._tmp.cleanup()
        return out


def print_room_table(result: dict) -> None:
    """The side-by-side table of :func:`evaluate_room`'s figures (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    k, votes = result["k"], result["votes"]
    table = Table(title=f"through the {result.get('booth', 'random')} booth: {result['tracks']} tracks, {len(result['labels'])} labels, "
                        f"{result['queries']} queries/track/speed",
                  caption=f"id: top-1 identification of one 5-s booth window (speed 0/+6/-6%); vote: over "
                          f"{votes} updates (fingerprints: NOW PLAYING after {votes} updates, 2 in a row "
                          f"needed); P: label precision@{k} against song beginnings of booth queries, clean "
                          f"queries, and beginnings themselves; P{votes}: queries blended over {votes} updates "
                          f"(lookback {votes})")
    table.add_column("embedding")
    for prefix in ("id", "vote"):
        for col in ("0", "+6", "-6"):
            table.add_column(f"{prefix} {col}", justify="right")
    for col in ("booth P", "clean P", "b/c", f"booth P{votes}", f"clean P{votes}", f"b/c {votes}", "begin P"):
        table.add_column(col, justify="right")
    ratio = lambda a, b: f"{a / b:.2f}" if b > 0 else "nan"  # noqa: E731
    for name, r in result["results"].items():
        table.add_row(name, *(f"{r['id_top1'][s]:.3f}" for s, _ in SPEEDS),
                      *(f"{r['id_voted'][s]:.3f}" for s, _ in SPEEDS),
                      f"{r['booth_p']:.3f}", f"{r['clean_p']:.3f}", ratio(r["booth_p"], r["clean_p"]),
                      f"{r['booth_p_blend']:.3f}", f"{r['clean_p_blend']:.3f}",
                      ratio(r["booth_p_blend"], r["clean_p_blend"]), f"{r['beginning_p']:.3f}")
    fpr = result.get("fingerprints")
    if fpr:
        table.add_row("fingerprints", *(f"{fpr['id_top1'].get(s, float('nan')):.3f}" for s, _ in SPEEDS),
                      *(f"{fpr['id_voted'].get(s, float('nan')):.3f}" for s, _ in SPEEDS), *([""] * 7))
    table.add_row("random", *([""] * 6), f"{result['random_p']:.3f}", f"{result['random_p']:.3f}", "",
                  f"{result['random_p']:.3f}", f"{result['random_p']:.3f}", "", f"{result['random_p']:.3f}")
    console.print(table)
    if fpr:
        console.print(f"fingerprints, records not in the library ({fpr['absent_runs']} runs of {votes} updates): "
                      f"false match per update {fpr['false_single']:.3f}, false NOW PLAYING per run "
                      f"{fpr['false_now_playing']:.3f}; wrong NOW PLAYING for library records "
                      + " / ".join(f"{fpr['wrong_voted'].get(s, float('nan')):.3f}" for s, _ in SPEEDS))


def main(args, config) -> int:
    """`livedj eval DIR --room`: run :func:`evaluate_room` with a progress bar and print the table (or JSON)."""
    from livedj.commands.labelled import report
    from livedj.encoders.adapted import resolve_head

    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    return report(args, "through the booth", lambda progress: evaluate_room(
        args.dir, encoders, k=args.k, beginning_s=config["index"]["beginning_s"],
        threads=config["analysis"]["threads"], identify_s=config["analysis"]["identify_s"],
        booth=getattr(args, "booth", "random"), progress=progress, head=str(resolve_head(config))),
        print_room_table)
