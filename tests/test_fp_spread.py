"""The spread rule of ``fingerprints.decide``: weaker evidence named when it is spread over the query.

A true record heard through the room keeps a few aligned landmarks in most seconds of the query; a
chance alignment is a burst in one to three seconds (docs/fingerprints-log.md, "Booth misses").
"""
from __future__ import annotations

import numpy as np
import pytest

from livedj.dsp import fingerprint as fp
from livedj.library import fingerprints as fpi
from livedj.library import fpspread
from livedj.library.fingerprints import FingerprintIndex, Match, aligned_seconds, decide, match_audio
from livedj.library.fpstream import LiveMatcher
from livedj.synth import DEMO_TRACKS, render_track

SR = 16000
FPS = SR / fp.HOP


def test_decide_takes_spread_evidence_only_when_spread_and_ahead():
    def pair(aligned, seconds, r_aligned, r_seconds):
        return [Match(1, aligned, 0.0, 1.0, seconds=seconds), Match(2, r_aligned, 0.0, 1.0, seconds=r_seconds)]

    spread = pair(7.0, 8, 4.0, 2)
    named = decide(spread)
    assert named is not None and named.track_id == 1 and 0 < named.confidence < 1
    assert decide(pair(7.0, 8, 4.0, 2), spread=False) is None           # the former rule: under 10
    assert decide(pair(7.0, fpi.SPREAD_SECONDS - 1, 4.0, 1)) is None    # a burst: too few seconds
    assert decide(pair(7.0, 8, 4.0, 8 - fpi.SPREAD_LEAD + 1)) is None   # the runner-up as spread
    assert decide(pair(7.0, 8, 7.0 / fpi.SPREAD_MARGIN + 0.1, 2)) is None  # under the margin
    assert decide(pair(fpi.SPREAD_ALIGNED - 0.5, 9, 1.0, 1)) is None    # too few landmarks
    # the full evidence is named as before, with the same confidence
    strong = decide([Match(1, 20.0, 0.0, 1.0), Match(2, 4.0, 0.0, 1.0)])
    assert strong.confidence == pytest.approx((1 - np.exp(-(20 - fpi.MIN_ALIGNED + 1) / 8)) * (1 - 4 / 20))


def test_aligned_seconds_counts_the_best_offsets_seconds():
    # track slot 0: 8 hits at offset 100 (+-1) under hypothesis 2, one per second 0..7, and 5 hits at
    # offset 300 in second 9; slot 3: 6 hits at offset 50 under hypothesis 0, all in second 4
    q = np.r_[np.arange(8) * FPS + 3, 9 * FPS + np.arange(5), 4 * FPS + np.arange(6)].astype(np.int64)
    hyp = np.r_[np.full(8, 2), np.full(5, 2), np.zeros(6)].astype(np.int64)
    slot = np.r_[np.zeros(13), np.full(6, 3)].astype(np.int64)
    offset = np.r_[100 + np.array([0, 1, -1, 0, 0, 1, 0, -1]), np.full(5, 300), np.full(6, 50)].astype(np.int64)
    got = aligned_seconds(q, hyp, slot, offset, np.array([0, 3]), np.array([2, 0]), np.array([100, 50]))
    assert got.tolist() == [8, 1]
    # the wrong hypothesis or offset holds none of them
    assert aligned_seconds(q, hyp, slot, offset, np.array([0]), np.array([1]), np.array([100])).tolist() == [0]
    assert aligned_seconds(q, hyp, slot, offset, np.array([0]), np.array([2]), np.array([300])).tolist() == [1]


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    library = [render_track(spec, 24.0, SR) for spec in DEMO_TRACKS[:4]]
    prefix = tmp_path_factory.mktemp("fp") / "fingerprints-1"
    FingerprintIndex.build(((i + 1, *fp.landmarks(y, SR)) for i, y in enumerate(library)), prefix)
    return library, FingerprintIndex.load(prefix)


def test_a_heard_record_aligns_in_most_seconds_by_both_matchers(small_index):
    library, index = small_index
    for i, y in enumerate(library):
        window = y[4 * SR:14 * SR]
        best = match_audio(window, SR, index, top=2)[0]
        assert best.track_id == i + 1 and best.seconds >= 8, (i, best)
        live = LiveMatcher(index).match(window, SR, 100.0, top=2)[0]  # the first window, read in chunks
        assert live.track_id == i + 1 and live.seconds >= 8, (i, live)


