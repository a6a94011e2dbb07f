"""Evidence that a rendered mix is beat-matched: re-analyse each record's stem in each blend."""
from __future__ import annotations

import numpy as np

from livedj.mix.grid import beat_error, beat_grid

__all__ = ["blend_offsets"]


def blend_offsets(stem_out: np.ndarray, stem_in: np.ndarray, sr: int, start: float, end: float,
                  bpm_out: float, bpm_in: float) -> np.ndarray:
    """Offsets between the beat grids of two stems of a mix inside one blend, seconds.

    Parameters
    ----------
    stem_out, stem_in : np.ndarray
        The rendered mix with only the outgoing / only the incoming record audible, mono or
        ``(channels, n)``.
    sr : int
        Their sample rate, Hz.
    start, end : float
        The blend, seconds into the mix.
    bpm_out, bpm_in : float
        Tempi the records were analysed at (start values for the re-analysis).

    Returns
    -------
    np.ndarray
        For every beat of the incoming record's re-fitted grid in the blend, its signed offset
        to the nearest beat of the outgoing record's grid (half-time records fall on every
        other beat).
    """
    import soxr

    grids = []
    for stem, bpm in ((stem_out, bpm_out), (stem_in, bpm_in)):
        y = np.asarray(stem, dtype=np.float32)
        y = y.mean(axis=0) if y.ndim == 2 else y
        seg = soxr.resample(y[int(start * sr): int(end * sr)], sr, 22050)
        grids.append(beat_grid(seg, 22050, bpm=bpm))
    g_out, g_in = grids
    # the grids are constant: compare the phase over the whole blend, not from the first
    # downbeat (a quiet end of a fade-out may not be detected as music)
    beats_out = (g_out.first_beat % g_out.period) + g_out.period * np.arange(-1, int((end - start) / g_out.period) + 2)
    beats_in = (g_in.first_beat % g_in.period) + g_in.period * np.arange(0, int((end - start) / g_in.period) + 1)
    return beat_error(beats_out, beats_in[beats_in < end - start])
