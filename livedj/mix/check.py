"""Evidence that a rendered mix is beat-matched: re-analyse the records' stems in each blend."""
from __future__ import annotations

import numpy as np

from livedj.mix.grid import beat_error, beat_grid

__all__ = ["blend_offsets"]


def blend_offsets(stem_out: np.ndarray, stem_in: np.ndarray, sr: int, start: float, end: float,
                  bpm_out: float, bpm_in: float) -> np.ndarray:
    """Offsets between the two records' beat grids in one blend, re-fitted on the rendered stems.

    Each stem (the rendered mix with only one record audible; render it with
    ``MixOptions(bass_swap=False)``: the swap does not move audio in time, but a stem whose kick
    is filtered out has no kick to fit a grid to) gets a fresh :func:`beat_grid` where it is
    loud: the outgoing record over the first three quarters of the blend, the incoming over the
    last three. The grids are constant, so each is extended over the whole blend.

    Parameters
    ----------
    stem_out, stem_in : np.ndarray
        Mono or ``(channels, n)``.
    sr : int
        Sample rate, Hz.
    start, end : float
        The blend, seconds into the mix.
    bpm_out, bpm_in : float
        Tempi to start the re-analysis from (the incoming one as played in the blend).

    Returns
    -------
    np.ndarray
        For every beat of the incoming record in the blend, its signed offset to the nearest
        beat of the outgoing record (a half-time record falls on every other beat), seconds.
    """
    import soxr

    length = end - start
    fitted = []
    for stem, bpm, (lo, hi) in ((stem_out, bpm_out, (0.0, 0.75)), (stem_in, bpm_in, (0.25, 1.0))):
        y = np.asarray(stem, dtype=np.float32)
        y = y.mean(axis=0) if y.ndim == 2 else y
        seg = soxr.resample(y[int((start + lo * length) * sr): int((start + hi * length) * sr)], sr, 22050)
        grid = beat_grid(seg, 22050, bpm=bpm)
        origin = lo * length + grid.first_beat  # a beat, seconds from the blend's start
        k = np.arange(-int(origin / grid.period) - 1, int((length - origin) / grid.period) + 2)
        fitted.append(origin + grid.period * k)
    beats_out, beats_in = fitted
    return beat_error(beats_out, beats_in[(beats_in >= 0) & (beats_in < length)])
