"""A night at the booth with `livedj run`, found by playing one: defects of the live side that the earlier
hostile suites (test_hostile_live.py, test_faults_live.py, test_live.py) did not reach.

Real parts: the set log on disk (SQLite, its writer thread), the session `livedj run` makes
(:func:`livedj.commands.run_parts.make_session`), OSC over UDP on 127.0.0.1 with python-osc peers, the
reload `livedj run` does on SIGHUP (:func:`livedj.commands.run.reload`) on a real config file and index.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest


def _config(tmp_path):
    from livedj.config import defaults

    config = defaults()
    config["history"]["path"] = str(tmp_path / "history.sqlite")
    return config


def _paths_logged(path) -> list[str]:
    from livedj.library.history import History

    history = History(path)
    try:
        night = max(s.id for s in history.sessions())
        return [p.path for p in history.plays(night)]
    finally:
        history.close()


def test_a_record_told_played_as_one_copy_and_heard_as_the_other_is_one_play(tmp_path):
    """The library holds one recording twice (an album FLAC, a compilation MP3). The DJ sends
    `/livedj/played` with the MP3's path (or Mixxx plays the MP3); a few seconds later the
    fingerprints name the recording by its lowest id, the FLAC, and that was logged too: the set log
    (and every export of it) showed the record played twice in a row."""
    from livedj.commands.run_parts import make_session
    from livedj.engine.current import CurrentLibrary
    from livedj.engine.session import Played

    flac, mp3, other = "/m/album/A.flac", "/m/compilation/A copy.mp3", "/m/album/B.flac"
    tracks = {1: SimpleNamespace(id=1, path=flac, recording=1), 2: SimpleNamespace(id=2, path=other, recording=None),
              3: SimpleNamespace(id=3, path=mp3, recording=1)}
    for track in tracks.values():
        track.__dict__.update(title=track.path, artist="X", album=None, duration=300.0, bpm=120.0, key=None)
    library = CurrentLibrary(SimpleNamespace(tracks=tracks))
    session, setlog = make_session(_config(tmp_path), library, library.resolve)
    setlog.start()
    try:
        session.apply(Played(3, "osc"))  # the DJ: the MP3
        session.apply(Played(1, "identified", 0.9))  # the fingerprints: the recording, by the FLAC's id
        session.apply(Played(2, "identified", 0.9))  # the next record
        session.apply(Played(1, "osc"))  # the DJ taps /played for the FLAC too, late: the same play
    finally:
        setlog.stop()
    assert _paths_logged(tmp_path / "history.sqlite") == [mp3, other]  # before: [mp3, flac, other]
