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
               progress=None, cache: str = "local-keys") -> dict[str, list[int | None]]:
    """For each score excerpt named in ``spans``, music21's key of each (t0, t1) window (cached in ``cache``)."""
    cached = root / f"{cache}-{algorithm}-v1.json"
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


#: what a listener who joins mid-excerpt has heard by its end, and lone 12-s windows (s), for :func:`joined`
JOINED_SPANS = {"whole 0-30 s": (0.0, 30.0), "joined at 6 s: 6-30 s": (6.0, 30.0), "joined at 12 s: 12-30 s": (12.0, 30.0),
                "0-12 s": (0.0, 12.0), "6-18 s": (6.0, 18.0), "18-30 s": (18.0, 30.0)}


def joined(root: Path, algorithms=("AardenEssen", "BellmanBudge", "TemperleyKostkaPayne")) -> dict[str, dict]:
    """music21's key of the notes heard in each of :data:`JOINED_SPANS`, against the global label (MIREX, exact),
    on the scores' *test* half: how much a reading of the notes themselves loses when the opening is not heard."""
    from benchmarks._keydata import build
    from benchmarks.key import scores

    test = [ex for ex in build(root) if ex.kind == "score" and ex.split == "test"]
    spans = list(JOINED_SPANS.values())
    labels = np.array([ex.key for ex in test])
    out = {}
    for algorithm in algorithms:
        got = local_keys(root, test, {ex.name: spans for ex in test}, algorithm, cache="joined-keys")
        for n, name in enumerate(JOINED_SPANS):
            est = np.array([got[ex.name][n] if got[ex.name][n] is not None else -1 for ex in test])
            s = scores(np.where(est >= 0, est, (labels + 1) % 24), labels)  # no notes: wrong
            out[f"{algorithm}, {name}"] = {"mirex": round(s["mirex"], 3), "exact": round(s["exact"], 3)}
    return out


def _main(args) -> None:
    from benchmarks.common import cache_dir

    if args.joined:  # python -m benchmarks._keylocal --joined
        print(json.dumps(joined(cache_dir("key")), indent=1))
    else:
        print(json.dumps(choose(cache_dir("key")), indent=1))


if __name__ == "__main__":
    import sys

    from benchmarks.common import script

    sys.exit(script("_keylocal", "music21's key of the notes heard, against the key benchmark's global labels (JSON).",
                    _main, arguments=[("--joined", dict(action="store_true", help="the test half's joined-late "
                                                        "spans, instead of choosing the algorithm on the training half"))]))
