"""Identification through the booth: top-1 accuracy of 5-s live windows against the beginnings index.

Each library track (generated, encoded as FLAC) is indexed with ``index_library`` once per
encoder. Its beginning (the same ``beginning_s`` the indexer embeds) is then played through
:func:`livedj.dsp.room.booth` -- a synthetic room (RT60 0.5 s), crowd noise at 10 dB SNR, a
100-8000 Hz microphone, the pitch fader at -6 %, 0 and +6 % -- and cut into 5-s windows; each
window is embedded and looked up in the Annoy index. A hit is the track itself at rank 1.

Rows: top-1 accuracy per encoder through the booth (musicnn's baseline: features), and the same
without the booth (clean windows, speed 1) to separate the room's effect from the windowing's.
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile

from benchmarks.common import THREADS, row, synth_library

ENCODERS = ("musicnn", "features")
SPEEDS = (0.94, 1.0, 1.06)
SNR_DB = 10.0
BAND = (100.0, 8000.0)
RT60 = 0.5
BOOTH = {"rt60": RT60, "snr_db": SNR_DB, "noise": "crowd", "band": BAND}  #: the whole booth
DRY = {"rt60": 0.0, "snr_db": None, "band": None}  #: no room, noise or band limit (speed only)


def _settings(encoder: str):
    from livedj.library.indexer import Settings

    fields = {f.name for f in dataclasses.fields(Settings)}
    extra = {"segment_hop_s": 0.0} if "segment_hop_s" in fields else {}  # beginnings only: faster
    return Settings(encoder=encoder, threads=THREADS, **extra)


def accuracies(encoder_name: str, paths: list, windows_per_track: int, conditions: dict) -> dict:
    """Top-1 accuracy of ``encoder_name`` over every (track, speed, window), per condition.

    ``conditions`` maps a name to (speeds, booth keyword arguments, or None for the clean signal
    played at those speeds); the index and the encoder are built once.
    """
    from livedj.dsp.room import booth
    from livedj.encoders import encoder_dim, encoder_id, get_encoder
    from livedj.library import index as annoy_index
    from livedj.dsp import WINDOW_S
    from livedj.library.indexer import index_library
    from livedj.library.track_analysis import load_beginning
    from livedj.library.store import Store

    settings = _settings(encoder_name)
    index_dir = tempfile.mkdtemp(prefix="livedj-bench-identify-")
    try:
        index_library([str(paths[0].parent)], index_dir, settings, jobs=1)
        index = annoy_index.load(index_dir, encoder=encoder_id(encoder_name), dim=encoder_dim(encoder_name))
        store = Store(index_dir, readonly=True)
        ids = {t.path: t.id for t in store.tracks().values()}
        store.close()
        encoder = get_encoder(encoder_name, threads=THREADS)
        sr = encoder.sample_rate
        step = int(WINDOW_S * sr)
        beginnings = [load_beginning(str(p), settings.beginning_s, sr)[0] for p in paths]
        out = {}
        for name, (speeds, effects) in conditions.items():
            hits = total = 0
            for k, (path, clean) in enumerate(zip(paths, beginnings)):
                for j, speed in enumerate(speeds):
                    heard = booth(clean, sr, **(effects if effects is not None else DRY), speed=speed,
                                  seed=1000 * k + j)
                    for w in range(min(windows_per_track, max(1, len(heard) // step))):
                        got, _ = index.query(encoder.analyze(heard[w * step:(w + 1) * step]).vector, 1)
                        hits += int(len(got) > 0 and int(got[0]) == ids[str(path)])
                        total += 1
            out[name] = hits / max(total, 1)
        return out
    finally:
        shutil.rmtree(index_dir, ignore_errors=True)


def run(quick: bool = False) -> list[dict]:
    """Top-1 identification accuracy through the booth, musicnn vs features; rows as in common.row."""
    n, duration = (2, 20.0) if quick else (12, 40.0)
    paths = synth_library(n, duration, "flac", name=f"identify-{n}x{int(duration)}s")
    speeds = (1.06,) if quick else SPEEDS
    windows = 1 if quick else 3
    conditions = {"booth": (speeds, BOOTH), "clean": ((1.0,), DRY)}
    if not quick:  # which part of the booth hurts: the room and noise at speed 1, or the pitch fader alone
        conditions.update(room_only=((1.0,), BOOTH), speed_only=((0.94, 1.06), DRY))
    acc = {e: accuracies(e, paths, windows, conditions) for e in ENCODERS}
    booth_acc = {e: a["booth"] for e, a in acc.items()}
    clean_acc = {e: a["clean"] for e, a in acc.items()}
    cond = (f"{n} tracks, RT60 {RT60} s, crowd noise {SNR_DB:g} dB SNR, {BAND[0]:g}-{BAND[1]:g} Hz, speeds "
            f"{', '.join(f'{s:g}' for s in speeds)}, {windows} window(s) each; chance {1 / n:.2f}")
    rows = [row("identify.musicnn.top1", f"top-1 through the booth ({cond}); baseline features",
                booth_acc["musicnn"], "", baseline=booth_acc["features"]),
            row("identify.features.top1", "top-1 through the booth, features encoder; baseline clean",
                booth_acc["features"], "", baseline=clean_acc["features"]),
            row("identify.musicnn.top1.clean", "top-1 on clean windows at speed 1; baseline features",
                clean_acc["musicnn"], "", baseline=clean_acc["features"])]
    if not quick:
        rows += [row("identify.musicnn.top1.room_only", "top-1 through room + noise + band at speed 1; baseline "
                     "features", acc["musicnn"]["room_only"], "", baseline=acc["features"]["room_only"]),
                 row("identify.musicnn.top1.speed_only", "top-1 with the pitch fader alone (0.94, 1.06), no room; "
                     "baseline features", acc["musicnn"]["speed_only"], "", baseline=acc["features"]["speed_only"])]
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import print_rows

    print_rows(run(quick="--quick" in sys.argv[1:]))
