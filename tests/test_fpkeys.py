"""Kept hit keys (fpkeys) give what reading the index postings again gives, bit for bit.

The live matcher keeps each chunk's hits as keys instead of reading its postings again to take its
votes back and to find the chosen bins' hits; its decisions stay those of the former matcher only if
the votes are the same float32 sums (each bin's adds in the same order) and the chosen hits the same
rows in the same order. Checked here against ``fpvote.coarse_votes`` / ``fpvote.chosen_hits`` on the
real index of the demo records and the lookups of a real query (booth, stream clock an hour in).
"""
from __future__ import annotations

import numpy as np
import pytest

from livedj.dsp.room import booth
from livedj.library import fingerprints as fpi
from livedj.library import fpkeys, fpvote

SR = 16000
N_BINS = 1 << fpi.COARSE_BINS_LOG2


@pytest.fixture(scope="module")
def lookups(demo_records_16k, demo_fingerprint_index):
    """Two chunks of a query's distinct lookups (hash, coarse query time, df, groups asking, rows)."""
    index = demo_fingerprint_index
    y = np.concatenate([demo_records_16k[2][3 * SR: 9 * SR], demo_records_16k[7][: 4 * SR]])
    y = np.asarray(booth(np.asarray(y, np.float32), SR, seed=3), np.float32)
    speeds, pitches = fpi.hypotheses()
    hashes, times, hyp, speeds, _ = fpi.query_hashes(y, SR, speeds, pitches)
    q_time = np.rint(times).astype(np.int64) + 225_000  # stream frames: an hour in, offsets wrap the bins
    inv, first, rows, start = fpvote.dedup_rows((hashes << 24) | ((q_time >> fpi.DEDUP_SHIFT) + (1 << 23)))
    df = (np.asarray(index.buckets[hashes + 1], np.int64) - np.asarray(index.buckets[hashes], np.int64))[first]
    groups = np.zeros(len(first), np.int64)
    np.bitwise_or.at(groups, inv, 1 << (pitches != speeds)[hyp].astype(np.int64))
    out = []
    for k in range(2):  # every 4th lookup: under 8192 (32 bits of frame fit in a key beside bin and lookup)
        pick = np.arange(k, len(first), 4)
        n_rows = start[pick + 1] - start[pick]
        sub_rows = np.concatenate([rows[start[u]: start[u + 1]] for u in pick])
        out.append((hashes[first][pick], q_time[first][pick], df[pick], groups[pick], sub_rows,
                    np.r_[0, np.cumsum(n_rows)]))
    return out


def _keys(index, chunk, grouped):
    h, q, d, _, _, _ = chunk
    return fpkeys.hit_keys(index.buckets, index.times, h, q, d, fpi.COARSE_SHIFT, N_BINS - 1, grouped=grouped)


@pytest.mark.parametrize("grouped", [True, False])
def test_key_votes_are_the_postings_votes_bit_for_bit(demo_fingerprint_index, lookups, grouped):
    index = demo_fingerprint_index
    a, b = lookups
    assert a[2].sum() > 200 and b[2].sum() > 200  # real hits to vote with
    ka, kb = _keys(index, a, grouped), _keys(index, b, grouped)
    assert ka.frame_bits == 32 and (ka.parts is not None) == grouped
    posting, kept, also = (np.zeros((2, N_BINS + 1), np.float32) for _ in range(3))
    # the live matcher's sequence: a chunk in, another in (also into a second array), the first taken back
    for chunk, keys, scale, extra in ((a, ka, 1.0, False), (b, kb, 1.0, True), (a, ka, -1.0, False)):
        h, q, d, g = chunk[:4]
        fpvote.coarse_votes(index.buckets, index.times, h, q, d, g, index.common, fpi.COARSE_SHIFT, N_BINS - 1,
                            posting, scale)
        fpkeys.key_votes(keys, d, g, index.common, kept, scale, also if extra else None)
    assert np.array_equal(posting.view(np.uint32), kept.view(np.uint32))  # the same float32 bits
    alone = np.zeros_like(also)
    fpvote.coarse_votes(index.buckets, index.times, *b[:4], index.common, fpi.COARSE_SHIFT, N_BINS - 1, alone)
    assert np.array_equal(alone.view(np.uint32), also.view(np.uint32))
    assert np.count_nonzero(posting) > 100  # a's votes gone, b's there: not all zero


@pytest.mark.parametrize("grouped", [True, False])
def test_key_hits_are_the_postings_chosen_hits_in_order(demo_fingerprint_index, lookups, grouped):
    index = demo_fingerprint_index
    h, q, d, g, rows, start = lookups[1]
    keys = _keys(index, lookups[1], grouped)
    votes = np.zeros((2, N_BINS + 1), np.float32)
    fpvote.coarse_votes(index.buckets, index.times, h, q, d, g, index.common, fpi.COARSE_SHIFT, N_BINS - 1, votes)
    chosen = fpi.candidate_bins(votes, fpi.MAX_CANDIDATES, None, None)
    chosen[np.random.default_rng(0).integers(0, N_BINS, 300)] = True  # and bins of chance hits or none
    chosen[0] |= chosen[N_BINS]
    bins = np.flatnonzero(chosen[:N_BINS])
    want = fpvote.chosen_hits(index.buckets, index.times, h, q, d, fpi.COARSE_SHIFT, N_BINS - 1, chosen, rows, start)
    got = fpkeys.key_hits(keys, bins, chosen, rows, start)
    assert len(want[0]) > 20
    assert np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1])
    # the lookups holding them (what keys without frames read again)
    asked = fpkeys.chosen_lookups(keys, bins, chosen, len(d))
    again = fpvote.chosen_hits(index.buckets, index.times, h, q, np.where(asked, d, 0), fpi.COARSE_SHIFT, N_BINS - 1,
                               chosen, rows, start)
    assert np.array_equal(want[0], again[0]) and np.array_equal(want[1], again[1])
    assert 0 < asked.sum() < len(d)


def test_many_lookups_keep_no_frames_and_still_vote_alike(demo_fingerprint_index, lookups):
    """Past 8192 lookups the frame no longer fits in a key beside bin and lookup: the keys still vote alike
    and find the lookups to read again."""
    index = demo_fingerprint_index
    h, q, d, g, rows, start = lookups[0]
    pad = 12000  # lookups that read nothing (df 0), after the real ones
    h2, q2, d2, g2 = (np.r_[x, np.zeros(pad, np.int64)] for x in (h, q, d, g))
    keys = fpkeys.hit_keys(index.buckets, index.times, h2, q2, d2, fpi.COARSE_SHIFT, N_BINS - 1)
    assert keys.frame_bits == 0 and keys.lookup_bits > 13
    posting, kept = np.zeros((2, N_BINS + 1), np.float32), np.zeros((2, N_BINS + 1), np.float32)
    fpvote.coarse_votes(index.buckets, index.times, h, q, d, g, index.common, fpi.COARSE_SHIFT, N_BINS - 1, posting)
    fpkeys.key_votes(keys, d2, g2, index.common, kept)
    assert np.array_equal(posting.view(np.uint32), kept.view(np.uint32))
    chosen = fpi.candidate_bins(posting, fpi.MAX_CANDIDATES, None, None)
    chosen[0] |= chosen[N_BINS]
    asked = fpkeys.chosen_lookups(keys, np.flatnonzero(chosen[:N_BINS]), chosen, len(d2))
    assert asked[:len(d)].any() and not asked[len(d):].any()
    with pytest.raises(ValueError, match="no frames"):
        fpkeys.key_hits(keys, np.flatnonzero(chosen[:N_BINS]), chosen, rows, start)
