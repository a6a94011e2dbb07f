"""Landmark fingerprints: "now playing" identification through a room and the pitch fader.

The library is the 12 synthetic demo tracks (24 s each); queries are 5-s excerpts. "Not in the
library" music is the same style with another seed, key and tempo (another record): a seed-only
variant shares bass, chords and drums sample for sample with the library track (its waveform
differs by 2-15 % of the energy), so it is the same record with another lead line, not a test
of "not in library" (see the report / benchmarks.identify_fp).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from livedj.dsp import fingerprint as fp
from livedj.library.fingerprints import FingerprintIndex, FingerprintIndexError, identify
from livedj.synth import DEMO_TRACKS, render_track

SR = 16000
DUR = 24.0
START = 10.0  # query start in the track, s

try:
    from livedj.dsp.room import booth, speed_change
except ImportError:  # pragma: no cover - the room simulator is another engineer's module
    booth = speed_change = None

needs_room = pytest.mark.skipif(booth is None, reason="livedj.dsp.room not available")


@pytest.fixture(scope="module")
def library():
    return [render_track(spec, DUR, SR) for spec in DEMO_TRACKS]


@pytest.fixture(scope="module")
def index(library, tmp_path_factory):
    prefix = tmp_path_factory.mktemp("fp") / "fingerprints-1"
    FingerprintIndex.build(((i + 1, *fp.landmarks(y, SR)) for i, y in enumerate(library)), prefix)
    return FingerprintIndex.load(prefix)


def excerpt(y: np.ndarray, start: float, speed: float = 1.0, room: bool = False, seed: int = 0) -> np.ndarray:
    """5 s heard at ``speed`` from track position ``start``, optionally through the booth."""
    seg = y[int(start * SR): int((start + 5.0 * speed + 0.6) * SR)]
    if room:
        x = booth(seg, SR, speed=speed, seed=seed)
    elif speed != 1.0:
        x = speed_change(seg, speed, SR)
    else:
        x = seg
    return np.asarray(x[: 5 * SR], dtype=np.float32)


def test_landmarks_deterministic_and_dense_enough(library):
    h1, t1 = fp.landmarks(library[6], SR)
    h2, t2 = fp.landmarks(library[6].copy(), SR)
    assert np.array_equal(h1, h2) and np.array_equal(t1, t2)
    assert h1.dtype == np.uint32 and t1.dtype == np.int32
    rate = len(h1) / (DUR - 0.5)
    assert 15 <= rate <= 50, rate  # INDEX_DENSITY x INDEX_FANOUT = 36 per second of music
    assert np.all(np.diff(t1) >= 0) and t1.min() >= 0


def test_silence_and_empty_give_nothing(index):
    for y in (np.zeros(0, np.float32), np.zeros(100, np.float32), np.zeros(5 * SR, np.float32)):
        h, t = fp.landmarks(y, SR)
        assert len(h) == len(t) == 0
        assert identify(y, SR, index) == (None, 0.0, 1.0, 0.0)


def test_other_sample_rate_is_resampled(library):
    import soxr

    y = library[3][8 * SR: 14 * SR]
    h16, _ = fp.landmarks(y, SR)
    h44, _ = fp.landmarks(soxr.resample(y, SR, 44100), 44100)
    assert len(set(h16.tolist()) & set(h44.tolist())) >= 0.8 * len(set(h16.tolist()))


def test_clean_excerpts_identified_with_offset(library, index):
    for i, y in enumerate(library):
        track, conf, speed, offset = identify(excerpt(y, START), SR, index)
        assert track == i + 1, (i, track)
        assert 0 < conf <= 1 and speed == pytest.approx(1.0, abs=0.01)
        # the synthetic tracks repeat themselves every 4 bars (same notes, same drums): a
        # position a whole number of 4-bar phrases away holds the same landmarks
        phrase = 4 * 4 * 60.0 / DEMO_TRACKS[i].bpm
        err = (offset - START + phrase / 2) % phrase - phrase / 2
        assert abs(err) < 0.1, (i, offset)


@needs_room
@pytest.mark.parametrize("speed, at_least", [(1.0, 11), (1.06, 10), (0.94, 8)])
def test_room_and_pitch_fader(library, index, speed, at_least):
    hits = 0
    for i, y in enumerate(library):
        track, conf, est, offset = identify(excerpt(y, START, speed, room=True, seed=i), SR, index)
        if track == i + 1:
            hits += 1
            assert est == pytest.approx(speed, abs=0.015)  # 5-s queries; the daemon's 10 s do better
        else:
            assert track is None, (i, track)  # a miss says "not in library", never another record
    assert hits >= at_least, f"{hits}/12 identified at speed {speed} through the room"


def test_other_records_and_noise_not_in_library(index):
    false = 0
    for i, spec in enumerate(DEMO_TRACKS):
        # 15 % faster: the variant's drum kit is the library track's, hit for hit; at +10 % it is the
        # library's drums heard with key lock, which the key-lock hypotheses (+-8 %, reaching ~10 %)
        # name (3/12 at +-10 %, 1/12 at +15 %, as without them)
        other = dataclasses.replace(spec, seed=spec.seed + 1000, bpm=spec.bpm * 1.15,
                                    key=DEMO_TRACKS[(i + 3) % len(DEMO_TRACKS)].key)
        y = render_track(other, 17.0, SR)
        false += identify(y[10 * SR: 15 * SR], SR, index)[0] is not None
    rng = np.random.default_rng(7)
    for k in range(6):
        noise = (0.1 * rng.standard_normal(5 * SR)).astype(np.float32)
        if k % 2 and booth is not None:
            noise = booth(np.zeros(5 * SR, np.float32), SR, seed=k)  # the room's pink noise alone
        false += identify(noise, SR, index)[0] is not None
    assert false <= 1, f"{false}/18 false 'now playing'"


def test_build_load_round_trip(tmp_path):
    items = [(7, np.array([5, 1, 3], np.uint32), np.array([10, 20, 30], np.int32)),
             (9, np.array([3, 3], np.uint32), np.array([1, 2], np.int32))]
    info = FingerprintIndex.build(items, tmp_path / "fp")
    assert info["hashes"] == 5 and info["tracks"] == 2
    assert sorted(info["files"]) == sorted(p.name for p in tmp_path.iterdir())  # no temporaries left
    idx = FingerprintIndex.load(tmp_path / "fp")
    assert isinstance(idx.times, np.memmap) and len(idx) == 5
    qpos, frame, df = idx.lookup(np.array([3, 4, 5], np.uint32))
    track, at = idx.track_of(frame)
    assert sorted(zip(qpos.tolist(), track.tolist(), at.tolist())) == [(0, 7, 30), (0, 9, 1), (0, 9, 2), (2, 7, 10)]
    assert df.tolist() == [3, 3, 3, 1] or sorted(df.tolist()) == [1, 3, 3, 3]
    empty = FingerprintIndex.build([], tmp_path / "empty")
    assert empty["hashes"] == 0 and len(FingerprintIndex.load(tmp_path / "empty")) == 0


def test_truncated_or_foreign_index_refused(tmp_path):
    h = np.arange(1000, dtype=np.uint32)
    FingerprintIndex.build([(1, h, np.arange(1000, dtype=np.int32))], tmp_path / "fp")
    entries = tmp_path / "fp.times.npy"
    data = entries.read_bytes()
    entries.write_bytes(data[: len(data) // 2])
    with pytest.raises(FingerprintIndexError, match="times"):
        FingerprintIndex.load(tmp_path / "fp")
    FingerprintIndex.build([(1, h, np.arange(1000, dtype=np.int32))], tmp_path / "fp")
    meta = tmp_path / "fp.meta.json"
    meta.write_text(meta.read_text().replace('"hop": 256', '"hop": 512'))
    with pytest.raises(FingerprintIndexError, match="parameters"):
        FingerprintIndex.load(tmp_path / "fp")
    with pytest.raises(FingerprintIndexError, match="missing"):
        FingerprintIndex.load(tmp_path / "nothing")


def test_short_true_track_among_long_tracks_sharing_its_hashes(library, tmp_path):
    """The length bias of a raw-count pre-selection: 30 long tracks (20x the true track's length)
    are each 20 "songs" that hold 60 % of the true track's hashes at shuffled times, so each
    collects ~12x the true track's raw hits; only the true track has them at one offset."""
    from livedj.library import fingerprints as fpi

    h, t = fp.landmarks(library[5], SR)
    rng = np.random.default_rng(3)
    span = int(t.max()) + 1

    def decoy(k):
        parts = [(h[rng.random(len(h)) < 0.6]) for _ in range(20)]
        times = [np.sort(rng.integers(0, span, len(p))) + s * span for s, p in enumerate(parts)]
        return 100 + k, np.concatenate(parts), np.concatenate(times).astype(np.int32)

    decoys = [decoy(k) for k in range(30)]
    assert len(decoys) > fpi.MAX_CANDIDATES
    FingerprintIndex.build([*decoys, (6, h, t)], tmp_path / "fp")
    index = FingerprintIndex.load(tmp_path / "fp")
    q = excerpt(library[5], START)
    assert identify(q, SR, index)[0] == 6
    assert identify(q, SR, index, candidates=None)[0] == 6  # the exhaustive histogram agrees
    # and the raw counts would indeed have put it behind every decoy
    _, frame, _ = index.lookup(fpi.query_hashes(q, SR)[0])
    ids, raw = np.unique(index.track_of(frame)[0], return_counts=True)
    assert raw[ids == 6][0] < raw[ids != 6].min()


def test_index_size_per_four_minute_track(library, tmp_path):
    """<= 50 kB per four-minute track (format 1: ~100 kB); the hash buckets are a fixed 2 MiB."""
    from livedj.library import fingerprints as fpi

    items = [(i + 1, *fp.landmarks(y, SR)) for i, y in enumerate(library)]
    info = FingerprintIndex.build(items, tmp_path / "fp")
    sizes = {f: (tmp_path / f).stat().st_size for f in info["files"]}
    fixed = sizes.pop(next(f for f in sizes if f.endswith(".buckets.npy")))
    assert fixed <= (2 ** fp.HASH_BITS + 1) * 4 + 256
    per_4min = sum(sizes.values()) / (len(library) * DUR) * 240
    assert per_4min <= 50_000, per_4min
    assert info["format"] == fpi.FORMAT


def test_format1_index_converted_on_load(library, index, tmp_path):
    """An index written by the former format (sorted hashes + (track, time) entries) still loads."""
    import json

    items = [(i + 1, *fp.landmarks(y, SR)) for i, y in enumerate(library)]
    hashes = np.concatenate([h for _, h, _ in items])
    entries = np.concatenate([np.stack([np.full(len(h), k, np.uint32), t.astype(np.uint32)], 1) for k, h, t in items])
    order = np.argsort(hashes, kind="stable")
    np.save(tmp_path / "old.hashes.npy", hashes[order])
    np.save(tmp_path / "old.entries.npy", entries[order])
    (tmp_path / "old.meta.json").write_text(json.dumps({"params": fp.PARAMS, "hashes": len(hashes), "tracks": 12}))
    old = FingerprintIndex.load(tmp_path / "old")
    assert len(old) == len(index) and old.meta["converted_from"] == 1
    for i in (0, 7):
        assert identify(excerpt(library[i], START), SR, old)[:1] == identify(excerpt(library[i], START), SR, index)[:1]


def test_blend_names_both_records_louder_first(library, index):
    """During a blend two records are heard: the clearly louder one comes back first; at -3.5 dB
    apart both come back (10 s, as the daemon hears). Measured over all 66 pairs of the 12 records,
    each pair at 0.75 / 0.5 and 0.5 / 0.75 (132 blends): both among the first two with >= 10 aligned
    in 90 (peaks ranked per 1-s block, fingerprint version 1) and 91 (ranked in a sliding window,
    version 2), both decks named in 26 and 26 (the winner's 2x margin over the other deck is rarely
    met at -3.5 dB). Three pairs alone, as this test once took, gave 3 and 1 of 6 blends: too few
    to tell two peak pickers apart."""
    from itertools import combinations

    from livedj.library.fingerprints import decks, match_audio

    for i, j in ((2, 9), (0, 5), (4, 11)):
        a, b = library[i][4 * SR: 14 * SR], library[j][4 * SR: 14 * SR]
        first = match_audio(0.8 * a + 0.35 * b, SR, index, top=3)
        assert first[0].track_id == i + 1 and first[0].share > first[1].share
    both = named = 0
    for i, j in combinations(range(len(library)), 2):
        a, b = library[i][4 * SR: 14 * SR], library[j][4 * SR: 14 * SR]
        for ga, gb in ((0.75, 0.5), (0.5, 0.75)):
            m = match_audio(ga * a + gb * b, SR, index, top=3)
            both += {x.track_id for x in m[:2] if x.aligned >= 10} == {i + 1, j + 1}
            named += {d.track_id for d in decks(m)} == {i + 1, j + 1}  # the engine's two decks
    assert both >= 80, f"both records named in {both}/132 blends"
    assert named >= 20, f"both decks named in {named}/132 blends"


def test_looped_record_does_not_crowd_the_other_record_out(library, tmp_path):
    """A loop-based record matches the query at every repeat of its loop: without a per-track cap
    its repeats take every candidate bin, so that the other record of a blend is never aligned
    (generated: a 4-s loop repeated over 120 s, the other record mixed in quieter)."""
    from livedj.library import fingerprints as fpi
    from livedj.library import fpvote

    cases = ((1, 4, 0.2), (9, 4, 0.5))  # (looped record, other record, the other's level)
    for looped, other, level in cases:
        loop = np.tile(library[looped][4 * SR: 8 * SR], 30)
        items = [(k + 1, *fp.landmarks(y, SR)) for k, y in enumerate(library) if k != looped]
        FingerprintIndex.build([*items, (100, *fp.landmarks(loop, SR))], tmp_path / f"fp{looped}")
        index = FingerprintIndex.load(tmp_path / f"fp{looped}")
        q = 0.8 * loop[:10 * SR] + level * library[other][6 * SR: 16 * SR]
        found = {m.track_id: m.aligned for m in fpi.match_audio(q, SR, index, top=3)}
        assert found.get(100, 0) >= fpi.MIN_ALIGNED
        assert found.get(other + 1, 0) >= fpi.MIN_ALIGNED, found
        # without the cap the loop's repeats take every candidate and the other record is not seen
        uncapped = {m.track_id for m in fpi.match_audio(q, SR, index, top=3, per_track=None)}
        assert other + 1 not in uncapped
    assert fpi.MAX_PER_TRACK is not None and fpi.MAX_PER_TRACK < fpi.MAX_CANDIDATES
    # the cap keeps each segment's best pairs and the best overall (brute force on random votes)
    rng = np.random.default_rng(0)
    for _ in range(200):
        votes = np.where(rng.random(200) < 0.5, 0, rng.integers(0, 5, 200)).astype(np.float32)
        starts = np.unique(np.r_[0, rng.integers(0, 200, 6)])
        pair = votes[:-1] + votes[1:]
        seg = np.searchsorted(starts, np.arange(len(pair)), side="right") - 1
        kept, per = [], {}
        for i in sorted(range(len(pair)), key=lambda i: (-pair[i], i)):
            if pair[i] > 0 and per.get(seg[i], 0) < 2 and len(kept) < 12:
                per[seg[i]] = per.get(seg[i], 0) + 1
                kept.append(i)
        assert sorted(fpvote.top_bins_capped(votes, 12, starts, 2)) == sorted(kept)
        assert sorted(fpvote.top_bins_capped(votes, 12, starts, 12)) == sorted(fpvote.top_bins(votes, 12))
