"""Training data for the booth head: 5-s chunks of library tracks, clean and through a simulated booth.

The frozen musicnn is by far the slowest part of training, so its features are computed once per
chunk and view and cached in a ``.npz`` (written every few tracks, so an interrupted run resumes
where it stopped). Only the 1506-d ``pool`` layer is stored: the 200-d ``penultimate`` layer and
the tags are a cheap function of it (:func:`penultimate_from_pool`), so both bases can be tried on
one cache.

Booth views draw random settings for :func:`livedj.dsp.room.booth` (room, noise, SNR, band, pitch
fader, gain) from a seed fixed by the track's name, the chunk and the view: a rebuilt cache is
identical.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from livedj.dsp import WINDOW_S
from livedj.dsp.level import first_sound
from livedj.dsp.room import booth

SR = 16000
PREROLL_S = 0.5  #: audio before a chunk that is fed to the room too, so its reverb tail is heard
POOL_DIM = 1506


@dataclass(frozen=True)
class BoothRanges:
    """Ranges the booth settings of a training view are drawn from (uniform unless said)."""

    rt60: tuple[float, float] = (0.1, 1.2)  #: s
    snr_db: tuple[float, float] = (5.0, 20.0)
    crowd_share: float = 0.5  #: probability of crowd (babble) noise instead of pink noise
    low_hz: tuple[float, float] = (50.0, 300.0)
    high_hz: tuple[float, float] = (3500.0, 7900.0)
    speed: tuple[float, float] = (0.94, 1.06)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    drr_db: tuple[float, float] = (-3.0, 8.0)  #: direct-to-reverberant ratio of the synthetic room


def booth_params(rng: np.random.Generator, ranges: BoothRanges = BoothRanges()) -> dict:
    """Random keyword arguments for :func:`booth` (``ir`` included: a synthetic room of random rt60/DRR)."""
    from livedj.dsp.room import synthetic_ir

    u = lambda lo_hi: float(rng.uniform(*lo_hi))  # noqa: E731
    seed = int(rng.integers(0, 2**31 - 1))
    return {"ir": synthetic_ir(SR, rt60=u(ranges.rt60), direct_to_reverb_db=u(ranges.drr_db), seed=seed),
            "snr_db": u(ranges.snr_db), "noise": "crowd" if rng.random() < ranges.crowd_share else "pink",
            "band": (u(ranges.low_hz), u(ranges.high_hz)), "speed": u(ranges.speed),
            "gain_db": u(ranges.gain_db), "seed": seed}


def booth_window(audio: np.ndarray, start: int, params: dict, sr: int = SR, window_s: float = WINDOW_S) -> np.ndarray:
    """What the booth microphone hears of ``window_s`` seconds that begin at sample ``start`` of ``audio``.

    At speed s the window covers ``window_s * s`` seconds of the track; :data:`PREROLL_S` before it
    goes through the room as well (then is cut) so earlier music rings on in the reverb.
    """
    size = int(window_s * sr)
    speed = float(params.get("speed", 1.0))
    pre = min(start, int(PREROLL_S * sr))
    source = audio[start - pre:start + int(np.ceil(size * speed)) + 1]
    heard = booth(source, sr, **params)
    heard = heard[int(round(pre / speed)):][:size]
    return np.pad(heard, (0, size - len(heard))) if len(heard) < size else heard


def chunk_starts(audio: np.ndarray, sr: int = SR, window_s: float = WINDOW_S, hop_s: float = WINDOW_S,
                 max_chunks: int = 24, silence_db: float = -45.0) -> list[int]:
    """Start samples of consecutive non-silent ``window_s`` chunks every ``hop_s``, after the leading silence."""
    size, hop = int(window_s * sr), int(hop_s * sr)
    begin = int(first_sound(audio[:60 * sr], sr) * sr)
    starts = []
    for s in range(begin, len(audio) - size + 1, hop):
        rms = float(np.sqrt(np.mean(np.square(audio[s:s + size], dtype=np.float64))))
        if 20 * np.log10(rms + 1e-12) >= silence_db:
            starts.append(s)
        if len(starts) >= max_chunks:
            break
    return starts


def penultimate_from_pool(model, pool: np.ndarray) -> np.ndarray:
    """musicnn's 200-d penultimate layer from its 1506-d pool (BN -> dense -> ReLU -> BN), float32."""
    import torch
    import torch.nn.functional as F

    be = model.backend
    with torch.inference_mode():
        x = torch.from_numpy(np.asarray(pool, dtype=np.float32))

        def bn(v, norm):
            return F.batch_norm(v, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps)

        return bn(F.relu(be.dense(bn(x, be.bn_pool))), be.bn_dense).numpy()


def pool_features(model, windows: Sequence[np.ndarray], batch: int = 8) -> np.ndarray:
    """musicnn pool features [n, 1506] of equal-length 16-kHz windows."""
    import torch

    from livedj.dsp.mel import log_mel

    out = []
    with torch.inference_mode():
        for i in range(0, len(windows), batch):
            mels = np.stack([log_mel(np.asarray(w, dtype=np.float32)) for w in windows[i:i + batch]])
            out.append(model(torch.from_numpy(mels))["pool"].numpy())
    return np.concatenate(out) if out else np.zeros((0, POOL_DIM), np.float32)


