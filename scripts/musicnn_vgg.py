"""Measurement helper (not shipped behaviour): musicnn's ``vgg`` network (MSD_vgg, MTT_vgg) in torch.

    .venv/bin/python scripts/musicnn_vgg.py WHEEL_OR_DIR CORPUS_DIR OUT.npz [PART PARTS [STEP]]

The network is a re-implementation of ``musicnn.models.vgg`` (musicnn 0.1.0, 128 filters as
``define_model`` builds it): BN on the [T=187, F=96] log-mel patch, then five blocks of
conv 3x3 'same' -> ReLU -> BN -> max pool (4x1 / 2x2 / 2x2 / 2x2 / 4x4, strides 2,2,2,2,4,
'valid'), flattened in TF's NHWC order ([2, 1, 128] -> 256, "pool5") -> dense 50 (tags). The
checkpoints are read without TensorFlow by ``models/convert_musicnn.read_checkpoint``.

The cache holds, for both checkpoints and the windows ``scripts/fit_cache.py`` uses (6 beginning
windows of 5 s from the first sound, the clean and standard-booth windows at 40 %): ``pool5``
averaged over the two 3-s patches of each 5-s window (``{model}_begin`` [n, 6, 256], NaN where the
track is shorter; ``{model}_clean_q`` / ``{model}_booth_q`` [n, 1, 256]) and the mean tag
probabilities (``{model}_tags_*``). ``STEP`` > 1 keeps every STEP-th track.
"""
from __future__ import annotations

import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from convert_musicnn import read_checkpoint  # noqa: E402

BN_EPS = 1e-3  # TF's batch_normalization default
POOLS = [((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4))]
PATCH = 187  # the vgg models only take 3-s patches (musicnn extractor: input_length must be 3)
MODELS = ("MSD_vgg", "MTT_vgg")


