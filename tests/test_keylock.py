"""Key lock (CDJ "master tempo"): a record time-stretched without moving its pitch is named.

The library is the 12 synthetic demo tracks (24 s each) in the real fingerprint index; queries are
5-s excerpts, time-stretched by Rubber Band (pedalboard, as ``livedj mix`` uses it) and heard
through the booth simulation. Without the key-lock hypotheses the pitch fader's alone name 10/12
at +5 % and 8/12 at -5 % through the booth (the tempo-only stretch moves every hash's dt but not
its frequencies), with them 12/12.
"""
from __future__ import annotations

import numpy as np
import pytest

from livedj.dsp.room import booth, speed_change
from livedj.library.fingerprints import decide, match_audio

pedalboard = pytest.importorskip("pedalboard")

SR = 16000
START = 8.0  # query start in the track, s


@pytest.fixture(scope="module")
def library(demo_records_16k):
    return demo_records_16k  # conftest: the demo records at 16 kHz, shared with other test modules


@pytest.fixture(scope="module")
def index(demo_fingerprint_index):
    return demo_fingerprint_index


def heard(y: np.ndarray, tempo: float, *, key_lock: bool, room: bool, seed: int = 0, seconds: float = 5.0):
    """``seconds`` of ``y`` from START played at ``tempo``, with key lock or the pitch fader."""
    seg = np.asarray(y[int(START * SR): int((START + seconds * tempo + 0.6) * SR)], np.float32)
    x = pedalboard.time_stretch(seg[None], SR, tempo)[0] if key_lock else speed_change(seg, tempo, SR)
    if room:
        x = booth(np.asarray(x, np.float32), SR, seed=seed)
    return np.asarray(x[: int(seconds * SR)], np.float32)


@pytest.mark.parametrize("tempo", [1.05, 0.95])
def test_key_locked_stretch_named_through_the_booth(library, index, tempo):
    found = [decide(match_audio(heard(y, tempo, key_lock=True, room=True, seed=i), SR, index, top=2))
             for i, y in enumerate(library)]
    ids = [None if m is None else m.track_id for m in found]
    assert all(f in (None, i + 1) for i, f in enumerate(ids)), f"wrong names: {ids}"
    named = [m for m in found if m is not None]
    assert len(named) >= 11, f"{len(named)}/12 key-locked excerpts at tempo {tempo} named through the booth"
    assert all(m.pitch_locked and m.pitch_speed == 1.0 for m in named)
    assert all(m.speed == pytest.approx(tempo, abs=0.02) for m in named)


def test_pitch_fader_and_key_lock_told_apart(library, index):
    y = library[3]
    fader = decide(match_audio(heard(y, 1.05, key_lock=False, room=False, seconds=10.0), SR, index, top=2))
    assert fader is not None and fader.track_id == 4
    assert fader.speed == pytest.approx(1.05, abs=0.01) and not fader.pitch_locked
    assert fader.pitch_speed == pytest.approx(1.05, abs=0.01)
    locked = decide(match_audio(heard(y, 1.05, key_lock=True, room=False, seconds=10.0), SR, index, top=2))
    assert locked is not None and locked.track_id == 4
    assert locked.speed == pytest.approx(1.05, abs=0.015) and locked.pitch_locked and locked.pitch_speed == 1.0
    plain = decide(match_audio(y[int(START * SR): int((START + 10) * SR)], SR, index, top=2))
    assert plain is not None and plain.track_id == 4 and not plain.pitch_locked
    assert plain.speed == pytest.approx(1.0, abs=0.005)


def test_engine_key_not_shifted_for_a_key_locked_record():
    from types import SimpleNamespace

    from livedj.dsp.tonal import parse_key
    from livedj.engine.listen import LiveTempoKey
    from livedj.engine.analyzer import Engine
    from livedj.engine.now_playing import Match, NowPlaying
    from livedj.library.store import Track

    base = {name: None for name in Track.__dataclass_fields__}
    tracks = {7: Track(**{**base, "id": 7, "path": "/a", "key": parse_key("8A"), "key_confidence": 0.8})}
    engine = SimpleNamespace(tracks=tracks, listener=LiveTempoKey())  # follow_key reads only these
    Engine.follow_key(engine, NowPlaying(7, 0.9, (Match(7, 0.9, speed=1.06, pitch_locked=True),)))
    assert engine.listener.camelot == "8A"  # key lock: the record's own key, whatever the tempo
    Engine.follow_key(engine, NowPlaying(7, 0.9, (Match(7, 0.9, speed=1.06),)))
    assert engine.listener.camelot == "3A"  # the pitch fader at +6 %: +1 semitone


def test_key_lock_setting_reaches_the_live_matcher(library, index, tmp_path):
    """`analysis.key_lock = false` (config) leaves the live matcher with the pitch fader's hypotheses
    only: the key-locked excerpts it misses (10/12 at +5 % through the booth) stay missed there."""
    from types import SimpleNamespace

    from livedj.config import load as load_config
    from livedj.engine.now_playing import NowPlayingTracker

    config = tmp_path / "config.toml"
    config.write_text("[analysis]\nkey_lock = false\n")
    assert load_config(config)["analysis"]["key_lock"] is False
    with_lock = NowPlayingTracker(SimpleNamespace(fingerprints=index), identify_s=5.0)
    without = with_lock.rebind(SimpleNamespace(fingerprints=index), key_lock=False)
    assert with_lock.key_lock and not without.key_lock
    named = {True: 0, False: 0}
    for i, y in enumerate(library):
        x = heard(y, 1.05, key_lock=True, room=True, seed=i)
        for tracker in (with_lock, without):
            found = tracker.hear(x, SR)
            named[tracker.key_lock] += bool(found) and found[0].track_id == i + 1
    assert named[True] > named[False], named
