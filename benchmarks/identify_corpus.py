"""Now playing per development corpus, indexed with the real ``livedj index``.

For each library (``c1`` = ``/tmp/livedj-dev-corpus``, ``c2`` = ``/tmp/livedj-dev-corpus-2``, ``both``):

1. ``livedj index --index <dir> <tracks folders>`` (a subprocess, built-in config), the index kept
   under ``.bench/fp-corpus-<name>/``; re-running it is cheap (unchanged files are skipped) and
   re-fingerprints an index of an older fingerprint format (that path is exercised here).
2. Every indexed record decoded once; clean excerpts of 10 s and 5 s at 20 / 50 / 80 % of the
   track and at one uniformly random position; each booth preset of
   :data:`livedj.dsp.room.BOOTHS` at speed 1, 1.06 and 0.94 (10 s, random position) on
   ``--booth-per-corpus`` records of each corpus (``--speeds`` adds others, e.g. 1.035: between
   two speed hypotheses).
3. Records not in the library: for ``c1`` the records of ``c2`` and the other way round
   (clean 10 s at 50 % and the standard booth); any name is a false NOW PLAYING.
4. Key lock (CDJ "master tempo"): on ``--keylock-per-corpus`` records of each corpus, 10 s at a
   random position time-stretched by Rubber Band (pedalboard, pitch unmoved) to each of
   ``--keylock`` tempos, clean (``keylock@T``) and through the standard booth
   (``keylock.standard@T``); their own random generator, so that the other conditions' excerpts
   stay those of earlier runs.

``--before`` also runs every query without the key-lock hypotheses (``tempos=()``, the matcher
before them), in the same process on the same excerpts: conditions ``<cond>~before``. ``--per-track-ab K``
likewise runs every query with at most K candidate bins per track (``<cond>~capK``).

Reported per condition: named right / not named / wrong, and one identification's CPU time
(``time.thread_time`` of the matching thread: one core's time, whatever else the machine runs).

``python -m benchmarks.identify_corpus [--libraries c1,c2,both] [--booth-per-corpus 10] [--keylock 1.03,0.97,1.06,0.94]
[--keylock-per-corpus 20] [--before] [--json F]``
(needs the development corpora; never run by ``python -m benchmarks``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import REPO, cache_dir, row

SR = 16000
IN_ALL = False
CORPORA = {"c1": "/tmp/livedj-dev-corpus/tracks", "c2": "/tmp/livedj-dev-corpus-2/tracks"}
LIBRARIES = {"c1": ("c1",), "c2": ("c2",), "both": ("c1", "c2")}
CLEAN_AT = (0.2, 0.5, 0.8, None)  # None: a uniformly random position


def build(name: str, root: Path | None = None) -> Path:
    """Run the real ``livedj index`` for library ``name``; returns the index directory."""
    directory = (root or cache_dir()) / f"fp-corpus-{name}"
    paths = [CORPORA[c] for c in LIBRARIES[name]]
    with tempfile.TemporaryDirectory() as cfg:  # built-in defaults, whatever the user's config says
        env = {**os.environ, "XDG_CONFIG_HOME": cfg}
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "livedj", "index", "--index", str(directory), "--jobs", "2",
                               *paths], cwd=REPO, env=env, capture_output=True, text=True)
        print(f"livedj index {name}: {time.perf_counter() - t0:.0f} s, rc {done.returncode}\n"
              f"{done.stdout[-600:]}{done.stderr[-600:]}", file=sys.stderr)
    if done.returncode:
        raise SystemExit(f"livedj index failed for {name}")
    return directory


def load(directory: Path):
    """(FingerprintIndex, {track id: path}) of an index directory."""
    from livedj.library import index as annoy_index
    from livedj.library.fingerprints import FingerprintIndex
    from livedj.library.store import Store

    manifest = annoy_index.read_manifest(directory)
    fpx = FingerprintIndex.load(directory / manifest["fingerprints"]["prefix"])
    store = Store(directory, readonly=True)
    try:
        paths = {t.id: t.path for t in store.tracks().values()}
    finally:
        store.close()
    return fpx, paths


def _identify(y, index, tempos=None, **kw):
    best, dt = _identify_match(y, index, tempos, **kw)
    return (best.track_id if best else None), dt


def _identify_match(y, index, tempos=None, **kw):
    """(the decided Match or None, CPU s of the matching thread)."""
    from livedj.library.fingerprints import decide, match_audio

    kw = kw if tempos is None else {**kw, "tempos": tempos}
    t0 = time.thread_time()
    best = decide(match_audio(y, SR, index, top=2, **kw))
    return best, time.thread_time() - t0


SILENT_DBFS = -60.0  #: an excerpt quieter than this (RMS re full scale) holds nothing to name


def _silent(y: np.ndarray) -> bool:
    return not len(y) or 20 * np.log10(np.sqrt(np.mean(np.square(y, dtype=np.float64))) + 1e-12) < SILENT_DBFS


VERIFY_S = 60.0   #: seconds each side of the excerpt compared when a copy of the record is named
VERIFY_R = 0.9    #: log-mel correlation from which two records count as the same recording there


def same_audio(a: np.ndarray, start_a: float, b: np.ndarray, start_b: float, length_s: float,
               around_s: float = VERIFY_S) -> float:
    """Correlation of the log-mel spectrograms of records ``a`` and ``b`` (decoded at ``SR``) over
    ``around_s`` seconds each side of an excerpt that starts at ``start_a`` in ``a`` and ``start_b``
    in ``b``, clipped to both: the benchmark's own check, independent of the fingerprints, that a
    record named in place of another is the same recording there."""
    import librosa

    lo = max(-around_s, -start_a, -start_b)
    hi = min(length_s + around_s, len(a) / SR - start_a, len(b) / SR - start_b)
    if hi - lo < 1.0:
        return 0.0
    x, z = (_excerpt(v, s0 + lo, hi - lo) for v, s0 in ((a, start_a), (b, start_b)))
    n = min(len(x), len(z))
    mx, mz = (librosa.power_to_db(librosa.feature.melspectrogram(y=v[:n], sr=SR, n_fft=1024, hop_length=512,
                                                                 n_mels=64), ref=1.0, top_db=None).ravel()
              for v in (x, z))
    mx, mz = np.maximum(mx, -100.0), np.maximum(mz, -100.0)
    return float(np.corrcoef(mx, mz)[0, 1])


def _key_locked(audio, start_s: float, tempo: float, length_s: float = 10.0) -> np.ndarray:
    """``length_s`` heard from ``start_s`` at ``tempo`` with key lock (Rubber Band, pitch unmoved)."""
    import pedalboard

    seg = _excerpt(audio, start_s, length_s * tempo + 0.6)
    return np.asarray(pedalboard.time_stretch(seg[None], SR, tempo)[0][:int(length_s * SR)], np.float32)


def _excerpt(audio, start_s: float, length_s: float) -> np.ndarray:
    a = int(start_s * SR)
    return np.asarray(audio[a:a + int(length_s * SR)], np.float32)


def measure(name: str, *, booth_per_corpus: int = 10, speeds=(1.0, 1.06, 0.94), absent_n: int = 20,
            seed: int = 0, root: Path | None = None, keylock=(), keylock_per_corpus: int = 20,
            before: bool = False, per_track_ab: int | None = None) -> list[dict]:
    """Rows for library ``name`` (see the module docstring)."""
    from livedj.audio.decode import decode
    from livedj.dsp.room import BOOTHS, booth_preset

    index, paths = load(build(name, root))
    rng = np.random.default_rng(seed)
    tally: dict[str, dict] = {}
    decoded: dict[int, np.ndarray] = {}

    def verified(best, truth, start, length):
        """log-mel r between the truth at the excerpt and the record named, at its offset (a copy)."""
        if best is None or truth is None or start is None or truth not in best.same:
            return None
        for t in (truth, best.track_id):
            if t not in decoded:
                decoded[t] = decode(paths[t], SR)
        return same_audio(decoded[truth], start, decoded[best.track_id], best.offset_s, length)

    same_pairs: dict[tuple[str, ...], int] = {}  # every group named as one recording, and how often

    def identify_add(cond, truth, y, start=None, length=10.0):
        best, dt = _identify_match(y, index)
        if best is not None and best.same:
            group = tuple(Path(paths[t]).name for t in (best.track_id, *best.same))
            same_pairs[group] = same_pairs.get(group, 0) + 1
        tally_add(tally, cond, truth, best and best.track_id, dt, paths,
                  same_r=verified(best, truth, start, length), silent=_silent(y))
        if before:
            tally_add(tally, cond + "~before", truth, *_identify(y, index, tempos=()), paths)
        if per_track_ab:
            tally_add(tally, f"{cond}~cap{per_track_ab}", truth, *_identify(y, index, per_track=per_track_ab), paths)

    ids = sorted(paths)
    by_corpus = {c: [i for i in ids if paths[i].startswith(CORPORA[c])] for c in LIBRARIES[name]}
    booth_ids = set()
    for c, members in by_corpus.items():
        booth_ids |= set(rng.choice(members, min(booth_per_corpus, len(members)), replace=False).tolist())
    kl_rng = np.random.default_rng(seed + 1)
    keylock_ids = set()
    for c, members in by_corpus.items():
        keylock_ids |= set(kl_rng.choice(members, min(keylock_per_corpus, len(members)), replace=False).tolist())
    for k, tid in enumerate(ids):
        audio = decode(paths[tid], SR)
        dur = len(audio) / SR
        for length in (10.0, 5.0):
            for at in CLEAN_AT:
                start = rng.uniform(0, max(0.0, dur - length)) if at is None else max(0.0, at * dur - length / 2)
                decoded[tid] = audio
                identify_add(f"clean{length:.0f}@{'rnd' if at is None else int(at * 100)}", tid,
                             _excerpt(audio, start, length), start, length)
        if tid in booth_ids:
            for booth in BOOTHS:
                for speed in speeds:
                    start = rng.uniform(0, max(0.0, dur - 10.0 * speed - 0.7))
                    decoded[tid] = audio
                    y = booth_preset(_excerpt(audio, start, 10.0 * speed + 0.6), SR, booth, speed=speed, seed=k)
                    identify_add(f"{booth}@{speed:g}", tid, np.asarray(y[:int(10 * SR)], np.float32), start,
                                 10.0 * speed)
        if tid in keylock_ids:
            for tempo in keylock:
                start = kl_rng.uniform(0, max(0.0, dur - 10.0 * tempo - 0.7))
                y = _key_locked(audio, start, tempo)
                decoded[tid] = audio
                identify_add(f"keylock@{tempo:g}", tid, y, start, 10.0 * tempo)
                y = booth_preset(y, SR, "standard", seed=k)
                identify_add(f"keylock.standard@{tempo:g}", tid, np.asarray(y[:int(10 * SR)], np.float32), start,
                             10.0 * tempo)
        decoded.clear()  # one record's audio at a time (a copy is decoded when named)
        if k % 20 == 0:
            print(f"  {name}: {k + 1}/{len(ids)} records", file=sys.stderr)
    others = [c for c in CORPORA if c not in LIBRARIES[name]]
    absent = [p for c in others for p in sorted(Path(CORPORA[c]).rglob("*")) if p.is_file()]
    if absent:
        for k in rng.choice(len(absent), min(absent_n, len(absent)), replace=False):
            try:
                audio = decode(absent[k], SR)
            except Exception as exc:  # noqa: BLE001 - a non-audio file in the corpus folder
                print(f"  absent {absent[k]}: {exc}", file=sys.stderr)
                continue
            dur = len(audio) / SR
            identify_add("absent.clean10", None, _excerpt(audio, max(0.0, dur / 2 - 5), 10.0))
            y = booth_preset(_excerpt(audio, max(0.0, dur / 3), 10.6), SR, "standard", seed=int(k))
            identify_add("absent.standard", None, np.asarray(y[:int(10 * SR)], np.float32))
    return [row(f"identify_corpus.{name}.library", f"records in the index ({len(ids)}), landmarks {len(index)}",
                float(len(ids)), ""),
            row(f"identify_corpus.{name}.same_recordings", f"groups of records named as one recording (Match.same), "
                f"with the queries naming each: {same_pairs}", float(len(same_pairs)), ""),
            *tally_rows(f"identify_corpus.{name}", tally)]


def tally_add(tally: dict, cond: str, truth: int | None, got: int | None, dt: float, paths: dict, *,
              same_r: float | None = None, silent: bool = False) -> None:
    """Count one identification of record ``truth`` (None: a record not in the library) under ``cond``.

    ``same_r``: when the matcher named another record as the same recording as ``truth``
    (``Match.same``), the benchmark's own check of it (:func:`same_audio`); from :data:`VERIFY_R` the
    name counts as a verified copy (``dup``), kept apart from right and wrong, else as wrong.
    ``silent``: the excerpt is below :data:`SILENT_DBFS` (digital silence, a fade): counted apart too."""
    t = tally.setdefault(cond, {"n": 0, "ok": 0, "wrong": 0, "dup": 0, "dup_r": [], "ms": [], "miss": [],
                                "silent": 0, "silent_ok": 0})
    t["n"] += 1
    t["silent"] += silent
    t["silent_ok"] += silent and (got == truth or (same_r or 0.0) >= VERIFY_R)
    t["ok"] += got is not None and got == truth
    copy = got is not None and got != truth and same_r is not None and same_r >= VERIFY_R
    if same_r is not None:
        t["dup_r"].append(same_r)
    t["dup"] += copy
    t["wrong"] += got is not None and got != truth and not copy
    t["ms"].append(dt * 1000)
    if got != truth and len(t["miss"]) < 4:
        t["miss"].append(Path(paths.get(truth, "?") if truth else "?").name)


def tally_rows(prefix: str, tally: dict) -> list[dict]:
    """Rows per condition: named right (or, for ``absent*``, records not in the library named), wrong, CPU ms."""
    rows = []
    clean = [t for c, t in tally.items() if c.startswith("clean")]
    if len(clean) > 1:  # every clean excerpt together: the figure the target is stated for
        total = {k: sum(t[k] for t in clean) for k in ("n", "ok", "wrong", "dup", "silent", "silent_ok")}
        total.update(ms=[x for t in clean for x in t["ms"]], miss=[], dup_r=[x for t in clean for x in t["dup_r"]])
        tally = {"clean.all": total, **tally}
    for cond, t in tally.items():
        n = t["n"]
        if cond.startswith("absent"):
            rows.append(row(f"{prefix}.{cond}.false", f"records not in the library named ({n} queries)",
                            t["wrong"] / n, "", target=0.01))
        else:
            rows.append(row(f"{prefix}.{cond}.named", f"named right, strict ({n} queries; not named "
                            f"{n - t['ok'] - t['wrong']}, wrong {t['wrong']}; e.g. {t['miss']})", t["ok"] / n, "",
                            target=0.995 if cond.startswith("clean") else (0.95 if cond.endswith("@1") else 0.90),
                            higher_is_better=True))
            rows.append(row(f"{prefix}.{cond}.wrong", "named wrong (a verified copy not counted: see .named_with_copies)",
                            t["wrong"] / n, "", target=0.0))
            if t.get("dup_r"):
                r = t["dup_r"]
                rows.append(row(f"{prefix}.{cond}.named_with_copies", f"named right or a copy of the record "
                                f"({t['dup']} copies, verified: log-mel r over +-{VERIFY_S:g} s >= {VERIFY_R:g}; "
                                f"r min {min(r):.3f}, {len(r)} named as the same recording)",
                                (t["ok"] + t["dup"]) / n, "", target=0.995 if cond.startswith("clean") else None,
                                higher_is_better=True))
            if t.get("silent") and not cond.startswith("absent"):
                heard = n - t["silent"]
                rows.append(row(f"{prefix}.{cond}.named_audible", f"named right or a verified copy, excerpts "
                                f"above {SILENT_DBFS:g} dBFS RMS ({heard} of {n}; {t['silent']} silent, "
                                f"{t['silent_ok']} of them named)",
                                (t["ok"] + t["dup"] - t["silent_ok"]) / max(1, heard), "", higher_is_better=True))
        rows.append(row(f"{prefix}.{cond}.ms_p50", "one identification, CPU ms, p50",
                        float(np.median(t["ms"])), "ms"))
        rows.append(row(f"{prefix}.{cond}.ms_p95", "p95", float(np.percentile(t["ms"], 95)), "ms"))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--libraries", default="c1,c2,both")
    ap.add_argument("--booth-per-corpus", type=int, default=10)
    ap.add_argument("--speeds", default="1,1.06,0.94")
    ap.add_argument("--absent-n", type=int, default=20)
    ap.add_argument("--keylock", default="1.03,0.97,1.06,0.94", help="key-locked tempos ('' for none)")
    ap.add_argument("--keylock-per-corpus", type=int, default=20)
    ap.add_argument("--before", action="store_true", help="also every query without the key-lock hypotheses")
    ap.add_argument("--per-track-ab", type=int, default=None, metavar="K",
                    help="also every query with at most K candidate bins per track (rows <cond>~capK)")
    ap.add_argument("--root", default=None, help="where the index folders live (default .bench/)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rows = []
    for name in a.libraries.split(","):
        rows += measure(name, booth_per_corpus=a.booth_per_corpus, speeds=tuple(float(s) for s in a.speeds.split(",")),
                        absent_n=a.absent_n, root=Path(a.root) if a.root else None,
                        keylock=tuple(float(s) for s in a.keylock.split(",") if s),
                        keylock_per_corpus=a.keylock_per_corpus, before=a.before,
                        per_track_ab=a.per_track_ab)
        if a.json:
            Path(a.json).write_text(json.dumps(rows, indent=2))
    from benchmarks.__main__ import print_rows

    print_rows(rows, title="now playing per development corpus")


if __name__ == "__main__":
    main()
