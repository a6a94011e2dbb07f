"""What the live input is doing beyond its sound: tempo and key over the last ~12 s.

Both are estimated from the ring buffer's newest stretch, but never both in one update: tempo
on even hops and key on odd ones (about 5-10 ms and 3 ms on this class of CPU), so this slow
work is spread out and each update carries the freshest value of each.

The 12-s key estimate reads its stretch plain. Weighting it so that every bar of a four-bar phrase
counts once (:func:`~livedj.dsp.tonal.phrase_period`) was measured and not shipped: on a fresh,
pre-registered set of 300 generated tracks it gained nothing beyond noise and made the key shown from
a record's first bar worse (docs/key.md, "A fresh held-out set").

The key shown is not the last 12-s estimate (that one moves with every chord change) but
:class:`KeySmoother`'s: the calibrated key posteriors averaged over the last tens of seconds, and a
new key only after it has led the shown one clearly on several updates in a row; its confidence is the average's
probability of that key, calibrated (:func:`shown_confidence`). A record that starts after quiet (the first of the
night, one after a pause) starts the average afresh, and the chord it opens on breaks the tie between a key and its
relative for as long as the key shown stays in that pair, as the index's key does (:meth:`KeySmoother.hear_opening`;
docs/key.md, "The opening in the key shown"). Once the record
playing is identified, :meth:`LiveTempoKey.follow_record` makes the shown key its indexed key moved
by the pitch fader, with no estimate from the room at all; when it is no longer named, the average starts afresh
(what plays then is most likely the next record).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from livedj.dsp.keyfind import chroma_features, key_posterior
from livedj.dsp.keyopening import OPENING_S, QUIET_S, RELATIVE, break_relative_tie, opening_onset
from livedj.dsp.rhythm import estimate_tempo
from livedj.dsp.tonal import camelot, key_name, live_key_posteriors, shift_key, speed_semitones_exact

MIN_SECONDS = 4.0  # below this, tempo and key are guesses: report nothing
#: an onset after quiet within this long of the last opening heard is a pause inside that record, not a new one (a
#: record lasts longer; sparse music pauses for 2 s or more several times a minute: the key shown would restart)
OPENING_EVERY_S = 60.0
#: An identified record's key moves to the next semitone only when the fader's measured speed is this
#: far (semitones) past the half-semitone boundary: a fader near +-3 % (0.5 semitone) whose measured
#: speed jitters by a few tenths of a percent would otherwise flip the shown key between two keys.
SHIFT_HYSTERESIS = 0.15
#: ...and that speed is the average of the speeds measured while the record plays (an exponential average with this
#: weight per match): one match's speed is off by a few tenths of a percent, and with the fader at +3.2 % a single
#: reading 0.4 % high crossed the hysteresis (the stability benchmark's draw --rooms 3000: one change per corpus).
SPEED_AVERAGING = 0.2
#: a reading this far (semitones) from the average is no noise (matches read a speed to about 0.04 semitone): the
#: fader was moved or key lock switched, and the average starts again from it
SPEED_JUMP = 0.3
#: The key shown's confidence is the smoother's averaged probability of that key, ``p``, mapped by a logistic
#: (Platt) calibration, ``sigmoid(slope * logit(p) + offset)`` (:func:`shown_confidence`): an average of 12-s
#: posteriors that agree is less sure than the evidence of all of them together (under-confident: on dev data it
#: said 0.65 where it was right 0.78 of the time). Fitted by log-loss of "the key shown is exactly right" over every
#: update of the smoother fed from a record's first bar, the mean of four development sets' means (the scores'
#: training half, the held-out generator's draw 5000-5299, livedj.synth styles 7000+ and random loops 8000+;
#: ``python -m benchmarks._keyshown``; docs/key.md, "The confidence of the key shown"). Monotone: no key changes.
SHOWN_CONFIDENCE_SLOPE, SHOWN_CONFIDENCE_OFFSET = 0.840, 0.587


def shown_confidence(probability, slope: float = SHOWN_CONFIDENCE_SLOPE, offset: float = SHOWN_CONFIDENCE_OFFSET):
    """The calibrated confidence of the key shown from its averaged probability (:class:`KeySmoother`).

    Parameters
    ----------
    probability : float or np.ndarray
        The smoother's averaged posterior probability of the key it shows.
    slope, offset : float
        The logistic map ``sigmoid(slope * logit(probability) + offset)`` (slope 1, offset 0: unchanged).

    Returns
    -------
    float or np.ndarray
        Calibrated probability that the key shown is exactly right; increasing in ``probability``.
    """
    if np.ndim(probability) == 0:  # the live loop's case: plain floats, a few microseconds less than numpy's
        p = min(max(float(probability), 1e-9), 1.0 - 1e-9)
        return 1.0 / (1.0 + math.exp(-(slope * math.log(p / (1.0 - p)) + offset)))
    p = np.clip(np.asarray(probability, np.float64), 1e-9, 1.0 - 1e-9)
    return 1.0 / (1.0 + np.exp(-(slope * np.log(p / (1.0 - p)) + offset)))


@dataclass
class KeySmoother:
    """A key that changes only with evidence: averaged posteriors with hysteresis.

    Parameters
    ----------
    tau_s : float
        Time constant of the exponential average of the 24-key posteriors, seconds.
    margin, ratio : float
        A challenger replaces the shown key only when its averaged probability exceeds the shown key's by
        ``margin``, or is ``ratio`` times it (None: the margin alone)...
    patience : int
        ...on this many consecutive updates.
    first_patience, first_updates : int
        The first key is shown once the average's leader has led on ``first_patience`` consecutive updates, or is
        ahead of every other key by ``margin`` and has led on ``first_updates`` (1 once the record's opening was
        heard: that first window starts where the record does).
    fast_tau_s, fast_ratio, fast_patience : float, float, int
        A second, faster average (time constant ``fast_tau_s``): when its leader is ``fast_ratio`` times the shown
        key there on ``fast_patience`` consecutive updates, the key shown has all but left the room (a cut to
        another record): the leader takes over and the slow average starts from the fast one. None: off.

    ``probability`` is the average's probability of the key shown; ``confidence`` the calibrated one that the
    dashboard and the ranking use (:func:`shown_confidence`). ``opening`` is the key posterior of the record's
    opening bars where they were heard (:meth:`hear_opening`): the average's pairs of relative keys are then shared
    by it, as the index's key is (:func:`livedj.dsp.keyopening.break_relative_tie`), until the key shown moves to
    another pair.

    Why these rules (docs/key.md, "Stable on one record, quick on the next"): the margin alone, an absolute 0.2,
    held the old record's key a minute after a cut to an unknown record in half the cuts on the development
    corpora, because a new record heard through a room spreads its posterior (its key at 0.3, the old one still 0.1):
    the ratio lets such evidence through. Two changes in a minute of one record came from a sure first window heard
    mid-record that the next windows contradicted, and from sections 20 s long in neighbouring keys; the first
    window now needs a second one to agree, and a change 14 s of lead instead of 10. The slow average still held an
    unrelated old key a minute after a quarter of such cuts (its weight decays over ~30 s, and a change needs 14 s
    more): the fast average lets a key go once the room has all but stopped playing it ("Following a cut", same
    document).
    """

    tau_s: float = 30.0
    margin: float = 0.2
    patience: int = 7
    ratio: float | None = 2.0
    first_patience: int = 5
    first_updates: int = 2
    fast_tau_s: float = 10.0
    fast_ratio: float | None = 5.0
    fast_patience: int = 6
    key: int | None = None
    confidence: float = 0.0
    probability: float = 0.0
    _mean: np.ndarray | None = None
    _weight: float = 0.0
    _lead: int = 0
    _leader: int | None = None  # before a key is shown: the average's leader and for how many updates
    _fast: np.ndarray | None = None
    _fast_weight: float = 0.0
    _fast_lead: int = 0
    opening: np.ndarray | None = None

    def reset(self) -> None:
        self.key, self.confidence, self._mean, self._weight, self._lead = None, 0.0, None, 0.0, 0
        self.probability = 0.0
        self._leader = None
        self._fast, self._fast_weight, self._fast_lead = None, 0.0, 0
        self.opening = None

    def hear_opening(self, posterior: np.ndarray) -> None:
        """A record starts: forget the average and let its opening's key ``posterior`` (24) break relative ties."""
        self.reset()
        self.opening = np.asarray(posterior, np.float64)

    def update(self, posterior: np.ndarray, dt_s: float) -> int | None:
        """Fold in one posterior (24 probabilities) observed ``dt_s`` after the previous one; the key shown."""
        posterior = np.asarray(posterior, np.float64)
        # Weighted means whose weights decay: the first updates are not pulled towards zero.
        self._mean, self._weight = _fold(self._mean, self._weight, posterior, math.exp(-dt_s / self.tau_s))
        self._fast, self._fast_weight = _fold(self._fast, self._fast_weight, posterior, math.exp(-dt_s / self.fast_tau_s))
        if self._follow_evidence() is not None:
            self._let_go_if_left()
        return self.key

    def _follow_evidence(self) -> int | None:
        """The slow average's rules: the first key, then a change only with a lead held ``patience`` updates."""
        mean = self._tie_broken(self._mean)
        best = int(np.argmax(mean))
        if self.key is None:
            self._lead = self._lead + 1 if best == self._leader else 1
            self._leader = best
            runner_up = np.partition(mean, -2)[-2]
            # a lone first window heard mid-record is no evidence; one that starts with the record's opening is
            agreeing = 1 if self.opening is not None else self.first_updates
            if (mean[best] - runner_up >= self.margin and self._lead >= agreeing) or self._lead >= self.first_patience:
                self.key, self._lead = best, 0
            else:
                self.confidence = self.probability = 0.0
                return None
        elif best != self.key and (mean[best] - mean[self.key] >= self.margin
                                   or (self.ratio is not None and mean[best] >= self.ratio * mean[self.key])):
            # (a ratio too: a posterior spread by the room rarely gives a new record's key a 0.2 lead)
            self._lead += 1
            if self._lead >= self.patience:
                if self.opening is not None and best not in (self.key, RELATIVE[self.key]):
                    # another pair: the record changed without a pause; its opening was not heard
                    self.opening, mean = None, self._mean  # (the key shown is the one the shared average chose)
                self.key, self._lead = best, 0
        else:
            self._lead = 0
        self._rate_shown(mean)
        return self.key

    def _let_go_if_left(self) -> None:
        """The fast average's leader takes over when it has held ``fast_ratio`` times the key shown for
        ``fast_patience`` updates: the key shown has all but left the room."""
        fast = self._tie_broken(self._fast)
        best = int(np.argmax(fast))
        if self.fast_ratio is None or best == self.key or fast[best] < self.fast_ratio * fast[self.key]:
            self._fast_lead = 0
            return
        self._fast_lead += 1
        if self._fast_lead < self.fast_patience:
            return
        if self.opening is not None and best != RELATIVE[self.key]:
            self.opening = None  # another record: its opening was not heard
        self.key, self._lead, self._fast_lead = best, 0, 0
        self._mean, self._weight = self._fast.copy(), self._fast_weight
        self._rate_shown(self._tie_broken(self._mean))

    def _tie_broken(self, average: np.ndarray) -> np.ndarray:
        """``average`` with its pairs of relative keys shared by the opening heard (:meth:`hear_opening`), if any."""
        return average if self.opening is None else break_relative_tie(average, self.opening)

    def _rate_shown(self, mean: np.ndarray) -> None:
        """The key shown's averaged probability in ``mean`` and its calibrated confidence."""
        self.probability = float(mean[self.key])
        self.confidence = shown_confidence(self.probability)


