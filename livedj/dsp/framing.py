"""Cutting a signal into overlapping analysis frames (shared by the STFT-based descriptors)."""
from __future__ import annotations

import numpy as np

__all__ = ["frames"]


def frames(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Frames of ``n_fft`` samples every ``hop`` samples, uncentred, as a read-only view.

    Parameters
    ----------
    y : np.ndarray
        Mono audio; shorter than ``n_fft`` is zero-padded to one frame (then it is a copy).
    n_fft : int
        Frame length, samples.
    hop : int
        Samples between frame starts.

    Returns
    -------
    np.ndarray
        Shape ``(1 + (len(y) - n_fft) // hop, n_fft)``; frame ``i`` starts at sample ``i * hop``.
    """
    if len(y) < n_fft:
        y = np.pad(y, (0, n_fft - len(y)))
    return np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop]
