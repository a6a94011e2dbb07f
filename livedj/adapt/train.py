"""Train the booth head on cached musicnn features with NT-Xent (SimCLR's contrastive loss).

Each step takes one chunk from each of ``batch`` different tracks and two views of it: any two of
{clean, booth view 1, booth view 2, ...}, and with probability ``near_share`` the second view comes
from the neighbouring chunk (``hop_s`` away) of the same track. The 2B vectors are scored against
each other; each one's positive is its partner, the other 2B - 2 (other tracks, so never the same
song) are its negatives. One chunk per track per batch keeps repeats of a song out of the negatives.

Optionally (``distill`` > 0) a relational distillation term keeps the clean chunks' similarity
structure close to the base encoder's (KL between the softmaxed cosine matrices), which is what
holds the label precision of suggestions while the head learns to ignore the room.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from livedj.adapt.data import FeatureCache, penultimate_from_pool


@dataclass(frozen=True)
class TrainConfig:
    base: str = "pool"  #: musicnn layer the head reads: "pool" or "penultimate"
    hidden: int = 512
    out_dim: int = 128
    epochs: int = 40
    batch: int = 64  #: tracks per step (fewer when the library has fewer)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.1
    near_share: float = 0.25  #: probability that the positive is the neighbouring chunk
    distill: float = 1.0  #: weight of the similarity-structure term (0: off)
    distill_temperature: float = 0.05
    val_share: float = 0.1  #: share of the cached tracks held out for the per-epoch figure
    seed: int = 0


@dataclass
class Features:
    """Cached features as float32 arrays in the layer the head reads, plus the base encoder's vectors."""

    clean: np.ndarray  #: [N, d]
    booth: np.ndarray  #: [N, V, d]
    teacher: np.ndarray  #: [N, 200] unit penultimate vectors of the clean chunks (the live encoder's)
    teacher_booth: np.ndarray  #: [N, V, 200] the same for the booth views
    track: np.ndarray
    chunk: np.ndarray


def prepare(cache: FeatureCache, base: str, model) -> Features:
    """Convert a :class:`FeatureCache` (pool, float16) to the layer ``base`` (``model``: the frozen musicnn)."""
    n, v = len(cache.clean), cache.booth.shape[1]
    pool_c = cache.clean.astype(np.float32)
    pool_b = cache.booth.astype(np.float32).reshape(n * v, -1)
    pen_c, pen_b = penultimate_from_pool(model, pool_c), penultimate_from_pool(model, pool_b)
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)  # noqa: E731
    clean, booth = (pool_c, pool_b) if base == "pool" else (pen_c, pen_b)
    return Features(clean, booth.reshape(n, v, -1), unit(pen_c), unit(pen_b).reshape(n, v, -1),
                    cache.track.copy(), cache.chunk.copy())


def split_val(track: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val) over chunks, splitting by track."""
    tracks = np.unique(track)
    n_val = int(round(share * len(tracks))) if len(tracks) > 2 else 0
    val_tracks = np.random.default_rng(seed).permutation(tracks)[:n_val]
    val = np.isin(track, val_tracks)
    return ~val, val


def nt_xent(a, b, temperature: float):
    """SimCLR's NT-Xent on unit vectors a[i] <-> b[i]: mean cross-entropy over the 2B rows."""
    import torch
    import torch.nn.functional as F

    z = torch.cat([a, b])
    sims = z @ z.T / temperature
    sims.fill_diagonal_(float("-inf"))  # a vector is not its own candidate
    n = len(a)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(sims, target)


def relational_kd(student, teacher, temperature: float):
    """KL(teacher || student) between row-softmaxed cosine matrices (the diagonal excluded)."""
    import torch
    import torch.nn.functional as F

    mask = torch.eye(len(student), dtype=torch.bool)
    s = (student @ student.T / temperature).masked_fill(mask, float("-inf"))
    t = (teacher @ teacher.T / temperature).masked_fill(mask, float("-inf"))
    return F.kl_div(F.log_softmax(s, 1).masked_fill(mask, 0.0), F.log_softmax(t, 1).masked_fill(mask, 0.0),
                    log_target=True, reduction="batchmean")


def identification(query: np.ndarray, keys: np.ndarray, key_track: np.ndarray, key_chunk: np.ndarray,
                   q_track: np.ndarray, q_chunk: np.ndarray) -> tuple[float, float]:
    """(top-1 same moment, top-1 same track) of unit query vectors against unit key vectors."""
    best = np.argmax(query @ keys.T, axis=1)
    same_track = key_track[best] == q_track
    return float(np.mean(same_track & (key_chunk[best] == q_chunk))), float(np.mean(same_track))


