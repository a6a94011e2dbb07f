"""Live "now playing" identification: which library records a query of audio holds.

The index these functions read is :class:`livedj.library.fpindex.FingerprintIndex` (on disk, format 2).

Identification (:func:`match_audio`, :func:`identify`): peaks of the query once, pairs once, then
for every speed hypothesis the pairs re-hashed in speed-1 units: the pitch fader's (times and
frequencies scaled together) and key lock's (times only, :data:`KEYLOCK_TEMPOS`): the query side, :mod:`livedj.library.fpquery`.

1. *Candidates* (offset-consistent, not biased by track length): each distinct (hash, anchor time
   to 0.25 s) is looked up once; every hit votes, with weight ``min(1, common / df)``, for the
   coarse bin ``(timeline frame - query time) // 2**COARSE_SHIFT`` — a (track, offset to ~2 s)
   pair, since the timeline says both. A long track's chance hits spread over its many bins; a
   short true track's aligned hits pile up in one. The best ``MAX_CANDIDATES`` adjacent-bin pairs
   go on, at most ``MAX_PER_TRACK`` from one track: a looped record matches at every repeat of its
   loop, and in a blend those repeats took every place from the other record. (Until format 2, raw hits per *track* picked the candidates: a 16-minute piece out-voted
   a true 75-s track, which was dropped unseen.)
2. *Alignment*: the hits of those bins, expanded back to every (pair, speed hypothesis) that
   asked, in a histogram of exact ``timeline frame - query time * speed`` per hypothesis, +-1 frame.

A track is "now playing" when its best bin weighs at least ``min_aligned`` and ``margin`` times
the best other track's, or holds fewer landmarks spread over most seconds of the query
(:mod:`livedj.library.fpspread`); the speed is refined by a parabola over the neighbouring hypotheses.
A query that names nothing while its best match is heard all along is matched a second time with more
query peaks (:data:`SECOND_PASS`).
Loop-based music repeats itself: the offset is then right up to a whole number of phrases.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from livedj.dsp import fingerprint as fp
from livedj.library import fpsame, fpspread, fpvote
from livedj.library.fpquery import (DEFAULT_SPEEDS, KEYLOCK_TEMPOS, hash_rows, hypotheses,  # noqa: F401 (re-exported)
                                     query_hashes, query_pairs)
from livedj.library.fpvote import over_budget  # noqa: F401 (re-exported: fpstream)
from livedj.library.fpspread import (SPREAD_ALIGNED, SPREAD_LEAD, SPREAD_MARGIN, SPREAD_SECONDS,  # noqa: F401 (re-exported)
                                     aligned_seconds, crowd_hits, crowded, spread_evidence)
from livedj.library.fpindex import (COARSE_BINS_LOG2, COARSE_SHIFT, FORMAT, GAP,  # noqa: F401 (re-exported)
                                     FingerprintIndex, FingerprintIndexError, gather)

__all__ = ["FingerprintIndex", "FingerprintIndexError", "Match", "identify", "match_audio", "decide", "decks", "query_hashes",
           "DEFAULT_SPEEDS", "KEYLOCK_TEMPOS", "hypotheses",
           "MIN_ALIGNED", "spread_evidence", "SECOND_PASS", "undecided", "wants_second_pass"]

MIN_ALIGNED = 10         #: (weighted) landmarks that must agree on one (track, offset, speed)
MARGIN = 2.0             #: and the winner must have this many times the runner-up's count
SKIP_DF = 64.0           #: hashes held over SKIP_DF x that often are not looked up (weight < 1/64 each)
MAX_CANDIDATES = 24      #: coarse (track, offset) bins whose exact histograms are examined
#: of those, at most this many from one track (None: no cap): a looped record's repeats cannot take
#: every place (docs/fingerprints-log.md, "Time to name through a blend": generated cuts and blends named
#: up to 2 s sooner, the same decisions; 2-6 delayed blends whose own repeats or rivals they let in)
MAX_PER_TRACK = 8
DEDUP_SHIFT = 4          #: query times to 2**4 frames (0.25 s) when de-duplicating lookups
HIT_BUDGET = 4_000_000   #: index hits the candidate stage reads per query (rarest hashes first)
SECOND_DECK = 0.2        #: the other deck of a blend needs this share of the winner's aligned count
#: a query that names nothing is matched again with its peaks and those of its spectrogram less its late
#: reverb (``(a, d)`` of :func:`livedj.dsp.fingerprint.less_late_reverb`; None: no second pass). Only
#: then: those extra peaks are mostly onsets, which records sharing a drum sound (and a loop's repeats)
#: share too, so every query taking them raised chance matches (docs/fingerprints-log.md, "A second pass")
SECOND_PASS: tuple[float, int] | None = (0.3, 6)
#: ... and only when the first pass's best match holds its landmarks in at least this many seconds of the
#: query: a record heard through the room is heard all along, a chance alignment is a burst in 1-4 s
#: ("Booth misses"; at 10k tracks 5 % of the queries of records not in the library pass, not 100 %)
SECOND_PASS_SECONDS = 5
#: and its answer is taken when it names a record heard in at least this many seconds (the spread rule's):
#: its extra peaks give chance more chances too (at 10k tracks, without this, a filler 9.4 -> 12.0 aligned in
#: 6 seconds became one wrong name more in 216 booth queries; chosen after seeing it, docs/fingerprints-log.md)
SECOND_PASS_NAME_SECONDS = SPREAD_SECONDS


@dataclass
class Match:
    """One record heard in the query, with the evidence for it.

    ``aligned`` is the (weighted) count of landmarks that agree on one offset and speed;
    ``share`` that count over the query's landmark pairs: how much of what is heard is this record
    (a loudness proxy: during a blend the louder record holds the larger share).
    ``speed`` is the playback tempo over the record's; ``pitch_locked``: heard with key lock (the
    tempo moved, the pitch did not), so that the key is the record's own (:attr:`pitch_speed`).
    """

    track_id: int
    aligned: float
    offset_s: float
    speed: float
    share: float = 0.0
    confidence: float = 0.0
    pitch_locked: bool = False
    #: other library records that are the same recording at this point (the same audio indexed twice,
    #: verified from the index: :func:`livedj.library.fpsame.same_recording`); heard too, never suggested
    same: tuple[int, ...] = ()
    #: distinct seconds of the query holding its aligned landmarks (:func:`aligned_seconds`; 0: not counted)
    seconds: int = 0
    #: its track's (weighted) hits at its hypothesis in the examined bins, at any offset: its chance level
    #: (:func:`livedj.library.fpspread.crowded`; 0: not counted)
    crowd: float = 0.0

    @property
    def pitch_speed(self) -> float:
        """The frequency ratio heard: ``speed`` with the pitch fader, 1.0 with key lock."""
        return 1.0 if self.pitch_locked else self.speed


def _align(index: FingerprintIndex, hashes: np.ndarray, times: np.ndarray, hyp: np.ndarray, n_hyp: int, *,
           candidates: int | None = MAX_CANDIDATES, groups: np.ndarray | None = None,
           per_track: int | None = MAX_PER_TRACK, limit: int | None = None
           ) -> list[tuple[int, float, float, int, np.ndarray]]:
    """Per track: its best (aligned count, offset s, hypothesis) and its best count under every
    hypothesis; tracks by descending count. ``candidates=None``: every hit is histogrammed (the
    exhaustive ground truth the candidate stage is measured against). ``groups`` (one label per
    row, e.g. pitch fader 0 / key lock 1): each group picks its own ``candidates`` coarse bins, so
    that one group's chance votes cannot push another's true bin out. ``per_track``: at most that many
    of a group's candidates from one track (None: no cap), so that in a blend a looped record's
    repeats at other offsets cannot crowd the other record out (beyond 2**COARSE_BINS_LOG2 bins the
    folded tracks overlap: the cap is then per stretch of bins that is one track in every fold).
    ``limit``: only the best that many tracks (None: all)."""
    if len(hashes) == 0 or len(index) == 0:
        return []
    lo = np.asarray(index.buckets[hashes], np.int64)
    df = np.asarray(index.buckets[hashes + 1], np.int64) - lo
    df[df > SKIP_DF * index.common] = 0
    q_time = np.rint(times).astype(np.int64)
    if candidates is None:
        qpos, frame, dfh = gather(index.times, lo, df)
    else:
        # one lookup per distinct (hash, time to 0.25 s): the speed hypotheses and the probe
        # often give the same hash for the same pair, and the coarse bins cannot tell them apart
        inv, first, rows, start = fpvote.dedup_rows((hashes << 24) | ((q_time >> DEDUP_SHIFT) + (1 << 23)))
        u_df = df[first]
        u_df[over_budget(u_df, HIT_BUDGET)] = 0
        # the groups that asked for each lookup, as bits
        labels = np.zeros(len(hashes), np.int64) if groups is None else np.asarray(groups, np.int64)
        names, labels = fpvote.labels(labels)
        asked = np.ones(len(first), np.int64)
        if len(names) > 1:
            asked = fpvote.or_by(inv, 1 << labels, len(first))
        # bins folded modulo 2**COARSE_BINS_LOG2 (bins that far apart are days of audio apart): a vote
        # array of fixed size whatever the library; a collision only adds a false candidate
        n_bins = 1 << COARSE_BINS_LOG2
        votes = np.zeros((len(names), n_bins + 1), np.float32)
        u_hash, u_time = hashes[first], q_time[first]
        read = fpvote.coarse_votes(index.buckets, index.times, u_hash, u_time, u_df, asked, index.common,
                                   COARSE_SHIFT, n_bins - 1, votes)
        if read == 0:
            return []
        chosen = candidate_bins(votes, candidates, index._bin_starts, per_track)
        chosen[0] |= chosen[n_bins]
        qpos, frame = fpvote.chosen_hits(index.buckets, index.times, u_hash, u_time, u_df, COARSE_SHIFT, n_bins - 1,
                                         chosen, rows, start)
        dfh = df[qpos]
    if len(qpos) == 0:
        return []
    return align_hits(index, frame, q_time[qpos], hyp[qpos], np.minimum(1.0, index.common / dfh), n_hyp, limit=limit)


def candidate_bins(votes: np.ndarray, candidates: int, track_bins: np.ndarray | None, per_track: int | None,
                   chosen: np.ndarray | None = None) -> np.ndarray:
    """The coarse bins examined exactly, marked in ``chosen`` (bool, one per bin; new if None): each
    group's (row of ``votes``) ``candidates`` best pairs of adjacent bins, at most ``per_track`` of
    them in one stretch of ``track_bins`` (the first bin of every track, ascending; None or
    ``per_track`` None: no cap). The caller folds the last bin onto the first once all are marked."""
    if chosen is None:
        chosen = np.zeros(votes.shape[1], bool)
    for g in range(votes.shape[0]):
        top = (fpvote.top_bins(votes[g], candidates) if per_track is None or track_bins is None
               else fpvote.top_bins_capped(votes[g], candidates, track_bins, per_track))
        chosen[top] = chosen[top + 1] = True
    return chosen


def aligned_by_track(index: FingerprintIndex, frame: np.ndarray, q_time: np.ndarray, hyp: np.ndarray,
                     weight: np.ndarray, n_hyp: int, *, with_slots: bool = False,
                     slot: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Per track with a hit: its id, best aligned count, its hypothesis and offset (frames), and its best
    count per hypothesis (:func:`fpvote.aligned_counts` over the hits, each hit's track by its frame);
    ``with_slots``: also the track slots and each hit's slot and offset. ``slot``: each hit's
    ``index.slot_of(frame)``, when the caller has them."""
    # the track of each hit by its own frame (an offset may fall before its track's start)
    t_idx = index.slot_of(frame) if slot is None else slot
    offset = frame - index._bases[t_idx] - q_time
    slots, best, best_hyp, best_off, per_hyp = fpvote.aligned_counts(t_idx, hyp, offset, weight, n_hyp)
    if with_slots:
        return index._ids[slots], best, best_hyp, best_off, per_hyp, slots, t_idx, offset
    return index._ids[slots], best, best_hyp, best_off, per_hyp


