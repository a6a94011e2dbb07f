"""Now playing: which library track is on the deck, with a confidence, or "not in library".

Two techniques, chosen by measurement (see the README):

- landmark fingerprints (:mod:`livedj.library.fingerprints`), when the index has them: each
  update matches the last 5 s over pitch-fader hypotheses; a track becomes NOW PLAYING after
  ``confirm`` updates in a row name it, and stays until ``hold`` updates in a row do not
  (a noisy moment does not drop it). Different songs of one style never match by accident.
- otherwise the segment index (a vector every few seconds over whole tracks): each track's best
  similarity is averaged over the last ``votes`` updates; the leader is identified when it
  reaches ``min_similarity`` with a ``min_margin`` over the runner-up. Embeddings cannot tell
  two songs of one style apart, so this is the fallback only.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Identifier:
    votes: int = 4  #: updates voted over
    log_after: int = 4  #: NOW PLAYING this many updates in a row: logged as played
    candidates: int = 20  #: nearest segments fetched per update
    min_similarity: float = 0.93
    min_margin: float = 0.02
    _history: deque = field(default_factory=deque)

    confirm: int = 2  #: fingerprint: updates in a row naming a track before it is NOW PLAYING
    hold: int = 3  #: fingerprint: updates in a row without it before it is dropped
    _candidate: int | None = None
    _candidate_runs: int = 0
    _current: int | None = None
    _misses: int = 0
    _confidence: float = 0.0

    def reset(self) -> None:
        self._history.clear()
        self._candidate, self._candidate_runs, self._current, self._misses = None, 0, None, 0

    def update_fingerprint(self, track_id: int | None, confidence: float) -> tuple[int | None, float]:
        """Add one fingerprint match (track id or None); return (now playing or None, confidence)."""
        if track_id is not None and track_id == self._candidate:
            self._candidate_runs += 1
        else:
            self._candidate, self._candidate_runs = track_id, int(track_id is not None)
        if track_id is not None and self._candidate_runs >= self.confirm:
            self._current, self._misses, self._confidence = track_id, 0, confidence
        elif self._current is not None and track_id != self._current:
            self._misses += 1
            if self._misses >= self.hold:
                self._current, self._confidence = None, 0.0
        elif track_id == self._current and track_id is not None:
            self._misses, self._confidence = 0, confidence
        return self._current, self._confidence

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
