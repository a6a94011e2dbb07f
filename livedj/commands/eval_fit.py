"""`livedj eval DIR --protocol transductive|split`: the library fit beside the unadapted encoder.

For every track under DIR (labels = first-level sub-folders, used only to score): the base
vectors of its beginning's 5-s windows (as `livedj index` computes them), a clean 5-s window at
40 % of the track and the same moment through the standard booth (what the live query hears).
Then, label precision@k of

* ``begin``: song beginnings against the beginnings of the other tracks;
* ``clean``: the clean 40 % window against the beginnings of the other tracks;
* ``booth``: the booth window against the same;

for the base encoder and for the projection fitted without labels (library/fit.py):

* ``transductive``: fitted on every track of DIR (what a user gets at `livedj index`);
* ``split``: fitted on a random half of the tracks, measured on the other half -- records added
  after the fit -- beside the base encoder on the same halves (mean over ``seeds`` splits).
"""
from __future__ import annotations

import zlib
from collections import Counter
from typing import Callable, Sequence

import numpy as np

from livedj.library import fit as fitting

SR = 16000
WINDOW = 5 * SR
QUERY_AT = 0.4


def _p(queries: np.ndarray, q_track: np.ndarray, keys: np.ndarray, labels: np.ndarray, k: int) -> float:
    sims = queries @ keys.T
    sims[np.arange(len(queries)), q_track] = -np.inf
    k = min(k, len(keys) - 1)
    nearest = np.argsort(-sims, axis=1)[:, :k]
    return float(np.mean(labels[nearest] == labels[q_track][:, None]))


def figures(windows: Sequence[np.ndarray], queries: dict[str, np.ndarray], labels: Sequence[str],
            projection: fitting.Projection | None, k: int = 10, tracks: np.ndarray | None = None) -> dict:
    """Precision@k of beginnings and of each query kind on ``tracks`` (default all), projected or not.

    ``windows``: per track, (n_i, d) unit base vectors of its beginning's windows; ``queries``:
    name -> (n_tracks, d) one query vector per track.
    """
    tracks = np.arange(len(windows)) if tracks is None else np.asarray(tracks)
    apply = projection.apply if projection is not None else fitting.unit_rows
    keys = fitting.unit_rows(np.stack([apply(windows[t]).sum(axis=0) for t in tracks]))
    lab = np.asarray(labels)[tracks]
    local = np.arange(len(tracks))
    out = {"begin": _p(keys, local, keys, lab, k)}
    for name, q in queries.items():
        out[name] = _p(apply(q[tracks]), local, keys, lab, k)
    return out


