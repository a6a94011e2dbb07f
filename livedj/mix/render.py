"""Render a sequence of records into one beat-matched mix, streamed to the output file.

Timeline of a transition from record A (playing) to record B::

    A: ... own tempo ... |<--- blend: blend_bars of A --->|
    B:                   |<- B stretched to A's tempo --->|<- ramp: back to B's own tempo ->| own tempo ...

* The blend starts on a phrase boundary of A (a multiple of ``phrase_bars`` bars counted from
  A's first downbeat), the latest one that lets the blend end before A's music ends, and not
  before B's ramp of the previous transition is over. B enters at its first downbeat, so bar
  lines and phrases of both records coincide.
* During the blend B is time-stretched with key lock (Rubber Band, :func:`blend.stretch`) to
  A's tempo, or to half/double of it when that is closer (a 70-BPM record over a 140-BPM one:
  one B beat per two A beats). After the blend B returns to its own tempo over ``ramp_bars`` of
  its bars, the speed moving linearly (one Rubber Band call for blend and ramp, so there is no
  seam), then plays unstretched: the "gradual return" a DJ does with the pitch fader.
* A record with no beat (an organ drone, an ambient pad: :attr:`BeatGrid.has_beat`) is not
  beat-matched: the two records cross with an equal-power crossfade of ``blend_bars`` bars of the
  one that has a beat (of 120 BPM when neither has), unstretched, said in the tracklist.
* A tempo change of more than ``max_stretch`` (16 %) would smear the audio: such a pair is cut
  on A's phrase boundary instead (said in the tracklist), as is a record too short to blend.
* Each record's gain brings it to ``target_lufs`` (EBU R128); the summed mix goes through a
  limiter whose ceiling keeps true peaks below ``ceiling_db``; nothing clips.

Only two records are in memory at a time (stereo float32 at 44.1 kHz: ~85 MB for 4 minutes);
the mix is written chunk by chunk.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from livedj.audio.decode import DecodeError
from livedj.mix.blend import crossfade, loudness, stretch
from livedj.mix.grid import BeatGrid, beat_grid
from livedj.mix.io import SAMPLE_RATE, MixWriter, load_stereo
from livedj.words import a_or_an

__all__ = ["MixOptions", "Deck", "Entry", "prepare", "tempo_match", "crossfade_plan", "render"]

ANALYSIS_RATE = 22050  #: rate of the mono copy the beat grid is fitted on, Hz
#: shorter than this a record has no beat to fit a grid to (and EBU R128 needs 0.4 s), s
MIN_RECORD_S = 1.0


@dataclass(frozen=True)
class MixOptions:
    """How the mix is made (see the module docstring)."""
    blend_bars: int = 16
    phrase_bars: int = 16
    ramp_bars: int = 8
    max_stretch: float = 0.16
    target_lufs: float = -14.0
    ceiling_db: float = -1.5  #: sample-peak ceiling of the limiter; true peaks stay below -1 dBTP
    bass_swap: bool = True  #: False: lows cross like the rest (for re-analysing stems)
    sample_rate: int = SAMPLE_RATE


@dataclass
class Deck:
    """One record ready to mix: its audio (gain applied), beat grid and where its music ends."""
    path: str
    label: str
    audio: np.ndarray
    grid: BeatGrid
    lufs: float
    gain_db: float
    music_end: float  #: seconds: the last sound above -50 dBFS


@dataclass
class Entry:
    """One line of the tracklist."""
    position: int
    label: str
    path: str
    start: float | None  #: seconds into the mix; None for a skipped record
    bpm: float | None = None
    transition: str = ""  #: how it came in: "blend 16 bars at +3.1 %", "cut (...)", "skipped: ..."
    extra: dict = field(default_factory=dict)


def _label(path: str) -> str:
    import os

    try:
        import mutagen

        tags = mutagen.File(path, easy=True) or {}
        artist, title = (tags.get("artist") or [""])[0], (tags.get("title") or [""])[0]
        if artist or title:
            return f"{artist} - {title}" if artist and title else (title or artist)
    except Exception:  # noqa: BLE001 - a broken tag never stops a mix
        pass
    return os.path.splitext(os.path.basename(path))[0]


def _music_end(y: np.ndarray, sr: int, threshold_db: float = -50.0) -> float:
    hop = sr // 100
    n = len(y) // hop
    if n == 0:
        return len(y) / sr
    rms = np.sqrt(np.mean(y[: n * hop].reshape(n, hop) ** 2, axis=1))
    loud = np.flatnonzero(rms > 10 ** (threshold_db / 20))
    return float((loud[-1] + 1) * hop / sr) if loud.size else 0.0


def prepare(path: str, options: MixOptions = MixOptions(), bpm: float | None = None) -> Deck:
    """Decode a record, fit its beat grid and match its loudness.

    Raises
    ------
    DecodeError
        Unreadable, missing or silent file.
    """
    import soxr

    audio = load_stereo(path, options.sample_rate)
    if audio.shape[1] < MIN_RECORD_S * options.sample_rate:
        raise DecodeError(path, f"too short ({audio.shape[1] / options.sample_rate:.2f} s; a record needs {MIN_RECORD_S:g} s)")
    mono = soxr.resample(audio.mean(axis=0), options.sample_rate, ANALYSIS_RATE)
    end = _music_end(mono, ANALYSIS_RATE)
    if end <= 0:
        raise DecodeError(path, "silent")
    grid = beat_grid(mono, ANALYSIS_RATE, bpm=bpm)
    lufs = loudness(audio, options.sample_rate)
    gain_db = float(np.clip(options.target_lufs - lufs, -30.0, 20.0)) if np.isfinite(lufs) else 0.0
    audio *= np.float32(10 ** (gain_db / 20))
    return Deck(path=str(path), label=_label(path), audio=audio, grid=grid, lufs=lufs,
                gain_db=gain_db, music_end=end)


def tempo_match(bpm_out: float, bpm_in: float) -> tuple[float, float]:
    """How to play the incoming record over the outgoing one.

    Returns
    -------
    speed : float
        Playback speed of the incoming record during the blend (1.03: 3 % faster).
    ratio : float
        Incoming beats per outgoing beat: 1, or 0.5/2 for half/double time, whichever needs
        the smallest speed change.
    """
    ratio = min((0.5, 1.0, 2.0), key=lambda r: abs(np.log(bpm_out * r / bpm_in)))
    return bpm_out * ratio / bpm_in, ratio


def exit_bar(grid: BeatGrid, music_end: float, earliest: float, blend_bars: float,
              phrase_bars: int) -> float | None:
    """The latest bar line of ``grid`` on a phrase boundary where a blend fits, or None.

    Bar 0 is on every phrase boundary: it is taken only when no shorter phrase gives a later
    one, or a record shorter than phrase + blend would be blended out from its first bar.
    """
    found = None
    for phrase in dict.fromkeys((phrase_bars, 8, 4, 1)):
        last = int(np.floor((music_end - grid.first_beat) / grid.bar - blend_bars))
        k = last - last % phrase
        if k >= 0 and grid.bar_time(k) >= earliest:
            if k > 0:
                return grid.bar_time(k)
            found = grid.bar_time(0) if found is None else found
    return found


#: the bar a crossfade between two records without a beat is counted in (120 BPM), s
NOMINAL_BAR_S = 2.0


def _bpm(deck: Deck) -> float | None:
    """The tempo to show for a record: none for one without a beat (its grid's tempo is only nominal)."""
    return deck.grid.bpm if deck.grid.has_beat else None


def crossfade_plan(a: Deck, b: Deck, earliest: float, options: MixOptions) -> tuple[float | None, float]:
    """Where a crossfade without beat-matching (one record has no beat) leaves ``a``, and its length, s.

    ``blend_bars`` bars of the record that has a beat (``a``'s first), else of 120 BPM; out of ``a`` on its
    phrase boundary when it has a beat, else so that the crossfade ends with its music. None: no room
    after ``earliest``.
    """
    bar = a.grid.bar if a.grid.has_beat else b.grid.bar if b.grid.has_beat else NOMINAL_BAR_S
    blend_s = options.blend_bars * bar
    if a.grid.has_beat:
        return exit_bar(a.grid, a.music_end, earliest, options.blend_bars, options.phrase_bars), blend_s
    exit_s = a.music_end - blend_s
    return (exit_s if exit_s >= earliest else None), blend_s


class _Output:
    """Limiter -> writer, counting samples; an optional window keeps only part of the mix."""

    def __init__(self, writer: MixWriter | None, options: MixOptions, window: tuple[float, float] | None,
                 progress: Callable[[float], None] | None):
        from pedalboard import Gain, Limiter, Pedalboard

        self.writer, self.sr, self.window, self.progress = writer, options.sample_rate, window, progress
        self.position = 0  # samples of the mix so far (before the window is applied)
        # JUCE's limiter brings its threshold to 0 dBFS and hard-clips there: lift by the
        # ceiling's distance, limit at 0 dBFS, lower again, and peaks stop at the ceiling
        self.board = Pedalboard([Gain(-options.ceiling_db), Limiter(threshold_db=0.0, release_ms=100.0),
                                 Gain(options.ceiling_db)])
        self.peak = 0.0
        self.kept: list[np.ndarray] | None = [] if writer is None else None

    @property
    def seconds(self) -> float:
        return self.position / self.sr

    def emit(self, x: np.ndarray) -> None:
        step = 10 * self.sr
        for i in range(0, x.shape[1], step):
            self._emit(x[:, i: i + step])

    def _emit(self, x: np.ndarray) -> None:
        start, self.position = self.position, self.position + x.shape[1]
        if self.window is not None:
            lo, hi = (int(round(t * self.sr)) for t in self.window)
            x = x[:, max(0, lo - start): max(0, hi - start)]
            if x.shape[1] == 0:
                return
        y = self.board(np.ascontiguousarray(x, dtype=np.float32), self.sr, reset=False)
        self.peak = max(self.peak, float(np.max(np.abs(y), initial=0.0)))
        if self.kept is not None:
            self.kept.append(y)
        else:
            self.writer.write(y)
        if self.progress:
            self.progress(x.shape[1] / self.sr)

    def done(self) -> bool:
        return self.window is not None and self.position >= self.window[1] * self.sr


def _fade(x: np.ndarray, sr: int, out: bool) -> np.ndarray:
    n = min(x.shape[1], int(0.005 * sr))
    ramp = np.linspace(1.0, 0.0, n) if out else np.linspace(0.0, 1.0, n)
    x = x.copy()
    if out:
        x[:, x.shape[1] - n:] *= ramp
    else:
        x[:, :n] *= ramp
    return x


def render(paths: Iterable[str], writer: MixWriter | None, options: MixOptions = MixOptions(), *,
           window: tuple[float, float] | None = None,
           on_record: Callable[[Entry], None] | None = None,
           progress: Callable[[float], None] | None = None,
           prepared: dict | None = None, solo: int | None = None) -> tuple[list[Entry], dict]:
    """Render ``paths`` in order into ``writer`` (see the module docstring).

    Parameters
    ----------
    paths : iterable of str
        Records in play order; unreadable ones are skipped (an :class:`Entry` says why).
    writer : MixWriter or None
        Where the mix goes; None keeps it in memory (returned as ``stats["audio"]``: tests).
    options : MixOptions
    window : (float, float), optional
        Keep only this stretch of the mix, seconds (a preview); rendering stops after it.
    on_record : callable, optional
        Called with each :class:`Entry` as soon as it is decided (for a live tracklist).
    progress : callable, optional
        Called with the seconds of audio written since the last call.
    prepared : dict, optional
        ``path -> Deck`` already analysed (the preview of the live loop reuses them).
    solo : int, optional
        Keep only the record at this position (1-based) audible, everything else planned as
        usual: one stem of the mix, to re-analyse each record's beats in the blends.

    Returns
    -------
    entries : list of Entry
        The tracklist.
    stats : dict
        ``duration`` (s), ``peak_db`` (sample peak after the limiter), ``transitions``: one dict
        per transition with the sample positions of the blend and the two grids' beats there
        (for the alignment check), and ``audio`` when ``writer`` is None.
    """
    sr = options.sample_rate
    out = _Output(writer, options, window, progress)
    entries: list[Entry] = []
    transitions: list[dict] = []
    prepared = prepared or {}

    def note(entry: Entry) -> None:
        entries.append(entry)
        if on_record:
            on_record(entry)

    deck: Deck | None = None
    cursor = 0  # samples of ``deck.audio`` already played
    for position, path in enumerate(paths, 1):
        try:
            incoming = prepared.get(path) or prepare(path, options)
            if solo is not None and position != solo:
                incoming.audio = np.zeros_like(incoming.audio)
        except DecodeError as e:
            note(Entry(position, _label(path) if isinstance(path, str) else str(path), str(path), None,
                       transition=f"skipped: {e.reason}"))
            continue
        if deck is None:
            deck, cursor = incoming, 0
            note(Entry(position, deck.label, deck.path, 0.0, _bpm(deck), "start"))
            continue
        a, b = deck, incoming
        matched = a.grid.has_beat and b.grid.has_beat
        reason = None
        if matched:
            speed, ratio = tempo_match(a.grid.bpm, b.grid.bpm)
            blend_s = options.blend_bars * a.grid.bar
            b_blend_s = options.blend_bars * ratio * b.grid.bar  # B's own seconds under the blend
            b_ramp_s = options.ramp_bars * b.grid.bar
            exit_s = exit_bar(a.grid, a.music_end, cursor / sr, options.blend_bars, options.phrase_bars)
            if abs(speed - 1) > options.max_stretch:
                reason = f"tempo {a.grid.bpm:.1f} -> {b.grid.bpm:.1f} BPM needs {100 * (speed - 1):+.1f} %, beyond ±{100 * options.max_stretch:.0f} %"
            elif exit_s is None:
                reason = f"{a.label} is too short for {a_or_an(str(options.blend_bars))}-bar blend"
            elif b.music_end - b.grid.first_beat < b_blend_s + b_ramp_s:
                reason = f"too short for {a_or_an(str(options.blend_bars))}-bar blend"
        else:  # a drone, a pad: no beat to match, nothing to stretch; an equal-power crossfade
            exit_s, blend_s = crossfade_plan(a, b, cursor / sr, options)
            if exit_s is None:
                reason = f"{a.label} is too short for {a_or_an(f'{blend_s:.0f}')}-s crossfade"
            elif b.music_end - b.grid.first_beat < blend_s:
                reason = f"too short for {a_or_an(f'{blend_s:.0f}')}-s crossfade"
        if reason is not None:
            # cut on A's phrase boundary (or at its end), B from its first downbeat
            stop = exit_s + blend_s if exit_s is not None else a.music_end
            stop_n = max(cursor, int(round(stop * sr)))
            out.emit(_fade(a.audio[:, cursor:stop_n], sr, out=True))
            start = out.seconds
            cursor = int(round(b.grid.first_beat * sr))
            deck = b
            b_audio = _fade(b.audio[:, cursor:], sr, out=False)
            deck.audio[:, cursor:] = b_audio
            note(Entry(position, b.label, b.path, start, _bpm(b), f"cut: {reason}"))
        elif not matched:
            exit_n, n_blend, b0 = int(round(exit_s * sr)), int(round(blend_s * sr)), int(round(b.grid.first_beat * sr))
            out.emit(a.audio[:, cursor:exit_n])
            start = out.seconds
            a_part, b_part = a.audio[:, exit_n: exit_n + n_blend], b.audio[:, b0: b0 + n_blend]
            a_part = np.pad(a_part, ((0, 0), (0, n_blend - a_part.shape[1])))
            b_part = np.pad(b_part, ((0, 0), (0, n_blend - b_part.shape[1])))
            out.emit(crossfade(a_part, b_part, sr, 0, 0, bass_swap=False))
            deck, cursor = b, b0 + n_blend
            beatless = " and ".join(d.label for d in (a, b) if not d.grid.has_beat)
            note(Entry(position, b.label, b.path, start, _bpm(b),
                       f"crossfade {blend_s:.0f} s, not beat-matched: no beat in {beatless}"))
        else:
            exit_n = int(round(exit_s * sr))
            out.emit(a.audio[:, cursor:exit_n])
            start = out.seconds
            n_blend = int(round(blend_s * sr))
            b0 = int(round(b.grid.first_beat * sr))
            n_b_blend = int(round(b_blend_s * sr))
            n_b_ramp = min(int(round(b_ramp_s * sr)), b.audio.shape[1] - b0 - n_b_blend)
            piece = b.audio[:, b0: b0 + n_b_blend + n_b_ramp]
            speeds = np.concatenate([np.full(n_b_blend, speed), np.linspace(speed, 1.0, n_b_ramp)])
            stretched = stretch(piece, sr, speeds if abs(speed - 1) > 1e-6 else 1.0)
            b_part = stretched[:, :n_blend]
            if b_part.shape[1] < n_blend:
                b_part = np.pad(b_part, ((0, 0), (0, n_blend - b_part.shape[1])))
            a_part = a.audio[:, exit_n: exit_n + n_blend]
            if a_part.shape[1] < n_blend:
                a_part = np.pad(a_part, ((0, 0), (0, n_blend - a_part.shape[1])))
            swap_at = int(round(options.blend_bars // 2 * a.grid.bar * sr))
            out.emit(crossfade(a_part, b_part, sr, swap_at, int(round(a.grid.period * sr)),
                               bass_swap=options.bass_swap))
            transitions.append({"start": start, "end": start + blend_s, "swap": start + swap_at / sr, "out_bpm": a.grid.bpm,
                                "in_bpm": b.grid.bpm, "speed": speed, "ratio": ratio,
                                "out_first_beat": start - (exit_s - a.grid.first_beat) % a.grid.period,
                                "period": a.grid.period})
            out.emit(stretched[:, n_blend:])
            deck, cursor = b, b0 + n_b_blend + n_b_ramp
            half = {0.5: ", half time", 2.0: ", double time"}.get(ratio, "")
            note(Entry(position, b.label, b.path, start, b.grid.bpm,
                       f"blend {options.blend_bars} bars at {100 * (speed - 1):+.1f} %{half}"))
        if out.done():
            break
    if deck is not None and not out.done():
        out.emit(deck.audio[:, cursor: int(round(deck.music_end * sr))])
    stats = {"duration": out.seconds if window is None else min(out.seconds, window[1]) - window[0],
             "peak_db": 20 * np.log10(out.peak) if out.peak > 0 else -np.inf,
             "transitions": transitions}
    if out.kept is not None:
        stats["audio"] = np.concatenate(out.kept, axis=1) if out.kept else np.zeros((2, 0), np.float32)
    return entries, stats
