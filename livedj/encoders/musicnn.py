"""musicnn (MSD_musicnn, Pons & Serra 2019) ported to torch, and the live encoder built on it.

The network is a faithful re-implementation of ``musicnn.models.build_musicnn`` (musicnn 0.1.0)
with the pretrained Million Song Dataset weights converted by ``models/convert_musicnn.py``:

* front end: batch norm on the log-mel input; timbral convs 7x38 and 7x67 (time zero-padded by 3,
  'valid') with 204 filters each; temporal convs 128x1, 64x1, 32x1 with 51 filters each ('same', TF
  puts the extra row of an even kernel at the end); each conv -> ReLU -> BN -> max over frequency;
  concatenated to 561 channels per frame.
* mid end: three width-7 convs of 64 filters (conv -> ReLU -> BN), the 2nd and 3rd residual; the
  front-end output and the three mid-end outputs are concatenated to 753 channels per frame.
* back end: max and mean over time, interleaved (max0, mean0, max1, ...) into 1506 values ("pool");
  BN -> dense 200 + ReLU -> BN ("penultimate") -> dense 50 -> sigmoid ("tags").

Everything before the temporal pooling is convolutional along time, so the network accepts any
number of frames T >= 1. musicnn itself cuts spectrograms into 187-frame (3 s) patches; the live
encoder instead embeds a whole 5-s window (313 frames) in one pass, which sees the whole window and
costs less than two overlapping patches. ``mode="patches"`` reproduces musicnn's patch-wise use.

torch is imported lazily (``MusiCNN`` is built on first access) so importing this module is cheap.
"""
from __future__ import annotations

import os

# torch's OpenMP workers otherwise spin while they wait: on a busy 2-core box a 2-thread forward
# pass then took 0.4-1.1 s instead of ~55 ms (measured, see models/MODEL_CARD.md). Must be set
# before torch is first imported, which this module does lazily.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json  # noqa: E402
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from livedj.dsp.mel import HOP, SR, log_mel
from livedj.encoders.base import Embedding, unit

WEIGHTS_FILE = "musicnn_msd.safetensors"
PATCH_FRAMES = 187  #: musicnn's training patch: 3 s at 16 kHz with hop 256
BN_EPS = 1e-3  #: TF's batch_normalization default
CHUNK_FRAMES = 128  #: output frames per timbral conv call in the fast front end (cache-sized)
CHUNK_BANDS = 32  #: mel bands per temporal conv call in the fast front end


def default_weights_path() -> Path:
    """``$LIVEDJ_MODELS_DIR/musicnn_msd.safetensors`` if that variable is set, else ``<repo>/models/...``."""
    models_dir = os.environ.get("LIVEDJ_MODELS_DIR")
    return Path(models_dir or Path(__file__).resolve().parents[2] / "models") / WEIGHTS_FILE


