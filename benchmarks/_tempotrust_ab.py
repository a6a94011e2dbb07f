"""Before/after the tempo trust (`livedj.engine.rules.tempo_trust`), in one process, on a labelled library.

Each record of an indexed corpus is heard 12 s from 30 % of its length, through ``Engine.update`` as
``livedj suggest`` runs it; the ranking once with the trust (after) and once with the tempo always trusted
(before: ``rules.TEMPO_TRUST_FLOOR = 1``). Printed: label precision@10 of the suggestions (same first-level
folder), the share of suggestions the pitch fader reaches, and both on windows whose tempo confidence is under 0.2.

``python -m benchmarks._tempotrust_ab INDEX_DIR CORPUS_TRACKS_DIR`` (after ``livedj index CORPUS_TRACKS_DIR --index
INDEX_DIR``)
"""
from __future__ import annotations

import sys

import numpy as np

from livedj.audio.decode import decode
from livedj.config import defaults
from livedj.engine import rules
from livedj.engine.listen import LiveTempoKey
from livedj.engine.loader import load_engine
from livedj.engine.now_playing import NowPlayingTracker
from livedj.engine.session import Session


def main(index: str, root: str) -> None:
    config = defaults(); config["index"]["path"] = index
    engine = load_engine(config)
    sr = engine.encoder.sample_rate
    label = lambda p: p.split(root.rstrip("/") + "/")[1].split("/")[0]
    rows = {"before": [], "after": []}
    for t in sorted(engine.tracks.values(), key=lambda t: t.path):
        dur = t.duration or 60.0
        at = 0.3 * dur
        audio = decode(t.path, sr, at, 12.0)
        if len(audio) < 6 * sr:
            continue
        for name, floor in (("before", 1.0), ("after", 0.3)):
            rules.TEMPO_TRUST_FLOOR = floor
            engine.now_playing = NowPlayingTracker(engine.index)
            engine.listener = LiveTempoKey()
            session = Session()
            for _ in range(max(2, engine.now_playing.updates_to_confirm)):
                u = engine.update(audio, sr, t=at + 12.0, session=session)
            s = [x for x in u.suggestions if x.track_id != t.id][:10]
            same = np.mean([label(x.path) == label(t.path) for x in s]) if s else 0.0
            reach = np.mean([bool(x.why.get("reachable", True)) for x in s]) if s else 0.0
            rows[name].append((same, reach, u.live_bpm_confidence))
    rules.TEMPO_TRUST_FLOOR = 0.3
    for name, r in rows.items():
        a = np.array(r)
        low = a[:, 2] < 0.2
        print(f"{name}: n={len(a)} P@10 {a[:,0].mean():.3f} reachable {a[:,1].mean():.3f} | tempo conf<0.2 "
              f"(n={low.sum()}): P@10 {a[low,0].mean():.3f} reachable {a[low,1].mean():.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