def _fold(mean: np.ndarray | None, weight: float, posterior: np.ndarray, decay: float) -> tuple[np.ndarray, float]:
    """One exponentially weighted mean of posteriors and its weight, ``posterior`` folded in after ``decay``."""
    weight = decay * weight + 1.0
    if mean is None:
        return posterior.copy(), weight
    return mean + (posterior - mean) / weight, weight


@dataclass
class LiveTempoKey:
    """Tempo and key of the live input, refreshed one of them per update (the engine's listen stage).

    Parameters
    ----------
    seconds : float
        How much of the newest audio each estimate reads.
    hop_s : float
        Seconds between calls of :meth:`update`.

    ``bpm``/``bpm_confidence`` and ``key``/``key_confidence`` are what the outputs and the ranking
    read: the key shown (:class:`KeySmoother`, or an identified record's key: :meth:`follow_record`),
    not ``raw_key``, the last 12-s estimate.
    """

    seconds: float = 12.0
    hop_s: float = 1.0  #: seconds between calls of :meth:`update` (key every second call)
    bpm: float | None = None
    bpm_confidence: float = 0.0
    key: int | None = None
    key_confidence: float = 0.0
    #: the last 12-s estimate before smoothing (what the room says right now) and its confidence (the tempered
    #: posterior: livedj.dsp.tonal.live_key_posteriors)
    raw_key: int | None = None
    raw_key_confidence: float = 0.0
    tuning: float = 0.0  #: the last stretch's deviation from A440, semitones
    smoother: KeySmoother = field(default_factory=KeySmoother)
    #: a record that starts after quiet: its opening breaks relative ties in the key shown (False: the key shown
    #: before the opening counted, for comparison in benchmarks)
    hear_openings: bool = True
    #: the input begins where its sound begins (``livedj run --input FILE``): the stream's first sound is an opening,
    #: as if quiet came before it. Not for a microphone: a listener started mid-record hears no opening.
    hears_stream_start: bool = False
    _turn: int = 0
    _record: tuple[int, float] | None = None  # (shown key, confidence) of an identified record
    _record_key: int | None = None  # its indexed key and the pitch fader's measured speed, semitones, averaged
    _record_semitones: float = 0.0
    _record_shift: int = 0  # semitones the shown record key is moved by
    _opening_age_s: float | None = None  # seconds since the onset of the opening last heard

    def update(self, audio: np.ndarray, sample_rate: int) -> None:
        """Refresh one of tempo/key from ``audio`` (the newest ``seconds`` or more, mono float32)."""
        stretch = audio[-int(self.seconds * sample_rate):]
        if len(stretch) < MIN_SECONDS * sample_rate or not np.any(stretch):
            self.bpm, self.bpm_confidence, self.raw_key, self.raw_key_confidence = None, 0.0, None, 0.0
            self.smoother.reset()
            self._opening_age_s = None  # whatever starts after silence is a record's start
            self.key, self.key_confidence = None, 0.0  # silence: no key, not even a record's
            return
        if self._turn % 2 == 0:
            bpm, confidence = estimate_tempo(stretch, sample_rate)
            self.bpm, self.bpm_confidence = (float(bpm), float(confidence)) if confidence > 0 else (None, 0.0)
        else:
            # the smoother reads the posterior on the scale its margin was set on; the raw estimate reports the
            # calibrated confidence (the same key; livedj.dsp.tonal.live_key_posteriors)
            posterior, calibrated, self.tuning = live_key_posteriors(stretch, sample_rate)
            if self.hear_openings:
                self._hear_opening(stretch, sample_rate)
            if np.allclose(posterior, 1.0 / 24):
                self.raw_key, self.raw_key_confidence = None, 0.0
            else:
                self.raw_key = int(np.argmax(calibrated))
                self.raw_key_confidence = float(calibrated[self.raw_key])
                self.smoother.update(posterior, 2 * self.hop_s)
            self._show()
        self._turn += 1

    def _hear_opening(self, stretch: np.ndarray, sample_rate: int) -> None:
        """A record that starts after quiet inside ``stretch``: the smoother starts afresh with its opening."""
        if self._opening_age_s is not None:
            self._opening_age_s += 2 * self.hop_s  # key updates come every other hop
            if self._opening_age_s < OPENING_EVERY_S:
                return  # any onset found now would be within OPENING_EVERY_S of that opening: not searched
        if self.hears_stream_start and len(stretch) < int(self.seconds * sample_rate):  # the stream's first seconds
            stretch = np.concatenate([np.zeros(int(QUIET_S * sample_rate), np.float32), stretch])
        onset = opening_onset(stretch, sample_rate)
        if onset is None:
            return
        age = (len(stretch) - onset) / sample_rate
        if self._opening_age_s is not None and self._opening_age_s - age < OPENING_EVERY_S:
            return  # the same onset, still inside the stretch, or a pause inside the record that opened then
        opening = chroma_features(stretch[onset:onset + int(OPENING_S * sample_rate)], sample_rate,
                                  tuning=self.tuning)[0]
        self.smoother.hear_opening(key_posterior(opening))
        self._opening_age_s = age

    def follow_record(self, key: int | None, speed: float | None = 1.0, confidence: float = 1.0) -> None:
        """Show an identified record's indexed ``key`` moved by the pitch fader (``speed``, 1.06 = +6 %).

        ``speed=None`` (not measured this update) keeps the last speed measured for the same ``key``.
        ``key=None`` (no record identified, or its key unknown) goes back to the smoothed estimate, started afresh
        when a record was shown until now.
        """
        if key is None:
            if self._record is not None:
                # the record named is no longer: what plays now is most likely the next record, and the average holds
                # the last one's room (kept a minute in a third of such cuts on dev data; docs/key.md)
                self.smoother.reset()
            self._record = None
        else:
            same = self._record_key == key
            if speed is not None:
                exact = speed_semitones_exact(speed)
                # one match's speed is noisy (a few tenths of a percent): the record's is their running average
                if not same or abs(exact - self._record_semitones) > SPEED_JUMP:
                    self._record_semitones = exact  # another record, the fader moved, or key lock switched
                else:
                    self._record_semitones += SPEED_AVERAGING * (exact - self._record_semitones)
            elif not same:
                self._record_semitones = 0.0
            shift = round(self._record_semitones)
            if same and shift != self._record_shift and \
                    abs(self._record_semitones - self._record_shift) < 0.5 + SHIFT_HYSTERESIS:
                shift = self._record_shift
            self._record_key, self._record_shift = int(key), shift
            self._record = (shift_key(int(key), shift), float(confidence))
        self._show()

    def _show(self) -> None:
        if self._record is not None:
            self.key, self.key_confidence = self._record
        else:
            self.key, self.key_confidence = self.smoother.key, self.smoother.confidence

    @property
    def camelot(self) -> str | None:
        return camelot(self.key) if self.key is not None else None

    @property
    def key_name(self) -> str | None:
        return key_name(self.key) if self.key is not None else None
