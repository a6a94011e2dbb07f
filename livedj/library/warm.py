"""Compile livedj's numba loops once, ahead of the first night: ``python -m livedj.library.warm`` (``scripts/setup`` runs it).

The fingerprint matcher's loops (``cache=True``) are compiled at their first call in a process and cached on disk
(beside their source in ``__pycache__``, else where ``livedj/__init__.py`` says). On a fresh install that first
call is the first ``livedj run``'s warm-up, measured at 11-12 s on 2 cores while the input already plays: the
first ~8 s of the night got no update. From a warm cache the same warm-up takes ~0.4 s. Here they are compiled
on a small fingerprint index of generated audio, with the argument types the live loop gives them (the index's
dtypes do not depend on the library), and every process after this one loads them from the cache.

numba keys its cache by the source file's path and modification time: a checkout that is pulled, or an
installed livedj that is upgraded, compiles again, so ``scripts/setup`` runs this every time (~2-3 s when warm).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

SR = 16000


def loops() -> list:
    """Every compiled loop of livedj that Python code calls (loops called only inside another compile with it)."""
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:  # without numba the plain-Python forms run: nothing to compile
        return []
    from livedj.dsp import fpkernels
    from livedj.library import fpkeys, fpquery, fpsame, fpvote

    inner = {"_pick", "run_rows", "run_cols_max", "_insert"}
    return [f for m in (fpkernels, fpkeys, fpquery, fpsame, fpvote) for f in vars(m).values()
            if isinstance(f, CPUDispatcher) and f.__name__ not in inner]


def warm(folder: Path | None = None) -> list[str]:
    """Compile (or load from the cache) every loop of :func:`loops`; return the names of those left uncompiled."""
    import numpy as np

    from livedj.dsp import fingerprint as fp
    from livedj.library import fpstream
    from livedj.library.fingerprints import FingerprintIndex

    rng = np.random.default_rng(0)
    t = np.arange(12 * SR) / SR
    records = []
    for k in range(3):  # tones that change every half second over noise: enough peaks for landmarks
        f0 = rng.uniform(200, 2000, 24).repeat(SR // 2)
        y = 0.3 * np.sin(2 * np.pi * np.cumsum(f0) / SR) + 0.02 * rng.standard_normal(len(t))
        records.append(y.astype(np.float32))
    with tempfile.TemporaryDirectory(prefix="livedj-warm-", dir=folder) as tmp:
        prefix = Path(tmp) / "fingerprints-1"
        FingerprintIndex.build(((i + 1, *fp.landmarks(y, SR)) for i, y in enumerate(records)), prefix)
        index = FingerprintIndex.load(prefix)
        fpstream.warm_up(index, SR)  # the live loop's own warm-up: the same calls, the same types
        fpstream.LiveMatcher(index).match(records[0], SR, 12.0)  # a match that finds a record
        del index
    return [f.__name__ for f in loops() if not f.signatures]


def main() -> int:
    began = time.monotonic()
    found = loops()
    if not found:
        print("livedj: numba is not installed: nothing to compile", file=sys.stderr)
        return 0
    missing = warm()
    hits = sum(sum(f.stats.cache_hits.values()) for f in found)
    print(f"livedj: {len(found) - len(missing)} of {len(found)} compiled loops ready "
          f"({hits} from the cache) in {time.monotonic() - began:.1f} s", file=sys.stderr)
    if missing:
        print(f"livedj: not compiled: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
