"""Is a peak's survival through a room a property of the peak? Two renders of one room, compared.

``python -m benchmarks._peak_survival [--library c2] [--every 8] [--seconds 120]`` (needs a development corpus;
docs/fingerprints-log.md, "Index peaks chosen through a simulated room").

An index peak *survives* a render when the query's peak picker (:func:`livedj.dsp.fingerprint.query_peaks`)
finds a peak within one frame and one bin of it in that render. Each record's first ``--seconds`` go through
the standard booth twice with other seeds (another noise, another tail of the IR), and alone through its noise
or its reverb. If survival were a property of the peak (loud, sharp, in a quiet band), a peak that survived
the first render would nearly always survive the second, and an index could keep the peaks that survive a
simulated room. Printed: P(survives render 1), P(render 2), P(render 2 | render 1), P(render 2 | not 1).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

IN_ALL = False
SR = 16000

#: the standard booth (livedj.dsp.room.BOOTHS["standard"]) and its two parts alone
ROOMS = {
    "standard booth": dict(rt60=0.5, direct_to_reverb_db=5.0, noise="pink", snr_db=10.0, band=(100.0, 8000.0)),
    "its noise alone": dict(rt60=0.0, noise="pink", snr_db=10.0, band=(100.0, 8000.0)),
    "its reverb alone": dict(rt60=0.5, direct_to_reverb_db=5.0, snr_db=None, band=(100.0, 8000.0)),
}


def survives(t: np.ndarray, f: np.ndarray, heard: np.ndarray, b0: int, shape: tuple[int, int]) -> np.ndarray:
    """For peaks ``(t, f)`` (frames, Hz): is a query peak of ``heard`` within one frame and one bin."""
    from livedj.dsp import fingerprint as fp

    cell = lambda tt, ff: (np.clip(np.rint(tt).astype(int), 0, shape[0] - 1),  # noqa: E731
                           np.clip(np.rint(ff * fp.N_FFT / SR).astype(int) - b0, 0, shape[1] - 1))
    qt, qf = cell(*fp.query_peaks(heard, SR))
    near = np.zeros(shape, bool)
    for dt in (-1, 0, 1):
        for df in (-1, 0, 1):
            near[np.clip(qt + dt, 0, shape[0] - 1), np.clip(qf + df, 0, shape[1] - 1)] = True
    return near[cell(t, f)]


def main(argv=None) -> int:
    from benchmarks.identify_window import _audio, _files
    from livedj.dsp import fingerprint as fp
    from livedj.dsp.room import booth

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", default="c2", choices=("c1", "c2"))
    ap.add_argument("--every", type=int, default=8, help="every n-th record of the corpus")
    ap.add_argument("--seconds", type=float, default=120.0)
    args = ap.parse_args(argv)
    files = _files(args.library)
    for name, room in ROOMS.items():
        first, second = [], []
        for k in range(0, len(files), args.every):
            y = _audio(args.library, k, files[k])[:int(args.seconds * SR)]
            P, b0 = fp.spectrogram(y, SR)
            t, f = fp.peaks(y, SR)
            first.append(survives(t, f, booth(y, SR, seed=77, **room), b0, P.shape))
            second.append(survives(t, f, booth(y, SR, seed=78, **room), b0, P.shape))
        a, b = np.concatenate(first), np.concatenate(second)
        print(f"{name:<17} P(1) {a.mean():.3f}  P(2) {b.mean():.3f}  P(2 | 1) {b[a].mean():.3f}  "
              f"P(2 | not 1) {b[~a].mean():.3f}  ({len(a)} index peaks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