def align_hits(index: FingerprintIndex, frame: np.ndarray, q_time: np.ndarray, hyp: np.ndarray, weight: np.ndarray,
               n_hyp: int, *, limit: int | None = None, slot: np.ndarray | None = None
               ) -> list[tuple[int, float, float, int, np.ndarray, int]]:
    """The exact stage over hits (timeline ``frame``, query time, hypothesis, weight of each):
    per track its best (count, offset s, hypothesis), its best count per hypothesis and the seconds of
    the query its aligned landmarks lie in (:func:`aligned_seconds`) and its crowd (:func:`crowd_hits`), best first;
    ``limit``: only the best that many tracks (at 100k tracks ~1,000 have a hit: their tuples cost ms);
    ``slot``: each hit's ``index.slot_of(frame)``, when the caller has them."""
    ids, best, best_hyp, best_off, per_hyp, slots, hit_slot, offset = aligned_by_track(
        index, frame, q_time, hyp, weight, n_hyp, with_slots=True, slot=slot)
    order = np.lexsort((ids, -best))[:limit]
    seconds = aligned_seconds(q_time, hyp, hit_slot, offset, slots[order], best_hyp[order], best_off[order])
    # ~1 ms per 200k hits: counted only while the crowd rule is on
    crowd = (crowd_hits(hyp, hit_slot, weight, slots[order], best_hyp[order]) if fpspread.CROWD_SHARE is not None
             else np.zeros(len(order)))
    return [(int(ids[k]), float(best[k]), float(fp.frames_to_s(int(best_off[k]))), int(best_hyp[k]), per_hyp[k],
             int(sec), float(c)) for k, sec, c in zip(order, seconds, crowd)]


