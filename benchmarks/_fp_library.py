"""A library-scale fingerprint library for :mod:`benchmarks.identify_scale`, built from real music.

How it is built (``build_library(n_tracks)``):

1. **Real tracks** — every audio file under the development corpora (``$LIVEDJ_FP_CORPORA``,
   default ``/tmp/livedj-dev-corpus/tracks:/tmp/livedj-dev-corpus-2/tracks``), decoded to 16 kHz
   mono and reduced to their spectral peaks (:func:`livedj.dsp.fingerprint.peaks`, index density).
   The peaks are cached per file under ``.bench/fp-peaks/`` (the expensive part: decoding).
   These are the tracks the queries come from; their landmarks are exactly what
   ``livedj index`` stores.
2. **Fillers** up to ``n_tracks`` — *transformed copies of real landmarks*
   (:func:`transformed_landmarks`): each hash decoded to its two frequency cells and time
   difference, frequencies moved by 2..7 semitones up or down (outside the +-8 % pitch-fader
   range the matcher searches), times stretched by 0.8..1.25, re-quantised and re-packed; a random
   window of the source. So they carry the hash statistics of real music (the common low intervals, drums,
   loops) without containing any query: a filler can only be a *false* match. Their lengths are
   drawn like a real library's, and the library also holds long pieces (12-30 min) and hour-long
   "mixes" (a chain of 12-20 transformed tracks): the tracks that collect the most raw hits.
   A few per mille of the fillers are **generated audio** (:mod:`livedj.synth` renders, 40 s),
   fingerprinted from audio.

Everything is deterministic for a given ``n_tracks`` and seed.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import cache_dir
from livedj.dsp import fingerprint as fp

SR = fp.SR
AUDIO_SUFFIXES = (".mp3", ".ogg", ".flac", ".wav", ".m4a", ".opus", ".oga")
DEFAULT_CORPORA = "/tmp/livedj-dev-corpus/tracks:/tmp/livedj-dev-corpus-2/tracks"


def corpus_files() -> list[tuple[str, Path]]:
    """(corpus name, file) of every audio file of the development corpora, sorted."""
    out = []
    for root in os.environ.get("LIVEDJ_FP_CORPORA", DEFAULT_CORPORA).split(":"):
        root = Path(root)
        if not root.is_dir():
            continue
        name = root.parent.name
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES:
                out.append((name, p))
    return out


def real_peaks(path: Path, cached_only: bool = False) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(t frames, f Hz, duration s) of ``path`` at index density, cached; None if undecodable
    (or not cached yet, with ``cached_only``)."""
    try:
        st = path.stat()
    except OSError:  # the corpus is being rebuilt
        return None
    key = hashlib.sha1(f"{path}|{st.st_size}|{st.st_mtime_ns}|{fp.INDEX_DENSITY}|"
                       f"{fp.PARAMS}".encode()).hexdigest()[:20]
    cache = cache_dir("fp-peaks") / f"{key}.npz"
    if cache.exists():
        z = np.load(cache)
        return z["t"], z["f"], float(z["dur"])
    if cached_only:
        return None
    from livedj.audio.decode import DecodeError, decode

    try:
        y = decode(path, SR)
    except DecodeError as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return None
    t, f = fp.peaks(y, SR, density=fp.INDEX_DENSITY)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, t=t.astype(np.float32), f=f.astype(np.float32), dur=len(y) / SR)
    os.replace(tmp, cache)
    return t, f, len(y) / SR


