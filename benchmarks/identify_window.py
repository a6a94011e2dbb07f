"""How long the fingerprint match listens: booth queries of 10, 15 and 20 s on the same renders.

``python -m benchmarks.identify_window --library c1 [--records 16] [--lengths 10,15,20]`` (needs a
development corpus; never run by ``python -m benchmarks``).

The live loop matches the newest ``analysis.identify_s`` seconds at every update. Through a room only
10-20 % of a record's landmarks survive (docs/fingerprints-log.md, "Peaks through the room"), so a
longer window holds proportionally more of them; it also holds chance hits of other records for longer.
This measures both on the same audio:

- the library: every file of the corpus, fingerprinted as ``livedj index`` does
  (:func:`livedj.dsp.fingerprint.landmarks`), one index on disk;
- clean excerpts of every record (10 s at two random positions, 5 s at one): never wrong;
- ``--records`` records through every preset of :data:`livedj.dsp.room.BOOTHS` and every variant of the
  other simulation (:mod:`benchmarks._booth_alt`, never tuned on), each at speed 1, +6 %, -6 %, at a random
  position, rendered with 2 s of the record before the query (the room's reverb of what came before,
  as live) and ``max(lengths)`` long; a length ``L`` matches the render's last ``L`` seconds;
- records not in the library: the other corpus's renders, named = a false NOW PLAYING.

``--records 0`` takes every record of the corpus through every room (c2: 76 x 27 renders, c1: 134 x 27;
~20 min to render once, cached; the records not in the library are then the other corpus's every record). Misses
gather on a few records (c2's ``PsymongR2``, whose sound lies almost wholly under 150 Hz, is
named through none of the presets), so 16 records at random can sit several points from the corpus's rate either
way; the per-record lines say which records the misses fall on. A name is right when it is the record or a
verified copy of it (``Match.same``), as in ``identify_corpus``.

``--scale``: on the 10,000-track library of :mod:`benchmarks.identify_scale` (cached), the records held
out of it (not in the library) ``--draws`` times at random positions, clean and through every preset at speed
1, +6 %, -6 %, rendered ``max(lengths)`` long: how many are named; and the live matcher's CPU per update
(``time.thread_time``, one core) for each length on the same 26-s streams of :mod:`benchmarks._fp_ab`
(updates from ``max(lengths)`` s on, the lengths interleaved).

Each query is decided once (:func:`~livedj.library.fingerprints.match_audio`, then
:func:`~livedj.library.fingerprints.decide`). Renders and indexes are cached under
``$LIVEDJ_BENCH_DIR/identify-window``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import cache_dir
from benchmarks.identify_corpus import CORPORA

IN_ALL = False
SR = 16000
PRE_S = 2.0  #: seconds of the record heard before the query (their reverb is in it)


def _files(corpus: str) -> list[Path]:
    from benchmarks._fp_library import AUDIO_SUFFIXES

    return sorted(p for p in Path(CORPORA[corpus]).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def _audio(corpus: str, k: int, path: Path) -> np.ndarray:
    cached = cache_dir("identify-window", "audio", corpus) / f"{k}.npy"
    if cached.exists():
        return np.load(cached)
    from livedj.audio.decode import decode

    y = decode(path, SR)
    np.save(cached, y)
    return y


def library(corpus: str):
    """The fingerprint index of every file of ``corpus`` (track id = position in :func:`_files` + 1)."""
    from livedj.dsp import fingerprint as fp
    from livedj.library.fpindex import FingerprintIndex

    prefix = cache_dir("identify-window", "index", f"{corpus}-v{fp.PARAMS['version']}") / "fingerprints-1"
    if not prefix.with_name(prefix.name + ".meta.json").exists():
        items = [(k + 1, *fp.landmarks(_audio(corpus, k, p), SR)) for k, p in enumerate(_files(corpus))]
        FingerprintIndex.build(items, prefix)
    return FingerprintIndex.load(prefix)


def _render(y: np.ndarray, start: float, speed: float, room: tuple[str, str], length: float, seed: int) -> np.ndarray:
    from benchmarks._booth_alt import alt_booth
    from livedj.dsp.room import booth_preset

    a = max(0, int((start - PRE_S * speed) * SR))
    part = y[a:int((start + length * speed + 0.5) * SR)]
    heard = (booth_preset(part, SR, room[1], speed=speed, seed=seed) if room[0] == "preset"
             else alt_booth(part, SR, room[1], speed=speed, seed=seed))
    skip = int(round((start - a / SR) / speed * SR))
    return heard[skip:skip + int(length * SR)]


def queries(corpus: str, records: int, length: float, seed: int = 5) -> list[tuple[str, int, np.ndarray]]:
    """(condition, true track id, audio) of ``corpus``: clean excerpts, then booth renders ``length`` s long
    (``records`` records through every room; 0 or more than the corpus holds: every record)."""
    records = min(records, len(_files(corpus))) or len(_files(corpus))
    cached = cache_dir("identify-window", "queries") / f"{corpus}-{records}-{length:g}-{seed}.npz"
    if cached.exists():
        z = np.load(cached, allow_pickle=True)
        return [(str(c), int(t), y) for c, t, y in zip(z["cond"], z["truth"], z["audio"])]
    from benchmarks._booth_alt import VARIANTS
    from livedj.dsp.room import BOOTHS

    rng = np.random.default_rng(seed)
    files = _files(corpus)
    out = []
    for k, path in enumerate(files):
        y = _audio(corpus, k, path)
        for seconds in (10, 10, 5):
            s = int(rng.uniform(0, max(0.0, len(y) / SR - seconds)) * SR)
            out.append((f"clean{seconds}", k + 1, y[s:s + seconds * SR].copy()))
    rooms = [("preset", b) for b in BOOTHS] + [("alt", v) for v in VARIANTS]
    for k in rng.choice(len(files), min(records, len(files)), replace=False):
        y = _audio(corpus, int(k), files[k])
        for room in rooms:
            for speed in (1.0, 1.06, 0.94):
                start = rng.uniform(PRE_S * speed, max(PRE_S * speed, len(y) / SR - length * speed - 0.7))
                out.append((f"{room[0]}@{speed:g}", int(k) + 1,
                            _render(y, start, speed, room, length, int(rng.integers(1 << 30)))))
    np.savez(cached, cond=np.array([c for c, _, _ in out]), truth=np.array([t for _, t, _ in out]),
             audio=np.array([y for _, _, y in out], dtype=object))
    return out


def measure(corpus: str, records: int = 16, lengths=(10.0, 15.0, 20.0)) -> tuple[dict, dict]:
    """Per length, per condition: [queries, named right, named wrong]; and per length, per record and simulation
    (``preset`` / ``alt``): [renders, named right]."""
    from livedj.library.fingerprints import decide, match_audio

    index = library(corpus)
    other = next(c for c in CORPORA if c != corpus)
    mine, theirs = queries(corpus, records, max(lengths)), queries(other, records, max(lengths))
    tally: dict = {}
    per_record: dict = {}
    for present, todo in ((True, mine), (False, [q for q in theirs if not q[0].startswith("clean")])):
        for cond, truth, y in todo:
            for length in lengths if not cond.startswith("clean") else (None,):
                heard = y if length is None else y[-int(length * SR):]
                got = decide(match_audio(heard, SR, index))
                group = cond if cond.startswith("clean") else (
                    ("absent " if not present else "") + cond.split("@")[0] + (" @1" if cond.endswith("@1") else " @+-6%"))
                t = tally.setdefault(length, {}).setdefault(group, [0, 0, 0])
                t[0] += 1
                right = got is not None and present and (got.track_id == truth or truth in got.same)
                if got is not None:
                    t[1 if right else 2] += 1
                if present and not cond.startswith("clean"):
                    r = per_record.setdefault(length, {}).setdefault((truth, cond.split("@")[0]), [0, 0])
                    r[0] += 1
                    r[1] += right
    return tally, per_record


def at_scale(lengths, draws: int = 3, seed: int = 21) -> dict:
    """Records not in the 10k library named, and the live update's CPU (p50, p95 ms), per length."""
    import time

    from benchmarks._fp_ab import CONDS, streams
    from benchmarks.identify_scale import get_index
    from livedj.audio.decode import decode
    from livedj.dsp.room import BOOTHS
    from livedj.library.fingerprints import decide, match_audio
    from livedj.library.fpstream import LiveMatcher

    index, real, info, _ = get_index(10000)
    longest = max(lengths)
    rng = np.random.default_rng(seed)
    out = {length: {"absent": 0, "absent_named": 0, "update_ms": []} for length in lengths}
    for record in info["absent"] if draws else ():  # --draws 0: the CPU alone
        y = decode(record["path"], SR)
        for _ in range(draws):
            for room in (None, *BOOTHS):
                for speed in ((1.0,) if room is None else (1.0, 1.06, 0.94)):
                    start = rng.uniform(PRE_S * speed, max(PRE_S * speed, len(y) / SR - longest * speed - 0.7))
                    seed_q = int(rng.integers(1 << 30))
                    q = (y[int(start * SR):int((start + longest) * SR)] if room is None
                         else _render(y, start, speed, ("preset", room), longest, seed_q))
                    for length in lengths:
                        out[length]["absent"] += 1
                        out[length]["absent_named"] += decide(match_audio(q[-int(length * SR):], SR, index)) is not None
    live = {length: LiveMatcher(index) for length in lengths}
    for qi, (cond, y) in enumerate(streams(real, info["absent"], 4, CONDS)):
        for matcher in live.values():
            matcher.reset()
        for e, end in enumerate(np.arange(longest, 26.0 + 1e-9, 1.0)):
            for length in (lengths if (qi + e) % 2 == 0 else lengths[::-1]):
                t0 = time.thread_time()
                live[length].match(y[int((end - length) * SR):int(end * SR)], SR, 3600.0 + 100.0 * qi + end, top=3)
                if e:  # the first window is read whole
                    out[length]["update_ms"].append(1000 * (time.thread_time() - t0))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", choices=tuple(CORPORA), default="c2")
    ap.add_argument("--records", type=int, default=16, help="records through every room and speed (0: every record)")
    ap.add_argument("--lengths", default="10,15,20", help="seconds matched, comma-separated")
    ap.add_argument("--scale", action="store_true", help="the 10k library: records not in it named, CPU per update")
    ap.add_argument("--draws", type=int, default=3, help="--scale: positions per held-out record")
    args = ap.parse_args(argv)
    lengths = tuple(float(x) for x in args.lengths.split(","))
    if args.scale:
        for length, r in at_scale(lengths, args.draws).items():
            ms = np.asarray(r["update_ms"])
            print(f"10k  {length:g} s  records not in the library named {r['absent_named']} of {r['absent']} "
                  f"({100 * r['absent_named'] / max(1, r['absent']):.2f} %); live update p50 {np.percentile(ms, 50):.1f} ms, "
                  f"p95 {np.percentile(ms, 95):.1f} ms ({len(ms)} updates)")
        return 0
    tally, per_record = measure(args.library, args.records, lengths)
    for length, groups in tally.items():
        for group, (n, right, wrong) in sorted(groups.items()):
            heard = "" if length is None else f"{length:g} s"
            print(f"{args.library}  {heard:>5}  {group:<22} {right:4d} right ({100 * right / n:5.1f} %), "
                  f"{wrong:3d} wrong of {n:4d}")
    names = [p.name for p in _files(args.library)]
    for length, records in per_record.items():  # misses gather on a few records: say which
        for sim in ("preset", "alt"):
            rows = {t: r for (t, s), r in records.items() if s == sim}
            weak = sorted((r[1] / r[0], names[t - 1], r) for t, r in rows.items() if r[1] < r[0])
            print(f"{args.library}  {length:g} s  {sim}: {sum(r[1] == r[0] for r in rows.values())} of {len(rows)} records "
                  f"named through every render; least named: "
                  + ", ".join(f"{name} {r[1]}/{r[0]}" for _, name, r in weak[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