def match_audio(y: np.ndarray, sr: int, index: FingerprintIndex, *, speeds: Iterable[float] = DEFAULT_SPEEDS,
                top: int = 3, candidates: int | None = MAX_CANDIDATES, tempos: Iterable[float] = KEYLOCK_TEMPOS,
                per_track: int | None = MAX_PER_TRACK, second_pass: bool = True,
                dereverb: tuple[float, int] | None = None) -> list[Match]:
    """The library records heard in ``y``, best first, with their evidence (no decision taken).

    Parameters
    ----------
    y : np.ndarray
        Mono audio, typically the last 10 s.
    sr : int
        Its rate, Hz.
    index : FingerprintIndex
        The library's landmarks.
    speeds : iterable of float
        Pitch-fader hypotheses (playback speed relative to the record).
    top : int
        How many tracks to return (two records are audible during a blend).
    candidates : int or None
        Coarse (track, offset) bins examined; None: every hit (exhaustive, slow; ground truth).
    tempos : iterable of float
        Key-lock hypotheses (tempo relative to the record, pitch unmoved); () for none.
    per_track : int or None
        At most this many of the coarse bins from one track (None: no cap).
    second_pass : bool
        When these matches name nothing but their best is heard all along (:func:`wants_second_pass`),
        match again with :data:`SECOND_PASS`'s extra peaks and answer that when it names a record
        (:func:`second_pass_names`).
    dereverb : (float, int) or None
        This pass's extra peaks (:func:`livedj.dsp.fingerprint.query_peaks`); None: none.

    Returns
    -------
    list of Match
        ``aligned`` descending; ``speed`` refined by a parabola over the neighbouring hypotheses;
        ``confidence`` left 0 (:func:`identify` sets it for the winner).
    """
    out = _match_once(y, sr, index, speeds, tempos, top, candidates, per_track, dereverb)
    if second_pass and dereverb is None and wants_second_pass(out):
        again = _match_once(y, sr, index, speeds, tempos, top, candidates, per_track, SECOND_PASS)
        if second_pass_names(again):
            return again
    return out


