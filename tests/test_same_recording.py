"""One recording indexed twice (an album version and a compilation copy): named, both kept out of the
suggestions, logged once. Two records that share only a loop are never taken for one recording.

Generated records (livedj.synth), a real fingerprint index on disk.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from livedj.dsp import fingerprint as fp
from livedj.engine.now_playing import NowPlayingTracker
from livedj.engine.session import Session
from livedj.library import fpsame
from livedj.library.fingerprints import FingerprintIndex, decide, match_audio
from livedj.synth import DEMO_TRACKS, render_track

SR = 16000
DUR = 40.0


@pytest.fixture(scope="module")
def records():
    tracks = [render_track(spec, DUR, SR) for spec in DEMO_TRACKS[:4]]
    rng = np.random.default_rng(0)
    a = tracks[0]
    # the compilation copy: another master of the same recording (1.5 dB quieter, a little noise)
    copy = (0.84 * a + 0.002 * rng.standard_normal(len(a))).astype(np.float32)
    # another record that shares one 6-s loop with record 1 (sampled, sample for sample), nothing more
    shares = tracks[1].copy()
    shares[int(12 * SR):int(18 * SR)] = a[int(12 * SR):int(18 * SR)]
    return {1: a, 2: tracks[1], 3: tracks[2], 4: tracks[3], 5: copy, 6: shares}


def _index(records, ids, tmp_path):
    prefix = tmp_path / "fingerprints-1"
    FingerprintIndex.build(((i, *fp.landmarks(records[i], SR)) for i in ids), prefix)
    return FingerprintIndex.load(prefix)


@pytest.fixture(scope="module")
def index(records, tmp_path_factory):
    return _index(records, [1, 2, 3, 4, 5], tmp_path_factory.mktemp("same"))


@pytest.mark.parametrize("truth", [1, 5])
def test_a_record_indexed_twice_is_named_with_its_copy(records, index, truth):
    """Either copy heard: the group's lowest id is named, the other carried as the same recording
    (before: both aligned equally and the 2x margin named neither)."""
    for start in (4.0, 17.0, 29.0):
        y = records[truth][int(start * SR):int((start + 8.0) * SR)]
        best = decide(match_audio(y, SR, index, top=2))
        assert best is not None and best.track_id == 1 and best.same == (5,), (start, best)
        assert abs(best.offset_s - start) < 0.1


def test_copy_is_excluded_from_suggestions_and_logged_once(records, index):
    tracker = NowPlayingTracker(SimpleNamespace(fingerprints=index), identify_s=6.0, log_after=2)
    session, played = Session(), []
    session.on_played.append(lambda *a: played.append(a[0]))
    y = records[5]  # the DJ plays the compilation copy
    for end in np.arange(8.0, 30.0, 1.0):
        heard = tracker.hear(y[:int(end * SR)], SR)
        now = tracker.decide(heard, np.zeros(1), y[:SR], SR, session)
    assert now.track_id == 1
    assert [d.track_id for d in now.decks] == [1]  # one record plays, not a blend of two (before: 1 and 5)
    assert {1, 5} <= session.excluded(now.on_deck)
    assert played == [1]  # once, whichever copy aligned better in an update


def test_shared_loop_is_not_one_recording(records, tmp_path):
    """Record 6 holds 6 s of record 1 sample for sample: a query inside that loop aligns with both
    equally and must not be merged into one recording; outside it record 1 is named alone."""
    index = _index(records, [1, 2, 3, 4, 6], tmp_path)
    y = records[1]
    inside = decide(match_audio(y[int(12.5 * SR):int(17.5 * SR)], SR, index, top=2))
    assert inside is None or inside.same == ()
    matches = match_audio(y[int(12.5 * SR):int(17.5 * SR)], SR, index, top=2)
    assert {m.track_id for m in matches} == {1, 6} and all(m.same == () for m in matches)
    ok, shared, _ = fpsame.same_recording(index, 1, 12.5, 6, 12.5, 5.0)
    assert not ok and shared < 0.3, shared
    # this ambient record repeats its phrases (~22.6 s): 7.5-12.5 s is not in the loop at any repeat
    outside = decide(match_audio(y[int(7.5 * SR):int(12.5 * SR)], SR, index, top=2))
    assert outside is not None and outside.track_id == 1 and outside.same == ()


def test_same_recording_measure(records, index):
    """The verdict itself: a copy shares most landmarks around any point; two records nothing."""
    for at in (5.0, 20.0, 30.0):
        ok, shared, overlap = fpsame.same_recording(index, 1, at, 5, at, 8.0)
        assert ok and shared > 0.7 and overlap > 35.0, (at, shared, overlap)
        ok, shared, _ = fpsame.same_recording(index, 1, at, 2, at, 8.0)
        assert not ok and shared < 0.1
    assert not fpsame.same_recording(index, 1, 5.0, 5, 9.0, 8.0)[0]  # the copy, but 4 s off
