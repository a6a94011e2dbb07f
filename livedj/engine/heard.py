"""What one update heard: the records matched (:class:`Match`), the answer after it (:class:`NowPlaying`),
and the pure rules that choose the decks heard in one update (:func:`both_halves`, :func:`recent_deck`).

Values only, no state: the rules over consecutive updates are in :mod:`livedj.engine.confirm`, the
tracker that runs both in :mod:`livedj.engine.now_playing`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livedj.library.fingerprints import MARGIN, MIN_ALIGNED, decide


#: the fewest aligned landmarks in the newest seconds that count as hearing a record there (half of
#: :data:`~livedj.library.fingerprints.MIN_ALIGNED`, the whole window's minimum)
RECENT_LEAST = MIN_ALIGNED / 2


@dataclass(frozen=True)
class Match:
    """One record heard in the input (not yet confirmed)."""

    track_id: int
    confidence: float  #: 0..1
    speed: float = 1.0  #: playback speed relative to the record (the pitch fader), when known
    offset_s: float | None = None  #: position in the record of the start of what was heard, when known
    level: float | None = None  #: share of what was heard that is this record (0..1; the louder deck more)
    pitch_locked: bool = False  #: heard with key lock: the tempo moved (``speed``), the pitch did not
    #: other library records that are the same recording here (the same audio indexed twice): heard
    #: with this one, so never suggested while it plays; the play is this record's, logged once
    same: tuple[int, ...] = ()
    #: landmarks of this record aligned in the newest seconds heard (``NowPlayingTracker.recent_s``; the
    #: live matcher only, else None): its level *now*, where ``level`` is over the whole window
    recent: float | None = None
    #: landmarks of this record aligned over the whole window (the fingerprint match's count; None: not known)
    aligned: float | None = None
    #: its tempo as heard, BPM: the library's tempo of the record times ``speed`` (None: not known)
    tempo: float | None = None

    @property
    def pitch_speed(self) -> float:
        """The frequency ratio heard: ``speed`` with the pitch fader, 1.0 with key lock."""
        return 1.0 if self.pitch_locked else self.speed


def both_halves(matches: list) -> list:
    """The top two records when neither beats the other by the margin but each, decided against
    the records below them alone, would be named: a cut or a blend halfway through the heard
    window, where neither deck holds twice the other's evidence (``decks`` then names none,
    and the incoming record would wait until it fills two thirds of the window)."""
    if len(matches) < 2:
        return []
    found = [decide([m, *matches[2:]], spread=False) for m in matches[:2]]  # the full evidence for both
    return found if all(m is not None for m in found) else []


#: metrical levels a tempo estimate may land on instead of another's: the same beat, half or double
#: time, and the 3:2 / 4:3 levels the library's tempo estimates take on music without a steady kick
#: (of the blends of ``time_to_name`` on both development corpora, 70 % of the incoming records are
#: within 3 % of the outgoing's tempo counting 1, 2 and 1/2 alone, 94 % with these)
TEMPO_LEVELS = (1.0, 2.0, 0.5, 1.5, 2 / 3, 4 / 3, 0.75)


def beat_matched(tempo: float | None, other: float | None, tolerance: float = 0.03,
                 levels: tuple[float, ...] = TEMPO_LEVELS) -> bool | None:
    """Are two records heard at one tempo (within ``tolerance``, at one of the metrical ``levels``), as
    the two records of a blend are? None when a tempo is not known.

    Parameters
    ----------
    tempo, other : float or None
        The two tempos as heard, BPM (:attr:`Match.tempo`).
    tolerance : float
        Relative difference allowed (the library's estimates and the matched speed are approximate).
    """
    if tempo is None or other is None or not (np.isfinite(tempo) and np.isfinite(other)) or tempo <= 0 or other <= 0:
        return None
    return bool(min(abs(tempo / (other * level) - 1.0) for level in levels) <= tolerance)


def recent_deck(matches: list, found: list, recent: dict[int, float], ratio: float, *,
                min_aligned: int = MIN_ALIGNED, margin: float = MARGIN) -> list:
    """``found`` (one deck) and the runner-up as the second deck when the newest seconds hear it at
    ``ratio`` times the winner's aligned count there (``recent``: track -> count): the incoming record
    of a blend, which over the whole window holds a tenth of the outgoing record's count for seconds
    (:func:`~livedj.library.fingerprints.decks` asks a fifth). It must still reach ``min_aligned`` over
    the window and ``margin`` times the count of the match after it (a chance match does not)."""
    if len(found) != 1 or len(matches) < 2:
        return found
    best = found[0]
    rest = [m for m in matches if m.track_id != best.track_id]
    second = rest[0]
    third = rest[1].aligned if len(rest) > 1 else 0.0
    here = recent.get(second.track_id, 0.0)
    if (second.aligned >= min_aligned and second.aligned >= margin * third and here >= RECENT_LEAST
            and here >= ratio * recent.get(best.track_id, 0.0)):
        second.confidence = float((1.0 - np.exp(-(second.aligned - min_aligned + 1) / 8.0)) * (1.0 - third / second.aligned))
        return [best, second]
    return found


@dataclass(frozen=True)
class NowPlaying:
    """What is on the deck after one update."""

    track_id: int | None = None  #: the record *now* (the deck confirmed last); None: nothing identified
    confidence: float = 0.0
    heard: tuple[Match, ...] = ()  #: this update's matches, best first (confirmed or not)
    #: the confirmed decks, *now* first (the incoming record of a blend once 0.45 times as loud), then the other;
    #: ``level`` is this update's share of what was heard (0 when the deck was not heard this time)
    decks: tuple[Match, ...] = ()

    @property
    def on_deck(self) -> frozenset[int]:
        """Every record heard or confirmed now: never suggested while it plays."""
        ids = {m.track_id for m in self.heard} | {m.track_id for m in self.decks}
        ids.update(t for m in (*self.heard, *self.decks) for t in m.same)  # copies of a record heard
        if self.track_id is not None:
            ids.add(self.track_id)
        return frozenset(ids)