def second_pass_names(again: list[Match]) -> bool:
    """Whether the second pass's ``again`` is taken: :func:`decide` names its best, heard in
    :data:`SECOND_PASS_NAME_SECONDS` seconds."""
    return not undecided(again, both=False) and again[0].seconds >= SECOND_PASS_NAME_SECONDS


def wants_second_pass(matches: list[Match]) -> bool:
    """Whether :data:`SECOND_PASS` is tried on a query whose first pass gave ``matches``: it names nothing
    (:func:`undecided`) and its best match is heard in :data:`SECOND_PASS_SECONDS` seconds."""
    return (SECOND_PASS is not None and bool(matches) and matches[0].seconds >= SECOND_PASS_SECONDS
            and undecided(matches))


def undecided(matches: list[Match], *, both: bool = True) -> bool:
    """Whether :func:`decide` names nothing in ``matches`` (``both``: nor would each of the first two,
    decided against the matches below them alone: ``livedj.engine.heard.both_halves``' two decks of a
    blend). Leaves the matches' ``confidence`` as it was."""
    first = [dataclasses.replace(m) for m in matches]
    if decide(first) is not None:
        return False
    return not (both and len(first) > 1
                and all(decide([m, *first[2:]], spread=False) is not None for m in first[:2]))


def _match_once(y, sr, index, speeds, tempos, top, candidates, per_track, dereverb) -> list[Match]:
    """:func:`match_audio` without the second pass."""
    speeds, pitches = hypotheses(speeds, tempos)
    hashes, times, hyp, speeds, n_pairs = query_hashes(y, sr, speeds, pitches, dereverb=dereverb)
    locked = pitches != speeds
    # the key-lock hypotheses pick their own candidates: their chance votes, added to the pitch
    # fader's, pushed true pitch-fader bins out of the 24 (booth at +-6 %: 9-10 -> 6-7 of 10)
    cands = _align(index, hashes, times, hyp, len(speeds), candidates=candidates, groups=locked[hyp],
                   per_track=per_track, limit=top + 3)  # fold_copies reads the best top + 3
    cands, same = fpsame.fold_copies(index, cands, len(y) / sr * speeds, top, min_aligned=MIN_ALIGNED, margin=MARGIN)
    return to_matches(cands[:top], speeds, locked, n_pairs, same)