def protocols(windows: Sequence[np.ndarray], queries: dict[str, np.ndarray], labels: Sequence[str], *,
              dims: int = fitting.DEFAULT_DIMS, shrinkage: float = fitting.DEFAULT_SHRINKAGE, k: int = 10,
              seeds: int = 5, protocol: str = "both", room: np.ndarray | None = None,
              room_weight: float = fitting.DEFAULT_ROOM) -> dict:
    """``base`` and ``transductive`` on all tracks; ``split`` and ``split_base`` on held-out halves.

    ``room``: the room nuisance the fit adds to the within-track scatter (as `livedj index` does).
    """
    n = len(windows)

    def fitted(tracks):
        x = np.concatenate([windows[t] for t in tracks])
        g = np.concatenate([np.full(len(windows[t]), t) for t in tracks])
        return fitting.fit_lda(x, g, dims=dims, shrinkage=shrinkage, nuisance=room, nuisance_weight=room_weight)

    out = {"base": figures(windows, queries, labels, None, k)}
    if protocol in ("transductive", "both"):
        proj = fitted(np.arange(n))
        out["transductive"] = figures(windows, queries, labels, proj, k)
        out["fit"] = {"kind": proj.kind, "dim": proj.dim, "tracks": n}
    if protocol in ("split", "both") and n >= 4:
        runs, bases = [], []
        for s in range(seeds):
            perm = np.random.default_rng(s).permutation(n)
            fit_t, test_t = np.sort(perm[:n // 2]), np.sort(perm[n // 2:])
            runs.append(figures(windows, queries, labels, fitted(fit_t), k, test_t))
            bases.append(figures(windows, queries, labels, None, k, test_t))
        out["split"] = {m: float(np.mean([r[m] for r in runs])) for m in runs[0]}
        out["split_base"] = {m: float(np.mean([r[m] for r in bases])) for m in bases[0]}
    return out


def embed_folder(root: str, encoder, *, beginning_s: float = 15.0, booth: bool = True,
                 progress: Callable[..., None] | None = None) -> dict:
    """Decode each labelled file once; base vectors of its beginning windows and 40 % queries."""
    from livedj.adapt.data import booth_window
    from livedj.audio.decode import DecodeError, decode
    from livedj.commands.labelled import labelled_files
    from livedj.commands.eval_room import standard_booth
    from livedj.dsp.level import first_sound
    from livedj.library.track_analysis import MIN_AUDIO_S

    files = labelled_files(root)
    windows, clean, heard, labels, skipped = [], [], [], [], []
    for i, (path, label) in enumerate(files, 1):
        try:
            audio = decode(path, SR, 0.0, 1200.0)
        except DecodeError as exc:
            skipped.append((path, exc.reason))
            continue
        start = int(first_sound(audio[:60 * SR], SR) * SR)
        if len(audio) - start < max(MIN_AUDIO_S * SR, WINDOW + SR):
            skipped.append((path, "too short"))
            continue
        head = audio[start:start + int(beginning_s * SR)]
        wins = [head[j:j + WINDOW] for j in range(0, max(1, len(head) - WINDOW + 1), WINDOW)]
        at = start + int(QUERY_AT * (len(audio) - start - WINDOW - 1))
        extra = [audio[at:at + WINDOW]]
        if booth:
            rng = np.random.default_rng(zlib.crc32(path.encode("utf-8", "surrogateescape")))
            extra.append(booth_window(audio, at, standard_booth(rng)))
        vectors = np.stack([e.vector for e in encoder.analyze_many(wins + extra)]) \
            if hasattr(encoder, "analyze_many") else np.stack([encoder.analyze(w).vector for w in wins + extra])
        windows.append(vectors[:len(wins)])
        clean.append(vectors[len(wins)])
        if booth:
            heard.append(vectors[len(wins) + 1])
        labels.append(label)
        if progress:
            progress(i, len(files))
    queries = {"clean": np.stack(clean)} if clean else {}
    if heard:
        queries["booth"] = np.stack(heard)
    return {"windows": windows, "queries": queries, "labels": labels, "skipped": skipped}


def evaluate_fit(root: str, encoder_name: str = "musicnn", *, beginning_s: float = 15.0, protocol: str = "both",
                 dims: int = fitting.DEFAULT_DIMS, k: int = 10, seeds: int = 5, booth: bool = True,
                 room_weight: float = fitting.DEFAULT_ROOM, progress: Callable[..., None] | None = None) -> dict:
    """The figures of :func:`protocols` for the labelled folder ``root`` (see the module doc)."""
    from livedj.commands.labelled import random_precision
    from livedj.encoders import encoder_id, get_encoder

    data = embed_folder(root, get_encoder(encoder_name, threads=2), beginning_s=beginning_s, booth=booth,
                        progress=progress)
    labels = data["labels"]
    result = {"dir": root, "encoder": encoder_name, "tracks": len(labels), "labels": dict(Counter(labels)), "k": k,
              "beginning_s": beginning_s, "skipped": data["skipped"], "random_p": random_precision(labels)}
    room = fitting.load_room_nuisance(encoder_id(encoder_name)) if room_weight > 0 else None
    result["room"] = None if room is None else {"id": room[1], "weight": room_weight}
    if len(labels) >= 2:
        result.update(protocols(data["windows"], data["queries"], labels, dims=dims, k=k, seeds=seeds,
                                protocol=protocol, room=None if room is None else room[0], room_weight=room_weight))
    return result


def print_fit_table(result: dict) -> None:
    """Base encoder and library fit side by side (rich)."""
    from rich.console import Console
    from rich.table import Table

    k = result["k"]
    table = Table(title=f"label precision@{k}, {result['tracks']} tracks, {len(result['labels'])} labels "
                        f"({result['encoder']}, {result['beginning_s']:g}-s beginnings"
                        + (f"; fit: {result['fit']['kind']}, {result['fit']['dim']} dims" if "fit" in result else "")
                        + (f", room nuisance x{result['room']['weight']:g}" if result.get("room") else "")
                        + ")",
                  caption="begin: beginnings -> beginnings; clean / booth: a 5-s window at 40 % of a track, clean "
                          "or through the standard booth -> beginnings of the other tracks. split: fitted on half "
                          "the tracks, measured on the other half (base on the same halves)")
    table.add_column("vectors")
    metrics = [m for m in ("begin", "clean", "booth") if m in result.get("base", {})]
    for m in metrics:
        table.add_column(m, justify="right")
    names = {"base": "base encoder", "transductive": "library fit (transductive)",
             "split_base": "base encoder (split halves)", "split": "library fit (split)"}
    for key, name in names.items():
        if key in result:
            table.add_row(name, *(f"{result[key][m]:.3f}" for m in metrics))
    table.add_row("random", *(f"{result['random_p']:.3f}" for _ in metrics))
    Console().print(table)
