"""Streaming musicnn: embed the newest window of a continuous stream, reusing the overlap with earlier hops.

Consecutive live windows (5 s every 1 s) overlap by 80%, and everything in musicnn's front end is
local in time, so most of a window's front-end frames were already computed one hop earlier.
:class:`StreamingMusicnn` keeps them on a *global* frame grid of the stream:

* log-mel frame ``k`` is centred on stream sample ``256 k`` (reflect padding only at the very stream
  start, as librosa pads a whole track); a frame is computed once, as soon as all its 512 samples
  have been heard, from the ``audio`` handed in;
* a timbral output (7-frame kernel) needs mel frames ``k-3..k+3``, a temporal one (kernels 128, 64,
  32; TF 'same' puts the extra row of an even kernel at the end) ``k-63..k+64``. Frames whose right
  context has been heard are cached and never recomputed; the newest 3 (timbral) and 64 (temporal)
  are computed each hop with zero right padding, as the per-window model does at a window's right
  edge, and recomputed on the next hop. The expensive timbral convs (about 85% of the front end's
  arithmetic) thus only run on the ~66 new frames of a hop instead of 313;
* the mid end (three width-7 convs, zero-padded at the window's edges) and the back end run on the
  window's 313 front-end frames each hop, as in the per-window model (they cost ~4 ms).

Deliberate differences from ``MusicnnEncoder.analyze(window)``: the window's first front-end frames
see the real audio before the window instead of zero padding, and the window is the last 313 frames
of the global grid that have been fully heard, which can start up to 384 samples (24 ms) before the
per-window model's frames (16000-sample hops are not a multiple of the 256-sample frame hop). On
generated music the vectors agree with the per-window ones to a cosine above 0.99 (see
``benchmarks/streaming.py`` and ``tests/test_streaming.py``).

The math of each branch is ``MusiCNN._front_fast`` (max over frequency first with the BN sign rule,
then ReLU and the affine BN), so a cached frame equals the same frame of one long ``front()`` pass.
"""
from __future__ import annotations

import numpy as np

from livedj.dsp.mel import HOP, N_FFT, SR, hann_periodic, log_compress, mel_filterbank
from livedj.encoders.base import Embedding, unit
from livedj.encoders.musicnn import CHUNK_BANDS, CHUNK_FRAMES, MusicnnEncoder

TIMBRAL_CONTEXT = 3  #: mel frames each side of a timbral output (kernel 7, zero-padded by 3)
TEMPORAL_LEFT, TEMPORAL_RIGHT = 63, 64  #: mel frames before/after a temporal output (kernel 128, TF 'same')


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


class _Branch:
    """Cached outputs of front-end convs that share one context, on the global frame grid.

    ``frames`` holds outputs ``lo .. done-1`` ([C, n] torch tensor) whose whole context was heard.
    """

    def __init__(self, convs: list, left: int, right: int):
        self.convs, self.left, self.right = convs, left, right
        self.frames, self.lo, self.done = None, 0, 0