def to_matches(cands, speeds: np.ndarray, locked: np.ndarray, n_pairs: int, same: dict | None = None) -> list[Match]:
    """:class:`Match` es of :func:`_align`'s (track, count, offset s, hypothesis, count per hypothesis);
    ``same``: {track: the copies folded into it} (:func:`livedj.library.fpsame.fold_copies`)."""
    same = same or {}
    out = []
    for track, count, offset_s, k, per_hyp, *rest in cands:
        speed = float(speeds[k])
        # a parabola through the neighbouring hypotheses' counts, when they are of the same kind
        # (pitch fader or key lock) and evenly spaced around this one
        if (0 < k < len(speeds) - 1 and locked[k - 1] == locked[k] == locked[k + 1]
                and abs((speeds[k + 1] - speeds[k]) - (speeds[k] - speeds[k - 1])) < 1e-6):
            a, b, c = per_hyp[k - 1], per_hyp[k], per_hyp[k + 1]
            if a - 2 * b + c < 0:
                speed += float(np.clip(0.5 * (a - c) / (a - 2 * b + c), -0.5, 0.5)) * (speeds[k + 1] - speeds[k - 1]) / 2
        out.append(Match(int(track), float(count), float(offset_s), speed, share=float(count) / max(1, n_pairs),
                         pitch_locked=bool(locked[k]), same=same.get(track, ()), seconds=int(rest[0]) if rest else 0,
                         crowd=float(rest[1]) if len(rest) > 1 else 0.0))
    return out


