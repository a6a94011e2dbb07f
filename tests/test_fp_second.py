"""The matcher's second pass (``fingerprints.SECOND_PASS``): a query whose first pass names nothing, but whose
best match is heard all along, is matched again with the peaks of its spectrogram less its late reverb added.

Through a reverberant room (RT60 1 s, the reverb 4 dB over the direct sound, pink noise at 0 dB SNR) generated
records lose most of their landmarks; the onsets that the late-reverb subtraction uncovers bring some back
(docs/fingerprints-log.md, "A second pass").
"""
from __future__ import annotations

import numpy as np
import pytest

from livedj.dsp import fingerprint as fp
from livedj.dsp.room import booth
from livedj.library import fingerprints as fpi
from livedj.library.fingerprints import FingerprintIndex, decide, match_audio
from livedj.library.fpstream import LiveMatcher
from livedj.synth import DEMO_TRACKS, render_track

SR = 16000
ROOM = dict(rt60=1.0, direct_to_reverb_db=-4.0, snr_db=0.0, noise="pink")
N_LIBRARY = 8


def _heard(y: np.ndarray, start: float, seed: int) -> np.ndarray:
    return booth(y[int(start * SR):int((start + 10.6) * SR)], SR, seed=seed, **ROOM)[:10 * SR]


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    records = [render_track(spec, 36.0, SR) for spec in DEMO_TRACKS[:N_LIBRARY + 4]]
    prefix = tmp_path_factory.mktemp("second") / "fingerprints-1"
    FingerprintIndex.build(((i + 1, *fp.landmarks(y, SR)) for i, y in enumerate(records[:N_LIBRARY])), prefix)
    queries = [(i + 1, _heard(y, start, seed)) for i, y in enumerate(records[:N_LIBRARY])
               for seed, start in enumerate((2.0, 9.0, 16.0, 23.0))]
    absent = [_heard(y, start, seed) for y in records[N_LIBRARY:] for seed, start in enumerate((3.0, 15.0))]
    return FingerprintIndex.load(prefix), queries, absent


def test_second_pass_names_more_through_a_reverberant_room_and_changes_no_name(room):
    index, queries, absent = room
    first = [decide(match_audio(q, SR, index, top=3, second_pass=False)) for _, q in queries]
    both = [decide(match_audio(q, SR, index, top=3)) for _, q in queries]
    truth = [t for t, _ in queries]
    assert all(b is None or b.track_id == t for b, t in zip(first + both, truth + truth))  # never wrong
    for a, b in zip(first, both):  # a name of the first pass is kept as it was
        if a is not None:
            assert (b.track_id, b.offset_s, b.aligned) == (a.track_id, a.offset_s, a.aligned)
    n_first, n_both = sum(a is not None for a in first), sum(b is not None for b in both)
    # measured: 19 -> 23 of 32
    assert n_both >= n_first + 2, (n_first, n_both)
    assert all(decide(match_audio(q, SR, index, top=3)) is None for q in absent)  # records not in the library


def test_live_matcher_takes_the_second_pass_as_match_audio(room):
    index, queries, _ = room
    gained = [(t, q) for t, q in queries
              if decide(match_audio(q, SR, index, top=3, second_pass=False)) is None
              and decide(match_audio(q, SR, index, top=3)) is not None]
    assert gained
    for t, q in gained:
        live = LiveMatcher(index)
        best = decide(live.match(q, SR, 100.0, top=3))  # a stream's first window
        assert best is not None and best.track_id == t
        assert live.recent_aligned(3.0) == {}  # the second pass's tracks are not the stream's candidates


def test_second_pass_only_for_a_match_heard_all_along():
    burst = [fpi.Match(1, 7.0, 0.0, 1.0, seconds=fpi.SECOND_PASS_SECONDS - 1), fpi.Match(2, 4.0, 0.0, 1.0, seconds=1)]
    spread = [fpi.Match(1, 7.0, 0.0, 1.0, seconds=fpi.SECOND_PASS_SECONDS), fpi.Match(2, 4.0, 0.0, 1.0, seconds=1)]
    named = [fpi.Match(1, 30.0, 0.0, 1.0, seconds=9), fpi.Match(2, 4.0, 0.0, 1.0, seconds=1)]
    assert not fpi.wants_second_pass(burst) and fpi.wants_second_pass(spread)
    assert not fpi.wants_second_pass(named) and not fpi.wants_second_pass([])
    assert spread[0].confidence == 0.0  # deciding left the matches as they were


def test_live_matcher_retries_a_failed_second_pass_only_every_few_seconds(room, monkeypatch):
    """A stream whose second pass named nothing tries again ``SECOND_PASS_EVERY_S`` later, not every update;
    one that named is tried every update (a deck is confirmed over consecutive updates)."""
    from livedj.library import fpstream

    index, queries, _ = room
    calls = []
    real = fpi.match_audio
    monkeypatch.setattr(fpi, "match_audio", lambda *a, **k: calls.append(k.get("dereverb")) or real(*a, **k))
    monkeypatch.setattr(fpi, "second_pass_names", lambda again: False)  # every try fails
    monkeypatch.setattr(fpi, "wants_second_pass", lambda matches: True)
    live = LiveMatcher(index)
    _, q = queries[0]
    stream = np.concatenate([q, q])
    for end in range(10, 16):
        live.match(stream[(end - 10) * SR:end * SR], SR, 100.0 + end)
    assert len(calls) == 6 / fpstream.SECOND_PASS_EVERY_S  # 6 updates, a try every 2 s
    monkeypatch.setattr(fpi, "second_pass_names", lambda again: True)  # every try names
    calls.clear()
    for end in range(16, 20):
        live.match(stream[(end - 10) * SR:end * SR], SR, 100.0 + end)
    assert len(calls) >= 3  # 16 s is 2 s after the last try at 14 s: every update from then on
