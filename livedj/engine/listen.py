"""What the live input is doing beyond its sound: tempo and key over the last ~12 s.

Both are estimated from the ring buffer's newest stretch, but never both in one update: tempo
on even hops and key on odd ones (about 5-10 ms and 2 ms on this class of CPU), so this slow
work is spread out and each update carries the freshest value of each.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livedj.dsp.rhythm import estimate_tempo
from livedj.dsp.tonal import camelot, estimate_key, key_name

MIN_SECONDS = 4.0  # below this, tempo and key are guesses: report nothing


@dataclass
class LiveTempoKey:
    seconds: float = 12.0
    bpm: float | None = None
    bpm_confidence: float = 0.0
    key: int | None = None
    key_confidence: float = 0.0
    _turn: int = 0

    def update(self, audio: np.ndarray, sample_rate: int) -> None:
        """Refresh one of tempo/key from ``audio`` (the newest ``seconds`` or more, mono float32)."""
        stretch = audio[-int(self.seconds * sample_rate):]
        if len(stretch) < MIN_SECONDS * sample_rate or not np.any(stretch):
            self.bpm, self.key, self.bpm_confidence, self.key_confidence = None, None, 0.0, 0.0
            return
        if self._turn % 2 == 0:
            bpm, confidence = estimate_tempo(stretch, sample_rate)
            self.bpm, self.bpm_confidence = (float(bpm), float(confidence)) if confidence > 0 else (None, 0.0)
        else:
            key, confidence = estimate_key(stretch, sample_rate)
            self.key, self.key_confidence = (int(key), float(confidence)) if confidence > 0 else (None, 0.0)
        self._turn += 1

    @property
    def camelot(self) -> str | None:
        return camelot(self.key) if self.key is not None else None

    @property
    def key_name(self) -> str | None:
        return key_name(self.key) if self.key is not None else None
