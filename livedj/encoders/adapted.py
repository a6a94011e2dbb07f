"""``musicnn-booth``: musicnn with a booth projection head (:mod:`livedj.adapt.head`) on top.

One musicnn pass per window, as for ``musicnn``; the head maps the chosen layer to a 128-d unit
vector trained to sound the same clean and through the booth microphone; the tags are musicnn's.

Which head: the ``head`` argument (callers pass the config's choice, :func:`resolve_head`; index
workers get it in their settings), else ``$LIVEDJ_BOOTH_HEAD`` (a user's override), else the shipped default
``models/booth_head.safetensors`` (trained on freely licensed game music, see models/BOOTH_HEAD.md).
The head's tensor hash is part of ``version``, so an index built with another head is refused.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from livedj.encoders.base import Embedding
from livedj.encoders.musicnn import SR, MusicnnEncoder
from livedj.resources import model_path

DEFAULT_HEAD = model_path("booth_head.safetensors")  #: shipped in models/ (and in the wheel)
HEAD_ENV = "LIVEDJ_BOOTH_HEAD"


def head_path(head: str | os.PathLike | None = None) -> Path:
    """The head file in use: ``head``, else ``$LIVEDJ_BOOTH_HEAD``, else :data:`DEFAULT_HEAD`."""
    return Path(head or os.environ.get(HEAD_ENV) or DEFAULT_HEAD)


def resolve_head(config: dict, index_dir: str | os.PathLike | None = None) -> Path:
    """The head a configuration selects: ``analysis.head`` when set, else ``<index dir>/head.safetensors``
    when `livedj train --booth-head` wrote one there (``index_dir``, default the config's), else :data:`DEFAULT_HEAD`;
    ``$LIVEDJ_BOOTH_HEAD``, when set, overrides all of them."""
    if os.environ.get(HEAD_ENV):
        return Path(os.environ[HEAD_ENV])
    chosen = config.get("analysis", {}).get("head", "")
    if chosen:
        return Path(os.path.expanduser(os.path.expandvars(chosen)))  # as the config reads paths
    trained = Path(index_dir or config["index"]["path"]) / "head.safetensors"
    return trained if trained.is_file() else DEFAULT_HEAD


def _version(base: str, mode: str, digest: str) -> str:
    return f"musicnn-msd-0.1.0/{base}/{mode}/mel-v1+booth-head-{digest}"


class AdaptedEncoder:
    """The :class:`livedj.encoders.base.Encoder` musicnn + booth head: 16 kHz window -> unit vector + 50 tags.

    Parameters
    ----------
    head : str or Path, optional
        Head file (see :func:`head_path`).
    weights : str or Path, optional
        musicnn weights (default: the converted MSD weights).
    threads : int, optional
        ``torch.set_num_threads`` (process-wide).
    mode : {"whole", "patches"}
        As for :class:`MusicnnEncoder`.
    """

    name = "musicnn-booth"
    sample_rate = SR

    def __init__(self, head: str | os.PathLike | None = None, weights: str | os.PathLike | None = None,
                 threads: int | None = None, mode: str = "whole"):
        from livedj.adapt.head import load_head

        self.head, self.head_info = load_head(head_path(head))  # first: a bad head fails before musicnn loads
        self.base = MusicnnEncoder(weights=weights, layer=self.head.base, mode=mode, threads=threads)
        self.tag_names = self.base.tag_names
        self.dim = int(self.head.out_dim)
        self.version = _version(self.head.base, mode, self.head_info["hash"])

    @classmethod
    def describe(cls, head: str | os.PathLike | None = None) -> tuple[str, int]:
        """``(version, dim)`` from the head file alone (musicnn's weights are not loaded)."""
        from livedj.adapt.head import load_head

        loaded, info = load_head(head_path(head))
        return _version(loaded.base, "whole", info["hash"]), int(loaded.out_dim)

    def vectors(self, out: dict[str, np.ndarray]) -> np.ndarray:
        """Head vectors [B, dim] of musicnn outputs (the dict ``MusiCNN.forward`` returns, as numpy)."""
        from livedj.adapt.head import apply_head

        return apply_head(self.head, out[self.head.base])

    def analyze(self, audio: np.ndarray) -> Embedding:
        """Embed one mono float32 window at 16 kHz in a single pass."""
        out = self.base.outputs(self.base.logmel(audio)[None])
        return Embedding(vector=self.vectors(out)[0], tags=out["tags"][0].astype(np.float32))

    def analyze_many(self, windows: Sequence[np.ndarray]) -> list[Embedding]:
        """Embed many windows, batched by :meth:`MusicnnEncoder.outputs_many`."""
        out = self.base.outputs_many(windows)
        return [Embedding(vector=vector, tags=tags.astype(np.float32))
                for vector, tags in zip(self.vectors(out), out["tags"])]