def validate(head, feats: Features, mask: np.ndarray) -> dict:
    """Booth view 0 of each held-out chunk -> clean held-out chunks: top-1 figures, head and base."""
    from livedj.adapt.head import apply_head

    if not mask.any():
        return {}
    t, c = feats.track[mask], feats.chunk[mask]
    keys, queries = apply_head(head, feats.clean[mask]), apply_head(head, feats.booth[mask][:, 0])
    moment, track = identification(queries, keys, t, c, t, c)
    base_moment, base_track = identification(feats.teacher_booth[mask][:, 0], feats.teacher[mask], t, c, t, c)
    return {"val_top1": moment, "val_track_top1": track, "base_top1": base_moment, "base_track_top1": base_track}


def _pairs(rng: np.random.Generator, feats: Features, rows_by_track: list[np.ndarray], batch: int,
           near_share: float) -> tuple[np.ndarray, ...]:
    """Indices of one batch: per track a chunk row, two (row, view) picks; view 0 is clean, k > 0 booth k-1."""
    n_views = feats.booth.shape[1] + 1
    chosen = rng.choice(len(rows_by_track), size=min(batch, len(rows_by_track)), replace=False)
    rows_a, rows_b, views_a, views_b = [], [], [], []
    for t in chosen:
        rows = rows_by_track[t]
        i = int(rng.integers(len(rows)))
        j = i
        if rng.random() < near_share and len(rows) > 1:
            j = min(max(i + int(rng.choice((-1, 1))), 0), len(rows) - 1)
            j = j if j != i else (i + 1 if i + 1 < len(rows) else i - 1)
        va = int(rng.integers(n_views))
        vb = int(rng.integers(n_views - 1)) if j == i else int(rng.integers(n_views))
        if j == i and vb >= va:
            vb += 1  # a different view of the same moment
        rows_a.append(rows[i]), rows_b.append(rows[j]), views_a.append(va), views_b.append(vb)
    return np.array(rows_a), np.array(views_a), np.array(rows_b), np.array(views_b)


def _gather(feats: Features, rows: np.ndarray, views: np.ndarray) -> np.ndarray:
    out = feats.clean[rows].copy()
    booth = views > 0
    out[booth] = feats.booth[rows[booth], views[booth] - 1]
    return out


def train_head(feats: Features, config: TrainConfig = TrainConfig(), *, checkpoint: str | None = None,
               resume: bool = False, progress: Callable[[int, int, dict], None] | None = None):
    """Train a head; returns ``(head, history)`` where history is one dict of figures per epoch.

    Parameters
    ----------
    feats : Features
        From :func:`prepare` (its layer must match ``config.base``).
    checkpoint : str, optional
        A file written after every epoch (head, optimiser, RNG, history); with ``resume`` and a
        checkpoint of the same ``config`` training continues from its epoch.
    progress : callable, optional
        Called ``progress(step, total_steps, figures)`` after every step (figures empty mid-epoch).
    """
    import torch

    from livedj.adapt.head import make_head

    head = make_head(config.base, config.hidden, config.out_dim, seed=config.seed)
    train_mask, val_mask = split_val(feats.track, config.val_share, config.seed)
    head.set_standardisation(feats.clean[train_mask])
    rows_by_track = [np.flatnonzero(train_mask & (feats.track == t)) for t in np.unique(feats.track[train_mask])]
    steps = max(1, int(np.ceil(train_mask.sum() / max(1, min(config.batch, len(rows_by_track))))))
    opt = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    history: list[dict] = []
    start = 0
    if resume and checkpoint and os.path.isfile(checkpoint):
        state = torch.load(checkpoint, weights_only=False)
        if state.get("config") == asdict(config):
            head.load_state_dict(state["head"])
            opt.load_state_dict(state["opt"])
            rng.bit_generator.state = state["rng"]
            history, start = state["history"], state["epoch"]
    total = config.epochs * steps
    for epoch in range(start, config.epochs):
        head.train()
        losses = []
        for step in range(steps):
            ra, va, rb, vb = _pairs(rng, feats, rows_by_track, config.batch, config.near_share)
            a = head(torch.from_numpy(_gather(feats, ra, va)))
            b = head(torch.from_numpy(_gather(feats, rb, vb)))
            loss = nt_xent(a, b, config.temperature)
            if config.distill > 0:
                clean = head(torch.from_numpy(feats.clean[ra]))
                loss = loss + config.distill * relational_kd(clean, torch.from_numpy(feats.teacher[ra]),
                                                             config.distill_temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if progress and step < steps - 1:
                progress(epoch * steps + step + 1, total, {})
        head.eval()
        figures = {"epoch": epoch + 1, "loss": float(np.mean(losses)), **validate(head, feats, val_mask)}
        history.append(figures)
        if checkpoint:
            tmp = f"{checkpoint}.tmp"
            torch.save({"config": asdict(config), "head": head.state_dict(), "opt": opt.state_dict(),
                        "rng": rng.bit_generator.state, "history": history, "epoch": epoch + 1}, tmp)
            os.replace(tmp, checkpoint)
        if progress:
            progress((epoch + 1) * steps, total, figures)
    head.eval().requires_grad_(False)
    head.base = config.base
    return head, history
