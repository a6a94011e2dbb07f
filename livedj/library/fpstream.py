"""Now playing over a live stream: the fingerprint match, paid once per second of new audio.

Consecutive live updates hear overlapping windows (the last ``analysis.identify_s``, 15 s, every ``audio.hop_s``).
:func:`~livedj.library.fingerprints.match_audio` would read every lookup's postings again each time;
:class:`LiveMatcher` keeps, per *chunk* of new audio (:mod:`livedj.library.fpchunks`), its lookups and their
hits (as keys, :mod:`livedj.library.fpkeys`). A chunk's coarse votes stay in a running vote array until all of
its pairs have left the window (then taken back with weight -1); the exact stage takes the chosen bins' hits
from the kept chunks, counting only pairs inside the window. Per update only the newest seconds are analysed
(from an edge of the window's frames, with a second of context, so the new pairs are those
:func:`match_audio` finds in the same window), and the newest second's own votes pick a few candidates: a
record that has just begun is not out-voted by the one ending. The stream clock is the caller's (``end_s``);
a clock that goes back, jumps by more than the window, or is absent starts afresh.

Differences from :func:`match_audio`, by design: the hit budget is spent per chunk; query times are scaled
from each chunk's start; the newest ``SETTLE_S`` is read provisionally, and again, settled, next update;
the second pass (:data:`fpi.SECOND_PASS`) runs stateless over the window when the stream names nothing.
While a record aligns ``EXPLAIN_ALIGNED`` landmarks its matched peaks are explained away
(:mod:`livedj.library.fpexplain`), and a passage two records share is left out of the answer
(:func:`fpexplain.shared_passages`). Why each rule is what it is: docs/fingerprints.md ("Matching", 5) and
docs/fingerprints-log.md ("The live matcher", "Explained away", "A shared passage is one sound").
"""
from __future__ import annotations

from collections import deque
from typing import Iterable

import numpy as np

from livedj.dsp import fingerprint as fp
from livedj.library import fingerprints as fpi
from livedj.library import fpchunks, fpexplain, fpsame

__all__ = ["LiveMatcher", "SETTLE_S", "warm_up"]

FPS = fp.SR / fp.HOP        #: landmark frames per second
SETTLE_S = 0.25             #: the newest audio whose peaks are not taken yet (their neighbourhood is unheard)
CHUNK_S = 1.0               #: a fresh window is read in chunks of this length
CONTEXT_S = 1.0             #: audio analysed before the oldest new anchor (a peak is ranked among those +-0.5 s around)
#: the analysed tail starts a whole number of these from the window's start (one STFT hop: the tail's frames are
#: the window's; since fingerprint version 2 a peak 46 frames into a tail is the window's own wherever the tail
#: starts, which CONTEXT_S covers; docs/fingerprints-log.md, "third pass")
ALIGN_S = fp.HOP / fp.SR
RECENT_S = 1.0             #: the newest audio whose votes also pick candidates of their own
RECENT_CANDIDATES = 8      #: bins per hypothesis group picked by the newest audio's votes (0: none)
#: after a try of the matcher's second pass (a whole stateless match of the window) that named nothing, a
#: stream tries again only this much later: the record is heard again, and each try costs ~2 updates' CPU
SECOND_PASS_EVERY_S = 2.0
#: the most audio whose pairs are looked up again without the named record's peaks in one update (s): each
#: update's new second; a record just named has the rest of the window read as it was (bounded CPU)
RESIDUAL_MAX_S = 2.0
MAX_ORIGIN_FRAMES = 1 << 21  #: after ~9 h the stream clock is re-based (offsets stay within the histogram's span)
#: a record aligned with at least this many (weighted) landmarks has its query peaks explained away:
#: the peaks its aligned landmarks matched are taken out and the next ones picked in their place, their
#: new pairs looked up too (:mod:`livedj.library.fpexplain`; 0: never). Twice ``MIN_ALIGNED``: chance
#: alignments reach 13, a record's own rarely falls below 20 while it is the louder one
EXPLAIN_ALIGNED = 2 * fpi.MIN_ALIGNED