class MusicnnVGG(nn.Module):
    """musicnn ``vgg``: ``forward(logmel[B, 187, 96])`` -> (tags [B, 50] sigmoid, pool5 [B, 256])."""

    def __init__(self, filters: int = 128, n_tags: int = 50):
        super().__init__()
        self.bn_input = nn.BatchNorm2d(1, eps=BN_EPS)
        self.convs = nn.ModuleList([nn.Conv2d(1 if i == 0 else filters, filters, 3, padding=1) for i in range(5)])
        self.bns = nn.ModuleList([nn.BatchNorm2d(filters, eps=BN_EPS) for _ in range(5)])
        self.dense = nn.Linear(2 * 1 * filters, n_tags)
        self.eval()

    def forward(self, logmel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.bn_input(logmel.unsqueeze(1))  # [B, 1, T, F]: time is TF's H, bands its W
        for conv, norm, (size, stride) in zip(self.convs, self.bns, POOLS):
            x = F.max_pool2d(norm(F.relu(conv(x))), size, stride)
        pool5 = x.permute(0, 2, 3, 1).flatten(1)  # NHWC flatten, as tf.layers.flatten
        return torch.sigmoid(self.dense(pool5)), pool5


def load_vgg(source: Path, name: str) -> MusicnnVGG:
    """Build ``name`` ("MSD_vgg" or "MTT_vgg") from the musicnn wheel, an unzipped wheel or its folder."""
    members = (f"musicnn/{name}/.index", f"musicnn/{name}/.data-00000-of-00001")
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            index, data = wheel.read(members[0]), wheel.read(members[1])
    else:
        folder = next(f for f in (source / name, source / "musicnn" / name) if (f / ".index").is_file())
        index, data = (folder / ".index").read_bytes(), (folder / ".data-00000-of-00001").read_bytes()
    tf = read_checkpoint(index, data, name)
    state = {}
    for i in range(5):
        state[f"convs.{i}.weight"] = tf[f"{i + 1}CNN/kernel"].transpose(3, 2, 0, 1)  # [kh, kw, in, out] -> torch
        state[f"convs.{i}.bias"] = tf[f"{i + 1}CNN/bias"]
    for i, prefix in enumerate(["bn_input"] + [f"bns.{j}" for j in range(5)]):
        tfname = "batch_normalization" + ("" if i == 0 else f"_{i}")
        state[f"{prefix}.weight"], state[f"{prefix}.bias"] = tf[f"{tfname}/gamma"], tf[f"{tfname}/beta"]
        state[f"{prefix}.running_mean"] = tf[f"{tfname}/moving_mean"]
        state[f"{prefix}.running_var"] = tf[f"{tfname}/moving_variance"]
        state[f"{prefix}.num_batches_tracked"] = np.zeros((), np.int64)
    state["dense.weight"], state["dense.bias"] = tf["dense/kernel"].T, tf["dense/bias"]
    model = MusicnnVGG()
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    return model


def embed(models: dict, windows: list[np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per model: (pool5 [n, 256], tags [n, 50]) of 5-s windows, each the mean of its 3-s patches."""
    from livedj.dsp.mel import log_mel
    from livedj.encoders.musicnn import patch_starts

    mels = [log_mel(w) for w in windows]
    patches, owner = [], []
    for i, m in enumerate(mels):
        for s in patch_starts(len(m), PATCH):
            p = m[s:s + PATCH]
            patches.append(np.pad(p, ((0, PATCH - len(p)), (0, 0))))
            owner.append(i)
    x = torch.from_numpy(np.stack(patches).astype(np.float32))
    owner = np.asarray(owner)
    out = {}
    with torch.inference_mode():
        for name, model in models.items():
            tags, pool5 = (t.numpy() for t in model(x))
            out[name] = (np.stack([pool5[owner == i].mean(0) for i in range(len(windows))]),
                         np.stack([tags[owner == i].mean(0) for i in range(len(windows))]))
    return out


def main(wheel: str, root: str, out: str, part: int = 0, parts: int = 1, step: int = 1) -> None:
    from livedj.adapt.data import booth_window
    from _corpus import corpus_audio
    from livedj.commands.eval import labelled_files
    from livedj.commands.eval_room import standard_booth

    torch.set_num_threads(1)
    sr, w, n_begin = 16000, 80000, 6
    models = {name: load_vgg(Path(wheel), name) for name in MODELS}
    files = labelled_files(root)[::step][part::parts]
    paths, labels = [], []
    res = {f"{m}_{k}": [] for m in MODELS for k in ("begin", "clean_q", "booth_q", "tags_begin", "tags_clean_q")}
    for i, path, label, audio, start in corpus_audio(files, sr, w):
        wins = [audio[start + j * w:start + (j + 1) * w] for j in range(n_begin)]
        wins = wins[:max(1, sum(len(x) == w for x in wins))]
        if len(wins[0]) < w:
            wins[0] = np.pad(wins[0], (0, w - len(wins[0])))
        rng = np.random.default_rng(zlib.crc32(path.encode("utf-8", "surrogateescape")))
        qpos = start + int(0.40 * (len(audio) - start - w - 2000))  # the same moment and booth as fit_cache
        every = wins + [audio[qpos:qpos + w], booth_window(audio, qpos, standard_booth(rng))]
        got = embed(models, every)
        for m, (pool5, tags) in got.items():
            b = np.full((n_begin, pool5.shape[1]), np.nan, np.float32)
            b[:len(wins)] = pool5[:len(wins)]
            res[f"{m}_begin"].append(b)
            res[f"{m}_clean_q"].append(pool5[len(wins):len(wins) + 1])
            res[f"{m}_booth_q"].append(pool5[len(wins) + 1:])
            res[f"{m}_tags_begin"].append(tags[:len(wins)].mean(0))
            res[f"{m}_tags_clean_q"].append(tags[len(wins)])
        paths.append(path), labels.append(label)
        print(f"{i + 1}/{len(files)} {label} {len(wins)} windows", flush=True)
    np.savez(out, paths=np.asarray(paths), labels=np.asarray(labels), **{k: np.stack(v) for k, v in res.items()})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7]))
