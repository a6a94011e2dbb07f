"""The key actually sounding in a 12-s window of a rendered score: a *local* reference for the key benchmark.

The key benchmark's labels are global (key signature and final bass note of the piece). A chorale
cadences in the dominant or the relative key by its second phrase, so the last 12 s of a 30-s excerpt
are often in another key than the label: a 12-s estimate can be right about the music and wrong
against the label. This module gives a second reference, **clearly not an annotation**: music21's
symbolic key finding on the notes that sound in the window (read from the very MIDI the excerpt was
rendered from: same transposition, tempo and trim), each note weighted by how long it sounds inside
the window. It is an algorithm's estimate from the score, not a musicologist's; the benchmark reports
it *beside* the global-label figures, never instead of them.

Which of music21's profiles is used was chosen on the scores' **training half** only, by agreement
with the global label on the whole 30-s excerpts (where the label should hold): see :func:`choose`.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

ALGORITHMS = ("KrumhanslSchmuckler", "AardenEssen", "TemperleyKostkaPayne", "BellmanBudge", "SimpleWeights")
CHOSEN = "AardenEssen"  #: see :func:`choose` (training half only)


def _pm_of(root: Path, ex):
    """The transposed, stretched, trimmed PrettyMIDI the excerpt ``ex`` was rendered from."""
    from benchmarks._keydata import _score_excerpt

    keys = json.loads((root / "score_keys.json").read_text())
    data = (root / "midi" / (ex.piece.replace("/", "_") + ".mid")).read_bytes()
    render = int(ex.name.rsplit("-", 1)[1])
    again, pm = _score_excerpt(ex.piece, keys[ex.piece], data, render)
    if again.name != ex.name or again.key != ex.key:
        raise RuntimeError(f"{ex.name}: re-rendering the MIDI does not give the cached excerpt")
    return pm


def _key_index(k) -> int:
    return k.tonic.pitchClass + (12 if k.mode == "minor" else 0)


def window_key(pm, t0: float, t1: float, algorithm: str = CHOSEN) -> int | None:
    """music21's key (livedj index) of the notes sounding between ``t0`` and ``t1`` s (weighted by duration)."""
    from music21 import analysis, note, stream

    s = stream.Stream()
    for inst in pm.instruments:
        for n in inst.notes:
            overlap = min(n.end, t1) - max(n.start, t0)
            if overlap > 0.05:
                s.append(note.Note(n.pitch, quarterLength=round(overlap * 4) / 4 or 0.25))
    if not len(s):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _key_index(getattr(analysis.discrete, algorithm)().getSolution(s))


def local_keys(root: Path, excerpts, spans: dict[str, list[tuple[float, float]]], algorithm: str = CHOSEN,
               progress=None) -> dict[str, list[int | None]]:
    """For each score excerpt named in ``spans``, music21's key of each (t0, t1) window (cached)."""
    cached = root / f"local-keys-{algorithm}-v1.json"
    table = json.loads(cached.read_text()) if cached.exists() else {}
    todo = [ex for ex in excerpts if ex.kind == "score" and ex.name in spans
            and table.get(ex.name, {}).get("spans") != spans[ex.name]]
    for i, ex in enumerate(todo, 1):
        pm = _pm_of(root, ex)
        table[ex.name] = {"spans": spans[ex.name], "keys": [window_key(pm, a, b, algorithm) for a, b in spans[ex.name]]}
        if progress:
            progress("local keys (music21)", i, len(todo))
    if todo:
        cached.write_text(json.dumps(table))
    return {name: v["keys"] for name, v in table.items() if name in spans}


def choose(root: Path) -> dict[str, float]:
    """Agreement with the global label of each algorithm on the *training half*'s whole excerpts (0-30 s)."""
    from benchmarks._keydata import build

    train = [ex for ex in build(root) if ex.kind == "score" and ex.split == "train"]
    out = {}
    for algorithm in ALGORITHMS:
        got = local_keys(root, train, {ex.name: [(0.0, 30.0)] for ex in train}, algorithm)
        out[algorithm] = float(np.mean([got[ex.name][0] == ex.key for ex in train]))
    return out


if __name__ == "__main__":
    from benchmarks.common import cache_dir

    print(json.dumps(choose(cache_dir("key")), indent=1))
