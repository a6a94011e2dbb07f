"""Turn a :class:`TrackSpec` into audio: sequence the style's patterns over bars and mix."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr
from scipy import signal

from . import voices as v
from .drums import make_kit
from .styles import STYLES, Style
from .theory import parse_key, scale_notes, triad

__all__ = ["TrackSpec", "render_track", "LEAD_IN"]

LEAD_IN = 0.5          # seconds of digital silence before the music (indexers must skip it)
_LANE_GAIN = {"kick": 1.0, "snare": 0.8, "clap": 0.7, "hat": 0.3, "ohat": 0.3, "shaker": 0.3,
              "rim": 0.6, "cowbell": 0.35, "tom": 0.6, "tomlo": 0.6, "ride": 0.25}


@dataclass(frozen=True)
class TrackSpec:
    """Recipe for one synthetic track; rendering it is deterministic.

    Attributes
    ----------
    title, artist : str
        Tags written into the file.
    bpm : float
        Tempo in beats per minute.
    key : str
        Tonic and mode, e.g. ``"A minor"``, ``"Bb major"``.
    style : str
        A key of :data:`livedj.synth.styles.STYLES`.
    seed : int
        Seeds the melody and the noise of the drum kit.
    """
    title: str
    artist: str
    bpm: float
    key: str
    style: str
    seed: int


def _hz(m: float) -> float:
    return v.midi_to_hz(m)


def _mono_voice(name: str, midi: int, dur: float, sr: int, bpm: float, seed: int,
                variant: int) -> np.ndarray:
    """One note of a bass or lead voice."""
    f = _hz(midi)
    if name == "sub":
        return v.sub_bass(f, dur, sr)
    if name == "saw_bass":
        return v.saw_bass(f, dur, sr)
    if name == "square_bass":
        return v.square_bass(f, dur, sr)
    if name == "acid":
        return v.acid_bass(f, dur, sr, cutoff=350.0 + 150.0 * variant, accent=variant / 8)
    if name == "reese":
        return v.reese_bass(f, dur, sr)
    if name == "wobble":
        return v.wobble_bass(f, dur, sr, lfo_hz=2 * bpm / 60.0)
    if name in ("pluck", "clav", "arp"):
        bright = {"pluck": 0.3, "clav": 0.9, "arp": 0.7}[name]
        damp = {"pluck": 0.995, "clav": 0.98, "arp": 0.99}[name]
        return v.pluck(f, dur, sr, seed=seed + midi, damping=damp, bright=bright)
    if name == "bell":
        return v.fm_bell(f, max(dur, 1.5), sr)
    if name == "zap":
        return v.fm_bell(f, dur, sr, ratio=2.0, index=8.0, decay=0.12)
    if name == "melodica":
        n = int(dur * sr)
        vib = 1 + 0.004 * np.sin(2 * np.pi * 5.5 * np.arange(n) / sr)
        x = v.biquad_lowpass(v.osc_square(f * vib, n, sr, width=0.4), 2500.0, sr)
        return x * v.adsr(n, sr, 0.04, 1.0, 1.0, 0.08)
    if name == "arp_square":
        n = int(dur * sr)
        return v.osc_square(f, n, sr, width=0.25) * v.adsr(n, sr, 0.002, 0.08, 0.2, 0.02)
    raise ValueError(f"unknown voice {name!r}")


def _chord_voice(name: str, midis: tuple, dur: float, sr: int) -> np.ndarray:
    """One chord of a harmony voice."""
    fs = [_hz(m) for m in midis]
    if name == "pad":
        return v.pad(fs, dur, sr, cutoff=1400.0, attack=0.5)
    if name == "strings":
        return v.pad(fs, dur, sr, detune=0.004, cutoff=3500.0, attack=0.15, vibrato=0.003)
    if name == "supersaw":
        return v.supersaw(fs, dur, sr)
    if name == "skank":
        return v.organ(fs, min(dur, 0.25), sr, short=True)
    if name == "stab":
        n = int(min(dur, 0.3) * sr)
        x = sum(v.osc_saw(f, n, sr, 0.2 * i) for i, f in enumerate(fs)) / len(fs)
        return v.biquad_lowpass(x, 2500.0, sr, 1.0) * v.adsr(n, sr, 0.002, 0.08, 0.0, 0.01)
    if name in ("piano", "epiano", "chop"):
        fn = v.epiano if name == "epiano" else v.piano
        d = min(dur, 0.2) if name == "chop" else dur
        x = sum(fn(f, d, sr) for f in fs) / len(fs)
        if name == "chop":
            x *= v.adsr(len(x), sr, 0.001, 1.0, 1.0, 0.03)
        return x
    raise ValueError(f"unknown chord voice {name!r}")


def _add(buf: np.ndarray, x: np.ndarray, pos: int, gain: float = 1.0) -> None:
    """Mix ``x`` into ``buf`` at ``pos``, cropping at the end (in place, local buffers only)."""
    if pos >= len(buf):
        return
    m = min(len(x), len(buf) - pos)
    buf[pos: pos + m] += gain * x[:m]


def _events(pattern: str):
    """Yield (step, length in steps, char) for every note in a pattern; ``-`` extends."""
    for i, c in enumerate(pattern):
        if c in ".-":
            continue
        j = i + 1
        while j < len(pattern) and pattern[j] == "-":
            j += 1
        yield i, j - i, c


def _norm(x: np.ndarray, ref: np.ndarray, target_rms: float) -> np.ndarray:
    """Scale a bus so ``ref`` (a part of it) has a target RMS: style gains mean the same
    whatever the voice."""
    r = np.sqrt(np.mean(ref ** 2))
    return x * (target_rms / r) if r > 1e-9 else x


def _sequence(style: Style, spec: TrackSpec, n: int, sr: int) -> list[np.ndarray]:
    """Render the four buses (drums, bass, harmony, lead) plus kick times, song time only."""
    rng = np.random.default_rng(spec.seed)
    beat = 60.0 / spec.bpm
    step = 4 * beat / style.steps
    bar_s = 4 * beat
    n_bars = int(np.ceil(n / (bar_s * sr))) + 1
    tonic, mode = parse_key(spec.key)
    kit = make_kit(sr, spec.seed, style.kit, tonic)
    drums, bass, harm, lead, echo = (np.zeros(n) for _ in range(5))
    kicks = np.zeros(n)
    cache: dict = {}
    # Two bars of melody, chosen among the current chord's tones (index into 5 tones),
    # plus a variant of the second bar used in the second half of each 8-bar phrase.
    motif = rng.integers(0, 5, size=(3, style.steps))
    bass_root = scale_notes(spec.key, 31)[0]

    def t_of(bar: int, k: int) -> int:
        sw = style.swing if k % 2 else 0.0
        return int(round((bar * bar_s + (k + sw) * step) * sr))

    for bar in range(n_bars):
        phrase = (bar // 8) % 2
        fill = bar % 8 == 7
        which = 2 if fill else phrase
        for lane, pats in style.drums.items():
            for k, _, c in _events(pats[which]):
                g = _LANE_GAIN.get(lane, 0.5) * (0.35 if c == "o" else 1.0)
                g *= 1.0 + 0.08 * rng.standard_normal()   # human-ish velocity
                pos = t_of(bar, k)
                _add(drums, kit[lane], pos, g)
                if lane == "kick":
                    _add(kicks, np.ones(1), pos)
                if lane == "rim" and style.delay:
                    _add(echo, kit[lane], pos, g)
        deg = style.degrees[(bar // style.bars_per_chord) % len(style.degrees)]
        chord = triad(spec.key, deg, 55)
        voicing = tuple(chord + [chord[1] + 12])   # doubled third: the mode is audible
        root_pc = chord[0] % 12
        root = bass_root + (root_pc - bass_root) % 12
        if root > bass_root + 6:
            root -= 12      # keep the bass line within a tritone of the tonic
        # acid filter opening: slow 8-bar sweep, quantised so notes can be cached
        variant = int(4 + 4 * np.sin(2 * np.pi * bar / 8.0)) if style.bass == "acid" else 0
        for k, ln, c in _events(style.bass_pattern):
            off = {"r": 0, "o": 12, "f": 7, "3": 3 if mode == "minor" else 4, "7": 10}[c]
            dur = ln * step * 0.92
            key = ("b", root + off, round(dur * sr), variant)
            if key not in cache:
                cache[key] = _mono_voice(style.bass, root + off, dur, sr, spec.bpm,
                                         spec.seed, variant)
            _add(bass, cache[key], t_of(bar, k))
        if style.chords:
            cpat = style.chord_pattern
            span = style.bars_per_chord if cpat == "x" + "-" * (style.steps - 1) else 1
            if span == 1 or bar % span == 0:
                for k, ln, c in _events(cpat):
                    dur = (ln if span == 1 else span * style.steps) * step
                    key = ("c", voicing, round(dur * sr))
                    if key not in cache:
                        cache[key] = _chord_voice(style.chords, voicing, dur, sr)
                    _add(harm, cache[key], t_of(bar, k))
        if style.lead:
            tones = [m + 12 for m in chord] + [m + 24 for m in chord]
            row = motif[2] if (bar % 8 >= 4 and bar % 2) else motif[bar % 2]
            arp_i = 0
            for k, ln, c in _events(style.lead_pattern):
                if c == "a":
                    # up then down over 8 steps, so the arpeggio repeats every 2 beats
                    m = tones[(0, 1, 2, 3, 4, 5, 4, 3)[arp_i % 8] % len(tones)]
                    arp_i += 1
                else:
                    m = tones[row[k]]
                dur = ln * step * 0.95
                key = ("l", m, round(dur * sr))
                if key not in cache:
                    cache[key] = _mono_voice(style.lead, m, dur, sr, spec.bpm, spec.seed, 0)
                _add(lead, cache[key], t_of(bar, k))
    return [drums, bass, harm, lead, echo, kicks]


def render_track(spec: TrackSpec, duration: float = 40.0, sample_rate: int = 22050,
                 speed: float = 1.0, style: Style | None = None) -> np.ndarray:
    """Render a synthetic track.

    Parameters
    ----------
    spec : TrackSpec
        What to play.
    duration : float
        Length in seconds at ``speed`` 1, including :data:`LEAD_IN` seconds of silence.
    sample_rate : int
        Output sample rate.
    speed : float
        Pitch-fader factor: the result is the speed-1 rendering resampled so it plays
        ``speed`` times faster (tempo and pitch both move), hence ``len / speed`` samples.
    style : Style, optional
        A recipe to play instead of ``STYLES[spec.style]`` (e.g. a style with another chord
        progression or voices: the key model's training loops).

    Returns
    -------
    np.ndarray
        Mono float32 in [-1, 1]; identical for identical arguments.
    """
    style = STYLES[spec.style] if style is None else style
    sr = int(sample_rate)
    total = int(round(duration * sr))
    lead_in = min(total, int(round(LEAD_IN * sr)))
    n = total - lead_in
    out = np.zeros(total)
    if n > 0:
        # Levels are measured on the first 8 bars whatever the duration, so a short
        # rendering is sample-for-sample the beginning of a long one.
        ref = int(round(8 * 4 * 60.0 / spec.bpm * sr))
        drums, bass, harm, lead, echo, kicks = _sequence(style, spec, max(n, ref), sr)
        if style.sidechain:
            # duck bass and harmony after each kick, like a side-chained compressor
            a = np.exp(-1.0 / (0.12 * sr))
            env = signal.lfilter([1.0], [1.0, -a], kicks)
            pump = 1.0 - style.sidechain * np.clip(env, 0, 1)
            bass, harm = bass * pump, harm * pump
        if style.delay:
            d = style.delay_beats * 60.0 / spec.bpm
            wet = v.feedback_delay(harm + lead + echo, d, sr, 0.5) - (harm + lead + echo)
            harm = harm + style.delay * wet
        mix = sum(gi * _norm(b, b[:ref], 0.1) for gi, b in zip(style.gains,
                                                              (drums, bass, harm, lead)) if gi)
        mix = v.highpass(mix, 25.0, sr, 2)   # no DC or sub-sonic rumble
        rms = np.sqrt(np.mean(mix[:ref] ** 2))
        mix = 0.98 * np.tanh(mix[:n] * (0.22 / max(rms, 1e-9)))   # soft limiter on peaks
        fade = min(n, int(0.05 * sr))
        mix[n - fade:] *= np.linspace(1.0, 0.0, fade)
        out[lead_in:] = mix
    if speed != 1.0:
        # a pitch fader: the samples are played back ``speed`` times faster
        out = soxr.resample(out, sr * speed, sr, quality="HQ")
        out = np.clip(out, -1.0, 1.0)
    return out.astype(np.float32)
