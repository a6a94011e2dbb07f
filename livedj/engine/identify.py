"""Now playing: which library track is on the deck, with a confidence, or "not in library".

Each update queries the segment index (a vector every few seconds over whole tracks) and keeps
each track's best similarity; a track is *identified* when, averaged over the last ``votes``
updates, it leads with at least ``min_similarity`` and a ``min_margin`` over the runner-up.
When the library has landmark fingerprints, they verify the embedding's choice (see
:mod:`livedj.library.fingerprints`).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Identifier:
    votes: int = 4  #: updates voted over
    candidates: int = 20  #: nearest segments fetched per update
    min_similarity: float = 0.93
    min_margin: float = 0.02
    _history: deque = field(default_factory=deque)

    def reset(self) -> None:
        self._history.clear()

    def update(self, track_ids: np.ndarray, similarities: np.ndarray) -> tuple[int | None, float]:
        """Add one update's nearest segments; return (track id or None, confidence 0..1)."""
        best: dict[int, float] = {}
        for track_id, sim in zip(track_ids.tolist(), similarities.tolist()):
            if sim > best.get(track_id, -1.0):
                best[track_id] = sim
        floor = float(min(similarities)) if len(similarities) else 0.0  # unseen tracks score at most this
        self._history.append((best, floor))
        while len(self._history) > self.votes:
            self._history.popleft()
        tracks = set().union(*(b for b, _ in self._history))
        if not tracks:
            return None, 0.0
        scores = {t: float(np.mean([b.get(t, f) for b, f in self._history])) for t in tracks}
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        top, s1 = ranked[0]
        s2 = ranked[1][1] if len(ranked) > 1 else floor
        margin = s1 - s2
        confidence = float(np.clip((s1 - self.min_similarity) / (1 - self.min_similarity), 0, 1)
                           * np.clip(margin / (2 * self.min_margin), 0, 1))
        if s1 < self.min_similarity or margin < self.min_margin:
            return None, confidence
        return top, confidence
