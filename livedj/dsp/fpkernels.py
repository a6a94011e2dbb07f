"""The peak picker's inner loops (:mod:`livedj.dsp.fingerprint`): compiled with numba, and their numpy forms.

Each compiled loop gives its numpy form's values bit for bit (maxima, minima and float32 products are exact;
``tests/test_fp_compiled.py``); the numpy forms are the references and what runs without numba (~2x slower).
numba comes with librosa. Parameters are passed in: nothing here knows the fingerprint's constants.
"""
from __future__ import annotations

import numpy as np

try:  # numba comes with librosa
    from numba import njit
    COMPILED = True
except ImportError:  # pragma: no cover
    COMPILED = False

__all__ = ["COMPILED", "running", "salient_maxima_numpy", "window_rank_numpy"]


def running(x: np.ndarray, size: int, axis: int, op) -> np.ndarray:
    """Centred running max/min (``op`` = np.maximum / np.minimum) of odd ``size``, edges repeated.

    Doubling windows: log2(size) whole-array operations, several times faster than
    scipy.ndimage's line-by-line filters on a (frames x bins) array.
    """
    h = size // 2
    n = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    pad[axis] = (h, h)
    m = np.pad(x, pad, mode="edge")
    width = 1

    def sl(a, b):
        idx = [slice(None)] * x.ndim
        idx[axis] = slice(a, b)
        return tuple(idx)

    while 2 * width <= size:  # m[i] = op over [i, i + width)
        m = op(m[sl(0, m.shape[axis] - width)], m[sl(width, None)])
        width *= 2
    return op(m[sl(0, n)], m[sl(size - width, size - width + n)])


def salient_maxima_numpy(P: np.ndarray, P_max: np.ndarray, n_dt: int, n_df: int, h_min: int,
                         floor_db: float, contrast_db: float) -> np.ndarray:
    """One block of :func:`livedj.dsp.fingerprint.salient_maxima` in numpy (the reference of :func:`salient_mask`):
    cells of ``P_max`` largest in their ``n_dt`` x ``n_df`` neighbourhood, above ``floor_db``, where ``P`` rises
    ``contrast_db`` above its quietest frame within +-``h_min`` frames."""
    local_max = running(running(P_max, n_dt, 0, np.maximum), n_df, 1, np.maximum)
    m = (P_max == local_max) & (P_max > 10 ** (floor_db / 10))
    # a sustained tone is flat in time: its "maxima" are arbitrary points of a ridge that
    # fall on a lattice and match any record holding the same note; demand a dip around it
    m &= P >= 10 ** (contrast_db / 10) * running(P, 2 * h_min + 1, 0, np.minimum)
    return m


def window_rank_numpy(t: np.ndarray, power: np.ndarray, half: float) -> np.ndarray:
    """:func:`livedj.dsp.fingerprint.window_rank` in numpy (``t`` float64, ascending): the reference of the compiled form."""
    n = len(t)
    rank = np.zeros(n, np.int64)
    # neighbour d places later in time: the loop ends at the most peaks any window holds (~100)
    for d in range(1, n):
        near = t[d:] - t[:-d] <= half
        if not near.any():
            break
        later_louder = power[d:] > power[:-d]
        rank[:-d] += near & later_louder
        rank[d:] += near & ~later_louder
    return rank


if COMPILED:
    @njit(cache=True, nogil=True)
    def window_rank_counts(t, power, half):  # pragma: no cover - compiled
        """:func:`livedj.dsp.fingerprint.window_rank`'s counts, pair by pair (the numpy form: one pass per distance d)."""
        n = t.shape[0]
        rank = np.zeros(n, np.int64)
        for a in range(n):
            for b in range(a + 1, n):
                if t[b] - t[a] > half:
                    break
                if power[b] > power[a]:
                    rank[a] += 1
                else:
                    rank[b] += 1
        return rank

    @njit(cache=True, nogil=True)
    def band_power(spec, b0, b1, out):  # pragma: no cover - compiled
        for i in range(out.shape[0]):
            for j in range(b1 - b0):
                c = spec[i, b0 + j]
                re, im = c.real, c.imag
                out[i, j] = re * re + im * im

