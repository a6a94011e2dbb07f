"""DJ rules: tempo reachability with the pitch fader and Camelot key relations."""
import math

import pytest

from livedj.dsp.tonal import parse_key
from livedj.engine.rules import is_harmonic, key_relation, tempo_compatibility


def test_same_tempo_scores_one():
    score, delta, ratio = tempo_compatibility(128.0, 128.0)
    assert score == pytest.approx(1.0)
    assert delta == pytest.approx(0.0)
    assert ratio == 1.0


def test_edge_of_pitch_range_is_half():
    # The track must be pitched up exactly 8 %.
    score, delta, ratio = tempo_compatibility(108.0, 100.0, pitch_range=0.08)
    assert delta == pytest.approx(8.0)
    assert score == pytest.approx(0.5)
    assert ratio == 1.0


def test_just_beyond_range_is_below_half():
    score, delta, _ = tempo_compatibility(108.1, 100.0, pitch_range=0.08)
    assert delta == pytest.approx(8.1)
    assert score < 0.5
    # and it keeps falling toward 0
    far, _, _ = tempo_compatibility(120.0, 100.0, pitch_range=0.08)
    assert far < 0.2


def test_sign_of_delta():
    _, delta, _ = tempo_compatibility(124.0, 128.0)
    assert delta < 0  # track must be slowed down
    _, delta, _ = tempo_compatibility(128.0, 124.0)
    assert delta > 0


def test_monotonic_falloff():
    scores = [tempo_compatibility(100.0 * (1 + d / 100), 100.0)[0] for d in range(0, 12)]
    assert all(a > b for a, b in zip(scores, scores[1:]))


def test_double_time():
    score, delta, ratio = tempo_compatibility(128.0, 64.0)
    assert ratio == 2.0
    assert delta == pytest.approx(0.0)
    assert 0.5 < score < 1.0  # half/double time slightly below an exact match


def test_half_time_dnb_vs_hiphop():
    score, delta, ratio = tempo_compatibility(87.0, 174.0)
    assert ratio == 0.5 and delta == pytest.approx(0.0) and 0.5 < score < 1.0
    score, delta, ratio = tempo_compatibility(174.0, 87.0)
    assert ratio == 2.0 and delta == pytest.approx(0.0)
    exact, _, _ = tempo_compatibility(174.0, 174.0)
    assert score < exact


@pytest.mark.parametrize("live, track", [(None, 128.0), (128.0, None), (0.0, 120.0), (120.0, math.nan)])
def test_unknown_tempo_is_neutral(live, track):
    score, delta, ratio = tempo_compatibility(live, track)
    assert score == 0.5 and delta is None and ratio == 1.0


def test_pitch_range_widens_reach():
    narrow, _, _ = tempo_compatibility(110.0, 100.0, pitch_range=0.08)
    wide, _, _ = tempo_compatibility(110.0, 100.0, pitch_range=0.16)
    assert narrow < 0.5 < wide


def k(text):
    key = parse_key(text)
    assert key is not None
    return key


def test_same_key():
    assert key_relation(k("8A"), k("Am")) == ("same", 1.0)


def test_adjacent_and_wraparound():
    assert key_relation(k("8A"), k("9A"))[0] == "adjacent"
    assert key_relation(k("8A"), k("7A"))[0] == "adjacent"
    assert key_relation(k("12A"), k("1A"))[0] == "adjacent"
    assert key_relation(k("1A"), k("12A"))[0] == "adjacent"
    assert key_relation(k("12B"), k("1B"))[0] == "adjacent"


def test_relative():
    relation, score = key_relation(k("8A"), k("8B"))
    assert relation == "relative"
    assert key_relation(k("C"), k("Am"))[0] == "relative"
    assert 0.5 < score < key_relation(k("8A"), k("9A"))[1]


def test_boost_is_directional():
    relation, score = key_relation(k("8A"), k("10A"))
    assert relation == "boost"
    assert 0.5 < score < key_relation(k("8A"), k("8B"))[1]
    assert key_relation(k("10A"), k("8A"))[0] == "clash"
    assert key_relation(k("11A"), k("1A"))[0] == "boost"  # wraps too


def test_clash():
    relation, score = key_relation(k("8A"), k("3B"))
    assert relation == "clash" and score < 0.2
    assert key_relation(k("8A"), k("9B"))[0] == "clash"


def test_unknown_key():
    assert key_relation(None, 3) == ("unknown", 0.5)
    assert key_relation(3, None) == ("unknown", 0.5)
    assert key_relation("o", "8A") == ("unknown", 0.5)


def test_accepts_camelot_strings():
    assert key_relation("8A", "9A")[0] == "adjacent"


def test_is_harmonic():
    assert is_harmonic("same") and is_harmonic("adjacent") and is_harmonic("relative")
    assert not is_harmonic("boost") and not is_harmonic("clash") and not is_harmonic("unknown")


def test_a_doubtful_live_tempo_counts_less():
    """A breakdown's tempo (confidence under 0.2 is right or half/double only 34-85 % of the time,
    `benchmarks._tempotrust`) moved suggestions as much as a sure one."""
    from livedj.engine.rules import NEUTRAL, tempo_trust, tempo_weighted

    assert tempo_trust(None) == 1.0 and tempo_trust(float("nan")) == 1.0 and tempo_trust(0.9) == 1.0
    assert tempo_trust(0.0) == pytest.approx(0.3) and tempo_trust(0.02) < tempo_trust(0.1) < tempo_trust(0.15) < 1.0
    assert tempo_weighted(0.0, 0.0) == pytest.approx(NEUTRAL - 0.3 * NEUTRAL)
    assert tempo_weighted(1.0, 0.05) < 1.0 and tempo_weighted(0.2, 0.5) == 0.2


def test_the_ranker_discounts_a_doubtful_tempo_and_still_says_the_reach():
    import numpy as np

    from livedj.engine.ranker import rank
    from livedj.library.store import Track

    tracks = {1: Track(1, "/m/1.mp3", "T1", "A", "", 200.0, 150.0, "audio", None, "audio"),  # beyond the fader
              2: Track(2, "/m/2.mp3", "T2", "A", "", 200.0, 124.0, "audio", None, "audio")}
    ids, sims = np.array([1, 2]), np.array([0.9, 0.6], dtype=np.float32)

    def gap(confidence):
        out = {s.track_id: s for s in rank(ids, sims, tracks, live_bpm=124.0, live_bpm_confidence=confidence)}
        assert out[1].why["reachable"] is False and out[2].why["reachable"] is True
        return out[2].score - out[1].score

    assert gap(0.02) < gap(0.5) == pytest.approx(gap(None))