class StreamingMusicnn:
    """Embeds the newest window of a continuous 16 kHz stream, reusing front-end frames computed on earlier hops.

    Parameters
    ----------
    encoder : MusicnnEncoder
        Provides the weights, threads, ``layer`` and tag names; its "whole" mode is what this mirrors.
    window_s : float
        Window length (5 s -> 313 frames, as ``analyze`` of a 5-s window).
    max_context_s : float
        Most seconds of front-end frames kept (at least one window); bounds memory.
    """

    def __init__(self, encoder: MusicnnEncoder, window_s: float = 5.0, max_context_s: float = 20.0):
        import torch
        import torch.nn.functional as F

        self.encoder, self._torch, self._F = encoder, torch, F
        self.model = encoder.model
        self.window_samples = int(round(window_s * SR))
        self.window_frames = 1 + self.window_samples // HOP  # as log_mel of one window
        self.max_frames = max(self.window_frames, int(max_context_s * SR) // HOP)
        fe = self.model.frontend
        scale, shift = self._affine(fe.bn_input)
        self._in_scale, self._in_shift = float(scale[0]), float(shift[0])
        timbral = [self._signed(c.weight.transpose(2, 3), c.bias, n) for c, n in zip(fe.timbral, fe.timbral_bn)]
        temporal = [(*self._signed(c.weight[..., 0], c.bias, n), c.kernel_size[0])
                    for c, n in zip(fe.temporal, fe.temporal_bn)]
        self._timbral = _Branch(timbral, TIMBRAL_CONTEXT, TIMBRAL_CONTEXT)
        self._temporal = _Branch(temporal, TEMPORAL_LEFT, TEMPORAL_RIGHT)
        self.resets = 0  #: how many times the cache was (re)started, for tests and logs
        self.reset()

    # -- weights, as MusiCNN._front_fast prepares them ------------------------------------------
    @staticmethod
    def _affine(norm):
        scale = norm.weight * norm.running_var.add(norm.eps).rsqrt()
        return scale, norm.bias - norm.running_mean * scale

    def _signed(self, weight, bias, norm):
        # negating a conv is exact, so max(sign * conv) then the monotonic ReLU/BN is the literal graph
        torch = self._torch
        scale, shift = self._affine(norm)
        sign = torch.where(scale < 0, -1.0, 1.0)
        view = (-1,) + (1,) * (weight.ndim - 1)
        return weight * sign.view(view), bias * sign, sign[:, None], scale[:, None], shift[:, None]

    # -- state --------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every cached frame; the next :meth:`embed` starts afresh from its ``audio``."""
        self._end = None  # end_sample of the last call
        self._mel, self._mel_lo, self._mel_hi = None, 0, 0  # BN-normalised mel [96, n], frames lo..hi-1
        for branch in (self._timbral, self._temporal):
            branch.frames, branch.lo, branch.done = None, 0, 0

    @property
    def cached_frames(self) -> int:
        """Front-end frames held now (timbral and temporal caches, whichever is longer)."""
        return max(0 if b.frames is None else b.frames.shape[1] for b in (self._timbral, self._temporal))

    # -- mel ----------------------------------------------------------------------------------
    def _new_mel(self, audio: np.ndarray, audio_start: int, first: int, last: int) -> np.ndarray:
        """Normalised mel frames ``first..last`` [96, n] from ``audio`` (stream samples from ``audio_start``)."""
        lo, hi = HOP * first - N_FFT // 2, HOP * last + N_FFT // 2  # samples the frames cover
        if lo < 0:  # only frame 0 reaches before the stream: reflect, as librosa pads a whole track
            stream = audio[-audio_start:]
            samples = np.concatenate([stream[1:1 - lo][::-1], stream[:hi]])
        else:
            samples = audio[lo - audio_start:hi - audio_start]
        mel = mel_frames(samples)
        return self._torch.from_numpy(mel.T * np.float32(self._in_scale) + np.float32(self._in_shift))

    # -- front end ----------------------------------------------------------------------------
    def _context(self, branch: _Branch, first: int, last: int):
        """Mel frames ``first - left .. last + right``, zero where not (yet) heard: [96, n + left + right]."""
        a, b = first - branch.left, last + branch.right + 1
        x = self._mel[:, max(a, self._mel_lo) - self._mel_lo:min(b, self._mel_hi) - self._mel_lo]
        return self._F.pad(x, (max(0, self._mel_lo - a), max(0, b - self._mel_hi)))

    def _run_timbral(self, x):
        F = self._F
        padded, frames = x[None, None], x.shape[1] - 2 * TIMBRAL_CONTEXT
        out = []
        for weight, bias, sign, bn_scale, bn_shift in self._timbral.convs:
            chunks = [padded[..., t:min(t + CHUNK_FRAMES, frames) + 6] for t in range(0, frames, CHUNK_FRAMES)]
            pooled = self._torch.cat([F.conv2d(c, weight, bias).amax(dim=2) for c in chunks], dim=2)[0]
            out.append(F.relu(pooled * sign) * bn_scale + bn_shift)
        return self._torch.cat(out, dim=0)

    def _run_temporal(self, x):
        F = self._F
        bands = x[:, None, :]  # [96, 1, n]: each band is one signal
        out = []
        for weight, bias, sign, bn_scale, bn_shift, k in self._temporal.convs:
            # the 128-kernel context spans the others': trim to each kernel's own 'same' padding
            trim = bands[..., TEMPORAL_LEFT - (k - 1) // 2:bands.shape[2] - (TEMPORAL_RIGHT - k // 2)]
            pooled = None
            for b in range(0, trim.shape[0], CHUNK_BANDS):
                y = F.conv1d(trim[b:b + CHUNK_BANDS], weight, bias).amax(dim=0)
                pooled = y if pooled is None else self._torch.maximum(pooled, y)
            out.append(F.relu(pooled * sign) * bn_scale + bn_shift)
        return self._torch.cat(out, dim=0)

    def _advance(self, branch: _Branch, run, first: int, last: int):
        """Outputs ``first..last`` of ``branch``: cached ones plus new ones; caches those now complete."""
        torch = self._torch
        if branch.frames is not None and first > branch.done:  # the window skipped past the cache
            branch.frames = None
        if branch.frames is None:
            branch.lo = branch.done = first
        start = max(branch.done, first)
        fresh = run(self._context(branch, start, last)) if start <= last else None
        if fresh is not None:
            complete = max(0, min(last + 1, self._mel_hi - branch.right) - start)  # right context heard
            keep = fresh[:, :complete]
            branch.frames = keep if branch.frames is None else torch.cat([branch.frames, keep], dim=1)
            branch.done = start + complete
        cached = branch.frames[:, first - branch.lo:]
        out = cached if fresh is None else torch.cat([cached, fresh[:, complete:]], dim=1)
        excess = branch.frames.shape[1] - self.max_frames
        if excess > 0:  # bound memory: the oldest frames fall out
            branch.frames, branch.lo = branch.frames[:, excess:], branch.lo + excess
        return out

    # -- public -------------------------------------------------------------------------------
    def embed(self, audio: np.ndarray, end_sample: int) -> Embedding:
        """Embed the window of the stream that ends at ``end_sample``.

        Parameters
        ----------
        audio : np.ndarray
            The newest stretch of the 16 kHz mono stream (at least one window; typically 12 s), whose
            last sample is stream sample ``end_sample - 1``.
        end_sample : int
            Absolute sample index of the stream where ``audio`` ends; non-decreasing across calls.
            A jump backwards, or a gap that ``audio`` does not bridge, restarts the cache.

        Returns
        -------
        Embedding
            As ``MusicnnEncoder.analyze`` of the window: ``vector`` = unit(encoder's layer), ``tags``
            = sigmoid probabilities. The window is the last ``window_frames`` mel frames of the
            global grid whose samples have all been heard.
        """
        audio = np.asarray(audio, dtype=np.float32)
        end_sample = int(end_sample)
        if audio.ndim != 1 or audio.size < self.window_samples:
            raise ValueError(f"StreamingMusicnn: expected mono audio of >= {self.window_samples} samples, "
                             f"got shape {audio.shape}")
        audio_start = end_sample - audio.size  # may be < 0 if audio is padded before the stream start
        last = end_sample // HOP - 1  # newest mel frame with all 512 samples heard
        if last < 1:
            raise ValueError(f"StreamingMusicnn: the stream is too short ({end_sample} samples)")
        first = max(0, last - self.window_frames + 1)  # the window's first frame
        # first frame whose samples are all in audio (frame 0 reflects, so the stream start suffices)
        first_heard = 0 if audio_start <= 0 else -(-(audio_start + N_FFT // 2) // HOP)
        if (self._end is None or end_sample < self._end or self._mel_hi < first_heard
                or last - self._mel_hi > self.max_frames):
            self.reset()
            self.resets += 1
            # enough mel before the window that its first temporal output sees real audio
            self._mel_lo = self._mel_hi = max(first_heard, first - TEMPORAL_LEFT)
        self._end = end_sample
        torch = self._torch
        with torch.inference_mode():
            if last >= self._mel_hi:
                new = self._new_mel(audio, audio_start, self._mel_hi, last)
                self._mel = new if self._mel is None else torch.cat([self._mel, new], dim=1)
                self._mel_hi = last + 1
            timbral = self._advance(self._timbral, self._run_timbral, first, last)
            temporal = self._advance(self._temporal, self._run_temporal, first, last)
            # keep only the mel the next hop's recomputed outputs still need
            need = max(self._mel_lo, min(self._timbral.done - TIMBRAL_CONTEXT, self._temporal.done - TEMPORAL_LEFT))
            self._mel, self._mel_lo = self._mel[:, need - self._mel_lo:], need
            front = torch.cat([timbral, temporal], dim=0)[None]  # [1, 561, T]
            out = self._back(self.model.mid(front))
        return Embedding(vector=unit(out[self.encoder.layer][0]), tags=out["tags"][0].astype(np.float32))

    def _back(self, features) -> dict[str, np.ndarray]:
        """MusiCNN.forward after the mid end: max/mean pool over time, dense layers (same ops)."""
        torch, F = self._torch, self._F
        be = self.model.backend

        def bn(x, norm):
            return F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps)

        pool = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)
        penultimate = bn(F.relu(be.dense(bn(pool, be.bn_pool))), be.bn_dense)
        return {"tags": torch.sigmoid(be.out(penultimate)).numpy(), "penultimate": penultimate.numpy(),
                "pool": pool.numpy()}
