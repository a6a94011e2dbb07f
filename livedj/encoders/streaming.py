"""Streaming musicnn: embed the newest window of a continuous stream, reusing the overlap with earlier hops.

Consecutive live windows (5 s every 1 s) overlap by 80%, and everything in musicnn's front end is
local in time, so most of a window's front-end frames were already computed one hop earlier.
:class:`StreamingMusicnn` returns exactly what ``MusicnnEncoder.analyze(window)`` returns (same
frames, same zero padding at the window's edges) while computing only what is new:

* A window starting at stream sample ``s`` has its mel frames centred on ``s + 256 j``. Frames are
  kept on a grid of the stream per *phase* ``s mod 256``: frame ``k`` centred on ``phase + 256 k``.
  With 16000-sample hops the phase alternates between two values (16000 = 62.5 x 256), so two grids
  are kept, each advancing 2 s every other hop; a hop that is a multiple of 256 samples needs one.
* Interior mel frames (all 512 samples inside the window) are the same in every window that holds
  them; only the first and last frame of a window are reflect-padded, so they are made per window.
* A timbral output (kernel 7, zero-padded by 3) reads mel frames ``j-3..j+3``, a temporal one
  (kernels 128, 64, 32, TF 'same' with the extra row at the end) ``j-63..j+64``. Outputs whose whole
  context is interior mel are cached on the grid; the 4 + 4 timbral and 64 + 65 temporal outputs at
  the window's edges (which see the reflected frames or the zero padding) are computed each hop from
  the window's own mel. The timbral convs, ~85% of the front end's arithmetic, thus run on ~8 + the
  new frames per hop instead of 313.
* The mid end (three width-7 convs) and back end run on the window's 313 front-end frames (~4 ms).

Each branch uses the math of ``MusiCNN._front_fast`` (max over frequency first with the BN sign rule,
then ReLU and the affine BN); convolution outputs do not depend on where a frame sits in the input,
so a cached frame is the frame a whole-window pass computes (checked in the tests): bit for bit but for
the last bit of a rare value, where SIMD kernels (numpy's FFT, OpenBLAS, torch's convolutions) batch
rows by position (one mel value in ~30,000 on a 2-core AVX2 machine).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from livedj.dsp import WINDOW_S
from livedj.dsp.mel import HOP, N_FFT, SR, hann_periodic, log_compress, mel_filterbank
from livedj.encoders.base import Embedding, unit
from livedj.encoders.musicnn import CHUNK_BANDS, MusicnnEncoder

TIMBRAL_CONTEXT = 3  #: mel frames each side of a timbral output (kernel 7, zero-padded by 3)
TEMPORAL_LEFT, TEMPORAL_RIGHT = 63, 64  #: mel frames before/after a temporal output (kernel 128, TF 'same')
MAX_PHASES = 2  #: grids kept (a 1-s hop alternates between two phases)
#: timbral outputs per conv call: 64 measured ~30% faster than musicnn.CHUNK_FRAMES (128) on the 2-core box;
#: chunks split independent outputs, so the values do not depend on it
TIMBRAL_CHUNK = 64


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """Log-mel frames of ``samples`` without padding: frame ``j`` covers ``samples[256 j : 256 j + 512]``.

    The same arithmetic as :func:`livedj.dsp.mel.log_mel` (float64 windowed FFT, complex64 power,
    float32 filterbank, float16 rounding, log10), so a frame computed here equals that frame of
    ``log_mel`` over a longer signal. Returns ``(1 + (len - 512) // 256, 96)`` float32.
    """
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(samples, np.float32), N_FFT)[::HOP]
    spectrum = np.fft.rfft(frames * hann_periodic(N_FFT), axis=1).astype(np.complex64)
    power = spectrum.real**2 + spectrum.imag**2
    return log_compress(power @ mel_filterbank().T)


@dataclass
class _Cache:
    """Frames ``lo .. lo+n-1`` of one grid ([C, n] torch tensor, or None when empty)."""

    frames: object = None
    lo: int = 0

    @property
    def hi(self) -> int:
        return self.lo + (0 if self.frames is None else self.frames.shape[1])


@dataclass
class _Grid:
    """One phase's caches: normalised interior mel [96, n] and the timbral/temporal outputs."""

    mel: _Cache = field(default_factory=_Cache)
    timbral: _Cache = field(default_factory=_Cache)
    temporal: _Cache = field(default_factory=_Cache)


class StreamingMusicnn:
    """Embeds the newest window of a continuous 16 kHz stream, reusing front-end frames computed on earlier hops.

    Parameters
    ----------
    encoder : MusicnnEncoder
        Provides the weights, ``layer`` and tag names (its ``threads`` setting applies).
    window_s : float
        Window length (5 s -> 313 frames, as ``analyze`` of a 5-s window); at least 3 s.
    max_context_s : float
        Most seconds of cached frames kept per grid (at least one window); bounds memory.
    """

    def __init__(self, encoder: MusicnnEncoder, window_s: float = WINDOW_S, max_context_s: float = 20.0):
        import torch
        import torch.nn.functional as F

        self.encoder, self.model, self._torch, self._F = encoder, encoder.model, torch, F
        self.window_samples = int(round(window_s * SR))
        self.window_frames = 1 + self.window_samples // HOP  # as log_mel of one window
        if self.window_frames < 2 * (TEMPORAL_RIGHT + 2) + 1:
            raise ValueError(f"StreamingMusicnn: window_s must be >= 3 s, got {window_s}")
        self.max_frames = max(self.window_frames, int(max_context_s * SR) // HOP)
        fe = self.model.frontend
        scale, shift = self._affine(fe.bn_input)
        self._in_scale, self._in_shift = np.float32(scale[0]), np.float32(shift[0])
        self._timbral = [self._signed(c.weight.transpose(2, 3), c.bias, n) for c, n in zip(fe.timbral, fe.timbral_bn)]
        self._temporal = [(*self._signed(c.weight[..., 0], c.bias, n), c.kernel_size[0])
                          for c, n in zip(fe.temporal, fe.temporal_bn)]
        self.resets = 0  #: grids (re)started (the tests read it)
        self.reset()
        # numpy's OpenBLAS threads busy-wait after the filterbank matmul and then take the 2 cores from
        # torch's threads: measured 2x slower forward passes. One BLAS thread gives the same values.
        try:
            from threadpoolctl import ThreadpoolController

            controller = ThreadpoolController()
            self._one_blas_thread = lambda: controller.limit(limits=1, user_api="blas")
        except ImportError:  # optional: without it the mel runs as log_mel does
            self._one_blas_thread = contextlib.nullcontext

    # -- weights, prepared as MusiCNN._front_fast does ----------------------------------------
    @staticmethod
    def _affine(norm):
        scale = norm.weight * norm.running_var.add(norm.eps).rsqrt()
        return scale, norm.bias - norm.running_mean * scale

    def _signed(self, weight, bias, norm):
        # negating a conv is exact, so max(sign * conv) then the monotonic ReLU/BN is the literal graph
        scale, shift = self._affine(norm)
        sign = self._torch.where(scale < 0, -1.0, 1.0)
        view = (-1,) + (1,) * (weight.ndim - 1)
        return weight * sign.view(view), bias * sign, sign[:, None], scale[:, None], shift[:, None]

    # -- state --------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every cached frame; the next :meth:`embed` starts afresh."""
        self._grids: dict[int, _Grid] = {}  # by phase, oldest first
        self._end: int | None = None

    @property
    def cached_frames(self) -> int:
        """Most frames any cache of any grid holds now (bounded by ``max_frames``)."""
        return max((c.hi - c.lo for g in self._grids.values() for c in (g.mel, g.timbral, g.temporal)), default=0)

    def _append(self, cache: _Cache, new, lo: int) -> None:
        """Append frames ``lo..`` to ``cache`` (restarting it if they do not follow on), then bound it."""
        if cache.frames is None or lo != cache.hi:
            cache.frames, cache.lo = new, lo
        else:
            cache.frames = self._torch.cat([cache.frames, new], dim=1)
        excess = cache.frames.shape[1] - self.max_frames
        if excess > 0:  # the oldest frames fall out
            cache.frames, cache.lo = cache.frames[:, excess:], cache.lo + excess

    # -- front-end branches -------------------------------------------------------------------
    def _norm_mel(self, samples: np.ndarray):
        """Normalised (input BN) mel frames of ``samples``, band-major [96, n]."""
        with self._one_blas_thread():
            mel = mel_frames(samples)
        return self._torch.from_numpy(np.ascontiguousarray(mel.T) * self._in_scale + self._in_shift)

    @staticmethod
    def _slice(x, lo: int, a: int, b: int):
        """Columns ``a..b-1`` of ``x`` (whose first column is frame ``lo``), zero outside ``x``."""
        n = x.shape[1]
        part = x[:, max(a - lo, 0):min(b - lo, n)]
        return part, max(0, lo - a), max(0, b - lo - n)

    def _run_timbral(self, x, lo: int, first: int, last: int):
        """Timbral outputs ``first..last`` [408, n] from mel ``x`` (frame ``lo`` first, zero outside)."""
        F, c = self._F, TIMBRAL_CONTEXT
        part, pad_l, pad_r = self._slice(x, lo, first - c, last + c + 1)
        padded, frames = F.pad(part, (pad_l, pad_r))[None, None], last - first + 1
        out = []
        for weight, bias, sign, bn_scale, bn_shift in self._timbral:
            chunks = [padded[..., t:min(t + TIMBRAL_CHUNK, frames) + 2 * c] for t in range(0, frames, TIMBRAL_CHUNK)]
            pooled = self._torch.cat([F.conv2d(ch, weight, bias).amax(dim=2) for ch in chunks], dim=2)[0]
            out.append(F.relu(pooled * sign) * bn_scale + bn_shift)
        return self._torch.cat(out, dim=0)

    def _run_temporal(self, x, lo: int, first: int, last: int):
        """Temporal outputs ``first..last`` [153, n] from mel ``x`` (frame ``lo`` first, zero outside)."""
        F = self._F
        out = []
        for weight, bias, sign, bn_scale, bn_shift, k in self._temporal:
            part, pad_l, pad_r = self._slice(x, lo, first - (k - 1) // 2, last + k // 2 + 1)
            bands = F.pad(part[:, None, :], (pad_l, pad_r))  # [96, 1, n]: each band is one signal
            pooled = None
            for b in range(0, bands.shape[0], CHUNK_BANDS):
                y = F.conv1d(bands[b:b + CHUNK_BANDS], weight, bias).amax(dim=0)
                pooled = y if pooled is None else self._torch.maximum(pooled, y)
            out.append(F.relu(pooled * sign) * bn_scale + bn_shift)
        return self._torch.cat(out, dim=0)

    def _branch(self, grid: _Grid, cache: _Cache, run, reach: int, window, k0: int):
        """One branch's [C, T] outputs for the window whose frame 0 is grid frame ``k0``.

        Outputs ``reach .. T-2-reach`` (window frames) read interior mel only: taken from ``cache``,
        extended by what is new. The edges are computed from the window's mel (reflected end frames,
        zero padding beyond), exactly as the whole-window pass does.
        """
        torch, T = self._torch, self.window_frames
        lo, hi = k0 + reach + 1, k0 + T - 2 - reach  # interior outputs (grid frames), inclusive
        start = cache.hi if cache.frames is not None and cache.lo <= lo <= cache.hi else lo
        if start <= hi:
            mel = grid.mel
            self._append(cache, run(mel.frames, mel.lo, start, hi), start)
        interior = cache.frames[:, lo - cache.lo:hi + 1 - cache.lo]
        left = run(window, 0, 0, reach)
        right = run(window, 0, T - 1 - reach, T - 1)
        return torch.cat([left, interior, right], dim=1)

    # -- public -------------------------------------------------------------------------------
    def embed(self, audio: np.ndarray, end_sample: int) -> Embedding:
        """Embed the window of the stream that ends at ``end_sample``.

        Parameters
        ----------
        audio : np.ndarray
            The newest stretch of the 16 kHz mono stream, at least one window long (only the last
            window is read); its last sample is stream sample ``end_sample - 1``.
        end_sample : int
            Absolute sample index of the stream where ``audio`` ends; non-decreasing across calls.
            A jump backwards resets every cache; a jump past what a grid holds restarts that grid.

        Returns
        -------
        Embedding
            What ``MusicnnEncoder.analyze(audio[-window:])`` returns: ``vector`` = unit(encoder's
            layer), ``tags`` = sigmoid probabilities.
        """
        audio = np.asarray(audio, dtype=np.float32)
        end_sample, W, T = int(end_sample), self.window_samples, self.window_frames
        if audio.ndim != 1 or audio.size < W:
            raise ValueError(f"StreamingMusicnn: expected mono audio of >= {W} samples, got shape {audio.shape}")
        if self._end is not None and end_sample < self._end:
            self.reset()  # the stream went backwards (a new source, a seek): nothing cached applies
        self._end = end_sample
        window = audio[-W:]
        start = end_sample - W
        phase = start % HOP
        k0 = (start - phase) // HOP  # grid frame of the window's frame 0
        grid = self._grids.pop(phase, None)
        if grid is None or grid.mel.frames is None or grid.mel.hi < k0 + 1:
            grid = _Grid()  # new phase, or the window starts past everything cached
            self.resets += 1
        self._grids[phase] = grid  # most recent last
        while len(self._grids) > MAX_PHASES:
            del self._grids[next(iter(self._grids))]
        torch = self._torch
        with torch.inference_mode():
            # interior mel frames k0+1 .. k0+T-2: only the new ones are computed
            mel = grid.mel
            new_lo = mel.hi if mel.frames is not None else k0 + 1
            if new_lo <= k0 + T - 2:
                j = new_lo - k0  # window frame index; its samples begin at window sample 256 (j - 1)
                self._append(mel, self._norm_mel(window[HOP * (j - 1):HOP * (T - 2) + N_FFT // 2]), new_lo)
            # the window's own mel: reflected first and last frames around the cached interior
            padded = np.pad(window, N_FFT // 2, mode="reflect")
            edges = self._norm_mel(np.concatenate([padded[:N_FFT], padded[HOP * (T - 1):HOP * (T - 1) + N_FFT]]))
            interior = mel.frames[:, k0 + 1 - mel.lo:k0 + T - 1 - mel.lo]
            win_mel = torch.cat([edges[:, :1], interior, edges[:, 2:3]], dim=1)
            timbral = self._branch(grid, grid.timbral, self._run_timbral, TIMBRAL_CONTEXT, win_mel, k0)
            temporal = self._branch(grid, grid.temporal, self._run_temporal, TEMPORAL_RIGHT, win_mel, k0)
            # later windows start later: mel before this window's interior is never read again
            drop = k0 + 1 - mel.lo
            if drop > 0:
                mel.frames, mel.lo = mel.frames[:, drop:], mel.lo + drop
            front = torch.cat([timbral, temporal], dim=0)[None]  # [1, 561, T]
            out = self._back(self.model.mid(front))
        return Embedding(vector=unit(out[self.encoder.layer][0]), tags=out["tags"][0].astype(np.float32))

    def _back(self, features) -> dict[str, np.ndarray]:
        """``MusiCNN.forward`` after the mid end (same ops): max/mean pool over time, dense layers."""
        torch, F = self._torch, self._F
        be = self.model.backend

        def bn(x, norm):
            return F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps)

        pool = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)
        penultimate = bn(F.relu(be.dense(bn(pool, be.bn_pool))), be.bn_dense)
        return {"tags": torch.sigmoid(be.out(penultimate)).numpy(), "penultimate": penultimate.numpy(),
                "pool": pool.numpy()}