def decide(matches: list[Match], *, min_aligned: int = MIN_ALIGNED, margin: float = MARGIN,
           spread: bool = True) -> Match | None:
    """The record playing, or None: the best match must reach ``min_aligned`` and ``margin`` times the
    runner-up's count, or (``spread``) the weaker evidence of :func:`spread_evidence`; and stand out of its
    track's chance level (not :func:`~livedj.library.fpspread.crowded`). Its
    ``confidence`` (0..1) grows with the count and the margin."""
    if not matches:
        return None
    best = matches[0]
    runner = matches[1].aligned if len(matches) > 1 else 0.0
    least = min_aligned
    if best.aligned < min_aligned or best.aligned < margin * runner:
        if not (spread and spread_evidence(best, matches[1] if len(matches) > 1 else None)):
            return None
        least = SPREAD_ALIGNED  # the confidence of the weaker evidence starts from its own floor
    if crowded(best):
        return None
    best.confidence = float((1.0 - np.exp(-(best.aligned - least + 1) / 8.0)) * (1.0 - runner / best.aligned))
    return best


def decks(matches: list[Match], *, min_aligned: int = MIN_ALIGNED, margin: float = MARGIN) -> list[Match]:
    """The records playing: :func:`decide`'s winner and, during a blend, the other deck: the next
    track when it too reaches ``min_aligned``, ``SECOND_DECK`` of the winner's count and ``margin``
    times the count of the one after it.
    The winner first; ``share`` tells which deck is louder."""
    best = decide(matches, min_aligned=min_aligned, margin=margin)
    if best is None:
        return []
    out = [best]
    if len(matches) > 1:
        second = matches[1]
        third = matches[2].aligned if len(matches) > 2 else 0.0
        # a fifth of the winner's evidence at least: records of one producer share drum loops, and a
        # loop heard under the winner aligns 8 % as well as it (synthetic blends at -3.5 dB: 23-35 %)
        if second.aligned >= max(min_aligned, SECOND_DECK * best.aligned) and second.aligned >= margin * third:
            second.confidence = float((1.0 - np.exp(-(second.aligned - min_aligned + 1) / 8.0))
                                      * (1.0 - third / second.aligned))
            out.append(second)
    return out


def identify(y: np.ndarray, sr: int, index: FingerprintIndex, *, speeds: Iterable[float] = DEFAULT_SPEEDS,
             min_aligned: int = MIN_ALIGNED, margin: float = MARGIN, candidates: int | None = MAX_CANDIDATES,
             tempos: Iterable[float] = KEYLOCK_TEMPOS) -> tuple[int | None, float, float, float]:
    """Which library record is playing in ``y`` (a few seconds from the booth microphone)?

    Parameters
    ----------
    y, sr, index, speeds, candidates, tempos
        As :func:`match_audio`.
    min_aligned : int
        Landmarks that must agree on one (track, offset, speed).
    margin : float
        The winner's count over the runner-up track's must be at least this.

    Returns
    -------
    track_id : int or None
        None: not in the library (or nothing to hear).
    confidence : float
        0..1, grows with the aligned count and the margin over the runner-up.
    speed : float
        Estimated playback tempo (1.0 when None), pitch fader or key lock.
    offset_s : float
        Position in the track, s, of the start of ``y`` (0.0 when None).
    """
    best = decide(match_audio(y, sr, index, speeds=speeds, top=2, candidates=candidates, tempos=tempos),
                  min_aligned=min_aligned, margin=margin)
    if best is None:
        return None, 0.0, 1.0, 0.0
    return best.track_id, best.confidence, best.speed, best.offset_s
