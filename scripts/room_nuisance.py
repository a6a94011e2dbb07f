"""Estimate the room nuisance shipped in models/ (what a booth does to musicnn vectors).

    .venv/bin/python scripts/room_nuisance.py --corpora OUT.npz C1.npz[+C1b.npz]:C1-booths.npz ...
    .venv/bin/python scripts/room_nuisance.py OUT.npz [TRACKS_PER_STYLE]     # generated music only

``--corpora`` (what models/room_nuisance.npz is made with): from the measurement caches of
scripts/fit_cache.py + scripts/fit_cache_booths.py, the (booth view, clean window) pairs of every
track: 3 beginning windows through random booths and the 40 % window through every BOOTHS preset.
Measured (docs/fit.md) estimated on one dev corpus and applied to the other; the generated-music
estimate below did not carry over to recorded music and is kept only to say so.

Every style of livedj.synth, a few seeds, tempos and keys each: 5-s windows of the rendered
track, clean and through random simulated booths (livedj.adapt.data.booth_params: room RT60
0.1-1.2 s, pink or crowd noise at 5-20 dB SNR, band limits, pitch fader +-6 %, gain) and through
every preset of livedj.dsp.room.BOOTHS; all through musicnn (penultimate layer, the index's base
encoder). ``nuisance`` = E[(b - c)(b - c)^T] over (booth, clean) pairs of unit vectors
(livedj.library.fit.room_nuisance); the index-time fit adds it to the within-track scatter.
"""
from __future__ import annotations

import json
import sys
import zlib

import numpy as np

from livedj.adapt.data import PREROLL_S, booth_params, booth_window
from livedj.dsp.room import BOOTHS, booth_preset
from livedj.encoders.musicnn import MusicnnEncoder
from livedj.library.fit import room_nuisance
from livedj.synth import STYLES, render_track
from livedj.synth.render import TrackSpec

SR, W = 16000, 80000
KEYS = ["A minor", "C major", "E minor", "G major", "D minor", "F major", "Bb major", "F# minor"]
TEMPO = {"ambient": 85, "dub": 75, "hiphop": 92, "dnb": 172, "footwork": 160, "trance": 138, "breakbeat": 130}


def save(out: str, nuisance: np.ndarray, meta: dict) -> None:
    """``.safetensors`` (what models/ ships; meta as string metadata) or ``.npz`` (measurement)."""
    if out.endswith(".safetensors"):
        from safetensors.numpy import save_file

        save_file({"nuisance": nuisance.astype(np.float32)}, out, metadata={k: str(v) for k, v in meta.items()})
    else:
        np.savez(out, nuisance=nuisance.astype(np.float32), meta=np.asarray(json.dumps(meta)))


def main(out: str, per_style: int = 4) -> None:
    enc = MusicnnEncoder(threads=2)
    clean, heard = [], []
    rng = np.random.default_rng(0)
    names = list(BOOTHS)
    for si, style in enumerate(STYLES):
        for j in range(per_style):
            bpm = TEMPO.get(style, 124) * (1 + 0.02 * (j - per_style / 2))
            spec = TrackSpec(f"n{si}-{j}", "room", bpm, KEYS[(si + j) % len(KEYS)], style, 1000 + 37 * si + j)
            y = render_track(spec, duration=17.0, sample_rate=SR)
            for k in range(3):
                start = SR + k * W // 2
                c = y[start:start + W]
                views = [booth_window(y, start, booth_params(rng))]
                name = names[(si + j + k) % len(names)]
                pre = int(PREROLL_S * SR)
                v = booth_preset(y[start - pre:start + W], SR, name, seed=zlib.crc32(f"{si}{j}{k}".encode()))[pre:pre + W]
                views.append(np.pad(v, (0, W - len(v))))
                pen = enc.outputs_many([c] + views)["penultimate"]
                clean += [pen[0]] * len(views)
                heard += list(pen[1:])
        print(f"{style}: {len(heard)} pairs", flush=True)
    r = room_nuisance(np.asarray(clean), np.asarray(heard))
    meta = {"source": "generated music (livedj.synth, every style) through random booths and BOOTHS presets",
            "encoder": "musicnn-msd penultimate", "pairs": len(heard), "script": "scripts/room_nuisance.py"}
    save(out, r, meta)
    print(f"wrote {out}: trace {np.trace(r):.4f} from {len(heard)} pairs")


def from_corpora(out: str, specs: list[str]) -> None:
    sys.path.insert(0, "scripts")
    from fit_booths import load_corpus

    clean, heard, names = [], [], []
    for spec in specs:
        cache, booths = spec.split(":")
        C = load_corpus(cache, booths)
        c = C["begin"][:, :3].reshape(-1, C["begin"].shape[-1])
        b = C["begin_booth"].reshape(-1, c.shape[-1])
        ok = ~np.isnan(c[:, 0]) & ~np.isnan(b[:, 0])
        clean += [c[ok], np.repeat(C["clean"], C["preset_q"].shape[1], axis=0)]
        heard += [b[ok], C["preset_q"].reshape(-1, c.shape[-1])]
        names.append(f"{cache} ({len(C['labels'])} tracks)")
    clean, heard = np.concatenate(clean), np.concatenate(heard)
    r = room_nuisance(clean, heard)
    meta = {"source": "dev corpora 1 and 2 (recorded music, measurement caches): " + "; ".join(names),
            "views": "3 beginning windows through random booths (livedj.adapt.data.booth_params) and the 40 % "
                     "window through every livedj.dsp.room.BOOTHS preset",
            "encoder": "musicnn/musicnn-msd-0.1.0/penultimate/whole/mel-v1", "pairs": int(len(clean)),
            "script": "scripts/room_nuisance.py --corpora"}
    save(out, r, meta)
    print(f"wrote {out}: trace {np.trace(r):.4f} from {len(clean)} pairs")


if __name__ == "__main__":
    if sys.argv[1] == "--corpora":
        from_corpora(sys.argv[2], sys.argv[3:])
    else:
        main(sys.argv[1], *map(int, sys.argv[2:3]))
