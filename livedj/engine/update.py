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
    seq: int  #: counts updates from 0 in this run; -1 for the status-only updates sent while the input is lost
    t: float  #: seconds of audio heard when the window ended
    suggestions: tuple[Suggestion, ...]
    tags: tuple[tuple[str, float], ...] = ()  #: the window's top tags, most probable first
    level_db: float = -120.0  #: RMS level of the newest second of input, dBFS
    peak_db: float = -120.0  #: peak level of the newest second of input, dBFS
    #: per-stage milliseconds: mel, embed, tempo_key, identify, query, rank (tempo_key and identify overlap the
    #: embedding on the helper thread), and publish, which the live loop adds after the publishers ran
    stage_ms: dict = field(default_factory=dict)
    latency_ms: float = 0.0  #: the whole analysis of this update (publish added once published)
    overflows: int = 0  #: input overflows counted so far
    status: str = "listening"  #: "listening", "silence", "paused", or "input lost (why); retrying"
    now_playing: dict | None = None  #: {"track_id", "path", "title", "artist", "confidence"}; None: not in library
    live_bpm: float | None = None  #: tempo of the last ~12 s
    live_bpm_confidence: float = 0.0
    live_key: str | None = None  #: Camelot, e.g. "8A"
    live_key_name: str | None = None  #: musical, e.g. "A minor"
    live_key_confidence: float = 0.0
    pinned: int | None = None  #: track id the DJ pinned as the next target
    #: the confirmed decks, *now* first, then the other (docs/engine.md), each as
    #: ``now_playing`` plus ``level`` (0..1, this update's share of what was heard) and ``speed``
    decks: tuple[dict, ...] = ()

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
            "now_playing": self.now_playing,
            "decks": list(self.decks),
            "live": {"bpm": None if self.live_bpm is None else round(self.live_bpm, 2),
                     "bpm_confidence": round(self.live_bpm_confidence, 3), "key": self.live_key,
                     "key_name": self.live_key_name, "key_confidence": round(self.live_key_confidence, 3)},
        }
