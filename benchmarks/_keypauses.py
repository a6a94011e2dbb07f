"""How often a record itself holds a pause that the live key takes for a record's start (docs/key.md, "The opening in
the key shown"): ``python -m benchmarks._keypauses DIR [DIR ...]``.

Each audio file of the folders (real music: the development corpora), decoded clean (no room), is read as the live
listener reads it: the newest 12 s every 2 s, from 14 s in (after the record's own opening), each searched by
:func:`livedj.dsp.keyopening.opening_onset`. Printed: the files with onsets after quiet inside them, at which second,
and the totals: every onset, and those the listener takes for a new record (at least
:data:`livedj.engine.listen.OPENING_EVERY_S` after the last one it took, the record's own start counting as one at 0 s).
"""
from __future__ import annotations

import sys
from pathlib import Path

SR = 16000
AUDIO = (".mp3", ".ogg", ".flac", ".wav", ".m4a", ".opus")


def main(argv: list[str] | None = None) -> int:
    from livedj.audio.decode import decode
    from livedj.dsp.keyopening import opening_onset
    from livedj.engine.listen import OPENING_EVERY_S

    dirs = (argv if argv is not None else sys.argv[1:])
    if not dirs:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    onsets = tracks = with_onsets = taken = 0
    seconds = 0.0
    for d in dirs:
        for f in sorted(p for p in Path(d).rglob("*") if p.suffix.lower() in AUDIO):
            y = decode(str(f), SR, 0.0, 600.0)
            if len(y) < 20 * SR:
                continue
            tracks, seconds = tracks + 1, seconds + len(y) / SR
            found = set()
            for end in range(14 * SR, len(y) + 1, 2 * SR):
                onset = opening_onset(y[end - 12 * SR:end], SR)
                if onset is not None:
                    found.add(round((end - 12 * SR + onset) / SR))
            onsets, with_onsets = onsets + len(found), with_onsets + bool(found)
            last = 0
            for t in sorted(found):
                if t - last >= OPENING_EVERY_S:
                    taken, last = taken + 1, t
            if found:
                print(f"{f.name}: onsets after quiet at {sorted(found)} s", flush=True)
    print(f"{tracks} tracks, {seconds / 60:.0f} min: onsets after quiet inside records {onsets}, on {with_onsets} tracks; "
          f"taken for a new record (>= {OPENING_EVERY_S:g} s after the last) {taken}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