class LiveMatcher:
    """:func:`~livedj.library.fingerprints.match_audio` for consecutive windows of one stream.

    Parameters
    ----------
    index : FingerprintIndex
        The library's landmarks.
    speeds, tempos : iterable of float
        Pitch-fader and key-lock hypotheses, as :func:`match_audio`.
    candidates : int
        Coarse (track, offset) bins per hypothesis group examined exactly.
    per_track : int or None
        At most this many of them from one track (None: no cap), as :func:`match_audio`.

    Not thread-safe: one caller at a time (the live loop's helper thread).
    """

    def __init__(self, index: fpi.FingerprintIndex, *, speeds: Iterable[float] = fpi.DEFAULT_SPEEDS,
                 tempos: Iterable[float] = fpi.KEYLOCK_TEMPOS, candidates: int = fpi.MAX_CANDIDATES,
                 per_track: int | None = fpi.MAX_PER_TRACK, explain: float = EXPLAIN_ALIGNED):
        self.index = index
        self.tempos = tuple(tempos)
        self.speeds, self.pitches = fpi.hypotheses(speeds, tempos)
        self.locked = self.pitches != self.speeds
        self.candidates = candidates
        self.per_track = per_track
        self.explain = explain
        # one vote array per hypothesis group (pitch fader, key lock): each picks its own bins
        self._group_bit = (1 << self.locked.astype(np.int64))
        self._n_groups = 2 if self.locked.any() else 1
        self.fresh_windows = 0  #: windows read whole (diagnostics)
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next window is read whole."""
        self._chunks: deque[fpchunks.Chunk] = deque()
        self._residual: deque[fpchunks.Chunk] = deque()  # the explained-away peaks' pairs (_read_residual)
        self._provisional: fpchunks.Chunk | None = None  # the newest, unsettled pairs: read for one update only
        self._votes = np.zeros((self._n_groups, (1 << fpi.COARSE_BINS_LOG2) + 1), np.float32)
        self._recent = np.zeros_like(self._votes)  # scratch: the newest chunks' votes alone
        self._origin: float | None = None  # stream frame of time 0 of every kept query time
        self._end: float | None = None      # stream frame of the last window's end
        # the last stream answer's exact-stage hits (frame, query time, hypothesis, weight, anchor, track slot) and
        # candidate tracks: what recent_aligned counts
        self._hits: tuple[np.ndarray, ...] | None = None
        self._candidates: list[int] = []
        self._settled = 0.0                  # pairs whose later peak is before this (from the origin) are read
        self._second = False                 # the last answer is the second pass's (match_audio's)
        self._second_at: float | None = None  # stream frame (from the origin) of the last second-pass try
        self._hit_rows: tuple | None = None  # per exact-stage hit: its chunk (index into _kept()) and row
        # the query peaks of the named record's aligned landmarks (t frames from the origin, f Hz), and the
        # end of the audio whose pairs were looked up again without them
        self._explained = (np.zeros(0), np.zeros(0))
        self._residual_to: float | None = None

    def match(self, y: np.ndarray, sr: int, end_s: float | None = None, *, top: int = 3) -> list[fpi.Match]:
        """The records heard in ``y`` (the newest ``identify_s`` of audio), as :func:`match_audio` gives them.

        Parameters
        ----------
        y : np.ndarray
            Mono audio: the window.
        sr : int
            Its rate, Hz.
        end_s : float or None
            Stream time of the last sample of ``y``, s. None: no stream (the window is read whole and
            nothing is kept).
        top : int
            How many tracks to return.
        """
        if end_s is None:
            tempos = self.speeds[self.locked]
            return fpi.match_audio(y, sr, self.index, speeds=self.speeds[~self.locked], tempos=tempos, top=top,
                                   candidates=self.candidates, per_track=self.per_track)
        end = float(end_s) * FPS
        span = len(y) / sr * FPS
        if (self._end is None or end <= self._end or end - self._end > span
                or end - self._origin > MAX_ORIGIN_FRAMES):
            self.reset()
            self._origin = end - span
            self.fresh_windows += 1
        self._end = end
        start = end - span - self._origin  # window start, from the origin
        if self._provisional is not None:
            self._unvote(self._provisional)
            self._provisional = None
        settled = self._settled
        residual = self._residual_range(start, settled) if self.explain and len(self._explained[0]) else None
        # one spectrogram for both reads: the residual's tail starts whole seconds before the new pairs' tail
        spec = self._spectrogram(y, sr, start, self._tail_start(residual[0], start)) if residual else None
        # and one pick of peaks: the residual's tail starts earlier, and from 46 frames into a tail on the
        # window's frames its peaks are the window's own, so the new pairs are the same from either tail
        shared = (spec[2], self._peaks(y, sr, spec[2], spec)) if spec is not None else None
        self._read(y, sr, end - self._origin, start, spec, shared)
        if residual:
            self._read_residual(y, sr, end - self._origin, start, residual, spec, shared)
        # a chunk leaves once all of its pairs have; the exact stage takes only pairs within the window
        # (their earlier peak too), as match_audio does: the record that ends leaves it as soon
        for kept in (self._chunks, self._residual):
            while kept and kept[0].targets[1] <= start:
                self._unvote(kept.popleft())
        # offsets are the track's position at the origin: move them to the window's start
        cands = [(track, count, offset_s + float(fp.frames_to_s(self.speeds[k] * start)), k, *rest)
                 for track, count, offset_s, k, *rest in self._exact(start, top + 3)]
        self._candidates = [track for track, *_ in cands]
        if self.explain:
            self._explain(cands)
        cands, same = fpsame.fold_copies(self.index, cands, len(y) / sr * self.speeds, top, min_aligned=fpi.MIN_ALIGNED,
                                         margin=fpi.MARGIN)
        if self._hits is not None:  # a passage the playing record shares with another is its sound, not a deck
            shared = fpexplain.shared_passages(self.index, *self._hits[:4], self._hit_peaks, cands,
                                               least=fpi.MIN_ALIGNED, slot=self._hits[5])
            cands = [c for c in cands if c[0] not in shared]
        out = fpi.to_matches(cands[:top], self.speeds, self.locked, self._pairs_since(start), same)
        self._second = False
        now = end - self._origin
        if fpi.wants_second_pass(out) and (self._second_at is None
                                           or now - self._second_at >= SECOND_PASS_EVERY_S * FPS - 1e-6):
            # match_audio's second pass, over the whole window (only when the stream names nothing)
            again = fpi.match_audio(y, sr, self.index, speeds=self.speeds[~self.locked], tempos=self.speeds[self.locked],
                                    top=top, candidates=self.candidates, per_track=self.per_track,
                                    second_pass=False, dereverb=fpi.SECOND_PASS)
            # a try that names is repeated next update (a deck is confirmed over consecutive updates)
            self._second_at = None if fpi.second_pass_names(again) else now
            if self._second_at is None:
                self._second = True  # recent_aligned has nothing to say of its tracks
                return again
        return out

    def recent_aligned(self, seconds: float) -> dict[int, float]:
        """Per track among the last :meth:`match` (stream) answer's candidates: its most landmarks aligned
        at one offset and speed (+-1 frame, weighted as ``aligned``) among the pairs whose anchor lies in
        the newest ``seconds`` of the window. The level of a record *now*, not over the whole window:
        during a blend the window still holds seconds of the outgoing record at full level
        (docs/fingerprints-log.md, "Time to name through a blend"). Its own best offset there, not the
        window's: a record that jumps (a loop, a cue) is heard at another position. Empty before a
        stream answer."""
        if self._hits is None or self._end is None or self._second:
            return {}
        frame, q_time, hyp, weight, anchor, slot = self._hits
        recent = anchor >= self._end - self._origin - seconds * FPS
        if not recent.any():
            return {}
        ids, best, *_ = fpi.aligned_by_track(self.index, frame[recent], q_time[recent], hyp[recent], weight[recent],
                                             len(self.speeds), slot=slot[recent])
        counts = dict(zip(ids.tolist(), best.tolist()))
        return {int(track): float(counts.get(int(track), 0.0)) for track in self._candidates}

    def recent_share(self, seconds: float) -> dict[int, float]:
        """:meth:`recent_aligned` over the query pairs of the newest ``seconds`` (``Match.share`` of that span):
        a deck's level over the span the deck rules were tuned on when the match hears longer."""
        counts = self.recent_aligned(seconds)
        if not counts:
            return {}
        n_pairs = self._pairs_since(self._end - self._origin - seconds * FPS)
        return {track: aligned / max(1, n_pairs) for track, aligned in counts.items()}

    def _hit_peaks(self, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The query peaks (anchor, target) of the last answer's exact-stage ``hits``: one int per peak, its
        cell (frame from the origin, Hz, rounded), the same in whichever chunk the peak was picked."""
        t_a, f_a, t_b, f_b, _ = fpchunks.hit_peaks(self._kept(), self._hit_rows, hits)
        return fpexplain.peak_ids(t_a, f_a), fpexplain.peak_ids(t_b, f_b)

    def _pairs_since(self, start: float) -> int:
        """The query's landmark pairs in the kept chunks from ``start`` (frames from the origin) on."""
        return sum(c.n_pairs for c in self._kept() if c.middle >= start)

    def _vote(self, chunk: fpchunks.Chunk, votes: np.ndarray, scale: float = 1.0,
              also: np.ndarray | None = None) -> None:
        """A chunk's coarse votes (``scale`` x their weights) added to ``votes`` (and ``also``), one row per
        group, from its kept hit bins (the postings are read once, when the chunk is)"""
        fpchunks.vote(chunk, self.index.common, votes, scale, also)

    def _unvote(self, chunk: fpchunks.Chunk) -> None:
        self._vote(chunk, self._votes, -1.0)

    def _kept(self) -> list[fpchunks.Chunk]:
        return list(self._chunks) + list(self._residual) + ([self._provisional] if self._provisional is not None else [])

    # -- reading new audio -------------------------------------------------------------------
    def _tail_start(self, first: float, start: float) -> float:
        """Where the analysed tail starts (frames from the origin) for pairs whose later peak is at ``first`` or
        after: from an edge of the window's frames (ALIGN_S), CONTEXT_S before the oldest anchor they can have."""
        a = max(start, first - (fp.DT_MAX / self.speeds.min() + CONTEXT_S * FPS))
        return start + np.floor((a - start) / (ALIGN_S * FPS) + 1e-9) * ALIGN_S * FPS

    def _spectrogram(self, y: np.ndarray, sr: int, start: float, a: float) -> tuple | None:
        """(P, its first FFT bin, its first sample in ``y``) of the tail of ``y`` from ``a`` (frames from the
        origin; ``start``: the window's), or None when ``sr`` is not the analysis rate (resampled tails of
        other lengths do not share frames)."""
        if sr != fp.SR:
            return None
        first = int(round((a - start) / FPS * sr))
        return (*fp.spectrogram(y[first:], sr, self._band()), first)

    def _band(self) -> tuple[float, float]:
        """The index band as the pitch fader moves it (fpi.query_pairs')."""
        return fp.F_MIN * self.pitches.min(), fp.F_MAX * self.pitches.max()

    def _peaks(self, y: np.ndarray, sr: int, first: int, spec: tuple | None) -> tuple[np.ndarray, ...]:
        """(P, b0, t, f, i, j) of ``y[first:]``: :func:`fpi.query_pairs`' peaks and pairs (P from ``spec``, the
        spectrogram of a tail that starts a whole number of hops earlier, when there is one)."""
        if spec is not None and first >= spec[2] and (first - spec[2]) % fp.HOP == 0:
            P, b0 = spec[0][(first - spec[2]) // fp.HOP:], spec[1]
        else:
            P, b0 = fp.spectrogram(y[first:], sr, self._band())
        t, f = fp.spectrogram_peaks(P, b0)
        i, j = fp.pairs(t, f, fanout=fp.QUERY_FANOUT, dt_max=fp.DT_MAX / self.speeds.min())
        return P, b0, t, f, i, j

    def _read(self, y: np.ndarray, sr: int, end: float, start: float, spec: tuple | None = None,
              shared: tuple | None = None) -> None:
        """Read the pairs whose later peak arrived in [settled, end - SETTLE_S) (frames from the origin),
        in chunks kept until they leave the window, and those after it as this update's provisional chunk
        (their peaks may still move: read again next time)."""
        new_from = max(self._settled, start)
        settle_to = max(new_from, end - SETTLE_S * FPS)
        # analyse from the oldest anchor a new pair can have, with some context before it, from an edge of
        # the window's frames (ALIGN_S): the new pairs are then the very pairs match_audio finds in this window
        first = int(round((self._tail_start(new_from, start) - start) / FPS * sr))
        if shared is not None and shared[0] <= first:  # the peaks of a tail that starts earlier (match)
            first, (*_, t, f, i, j) = shared
        else:
            *_, t, f, i, j = self._peaks(y, sr, first, spec)
        t0 = end - (len(y) - first) / sr * FPS  # frame (from the origin) of the tail's first sample
        target = t0 + t[j] if len(j) else np.zeros(0)
        self._settled = settle_to
        # the unsettled newest pairs are read too, for this update only (provisionally: the next reads
        # them again, settled), so that the newest audio weighs as in match_audio (at a cut, the new record)
        step = max(CHUNK_S * FPS, (settle_to - new_from) / (fpchunks.MAX_CHUNKS - 2))  # a long window: longer chunks
        edges = np.r_[np.arange(new_from, settle_to, step), settle_to, end + 1.0]
        chunks = self._read_chunks(t + t0, f, i, j, target, edges, end, end - start)
        if chunks and chunks[-1].targets[1] > end:
            self._provisional = chunks.pop()
        self._chunks.extend(chunks)

    def _read_chunks(self, t: np.ndarray, f: np.ndarray, i: np.ndarray, j: np.ndarray, target: np.ndarray,
                     edges: np.ndarray, end: float, span: float, *, residual: bool = False) -> list[fpchunks.Chunk]:
        """:func:`fpchunks.read_chunks` of the pairs (i, j) of peaks (t frames from the origin, f Hz) whose later
        peak (``target``) is in [edges[0], edges[-1]), votes added. ``residual``: pairs of explained-away
        peaks (:meth:`_read_residual`): not counted in the query's pairs (``share``), not among the newest
        audio's own votes (they are older)."""
        # the newest audio's votes alone (candidates of their own, _exact): the kept chunks among it first,
        # then the new ones as they are read (one pass adds a chunk's votes to both arrays)
        recent_from = end - RECENT_S * FPS
        if RECENT_CANDIDATES and not residual:
            for c in self._kept():
                if c.targets[1] > recent_from:
                    self._vote(c, self._recent)
        return fpchunks.read_chunks(self.index, self.speeds, self.pitches, self._group_bit, t, f, i, j, target, edges,
                                    end, span, self._votes, recent=self._recent if RECENT_CANDIDATES and not residual
                                    else None, recent_from=recent_from, residual=residual)

    # -- the exact stage over the kept chunks -------------------------------------------------
    def _exact(self, start: float, limit: int) -> list:
        n_bins = 1 << fpi.COARSE_BINS_LOG2
        seg = self.index.bin_starts_from(start) if self.per_track is not None else None
        chosen = fpi.candidate_bins(self._votes, self.candidates, seg, self.per_track)
        # and the best bins of the newest audio alone: a record that has just begun (after a cut) is
        # out-voted over the whole window by the one that ends, whose repeats fill the candidates
        recent = [c for c in self._kept() if c.targets[1] > self._end - self._origin - RECENT_S * FPS]
        if RECENT_CANDIDATES and recent:  # their votes were added as they were read (_read_chunks)
            fpi.candidate_bins(self._recent, RECENT_CANDIDATES, None, None, chosen)
            self._recent[:] = 0
        chosen[0] |= chosen[n_bins]
        bins = np.flatnonzero(chosen[:n_bins])
        gathered, sources = fpchunks.chosen_hits(self._kept(), self.index, bins, chosen, start,
                                                 fp.DT_MAX / self.speeds.min())
        self._hits = self._hit_rows = None
        if not len(gathered[0]):
            return []
        # each hit's track slot, found once for every reader of these hits (align, explain, shared, recent)
        self._hits = (*gathered, self.index.slot_of(gathered[0]))
        self._hit_rows = sources
        return fpi.align_hits(self.index, *self._hits[:4], len(self.speeds), limit=limit, slot=self._hits[5])

    # -- explaining the named record's peaks away ----------------------------------------------
    def _explain(self, cands: list) -> None:
        """Keep the query peaks of the best candidate's aligned landmarks (anchor and target of every pair
        whose hit lies at its best speed and offset, +-1 frame), when it aligns ``explain`` landmarks: the
        next update looks its new audio up again without them (:meth:`_read_residual`)."""
        self._explained = (np.zeros(0), np.zeros(0))
        if not cands or cands[0][1] < self.explain or self._hits is None:
            return
        aligned = fpexplain.aligned_hits(self.index, *self._hits[:4], track=cands[0][0], k=cands[0][3],
                                         slot=self._hits[5])
        if not len(aligned):
            return
        self._explained = fpexplain.distinct_peaks(*fpchunks.hit_peaks(self._kept(), self._hit_rows, aligned))

    def _residual_range(self, start: float, settled: float) -> tuple[float, float] | None:
        """The later peaks (frames from the origin) whose pairs :meth:`_read_residual` looks up this update: the
        audio read settled up to the last update (``settled``; the peaks there were matched then) not yet
        looked up this way, at most ``RESIDUAL_MAX_S`` of it (a record just named: not the whole window
        at once). None: under a frame."""
        res_from = max(start, settled - RESIDUAL_MAX_S * FPS,
                       self._residual_to if self._residual_to is not None else start)
        self._residual_to = max(res_from, settled)
        return (res_from, settled) if settled - res_from >= 1.0 else None

    def _read_residual(self, y: np.ndarray, sr: int, end: float, start: float, span: tuple[float, float],
                       spec: tuple | None, shared: tuple | None = None) -> None:
        """Look up again, without the named record's peaks (:func:`fpexplain.residual_peaks`), the pairs whose
        later peak lies in ``span`` (:meth:`_residual_range`): the pairs the first pick did not have, as
        chunks of their own (their votes and hits count as every chunk's). ``spec``: :meth:`_spectrogram`."""
        res_from, settled = span
        first = int(round((self._tail_start(res_from, start) - start) / FPS * sr))
        t0 = end - (len(y) - first) / sr * FPS
        P, b0, t_old, f_old, i_old, j_old = (shared[1] if shared is not None and shared[0] == first
                                             else self._peaks(y, sr, first, spec))
        ex_t, ex_f = self._explained
        near = (ex_t >= t0 - fp.PEAK_DT) & (ex_t < end)
        t, f = fpexplain.residual_peaks(P, b0, ex_t[near] - t0, ex_f[near])
        dt_max = fp.DT_MAX / self.speeds.min()
        i, j = fpexplain.new_pairs(t, f, t_old, f_old, i_old, j_old, fanout=fp.QUERY_FANOUT, dt_max=dt_max)
        if not len(i):
            return
        t = t + t0
        step = max(CHUNK_S * FPS, (settled - res_from) / (fpchunks.MAX_CHUNKS - 2))
        edges = np.r_[np.arange(res_from, settled, step), settled]
        self._residual.extend(self._read_chunks(t, f, i, j, t[j], edges, end, end - start, residual=True))


def warm_up(index: fpi.FingerprintIndex, sr: int = fp.SR) -> None:
    """Load (or compile) the matcher's compiled loops now: the first match in a process otherwise pays for
    them (~1 s from numba's on-disk cache, at 10k tracks), in the first live update. A fresh window, an
    update, a stateless match of quiet noise and one comparison of copies (noise never makes two records
    close enough to ask it: on a fresh install its first call stalled a live update ~3 s); nothing is kept."""
    y = (0.01 * np.random.default_rng(0).standard_normal(10 * sr)).astype(np.float32)
    matcher = LiveMatcher(index)
    matcher.match(y, sr, 10.0)
    matcher.match(y, sr, 11.0)
    fpi.match_audio(y, sr, index, second_pass=False)
    fpsame.stretches(index.buckets, index.times, 0, 1, 0, 1)

