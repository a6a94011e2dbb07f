"""A lead, measured once: would single peaks verify a match's candidates through a room?

A landmark is found only when *both* its peaks survive the room (0.09-0.25 of the index's pairs, against
0.28-0.49 of its single peaks: docs/fingerprints-log.md, "Peaks through the room"). This checks whether the
single peaks, compared at a candidate's own offset and speed, tell the true record from chance better than the
aligned landmark count does: for each query, :func:`~livedj.library.fingerprints.match_audio`'s best ``--top``
candidates are scored by how many of the query's peaks (:func:`~livedj.dsp.fingerprint.query_peaks`) lie within
1.5 frames and 3 % in frequency of one of the candidate record's index peaks (:func:`~livedj.dsp.fingerprint.peaks`
of its decoded audio), mapped to the query by the candidate's offset and speed; the ratio is over the record's
peaks that fall in the query.

``python -m benchmarks._peak_verify --library c2 --records 8 [--absent]`` (needs both development corpora): ``--records``
records of the corpus, one clean 10-s excerpt and one 15-s render through every room of
:mod:`benchmarks.identify_window` at speed 1 each (seed 3; ``--absent``: records of the other corpus). Prints the wrong candidates' best ratio per query
and the true record's ratio, named or not. The index would need a per-track peak store to do this live (not
built: see the log, "Single peaks as a verifier").
"""
from __future__ import annotations

import argparse
import dataclasses

import numpy as np

IN_ALL = False
SR = 16000
#: frames the record's peaks are shifted by for its own background (never within 0.3 s of the offset)
SHIFTS = tuple(s * d for d in (19, 31, 47, 71, 103, 149, 187) for s in (-1, 1))


def coincidences(qt, qf, rt, rf, dt_tol: float = 1.5, rel_tol: float = 0.03) -> int:
    """Query peaks (``qt`` frames, ``qf`` Hz) with a reference peak within ``dt_tol`` frames and ``rel_tol``
    relative frequency. ``rt`` ascending, as :func:`~livedj.dsp.fingerprint.peaks` gives them (a shift or a speed
    keeps the order)."""
    if len(qt) == 0 or len(rt) == 0:
        return 0
    lo, hi = np.searchsorted(rt, qt - dt_tol), np.searchsorted(rt, qt + dt_tol, side="right")
    return int(sum(1 for a, b, f in zip(lo, hi, qf) if b > a and np.any(np.abs(rf[a:b] / f - 1) <= rel_tol)))


def measure(corpus: str, records: int, top: int, absent: bool = False) -> list[tuple]:
    """(condition, true id, named right or None, [(track, aligned, coincidences, reference peaks, right,
    background)]): ``background`` the mean coincidences at the offset shifted by :data:`SHIFTS`. ``absent``: the
    renders are of the other corpus's records (not in the library: every candidate is wrong, true id 0)."""
    from benchmarks import identify_window as iw
    from benchmarks._booth_alt import VARIANTS
    from livedj.dsp import fingerprint as fp
    from livedj.dsp.room import BOOTHS
    from livedj.library.fingerprints import decide, match_audio

    index, files = iw.library(corpus), iw._files(corpus)
    source = next(c for c in iw.CORPORA if c != corpus) if absent else corpus
    heard_files = iw._files(source)
    rng = np.random.default_rng(3)
    reference: dict = {}
    rows = []
    for k in rng.choice(len(heard_files), min(records, len(heard_files)), replace=False):
        y = iw._audio(source, int(k), heard_files[k])
        s = int(rng.uniform(0, len(y) / SR - 10) * SR)
        todo = [("clean10", y[s:s + 10 * SR])]
        for room in [("preset", b) for b in BOOTHS] + [("alt", v) for v in VARIANTS]:
            start = rng.uniform(2, len(y) / SR - 16)
            todo.append((f"{room[0]}:{room[1]}", iw._render(y, start, 1.0, room, 15, int(rng.integers(1 << 30)))))
        for cond, heard in todo:
            matches = match_audio(heard, SR, index, top=top)
            got = decide([dataclasses.replace(m) for m in matches])
            qt, qf = fp.query_peaks(heard, SR)
            cands = []
            for m in matches:
                if m.track_id not in reference:
                    reference[m.track_id] = fp.peaks(iw._audio(corpus, m.track_id - 1, files[m.track_id - 1]), SR)
                rt, rf = reference[m.track_id]
                tq = (rt - m.offset_s * SR / fp.HOP) / m.speed
                inside = (tq >= 0) & (tq < len(heard) / fp.HOP)
                fq = rf * (1.0 if m.pitch_locked else m.speed)
                right = not absent and (m.track_id == k + 1 or (k + 1) in m.same)
                # the same record's own background: its peaks shifted off the offset (0.3-3 s either way)
                back = [coincidences(qt, qf, tq + d, fq) for d in SHIFTS]
                cands.append((m.track_id, m.aligned, coincidences(qt, qf, tq[inside], fq[inside]), int(inside.sum()),
                              right, float(np.mean(back))))
            named = None if got is None else (not absent and (got.track_id == k + 1 or (k + 1) in got.same))
            rows.append((cond, 0 if absent else int(k) + 1, named, cands))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", default="c2")
    ap.add_argument("--records", type=int, default=8)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--absent", action="store_true", help="render the other corpus's records (not in the library)")
    args = ap.parse_args(argv)
    rows = measure(args.library, args.records, args.top, args.absent)
    for label, stat in (("ratio (coincidences / the record's peaks in the query)", lambda c, n, b: c / max(1, n)),
                        ("over its own background (coincidences / (mean at shifted offsets + 1))",
                         lambda c, n, b: c / (b + 1.0))):
        print(label)
        report(rows, args, stat)
    return 0


def report(rows, args, stat) -> None:
    """The wrong candidates' best ``stat`` per room query against the true record's."""
    wrong, true = [], []
    for cond, _, named, cands in rows:
        if cond.startswith("clean"):
            continue
        wrong.append(max((stat(c, n, b) for _, _, c, n, right, b in cands if not right), default=0.0))
        true += [(stat(c, n, b), a, named) for _, a, c, n, right, b in cands if right]
    t = np.array([r for r, _, _ in true])
    print(f"  {args.library}: {len(wrong)} room queries; the true record among the best {args.top} in {len(t)}")
    print(f"  wrong candidates, the best a query: median {np.median(wrong):.3f}, p95 {np.percentile(wrong, 95):.3f}, "
          f"max {max(wrong):.3f}")
    print(f"  room queries named by the matcher (wrongly, when --absent): "
          f"{sum(named is not None for cond, _, named, _ in rows if not cond.startswith('clean'))}")
    if len(t):
        print(f"  true record: min {t.min():.3f}, p5 {np.percentile(t, 5):.3f}, median {np.median(t):.3f}")
    print("  true record not named (value, aligned):", [(round(r, 3), round(a, 1)) for r, a, named in true if not named])
    print("  true record named at aligned < 12 (value, aligned):",
          sorted((round(r, 3), round(a, 1)) for r, a, named in true if named and a < 12))


if __name__ == "__main__":
    raise SystemExit(main())