@dataclass
class FeatureCache:
    """Cached musicnn pool features of chunks: ``clean`` [N, 1506] and ``booth`` [N, V, 1506] (float16).

    ``track`` [N] indexes ``paths``/``labels``; ``chunk`` [N] is the chunk's number within its track
    (consecutive numbers are ``hop_s`` apart).
    """

    paths: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    clean: np.ndarray = field(default_factory=lambda: np.zeros((0, POOL_DIM), np.float16))
    booth: np.ndarray | None = None
    track: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    chunk: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    meta: dict = field(default_factory=dict)

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically (a temporary file renamed over ``path``)."""
        import json

        tmp = Path(f"{path}.tmp.npz")
        np.savez(tmp, paths=np.array(self.paths, dtype=str), labels=np.array(self.labels, dtype=str),
                 clean=self.clean, booth=self.booth if self.booth is not None else np.zeros((0, 0, POOL_DIM)),
                 track=self.track, chunk=self.chunk, meta=np.array(json.dumps(self.meta)))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureCache":
        import json

        with np.load(path, allow_pickle=False) as z:
            return cls(paths=[str(p) for p in z["paths"]], labels=[str(x) for x in z["labels"]],
                       clean=z["clean"], booth=z["booth"], track=z["track"], chunk=z["chunk"],
                       meta=json.loads(str(z["meta"])))

    def add(self, path: str, label: str, clean: np.ndarray, booth_views: np.ndarray) -> None:
        t = len(self.paths)
        self.paths.append(path)
        self.labels.append(label)
        n = len(clean)
        self.clean = np.concatenate([self.clean, clean.astype(np.float16)])
        views = booth_views.astype(np.float16)
        self.booth = views if self.booth is None or len(self.booth) == 0 else np.concatenate([self.booth, views])
        self.track = np.concatenate([self.track, np.full(n, t, np.int32)])
        self.chunk = np.concatenate([self.chunk, np.arange(n, dtype=np.int32)])


def track_seed(path: str, seed: int) -> int:
    """A seed fixed by the file's name (not its position in a listing), so resumed caches match."""
    return zlib.crc32(os.path.basename(path).encode("utf-8", "surrogateescape")) ^ seed


def build_cache(tracks: Sequence[tuple[str | Callable[[], np.ndarray], str]], out: str | os.PathLike, model, *,
                views: int = 2, hop_s: float = WINDOW_S, max_chunks: int = 24, max_track_s: float = 150.0,
                seed: int = 0, ranges: BoothRanges = BoothRanges(), resume: bool = True, save_every: int = 5,
                progress: Callable[[int, int, str], None] | None = None,
                stop: Callable[[], bool] | None = None) -> FeatureCache:
    """Compute (or resume) the feature cache of ``tracks`` and write it to ``out``.

    Parameters
    ----------
    tracks : sequence of (path, label)
        Audio files; a path may also be a ``(name, callable)`` pair returning 16-kHz audio (tests).
    out : path
        The ``.npz`` cache; with ``resume`` the tracks it already holds are skipped.
    model : MusiCNN
        The frozen encoder (:func:`livedj.encoders.musicnn.load_musicnn`).
    views : int
        Booth versions per chunk, each with its own random settings.
    hop_s, max_chunks, max_track_s : float, int, float
        Chunks every ``hop_s`` from the first sound, at most ``max_chunks`` of the first ``max_track_s``.
    stop : callable, optional
        Checked before each track: True ends the run early (a time budget); the cache keeps what is done.
    """
    from livedj.audio.decode import DecodeError, decode

    settings = {"views": views, "hop_s": hop_s, "max_chunks": max_chunks, "max_track_s": max_track_s,
                "seed": seed, "window_s": WINDOW_S, "ranges": repr(ranges)}
    cache = FeatureCache(meta={"settings": settings, "skipped": {}})
    if resume and Path(out).is_file():
        old = FeatureCache.load(out)
        if old.meta.get("settings") == settings:
            cache = old
    done = set(cache.paths) | set(cache.meta.get("skipped", {}))
    size = int(WINDOW_S * SR)
    for i, (source, label) in enumerate(tracks, 1):
        name = source[0] if isinstance(source, tuple) else str(source)
        if name in done:
            continue
        if stop is not None and stop():
            break
        try:
            audio = source[1]() if isinstance(source, tuple) else decode(source, SR, 0.0, max_track_s)
        except DecodeError as exc:
            cache.meta["skipped"][name] = exc.reason
            continue
        starts = chunk_starts(audio, hop_s=hop_s, max_chunks=max_chunks)
        if not starts:
            cache.meta["skipped"][name] = "no sound"
            continue
        rng = np.random.default_rng(track_seed(name, seed))
        heard = [booth_window(audio, s, booth_params(rng, ranges)) for s in starts for _ in range(views)]
        clean = pool_features(model, [audio[s:s + size] for s in starts])
        booth_views = pool_features(model, heard).reshape(len(starts), views, POOL_DIM)
        cache.add(name, label, clean, booth_views)
        if progress:
            progress(i, len(tracks), name)
        if len(cache.paths) % save_every == 0:
            cache.save(out)
    cache.save(out)
    return cache
