"""What one live update produces: the record every publisher (OSC, dashboard, JSON lines) reads."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Suggestion:
    rank: int  #: 1-based
    track_id: int
    path: str
    title: str
    artist: str
    score: float  #: the final ranking score, higher is better
    similarity: float  #: cosine similarity of the embeddings, -1..1
    bpm: float | None = None
    key: str | None = None  #: Camelot notation, e.g. "8A"
    why: dict = field(default_factory=dict)  #: the ranking terms, e.g. {"bpm_delta_pct": 2.1}


@dataclass(frozen=True)
class Update:
    seq: int  #: counts updates from 0 in this run
    t: float  #: seconds of audio heard when the window ended
    suggestions: tuple[Suggestion, ...]
    tags: tuple[tuple[str, float], ...] = ()  #: the window's top tags, most probable first
    level_db: float = -120.0  #: RMS level of the window, dBFS
    peak_db: float = -120.0
    stage_ms: dict = field(default_factory=dict)  #: per-stage latency: mel, embed, query, rank, publish
    latency_ms: float = 0.0  #: the whole analysis of this update
    overflows: int = 0  #: input overflows counted so far
    status: str = "listening"

    def to_json(self) -> dict:
        """The JSON-lines form (``livedj run --json-lines``)."""
        return {
            "seq": self.seq,
            "t": round(self.t, 3),
            "suggestions": [
                {k: v for k, v in asdict(s).items()} for s in self.suggestions
            ],
            "tags": [[name, round(p, 4)] for name, p in self.tags],
            "level_db": round(self.level_db, 1),
            "peak_db": round(self.peak_db, 1),
            "latency_ms": round(self.latency_ms, 2),
            "stage_ms": {k: round(v, 3) for k, v in self.stage_ms.items()},
            "overflows": self.overflows,
            "status": self.status,
        }
