"""The embed stage: the newest window of the input -> an :class:`~livedj.encoders.base.Embedding`.

One call, :meth:`Embedder.embed`, whatever the encoder: how the window is embedded is chosen
once, when the embedder is made (:func:`make_embedder`), not on every update:

- :class:`WindowEmbedder` -- the encoder's ``analyze`` on the last ``window_s`` seconds;
- :class:`StagedEmbedder` -- the same for encoders with a separate front end
  (``preprocess``/``forward``), so the mel and the network are timed apart;
- :class:`StreamingEmbedder` -- the live loop with musicnn: consecutive hops share most of their
  frames, only the new ones are computed (:class:`~livedj.encoders.streaming.StreamingMusicnn`,
  the same vector as ``analyze``, ~0.6x the time).

Each reports its time through :class:`Laps` as the stages ``mel`` and ``embed``.
"""
from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import numpy as np

from livedj.encoders.base import Embedding, Encoder


class Laps:
    """Per-stage wall-clock milliseconds of one update (``Update.stage_ms``)."""

    def __init__(self) -> None:
        self.began = self._clock = time.perf_counter()
        self.stages: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """Charge the time since the previous lap to ``name``."""
        now = time.perf_counter()
        self.add(name, (now - self._clock) * 1000.0)
        self._clock = now

    def skip(self) -> None:
        """Charge the time since the previous lap to no stage (e.g. waiting for overlapped work)."""
        self._clock = time.perf_counter()

    def add(self, name: str, ms: float) -> None:
        """Charge ``ms`` measured elsewhere (e.g. on the helper thread) to ``name``."""
        self.stages[name] = self.stages.get(name, 0.0) + ms

    def total_ms(self) -> float:
        return (time.perf_counter() - self.began) * 1000.0


@runtime_checkable
class StagedEncoder(Encoder, Protocol):
    """An encoder whose front end and network can be called apart."""

    def preprocess(self, audio: np.ndarray) -> np.ndarray:
        """The network input (e.g. log-mel) of one window."""
        ...

    def forward(self, features: np.ndarray) -> Embedding:
        """The embedding of one window's ``preprocess`` output."""
        ...


class Embedder(Protocol):
    """The embed stage."""

    encoder: Encoder  #: what makes the vectors (its name, rate, tag names)
    window_s: float  #: seconds embedded per update

    def embed(self, audio: np.ndarray, end_sample: int, laps: Laps) -> Embedding:
        """Embed the last ``window_s`` seconds of ``audio`` (mono float32 at ``encoder.sample_rate``).

        ``end_sample``: absolute sample index (at the encoder's rate) where ``audio`` ends, so that
        an embedder can tell consecutive hops of one stream apart from a jump.
        """
        ...


class WindowEmbedder:
    """The whole window through ``encoder.analyze`` (all of it charged to ``embed``)."""

    def __init__(self, encoder: Encoder, window_s: float):
        self.encoder, self.window_s = encoder, float(window_s)

    def embed(self, audio: np.ndarray, end_sample: int, laps: Laps) -> Embedding:
        window = audio[-int(self.window_s * self.encoder.sample_rate):]
        laps.lap("mel")
        embedding = self.encoder.analyze(window)
        laps.lap("embed")
        return embedding


class StagedEmbedder:
    """The whole window, front end (``mel``) and network (``embed``) timed apart."""

    def __init__(self, encoder: StagedEncoder, window_s: float):
        self.encoder, self.window_s = encoder, float(window_s)

    def embed(self, audio: np.ndarray, end_sample: int, laps: Laps) -> Embedding:
        features = self.encoder.preprocess(audio[-int(self.window_s * self.encoder.sample_rate):])
        laps.lap("mel")
        embedding = self.encoder.forward(features)
        laps.lap("embed")
        return embedding


class StreamingEmbedder:
    """Consecutive live windows share their overlap (musicnn's streaming front end).

    A window shorter than ``window_s`` (the very first updates) goes through ``fallback``.
    """

    def __init__(self, encoder: Encoder, window_s: float, fallback: Embedder):
        from livedj.encoders.streaming import StreamingMusicnn

        self.encoder, self.window_s, self.fallback = encoder, float(window_s), fallback
        self.stream = StreamingMusicnn(encoder, window_s)  # type: ignore[arg-type]
        self._samples = int(window_s * encoder.sample_rate)

    def embed(self, audio: np.ndarray, end_sample: int, laps: Laps) -> Embedding:
        if len(audio) < self._samples:
            return self.fallback.embed(audio, end_sample, laps)
        laps.lap("mel")  # the streaming pass interleaves mel and network: all of it is ``embed``
        embedding = self.stream.embed(audio, end_sample)
        laps.lap("embed")
        return embedding


def make_embedder(encoder: Encoder, window_s: float, *, live: bool = False) -> Embedder:
    """The embedder for ``encoder``: streaming when ``live`` and the encoder supports it (whole-window
    musicnn), else staged when the encoder has a separate front end, else whole windows."""
    from livedj.encoders.musicnn import MusicnnEncoder

    plain: Embedder = (StagedEmbedder(encoder, window_s) if isinstance(encoder, StagedEncoder)
                       else WindowEmbedder(encoder, window_s))
    if live and type(encoder) is MusicnnEncoder and encoder.mode == "whole":
        return StreamingEmbedder(encoder, window_s, plain)
    return plain