def patch_starts(n_frames: int, patch: int = PATCH_FRAMES) -> list[int]:
    """Start frames of the fewest ``patch``-frame patches that cover ``n_frames`` frames, evenly spread.

    The first patch starts at 0 and the last ends at ``n_frames`` (e.g. 313 frames -> [0, 126]).
    """
    if n_frames <= patch:
        return [0]
    count = -(-(n_frames - patch) // patch) + 1
    return [round(i * (n_frames - patch) / (count - 1)) for i in range(count)]


@lru_cache(maxsize=1)
def _model_class() -> type:
    """Define ``MusiCNN`` (deferred so that importing this module does not import torch)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def bn(x: torch.Tensor, norm: nn.BatchNorm1d) -> torch.Tensor:
        # inference batch norm on the channel axis 1 of a tensor of any rank
        return F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps)

    def affine(norm: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
        # inference batch norm as y = x * scale + shift
        scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
        return scale, norm.bias - norm.running_mean * scale

    def signed(weight: torch.Tensor, bias: torch.Tensor, norm: nn.BatchNorm1d) -> tuple[torch.Tensor, ...]:
        # conv weights times the sign of the following BN scale (negation is exact, so
        # sign * max(sign * y) is max(y) for sign +1 and min(y) for -1), plus the [C, 1] BN affine
        scale, shift = affine(norm)
        sign = torch.where(scale < 0, -1.0, 1.0)
        view = (-1,) + (1,) * (weight.ndim - 1)
        return weight * sign.view(view), bias * sign, sign[:, None], scale[:, None], shift[:, None]

    class MusiCNN(nn.Module):
        """The MSD_musicnn network. ``forward(logmel[B, T, 96])`` -> dict of tags, penultimate, pool.

        Parameters
        ----------
        reorder : bool
            True (default): the fast front end, which takes the max over frequency straight after
            each front-end conv and applies ReLU and BN to the pooled [C, T] map instead of the full
            [C, T, F] one. Exact: ReLU and BN are monotonic per channel, increasing when the BN
            scale gamma / sqrt(var + eps) is >= 0 and decreasing otherwise, where the min is taken
            instead (as the max of the negated conv). False: the literal graph order.
        n_mels, n_tags : int
            Input bands and output tags (96 and 50 for the MSD model).
        """

        def __init__(self, reorder: bool = True, n_mels: int = 96, n_tags: int = 50):
            super().__init__()
            self.reorder, self.n_mels = reorder, n_mels
            self.frontend = nn.Module()
            fe = self.frontend
            fe.bn_input = nn.BatchNorm1d(1, eps=BN_EPS)
            fe.timbral = nn.ModuleList([nn.Conv2d(1, 204, (7, int(f * n_mels))) for f in (0.4, 0.7)])
            fe.timbral_bn = nn.ModuleList([nn.BatchNorm1d(204, eps=BN_EPS) for _ in range(2)])
            fe.temporal = nn.ModuleList([nn.Conv2d(1, 51, (k, 1)) for k in (128, 64, 32)])
            fe.temporal_bn = nn.ModuleList([nn.BatchNorm1d(51, eps=BN_EPS) for _ in range(3)])
            self.midend = nn.Module()
            self.midend.conv = nn.ModuleList([nn.Conv1d(c, 64, 7) for c in (561, 64, 64)])
            self.midend.bn = nn.ModuleList([nn.BatchNorm1d(64, eps=BN_EPS) for _ in range(3)])
            self.backend = nn.Module()
            self.backend.bn_pool = nn.BatchNorm1d(1506, eps=BN_EPS)
            self.backend.dense = nn.Linear(1506, 200)
            self.backend.bn_dense = nn.BatchNorm1d(200, eps=BN_EPS)
            self.backend.out = nn.Linear(200, n_tags)
            self.eval()

        def front(self, logmel: torch.Tensor) -> torch.Tensor:
            """[B, T, 96] log-mel -> [B, 561, T] front-end features (timbral 2x204, temporal 3x51)."""
            return self._front_fast(logmel) if self.reorder else self._front_plain(logmel)

        def _front_plain(self, logmel: torch.Tensor) -> torch.Tensor:
            """The literal graph: each conv -> ReLU -> BN on the full [B, C, T, F] map, then max over F."""
            fe = self.frontend
            x = bn(logmel.unsqueeze(1), fe.bn_input)  # [B, 1, T, F]
            padded = F.pad(x, (0, 0, 3, 3))  # zero-pad time only: the timbral convs are 'valid'
            blocks = [(padded, conv, norm) for conv, norm in zip(fe.timbral, fe.timbral_bn)]
            for conv, norm in zip(fe.temporal, fe.temporal_bn):
                k = conv.kernel_size[0]  # TF 'same': (k - 1) // 2 rows before, the rest after
                blocks.append((F.pad(x, (0, 0, (k - 1) // 2, k // 2)), conv, norm))
            return torch.cat([bn(F.relu(conv(inp)), norm).amax(dim=3) for inp, conv, norm in blocks], dim=1)

        def _front_fast(self, logmel: torch.Tensor) -> torch.Tensor:
            """The same values (to float32 round-off), pooling first, in cache-sized pieces.

            Max over F of sign * conv, then ReLU and BN (folded to an affine map) on [C, T] only.
            The timbral convs run on the band-major input [1, 1, F, T] so the max over F reduces
            whole rows, in chunks of ``CHUNK_FRAMES`` output frames; the temporal (k x 1) convs act
            on each band alone, so they run as Conv1d over ``CHUNK_BANDS`` bands at a time with a
            running max. Chunks keep each conv output in cache (about 10% less CPU time than whole
            maps; smaller chunks save a little more work but add thread synchronisations, which cost
            wall time on a busy machine); they split only independent outputs, so values are unchanged.
            """
            fe = self.frontend
            scale, shift = affine(fe.bn_input)
            timbral = [signed(conv.weight.transpose(2, 3), conv.bias, norm)  # kernels [C, 1, F, 7]
                       for conv, norm in zip(fe.timbral, fe.timbral_bn)]
            temporal = [signed(conv.weight[..., 0], conv.bias, norm)  # Conv1d kernels [C, 1, k]
                        for conv, norm in zip(fe.temporal, fe.temporal_bn)]
            out = []
            for item in logmel:  # one window at a time: batching only grows the maps past the cache
                x = (item * scale + shift).T  # [F, T]
                frames = x.shape[1]
                features = []
                padded = F.pad(x, (3, 3))[None, None]  # [1, 1, F, T + 6]
                for weight, bias, sign, bn_scale, bn_shift in timbral:
                    chunks = [padded[..., t:min(t + CHUNK_FRAMES, frames) + 6] for t in range(0, frames, CHUNK_FRAMES)]
                    pooled = torch.cat([F.conv2d(c, weight, bias).amax(dim=2) for c in chunks], dim=2)[0]
                    features.append(F.relu(pooled * sign) * bn_scale + bn_shift)
                bands = x[:, None, :]  # [F, 1, T]: each band is one signal
                for (weight, bias, sign, bn_scale, bn_shift), conv in zip(temporal, fe.temporal):
                    k = conv.kernel_size[0]
                    padded_bands = F.pad(bands, ((k - 1) // 2, k // 2))
                    pooled = None
                    for b in range(0, padded_bands.shape[0], CHUNK_BANDS):
                        y = F.conv1d(padded_bands[b:b + CHUNK_BANDS], weight, bias).amax(dim=0)
                        pooled = y if pooled is None else torch.maximum(pooled, y)
                    features.append(F.relu(pooled * sign) * bn_scale + bn_shift)
                out.append(torch.cat(features, dim=0))
            return torch.stack(out)

        def mid(self, front: torch.Tensor) -> torch.Tensor:
            """[B, 561, T] -> [B, 753, T]: the front end densely concatenated with three mid-end layers."""
            me = self.midend
            outputs = [front]
            for i, (conv, norm) in enumerate(zip(me.conv, me.bn)):
                y = bn(F.relu(conv(F.pad(outputs[-1], (3, 3)))), norm)
                outputs.append(y if i == 0 else y + outputs[-1])
            return torch.cat(outputs, dim=1)

        def forward(self, logmel: torch.Tensor) -> dict[str, torch.Tensor]:
            """Run the network on a batch of log-mel spectrograms.

            Parameters
            ----------
            logmel : torch.Tensor
                float32, shape [B, T, 96], from :func:`livedj.dsp.mel.log_mel`; any T >= 1.

            Returns
            -------
            dict
                ``tags`` [B, 50] sigmoid probabilities, ``penultimate`` [B, 200], ``pool`` [B, 1506]
                (max and mean over time, interleaved).
            """
            if logmel.ndim != 3 or logmel.shape[2] != self.n_mels:
                raise ValueError(f"MusiCNN: expected log-mel [B, T, {self.n_mels}], got {tuple(logmel.shape)}")
            features = self.mid(self.front(logmel))
            pool = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)
            be = self.backend
            penultimate = bn(F.relu(be.dense(bn(pool, be.bn_pool))), be.bn_dense)
            return {"tags": torch.sigmoid(be.out(penultimate)), "penultimate": penultimate, "pool": pool}

    MusiCNN.__qualname__, MusiCNN.__module__ = "MusiCNN", __name__
    return MusiCNN


def __getattr__(name: str) -> Any:  # PEP 562: ``from livedj.encoders.musicnn import MusiCNN``
    if name == "MusiCNN":
        return _model_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_musicnn(path: str | Path | None = None, reorder: bool = True) -> tuple[Any, tuple[str, ...]]:
    """Load the converted MSD weights into a ``MusiCNN`` in eval mode.

    Parameters
    ----------
    path : str or Path, optional
        safetensors file written by ``models/convert_musicnn.py``; default :func:`default_weights_path`.
    reorder : bool
        Use the exact pool-first front end (faster); see ``MusiCNN``.

    Returns
    -------
    (MusiCNN, tuple of str)
        The model and its 50 tag names.
    """
    path = Path(path) if path is not None else default_weights_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"musicnn weights not found at {path}; regenerate them with "
            f"`python models/convert_musicnn.py <musicnn-0.1.0 wheel> -o {path}` (see models/MODEL_CARD.md)")
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    tag_names = tuple(json.loads(metadata.get("musicnn", "{}")).get("tag_names", ()))
    model = _model_class()(reorder=reorder)
    model.load_state_dict(load_file(str(path)))
    model.eval().requires_grad_(False)
    return model, tag_names


class MusicnnEncoder:
    """The :class:`livedj.encoders.base.Encoder` for musicnn MSD: 16 kHz mono window -> unit vector + 50 tags.

    Parameters
    ----------
    weights : str or Path, optional
        Converted weights; default :func:`default_weights_path`.
    layer : {"penultimate", "pool"}
        Embedding: the 200-d penultimate layer (default) or the 1506-d max/mean temporal pool.
    mode : {"whole", "patches"}
        "whole" runs the whole window in one pass (the live default); "patches" runs musicnn's
        187-frame patches (see :func:`patch_starts`) and averages their outputs.
    threads : int, optional
        If given, ``torch.set_num_threads(threads)`` (process-wide).
    reorder : bool
        Exact pool-first front end (faster); False runs the literal conv -> ReLU -> BN -> max order.
    batch_size : int
        Windows per forward pass in :meth:`analyze_many`.
    """

    name = "musicnn"
    sample_rate = SR
    VERSION = "musicnn-msd-0.1.0/penultimate/whole/mel-v1"  #: ``version`` of the default configuration
    DIM = 200  #: ``dim`` of the default configuration (layer "penultimate")

    def __init__(self, weights: str | Path | None = None, layer: str = "penultimate", mode: str = "whole",
                 threads: int | None = None, reorder: bool = True, batch_size: int = 16):
        if layer not in ("penultimate", "pool"):
            raise ValueError(f"MusicnnEncoder: layer must be 'penultimate' or 'pool', got {layer!r}")
        if mode not in ("whole", "patches"):
            raise ValueError(f"MusicnnEncoder: mode must be 'whole' or 'patches', got {mode!r}")
        import torch

        if threads is not None:
            torch.set_num_threads(int(threads))
        self._torch = torch
        self.model, self.tag_names = load_musicnn(weights, reorder=reorder)
        self.layer, self.mode, self.batch_size = layer, mode, int(batch_size)
        self.dim = self.DIM if layer == "penultimate" else 1506
        self.version = f"musicnn-msd-0.1.0/{layer}/{mode}/mel-v1"  # bump "mel-vN" if pre-processing changes

    def logmel(self, audio: np.ndarray) -> np.ndarray:
        """The network input for one window: (1 + len(audio) // 256, 96) float32."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1 or audio.size <= HOP:
            raise ValueError(f"MusicnnEncoder: expected mono audio longer than {HOP} samples, got shape {audio.shape}")
        return log_mel(audio)

    def outputs(self, logmels: np.ndarray) -> dict[str, np.ndarray]:
        """The network on a stack of log-mel windows [B, T, 96] (patch-averaged in "patches" mode):
        every layer's output per window, as numpy (``"tags"``, ``"penultimate"``, ``"pool"``, ...)."""
        torch = self._torch
        with torch.inference_mode():
            if self.mode == "whole":
                out = self.model(torch.from_numpy(np.ascontiguousarray(logmels)))
                return {k: v.numpy() for k, v in out.items()}
            starts = patch_starts(logmels.shape[1])
            patches = np.stack([m[s:s + PATCH_FRAMES] for m in logmels for s in starts])
            out = self.model(torch.from_numpy(patches))
            return {k: v.numpy().reshape(len(logmels), len(starts), -1).mean(axis=1) for k, v in out.items()}

    def _embedding(self, out: dict[str, np.ndarray], i: int) -> Embedding:
        return Embedding(vector=unit(out[self.layer][i]), tags=out["tags"][i].astype(np.float32))

    def preprocess(self, audio: np.ndarray) -> np.ndarray:
        """Stage 1 of :meth:`analyze` (timed apart by the live loop): the log-mel input."""
        return self.logmel(audio)

    def forward(self, logmel: np.ndarray) -> Embedding:
        """Stage 2 of :meth:`analyze`: the network on one log-mel window."""
        return self._embedding(self.outputs(logmel[None]), 0)

    def analyze(self, audio: np.ndarray) -> Embedding:
        """Embed one mono float32 window at 16 kHz (5 s -> 313 frames) in a single pass."""
        return self._embedding(self.outputs(self.logmel(audio)[None]), 0)

    def analyze_many(self, windows: Sequence[np.ndarray]) -> list[Embedding]:
        """Embed many windows (e.g. song beginnings for indexing), batching windows of equal length."""
        logmels = [self.logmel(w) for w in windows]
        results: list[Embedding | None] = [None] * len(logmels)
        by_length: dict[int, list[int]] = {}
        for i, m in enumerate(logmels):
            by_length.setdefault(m.shape[0], []).append(i)
        for indices in by_length.values():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size]
                out = self.outputs(np.stack([logmels[i] for i in chunk]))
                for j, i in enumerate(chunk):
                    results[i] = self._embedding(out, j)
        return results  # type: ignore[return-value]