def landmarks_from_peaks(t: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index landmarks of peaks (what :func:`fingerprint.landmarks` does after peak picking)."""
    t = np.asarray(t, np.float64)
    f = np.asarray(f, np.float64)
    i, j = fp.pairs(t, f, fanout=fp.INDEX_FANOUT)
    h, times, valid = fp.hash_pairs(t, f, i, j)
    return h[valid], np.rint(times[valid]).astype(np.int32)


def _cell_hz(q: np.ndarray) -> np.ndarray:
    """Centre frequency (Hz) of warped-log cell ``q`` (inverse of the fingerprint's ``_q``)."""
    return fp.Q_F0 * (2.0 ** ((q + 0.5) / fp.Q_PER_OCTAVE) - 1.0)


def transformed_landmarks(h: np.ndarray, t: np.ndarray, rng, length_frames: int):
    """Landmarks of a filler record straight from a real track's landmarks (cheap: no re-pairing):
    each hash decoded to (f1, f2, dt), frequencies moved by 2..7 semitones, times stretched by
    0.8..1.25, re-quantised and re-packed as :func:`fingerprint.hash_pairs` does; a random window
    of ``length_frames``."""
    h = np.asarray(h, np.int64)
    q1, dq, dt = h >> 12, ((h >> 6) & 63) - 32, h & 63
    ratio = 2.0 ** (rng.choice([-7, -6, -5, -4, -3, -2, 2, 3, 4, 5, 6, 7]) / 12)
    stretch = rng.uniform(0.8, 1.25)
    q = lambda f: np.floor(fp.Q_PER_OCTAVE * np.log2(1.0 + f / fp.Q_F0))  # noqa: E731
    f1, f2 = _cell_hz(q1) * ratio, _cell_hz(q1 + dq) * ratio
    nq1 = q(f1)
    ndq = q(f2) - nq1
    ndt = np.rint(dt * stretch)
    tt = np.asarray(t, np.float64) * stretch
    ok = (ndt >= 1) & (ndt <= fp.DT_MAX) & (np.abs(ndq) <= fp.DQ_MAX) & (nq1 >= 0) & (nq1 < 128) \
        & (f1 >= fp.F_MIN) & (f1 <= fp.F_MAX)
    if len(tt) and tt[-1] > length_frames:
        a = rng.uniform(0, tt[-1] - length_frames)
        ok &= (tt >= a) & (tt < a + length_frames)
        tt = tt - a
    nh = (nq1.astype(np.int64) << 12) | ((ndq.astype(np.int64) + 32) << 6) | ndt.astype(np.int64)
    return nh[ok].astype(np.uint32), np.rint(tt[ok]).astype(np.int64)


def _length_s(rng) -> float:
    """A library's record lengths: mostly 2-7 min, some long pieces."""
    u = rng.random()
    if u < 0.03:
        return rng.uniform(720, 1800)    # long pieces, 12-30 min
    if u < 0.10:
        return rng.uniform(60, 150)      # short tracks
    return rng.uniform(150, 420)


def build_library(n_tracks: int, *, seed: int = 0, n_mixes: int | None = None, progress: bool = True,
                  holdout: int = 10):
    """Landmark items ``(track id, hashes, times)`` of a library of ``n_tracks`` tracks.

    Returns
    -------
    items : list of (int, np.ndarray, np.ndarray)
        Track ids 1..n; the real tracks first (ids 1..len(real)).
    real : list of dict
        For every real track: ``id``, ``corpus``, ``path``, ``dur``. Every ``holdout``-th real file
        is left out of the index and listed in ``info["absent"]`` (records not in the library).
    info : dict
        Counts: real, fillers, long pieces, mixes, synth, hours of audio.
    """
    files = corpus_files()
    real, sources, absent = [], [], []
    items = []
    t0 = time.perf_counter()
    for k, (corpus, path) in enumerate(files):
        got = real_peaks(path, cached_only=os.environ.get("LIVEDJ_FP_CACHED_ONLY") == "1")
        if progress and (k % 25 == 0 or k == len(files) - 1):
            print(f"  real peaks {k + 1}/{len(files)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        if got is None:
            continue
        t, f, dur = got
        if dur < 12:
            continue
        if holdout and k % holdout == holdout - 1:  # a record the DJ does not own: never indexed
            absent.append({"id": None, "corpus": corpus, "path": str(path), "dur": dur})
            continue
        tid = len(real) + 1
        h, tt = landmarks_from_peaks(t, f)
        items.append((tid, h, tt))
        real.append({"id": tid, "corpus": corpus, "path": str(path), "dur": dur})
        sources.append((h, tt))
    if not sources:
        raise SystemExit("no real tracks: the development corpora are missing")
    rng = np.random.default_rng(seed)
    n_fill = max(0, n_tracks - len(real))
    n_mixes = max(1, n_fill // 500) if n_mixes is None else n_mixes
    n_synth = min(24, n_fill // 1000)
    frames_per_s = SR / fp.HOP
    long_pieces = hours = 0.0
    tid = len(real)
    for k in range(n_fill - n_mixes - n_synth):
        tid += 1
        length = _length_s(rng)
        long_pieces += length >= 720
        h, t = sources[rng.integers(len(sources))]
        h2, t2 = transformed_landmarks(h, t, rng, int(length * frames_per_s))
        items.append((tid, h2, t2))
        hours += (t2[-1] if len(t2) else 0) / frames_per_s / 3600
        if progress and k % 2000 == 0:
            print(f"  fillers {k}/{n_fill} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    for _ in range(n_mixes):  # hour-long mixes: a chain of transformed records
        tid += 1
        hs, ts, at = [], [], 0
        while at < 3600 * frames_per_s:
            h, t = sources[rng.integers(len(sources))]
            h2, t2 = transformed_landmarks(h, t, rng, int(rng.uniform(150, 360) * frames_per_s))
            hs.append(h2)
            ts.append(t2 + at)
            at += (int(t2[-1]) if len(t2) else 0) + int(frames_per_s)
        items.append((tid, np.concatenate(hs), np.concatenate(ts)))
        hours += at / frames_per_s / 3600
    if n_synth:
        from livedj.synth import DEMO_TRACKS, render_track
        import dataclasses

        for k in range(n_synth):
            tid += 1
            spec = DEMO_TRACKS[k % len(DEMO_TRACKS)]
            spec = dataclasses.replace(spec, seed=spec.seed + 5000 + k, bpm=spec.bpm * (0.9 + 0.01 * k))
            items.append((tid, *fp.landmarks(render_track(spec, 40.0, SR), SR)))
            hours += 40 / 3600
    hours += sum(r["dur"] for r in real) / 3600
    info = {"real": len(real), "fillers": n_fill - n_mixes - n_synth, "long_pieces": int(long_pieces),
            "mixes": n_mixes, "synth": n_synth, "tracks": len(items), "hours": round(hours, 1),
            "entries": int(sum(len(h) for _, h, _ in items))}
    info["absent"] = absent
    return items, real, info


if __name__ == "__main__":  # warm the peak cache: python -m benchmarks._fp_library
    for corpus, path in corpus_files():
        real_peaks(path)
        print(path, flush=True)
    print("peaks cached for", len(corpus_files()), "files")