if COMPILED:
    @njit(cache=True, nogil=True, inline="always")
    def _pick(a, b, is_max):  # pragma: no cover - compiled
        """max(a, b) or min(a, b), as the plain loops compared (the first on ties)."""
        return (a if a >= b else b) if is_max else (a if a <= b else b)

    @njit(cache=True, nogil=True)
    def run_rows(x, out, h, is_max):  # pragma: no cover - compiled
        """out[i] = max (min) of rows i-h..i+h of x, edges repeated; each row's op runs along the
        contiguous bins (vectorised). Van Herk / Gil-Werman: the padded rows in blocks of 2h+1, a running op
        from each block's start (``ahead``) and from its end (``behind``); a window spans at most two blocks,
        so out[i] = op(behind[i], ahead[i + 2h]): three ops a cell whatever ``h`` (the plain form: 2h)."""
        n, m = x.shape
        w = 2 * h + 1
        n_pad = n + 2 * h
        ahead = np.empty((n_pad, m), x.dtype)
        behind = np.empty((n_pad, m), x.dtype)
        for p in range(n_pad):
            src = x[min(max(p - h, 0), n - 1)]
            row = ahead[p]
            if p % w == 0:
                for j in range(m):
                    row[j] = src[j]
            else:
                prev = ahead[p - 1]
                for j in range(m):
                    row[j] = _pick(prev[j], src[j], is_max)
        for p in range(n_pad - 1, -1, -1):
            src = x[min(max(p - h, 0), n - 1)]
            row = behind[p]
            if p == n_pad - 1 or (p + 1) % w == 0:
                for j in range(m):
                    row[j] = src[j]
            else:
                nxt = behind[p + 1]
                for j in range(m):
                    row[j] = _pick(nxt[j], src[j], is_max)
        for i in range(n):
            row, a_row, b_row = out[i], behind[i], ahead[i + w - 1]
            for j in range(m):
                row[j] = _pick(a_row[j], b_row[j], is_max)

    @njit(cache=True, nogil=True)
    def run_cols_max(x, out, h):  # pragma: no cover - compiled
        """out[:, j] = max of columns j-h..j+h of x, edges repeated (a padded copy of each row), by blocks
        of 2h+1 as :func:`run_rows`."""
        n, m = x.shape
        w = 2 * h + 1
        m_pad = m + 2 * h
        ahead = np.empty(m_pad, x.dtype)
        behind = np.empty(m_pad, x.dtype)
        for i in range(n):
            src = x[i]
            for p in range(m_pad):
                v = src[min(max(p - h, 0), m - 1)]
                if p % w == 0:
                    ahead[p] = v
                else:
                    ahead[p] = _pick(ahead[p - 1], v, True)
            for p in range(m_pad - 1, -1, -1):
                v = src[min(max(p - h, 0), m - 1)]
                if p == m_pad - 1 or (p + 1) % w == 0:
                    behind[p] = v
                else:
                    behind[p] = _pick(behind[p + 1], v, True)
            row = out[i]
            for j in range(m):
                row[j] = _pick(behind[j], ahead[j + w - 1], True)

    @njit(cache=True, nogil=True)
    def salient_mask(P, P_max, h_dt, h_df, h_min, floor, contrast):  # pragma: no cover - compiled
        n, m = P.shape
        a = np.empty((n, m), P.dtype)
        local_max = np.empty((n, m), P.dtype)
        run_rows(P_max, a, h_dt, True)
        run_cols_max(a, local_max, h_df)
        run_rows(P, a, h_min, False)  # the quietest frame around
        ok = np.empty((n, m), np.bool_)
        for i in range(n):
            for j in range(m):
                p = P_max[i, j]
                # float32 throughout, as numpy compares a float32 array with a Python float
                ok[i, j] = (p == local_max[i, j]) and (p > floor) and (P[i, j] >= contrast * a[i, j])
        return ok
