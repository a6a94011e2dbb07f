"""`livedj train`'s stronger, optional fit: a linear contrastive head trained on the library's windows.

It starts from the index-time fit (centring + LDA over tracks, :mod:`livedj.library.fit`) and
refines its matrix with a supervised-contrastive loss (SupCon, Khosla et al. 2020) whose only
"labels" are what the audio gives for free:

* positives: other 5-s windows of the same track, and *room views* of the same window;
* negatives: the windows of every other track in the batch.

Room views are drawn in embedding space, ``x + e`` with ``e ~ N(0, beta * R)``, ``R`` the room
nuisance (:func:`livedj.library.fit.room_nuisance`): no audio is decoded again, so training on the
cached windows of a 1,000-track library takes a minute. Views embedded from real booth audio can
be passed as ``extra`` (pairs with their clean window's track).

The head stays linear (``unit((x - mu) @ W)``), so the result is a :class:`Projection` like the
LDA fit: the index stores it, names it by its hash and refuses queries projected otherwise.
A weight-decay towards the starting matrix keeps small libraries from drifting far from LDA.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from livedj.library.fit import Projection, unit_rows


@dataclass(frozen=True)
class HeadConfig:
    steps: int = 300
    batch_tracks: int = 64  #: tracks per step (all of them when the library is smaller)
    views: int = 2  #: windows per track per step
    temperature: float = 0.1
    lr: float = 3e-3
    anchor: float = 100.0  #: weight of ||W - W0||^2 / ||W0||^2 (stay near the LDA start)
    room_weight: float = 1.0  #: beta: scale of the room nuisance the views are drawn with (0: none)
    room_share: float = 0.5  #: share of views that go through the room
    seed: int = 0


def supcon(z, groups, temperature: float):
    """SupCon loss of unit rows ``z`` (torch [n, k]) whose positives share a ``groups`` id (torch [n])."""
    import torch

    sims = z @ z.T / temperature
    eye = torch.eye(len(z), dtype=torch.bool)
    sims = sims.masked_fill(eye, float("-inf"))
    log_prob = sims - torch.logsumexp(sims, dim=1, keepdim=True)
    positive = (groups[:, None] == groups[None, :]) & ~eye
    count = positive.sum(1).clamp(min=1)
    return -(log_prob.masked_fill(~positive, 0.0).sum(1) / count).mean()


def train_projection(windows: np.ndarray, groups: np.ndarray, start: Projection, *, room: np.ndarray | None = None,
                     extra: tuple[np.ndarray, np.ndarray] | None = None, config: HeadConfig = HeadConfig(),
                     progress: Callable[[int, int, float], None] | None = None) -> Projection:
    """Refine ``start`` (an LDA :class:`Projection`) with SupCon on a library's windows.

    Parameters
    ----------
    windows : np.ndarray
        (n, d) base vectors of the library's windows (any norm: made unit, as the fit sees them).
    groups : np.ndarray
        (n,) the track of each window (ids, not labels).
    start : Projection
        The starting point; its mean is kept, its matrix is trained.
    room : np.ndarray, optional
        (d, d) room nuisance ``R``; room views are ``x + e``, ``e ~ N(0, room_weight * R)``.
    extra : (np.ndarray, np.ndarray), optional
        Real booth views and their tracks: further positives of those tracks.
    config : HeadConfig
    progress : callable, optional
        ``progress(step, steps, loss)`` after each step.

    Returns
    -------
    Projection
        kind ``"contrastive"``, same mean and shape as ``start``.
    """
    import torch

    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    x = unit_rows(windows)
    groups = np.asarray(groups)
    if extra is not None and len(extra[0]):
        x = np.concatenate([x, unit_rows(extra[0])])
        groups = np.concatenate([groups, np.asarray(extra[1])])
    ids, inverse = np.unique(groups, return_inverse=True)
    rows_by_track = [np.flatnonzero(inverse == t) for t in range(len(ids))]
    centred = torch.from_numpy((x - start.mean).astype(np.float32))
    w0 = torch.from_numpy(start.matrix.astype(np.float32))
    # LDA's columns have arbitrary scale; normalise them so the learning rate means the same everywhere
    w0 = w0 / w0.norm(dim=0, keepdim=True).clamp(min=1e-12)
    weight = torch.nn.Parameter(w0.clone())
    optimiser = torch.optim.Adam([weight], lr=config.lr)
    noise = None
    if room is not None and config.room_weight > 0:
        values, vectors = np.linalg.eigh(np.asarray(room, np.float64))
        noise = torch.from_numpy((vectors * np.sqrt(np.clip(values, 0, None) * config.room_weight)).astype(np.float32))
    batch = min(config.batch_tracks, len(ids))
    w0_norm = float((w0 ** 2).sum())
    for step in range(config.steps):
        tracks = rng.choice(len(ids), size=batch, replace=False)
        rows = np.concatenate([rng.choice(rows_by_track[t], size=config.views, replace=len(rows_by_track[t]) < config.views)
                               for t in tracks])
        v = centred[torch.from_numpy(rows)]
        if noise is not None:
            heard = torch.from_numpy(rng.random(len(rows)) < config.room_share)
            e = torch.randn(len(rows), noise.shape[1]) @ noise.T
            v = v + e * heard[:, None]
        z = torch.nn.functional.normalize(v @ weight, dim=1)
        loss = supcon(z, torch.from_numpy(np.repeat(np.arange(batch), config.views)), config.temperature)
        loss = loss + config.anchor * ((weight - w0) ** 2).sum() / w0_norm
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if progress is not None:
            progress(step + 1, config.steps, float(loss.detach()))
    info = {**{k: v for k, v in start.info.items() if k in ("tracks", "windows", "shrinkage", "nuisance_weight")},
            "start": start.id, "head": asdict(config)}
    return Projection(start.mean.astype(np.float32), weight.detach().numpy().astype(np.float32), "contrastive",
                      start.base, info)
