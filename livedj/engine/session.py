"""Session state of one night: what was played, skipped, banned, pinned, the lookback and drunk mode.

One writer: the analysis thread. Everything that wants to change the state (OSC in, the Mixxx
poller) sends a :class:`Command` into :attr:`Session.commands`; the analysis
thread applies them at the start of every hop (:meth:`Session.apply_pending`), so the state is
never touched from two threads. On the analysis thread, now playing
(:mod:`livedj.engine.now_playing`) applies its :class:`Played` commands directly
(:meth:`Session.apply`). What is on the deck now is not the session's: it is the now-playing
tracker's, and is passed in where it matters (:meth:`Session.excluded`).
"""
from __future__ import annotations

import queue
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np


# -- commands (OSC in, the Mixxx poller, now playing; PlayedBefore: the set log at start-up) --------
@dataclass(frozen=True)
class Played:
    """A track was played (``source``: "identified" by now playing, "osc" told over OSC in, "mixxx")."""

    track_id: int
    source: str = "osc"
    confidence: float | None = None


@dataclass(frozen=True)
class PlayedBefore:
    """Tracks played on earlier nights (within ``history.no_repeat``): excluded, not logged again."""

    track_ids: tuple[int, ...]


@dataclass(frozen=True)
class Skip:
    """Hide this suggestion for the rest of the session (it may come back in another session)."""

    track_id: int


@dataclass(frozen=True)
class Ban:
    """Never suggest this track again in this session.

    OSC in logs it to the journal; it reaches the set log's feedback table through
    :attr:`Session.on_feedback`, which the rank stage calls (lists imported or not).
    """

    track_id: int


@dataclass(frozen=True)
class Pin:
    """Steer towards this track: it is always suggested first while pinned (``None`` unpins)."""

    track_id: int | None


@dataclass(frozen=True)
class Lookback:
    """Blend the query over the last ``updates`` updates (1 = only now)."""

    updates: int


@dataclass(frozen=True)
class Drunk:
    """Randomness: Gaussian noise of ``amount`` x the vector norm added to the query (0 = off)."""

    amount: float


@dataclass(frozen=True)
class Pause:
    """Freeze the suggestions (``paused``), or let them go on (``/livedj/pause``, ``/livedj/resume``)."""

    paused: bool


@dataclass(frozen=True)
class Refresh:
    """Accepted and counted; changes nothing: every update (each hop) is published anyway."""


Command = Played | PlayedBefore | Skip | Ban | Pin | Lookback | Drunk | Pause | Refresh

MAX_LOOKBACK = 60
MAX_DRUNK = 2.0


@dataclass
class Session:
    """The night's state, owned by the analysis thread."""

    started_at: float = field(default_factory=time.time)
    played: dict[int, float] = field(default_factory=dict)  #: track id -> when (time.time)
    skipped: set[int] = field(default_factory=set)
    banned: set[int] = field(default_factory=set)
    pinned: int | None = None
    lookback: int = 1
    drunk: float = 0.0
    paused: bool = False
    exclude_now_playing: bool = True  #: never suggest the record(s) on the deck
    commands: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=1000))
    on_played: list = field(default_factory=list)  #: callbacks(track_id, source, confidence): the set log
    on_feedback: list = field(default_factory=list)  #: callbacks(kind, track_id, playing_id): skips/bans to the set log
    _recent: deque = field(default_factory=lambda: deque(maxlen=MAX_LOOKBACK))
    _rng: np.random.Generator = field(default_factory=np.random.default_rng)

    # -- thread-safe entry point ------------------------------------------------------------
    def send(self, command: Command) -> bool:
        """Queue ``command`` for the analysis thread; False (dropped) if the queue is full."""
        try:
            self.commands.put_nowait(command)
            return True
        except queue.Full:
            return False

    # -- analysis thread only ----------------------------------------------------------------
    def apply_pending(self) -> int:
        """Apply every queued command, in the order sent; how many there were."""
        n = 0
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return n
            self.apply(command)
            n += 1

    def apply(self, command: Command) -> None:
        """Change the state by one command (analysis thread only; other threads :meth:`send`)."""
        if isinstance(command, Played):
            self.mark_played(command.track_id, command.source, command.confidence)
        elif isinstance(command, PlayedBefore):
            for track_id in command.track_ids:
                self.played.setdefault(track_id, 0.0)
        elif isinstance(command, Skip):
            self.skipped.add(command.track_id)
        elif isinstance(command, Ban):
            self.banned.add(command.track_id)
            if self.pinned == command.track_id:
                self.pinned = None  # never suggested again: no longer the target either
        elif isinstance(command, Pin):
            self.pinned = command.track_id
        elif isinstance(command, Lookback):
            self.lookback = int(min(MAX_LOOKBACK, max(1, command.updates)))
        elif isinstance(command, Drunk):
            self.drunk = float(min(MAX_DRUNK, max(0.0, command.amount)))
        elif isinstance(command, Pause):
            self.paused = command.paused
        # Refresh: nothing to change; every update (each hop) is published anyway (docs/osc.md)

    def mark_played(self, track_id: int, source: str, confidence: float | None = None) -> None:
        if track_id in self.played and source == "identified":
            return  # already logged; identification repeats every hop
        self.played[track_id] = time.time()
        if self.pinned == track_id:
            self.pinned = None  # the target was reached
        for callback in self.on_played:
            callback(track_id, source, confidence)

    def excluded(self, on_deck: Iterable[int] = ()) -> frozenset[int]:
        """Never suggested now: played, skipped or banned tracks, and ``on_deck`` (the records heard
        or identified as playing) unless ``exclude_now_playing`` is off."""
        out = set(self.played) | self.skipped | self.banned
        if self.exclude_now_playing:
            out.update(on_deck)
        return frozenset(out)

    def query_vector(self, vector: np.ndarray) -> np.ndarray:
        """The query for this hop: the lookback blend of recent vectors, plus drunk noise."""
        self._recent.append(np.asarray(vector, dtype=np.float32))
        recent = list(self._recent)[-self.lookback:]
        blended = np.mean(recent, axis=0) if len(recent) > 1 else recent[0]
        norm = float(np.linalg.norm(blended))
        if self.drunk > 0 and norm > 0:
            blended = blended + self._rng.normal(0.0, self.drunk * norm / np.sqrt(len(blended)), blended.shape)
        norm = float(np.linalg.norm(blended))
        return (blended / norm).astype(np.float32) if norm > 0 else blended.astype(np.float32)
