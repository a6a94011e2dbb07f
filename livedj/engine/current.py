"""The running engine's id-keyed lookups, swapped together with the engine on a reload (SIGHUP).

A reload builds a new engine (tracks, index, fingerprints) and the live loop swaps it in between
two updates. Everything else that maps ids or paths to tracks -- the set log (which record a
play id is), OSC in (``/livedj/played <id or path>``), the Mixxx follower -- must see the same
generation, or a record indexed after start-up is identified as NOW PLAYING yet never logged,
and its id is refused as unknown. :class:`CurrentLibrary` reads the engine through one callable
(the loop's pending engine if a reload just finished, else its engine) and rebuilds its path
index when, and only when, the engine it sees changed.
"""
from __future__ import annotations

import logging
import os
import weakref
from typing import Callable

log = logging.getLogger("livedj")


class CurrentLibrary:
    """``resolve(id or path) -> id`` and ``track(id)`` against whichever engine is current."""

    def __init__(self, engine) -> None:
        self._current: Callable[[], object] = lambda: engine
        self._cache: tuple[object, dict] = (lambda: None, {})  # (weakref to the engine, its paths)

    def follow(self, current: Callable[[], object]) -> None:
        """Read the engine through ``current()`` from now on (e.g. the live loop's)."""
        self._current = current

    def _now(self) -> tuple[object, dict]:
        engine = self._current()
        cached, by_path = self._cache  # one tuple: a reader never sees one engine's tracks with another's paths
        if cached() is not engine:  # weak: an engine a reload replaced is not kept until the next lookup
            # a set log's play, or a deck, naming where a record was before it moved is that record
            # (library/moves.py); a file's own path wins
            by_path = {p: t.id for t in engine.tracks.values() for p in getattr(t, "moved_from", ())}
            by_path.update((t.path, t.id) for t in engine.tracks.values())
            self._cache = (_weak(engine), by_path)
        return engine, by_path

    def resolve(self, ref: int | str) -> int | None:
        """A library id (int) or file path (str) -> the track id, or None when the library lacks it."""
        engine, by_path = self._now()
        if isinstance(ref, int):
            return ref if ref in engine.tracks else None
        return by_path.get(ref) or by_path.get(os.path.abspath(os.path.expanduser(ref)))

    def track(self, track_id: int):
        """The track of ``track_id`` in the current library, or None."""
        return self._now()[0].tracks.get(track_id)


def _weak(engine) -> Callable[[], object]:
    """A weak reference to ``engine`` where it takes one (an Engine), else a strong one."""
    try:
        return weakref.ref(engine)
    except TypeError:
        return lambda: engine