def test_dereverb_option_adds_onset_peaks_and_keeps_the_others(small_index):
    """``query_peaks(dereverb=)`` (the matcher's second pass; docs/fingerprints-log.md "Booth misses"): the query keeps every
    peak it had and adds those of its spectrogram less the late reverb; the reverb estimate takes a
    decaying tail down, not the onset."""
    P = np.zeros((20, 5), np.float32)
    P[5:, 2] = 0.8 ** np.arange(15)  # an onset at frame 5, then a tail
    Q = fp.less_late_reverb(P, 0.3, 6)
    assert Q[5, 2] == P[5, 2] and np.all(Q[11:, 2] < P[11:, 2]) and np.all(Q >= 0.1 * P)
    library, _ = small_index
    y = library[0][4 * SR:14 * SR]
    t0, f0 = fp.query_peaks(y, SR)
    t1, f1 = fp.query_peaks(y, SR, dereverb=(0.3, 6))
    assert len(t1) > len(t0) and np.all(np.diff(t1) >= 0)
    got = set(zip(np.round(t1, 6), np.round(f1, 6)))
    assert all((a, b) in got for a, b in zip(np.round(t0, 6), np.round(f0, 6)))


def test_crowd_hits_sums_the_best_hypothesis_hits_at_any_offset():
    # slot 0: 4 hits under hypothesis 2 (weights 1, 0.5, 1, 1; two offsets), 3 under hypothesis 1;
    # slot 5: 2 hits under hypothesis 0
    hyp = np.array([2, 2, 2, 2, 1, 1, 1, 0, 0], np.int64)
    slot = np.array([0, 0, 0, 0, 0, 0, 0, 5, 5], np.int64)
    weight = np.array([1, 0.5, 1, 1, 1, 1, 1, 0.25, 1], np.float64)
    got = fpi.crowd_hits(hyp, slot, weight, np.array([5, 0]), np.array([0, 2]))
    assert got.tolist() == [1.25, 3.5]
    assert fpi.crowd_hits(hyp, slot, weight, np.array([0]), np.array([1])).tolist() == [3.0]


def test_a_match_lost_in_its_tracks_crowd_is_not_named(monkeypatch):
    def pair(aligned, crowd, seconds=3):
        return [Match(1, aligned, 0.0, 1.0, seconds=seconds, crowd=crowd), Match(2, 3.0, 0.0, 1.0, seconds=1)]

    monkeypatch.setattr(fpspread, "CROWD_SHARE", None)
    assert decide(pair(12.0, 400.0)) is not None            # off: the former rule
    monkeypatch.setattr(fpspread, "CROWD_SHARE", 0.05)
    assert decide(pair(12.0, 400.0)) is None                 # 3 % of its track's hits: chance level
    assert decide(pair(12.0, 200.0)) is not None             # 6 %
    assert decide(pair(12.0, 0.0)) is not None               # not counted (a hand-made match)
    assert decide(pair(fpspread.CROWD_STRONG, 1000.0)) is not None  # strong evidence stands whatever the crowd
    assert decide(pair(7.0, 400.0, seconds=9)) is None       # the spread rule's weaker evidence too
    assert decide(pair(7.0, 100.0, seconds=9)) is not None


def test_a_heard_record_stands_out_of_its_crowd(small_index, monkeypatch):
    """Both matchers count a match's crowd; a record heard through the room is many times the share a
    chance alignment reaches, so it is named with the crowd rule on."""
    from livedj.dsp.room import booth_preset

    monkeypatch.setattr(fpspread, "CROWD_SHARE", 0.05)
    library, index = small_index
    for i, y in enumerate(library):
        window = np.asarray(booth_preset(y[4 * SR:15 * SR], SR, "standard", seed=i)[:10 * SR], np.float32)
        ms = match_audio(window, SR, index, top=3)
        assert ms[0].track_id == i + 1 and ms[0].crowd >= ms[0].aligned > 0, (i, ms[0])
        assert all(m.crowd > 0 for m in ms)
        assert decide(ms) is not None and decide(ms).track_id == i + 1
        live = LiveMatcher(index).match(window, SR, 100.0, top=2)[0]
        assert live.track_id == i + 1 and live.crowd >= live.aligned and live.aligned >= 0.05 * live.crowd, (i, live)
