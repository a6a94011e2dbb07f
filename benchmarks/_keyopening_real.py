"""What the opening bars change in the index's key on real music (no key labels: a description, not a score).

``python -m benchmarks._keyopening_real DIR [DIR ...] [--tracks N]``: for each track (the development corpora;
never used by tests), the index's key of its beginning (:func:`livedj.dsp.tonal.estimate_key_sections`, the first
30 s of sound) with the opening bars (:func:`livedj.dsp.keyopening.track_posterior`) and without (the whole 30 s'
chroma alone, as before). Printed: how many keys change and how (relative, fifth, parallel, other), the
confidences, and how often each agrees with the key of the track's first two minutes read plain (a proxy, not a
truth: a track may move).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SR = 16000
AUDIO = (".mp3", ".ogg", ".flac", ".wav", ".m4a", ".opus")


def one_track(y: np.ndarray) -> dict:
    """Keys of one track's beginning with and without its opening, and of its first two minutes."""
    from livedj.dsp.keyfind import chroma_features, key_posterior
    from livedj.dsp.keyopening import opening_chroma, track_posterior

    n = 30 * SR
    _, tuning = chroma_features(np.concatenate([y[:n], y[-n:]]) if len(y) > 2 * n else y, SR)
    begin = chroma_features(y[:n], SR, tuning=tuning)[0]
    plain = key_posterior(begin, seconds=min(len(y), n) / SR)
    opened = track_posterior(begin, opening_chroma(y[:n], SR, tuning=tuning), min(len(y), n) / SR)
    longer = key_posterior(chroma_features(y[:120 * SR], SR)[0], seconds=min(len(y), 120 * SR) / SR)
    return {"plain": int(plain.argmax()), "plain_conf": float(plain.max()), "opened": int(opened.argmax()),
            "opened_conf": float(opened.max()), "longer": int(longer.argmax())}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.key import relation
    from livedj.audio.decode import decode
    from livedj.dsp.level import first_sound

    parser = argparse.ArgumentParser(prog="python -m benchmarks._keyopening_real", description=__doc__.split("\n")[0])
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--tracks", type=int, default=1000, help="at most this many tracks per folder")
    args = parser.parse_args(argv)
    for d in args.dirs:
        files = sorted(p for p in Path(d).rglob("*") if p.suffix.lower() in AUDIO)[:args.tracks]
        got = []
        for i, f in enumerate(files, 1):
            y = decode(str(f), SR, 0.0, 180.0)
            got.append(one_track(y[int(first_sound(y[:60 * SR], SR) * SR):]))  # from the first sound, as the indexer
            if i % 25 == 0:
                print(f"{d}: {i}/{len(files)}", file=sys.stderr, flush=True)
        changed = [g for g in got if g["plain"] != g["opened"]]
        kinds = [relation(g["opened"], g["plain"]) for g in changed]
        print(f"{d}: {len(got)} tracks; index key changed by the opening: {len(changed)} "
              f"({100 * len(changed) / max(len(got), 1):.0f} %): "
              + ", ".join(f"{k} {kinds.count(k)}" for k in ("relative", "fifth", "parallel", "other")))
        print(f"  mean confidence plain {np.mean([g['plain_conf'] for g in got]):.2f}, with the opening "
              f"{np.mean([g['opened_conf'] for g in got]):.2f}")
        for name in ("plain", "opened"):
            print(f"  {name}: agrees with the first two minutes read plain: "
                  f"{100 * np.mean([g[name] == g['longer'] for g in got]):.0f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
