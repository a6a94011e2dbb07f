"""Key estimation: tuning-corrected bass and treble chroma scored by key profiles learned on data.

The features are cheap (one 0.5-s STFT, no CQT) so that the live path stays where it was:

1. **Tuning** (:func:`estimate_tuning`): the deviation of the spectrum's peaks from the
   equal-tempered A440 grid, a magnitude-weighted circular mean in semitones (-0.5..0.5). A record
   pitched by the fader or mastered off A440 is folded back onto the grid before the pitch classes
   are read.
2. **Bass and treble chroma** (:func:`chroma_features`): STFT bins between 55 Hz and 2 kHz are
   gathered into (tuned) semitones (:func:`semitone_energy`), log-compressed per frame and folded
   to pitch classes,
   separately below and above E3 (165 Hz): the bass line says more about the tonic, the
   treble about the mode.
3. **Key posterior** (:func:`key_posterior`): each 12-vector is standardised (zero mean, unit
   norm, as the Krumhansl-Schmuckler correlation does), rotated to every tonic and scored by a
   mode's bass and treble profile plus a mode bias; a softmax over the 24 keys, divided by a
   temperature fitted for calibration, is the posterior. Two sets of profiles ("experts") were
   learned (multinomial logistic regression with tied weights across transpositions): one on the
   training half of the key benchmark's rendered scores, one on livedj.synth's four-chord loops;
   a gate on the shape of the chroma (:func:`style_features`) mixes their posteriors. The
   temperatures depend on the excerpt's length (a 12-s live window and a 30-s index excerpt are
   calibrated apart, :meth:`KeyModel.temperature_at`).
   ``benchmarks/_keytrain.py`` writes them to ``livedj/data/key_model.npz`` and
   ``python -m benchmarks key`` measures them on the scores' other half and on an unseen generator.

Steps 1 and 2 are here; the model and the posterior of step 3 are in :mod:`livedj.dsp.keymodel` (its names
are importable from here too).

Key indices: ``pitch_class + 12 * is_minor`` (C..B major, then C..B minor).
"""
from __future__ import annotations

import numpy as np
import scipy.fft

from livedj.dsp.framing import frames as frame_signal
from livedj.dsp.keymodel import (MODEL_PATH, KeyModel,  # noqa: F401 (re-exported)
                                 gate_probability, key_logits, key_posterior, load_model, rotations, style_features)

__all__ = ["KeyModel", "estimate_tuning", "semitone_energy", "chroma_features", "key_posterior", "load_model",
           "phase_weights", "phrase_chroma", "rotations", "style_features", "semitone_frames", "fold_pitch_classes"]

ANALYSIS_SR = 16000  #: the rate the profiles were learned at
BASS_SPLIT_MIDI = 52  #: E3 (165 Hz): semitones below are "bass"
#: Semitones from a note to its 2nd..8th harmonics (the 3rd is a fifth above, the 5th a major third above).
HARMONIC_OFFSETS = (12, 19, 24, 28, 31, 34, 36)
#: Amplitude ratio of successive partials assumed by :func:`remove_harmonics` (partial k at ``decay ** (k - 1)``);
#: 0 reads the semitone spectrum as it is (the shipped features). Measured in docs/key.md, "Harmonics out of the
#: chroma (twenty-fourth session)".
HARMONIC_DECAY = 0.0
#: The offsets :func:`remove_harmonics` takes out of the live path's semitones (None: all of :data:`HARMONIC_OFFSETS`).
HARMONIC_REMOVED: tuple[int, ...] | None = None
#: Half-width (semitones) of the local mean each frame's log semitone energy is whitened against (floored at 0)
#: before folding; 0: not whitened (the shipped features). Measured with the harmonics, same section.
WHITEN_SEMITONES = 0


def _stft_mag(y: np.ndarray, sr: int, n_fft: int | None) -> tuple[np.ndarray, np.ndarray]:
    if n_fft is None:
        n_fft = 1 << int(np.round(np.log2(sr * 0.5)))
    frames = frame_signal(y, n_fft, n_fft // 2)
    window = np.hanning(n_fft).astype(np.float32)
    return np.abs(scipy.fft.rfft(frames * window, axis=1)), np.fft.rfftfreq(n_fft, 1.0 / sr)


def estimate_tuning(mag: np.ndarray, freqs: np.ndarray, *, fmin: float = 80.0, fmax: float = 2000.0) -> float:
    """Deviation of the spectral peaks from the A440 equal-tempered grid, in semitones (-0.5..0.5).

    Local maxima of each frame's magnitude spectrum (within ``fmin``..``fmax`` and no more than
    40 dB under the frame's loudest) are located to a fraction of a bin by parabolic
    interpolation of the log magnitude; their offsets from the nearest semitone are averaged on
    the circle, weighted by magnitude.

    Parameters
    ----------
    mag : np.ndarray
        Shape (frames, bins), STFT magnitudes.
    freqs : np.ndarray
        Shape (bins,), the bins' centre frequencies, Hz (evenly spaced from 0).
    """
    if mag.size == 0 or not np.any(mag):
        return 0.0
    df = freqs[1] - freqs[0]
    lo, hi = max(int(fmin / df), 1), min(int(fmax / df), mag.shape[1] - 2)
    m = mag[:, lo - 1:hi + 2]
    centre = m[:, 1:-1]
    peak = (centre > m[:, :-2]) & (centre >= m[:, 2:])
    peak &= centre > 0.01 * m.max(axis=1, keepdims=True)
    f_idx, b_idx = np.nonzero(peak)
    if f_idx.size == 0:
        return 0.0
    la, lb, lc = (np.log(m[f_idx, b_idx + k] + 1e-12) for k in (0, 1, 2))
    denom = la - 2 * lb + lc
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (la - lc) / np.where(denom == 0, 1, denom), 0.0)
    f = (lo + b_idx + np.clip(shift, -0.5, 0.5)) * df
    midi = 69 + 12 * np.log2(f / 440.0)
    w = centre[f_idx, b_idx]
    angle = 2 * np.pi * (midi - np.round(midi))
    z = np.sum(w * np.exp(1j * angle))
    return float(np.angle(z) / (2 * np.pi)) if abs(z) > 0 else 0.0


def phase_weights(age: np.ndarray, period: float, span: float) -> np.ndarray:
    """Weights of frames that make every phase of a loop of ``period`` seconds count once in ``span`` seconds.

    A span of 12 s holds a four-bar loop 1.5 times at 120 BPM: the first 4 s of the loop are heard
    twice, the rest once, and the chroma leans towards the chords played there. Weighting each frame
    by one over the number of times its phase occurs in the span gives every bar of the loop the same
    weight, whatever bar the span starts on (no downbeat needed), while still reading all of it.

    Parameters
    ----------
    age : np.ndarray
        Seconds from each frame's centre back from the end of the span (0..``span``).
    period : float
        The loop's length, s (a phrase of four bars: 16 beats).
    span : float
        The span's length, s.

    Returns
    -------
    np.ndarray
        Shape of ``age``: ``1 / n``, ``n`` the number of times the frame's phase (its age modulo
        ``period``) occurs in the span; all 1 when ``period >= span``.
    """
    age = np.asarray(age, np.float64)
    if not period > 0:
        raise ValueError(f"period must be > 0 s, got {period}")
    phase = np.mod(np.clip(age, 0.0, span), period)
    return 1.0 / (np.floor((span - phase) / period) + 1.0)


def semitone_energy(y: np.ndarray, sr: int, *, n_fft: int | None = None, fmin: float = 55.0,
                    fmax: float = 2000.0, tuning: float | None = None,
                    period: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Log-compressed energy per (tuned) semitone of ``y``, summed over time.

    STFT magnitudes between ``fmin`` and ``fmax`` are gathered into semitones of the grid shifted
    by ``tuning`` (bins too coarse to tell semitones apart are dropped; each bin is weighted by its
    closeness to the semitone's centre, since off-centre bins are mostly leakage), log-compressed
    per frame so that loud bass notes do not drown the harmony, and summed over frames.
    (Subtracting expected upper partials was tried and lowered accuracy, so it is not done by default: again with
    learned profiles in docs/key.md, "Harmonics out of the chroma"; :data:`HARMONIC_DECAY`, :data:`WHITEN_SEMITONES`.)

    Parameters
    ----------
    y : np.ndarray
        Mono audio.
    sr : int
        Sample rate, Hz. With the default ``n_fft``, other rates than :data:`ANALYSIS_SR` are
        resampled to it first (the profiles were learned on 16-kHz features).
    n_fft : int, optional
        FFT size; default about 0.5 s (8192 at 16 kHz) so that low notes are resolved.
    fmin, fmax : float
        Frequency range considered, Hz.
    tuning : float, optional
        Known deviation from A440 in semitones; estimated from ``y`` (:func:`estimate_tuning`)
        when None, 0 for the plain A440 grid.
    period : float, optional
        A loop's length, s (the live key's four-bar phrase): frames are weighted by
        :func:`phase_weights` so that each phase of the loop counts once. None, or as long as ``y``
        or longer: every frame counts once.

    Returns
    -------
    energy : np.ndarray
        Shape (semitones,): energy of each semitone.
    notes : np.ndarray
        Shape (semitones,): their MIDI numbers (integers; pitch class ``notes % 12``).
    tuning : float
        The deviation used, semitones.
    """
    per_frame, notes, tuning, age, span = semitone_frames(y, sr, n_fft, fmin, fmax, tuning)
    if period is not None and period < span:
        per_frame = per_frame * phase_weights(age, period, span)[:, None]
    return per_frame.sum(axis=0), notes, tuning


def remove_harmonics(semitone: np.ndarray, decay: float, offsets: tuple[int, ...] | None = None) -> np.ndarray:
    """Note amplitudes that explain ``semitone`` (frames, semitones; linear magnitude, lowest semitone first) as
    notes with harmonics of amplitude ``decay ** (k - 1)`` at ``offsets`` above them (None:
    :data:`HARMONIC_OFFSETS`, the 2nd to 8th harmonics; an offset's harmonic number is its place there).

    The note templates form a unit lower-triangular system (a semitone is explained by itself and the notes below
    it), solved from the lowest semitone up with each amplitude floored at 0: a note's harmonics are subtracted
    from the semitones above it before those are read. It is non-negative least squares (Mauch & Dixon's NNLS
    chroma) restricted to the templates' triangular structure, exact where no amplitude is floored; one vector
    operation per semitone (about 40 for 55 Hz - 2 kHz).
    """
    if not decay > 0:
        return semitone
    out = np.array(semitone, np.float64, copy=True)
    n = out.shape[1]
    number = {d: k for k, d in enumerate(HARMONIC_OFFSETS, 1)}
    amps = [(d, decay ** number.get(d, 1)) for d in (HARMONIC_OFFSETS if offsets is None else offsets)]
    for j in range(n):
        note = np.maximum(out[:, j], 0.0)
        out[:, j] = note
        for d, a in amps:
            if j + d < n:
                out[:, j + d] -= a * note
    return out


def semitone_frames(y: np.ndarray, sr: int, n_fft: int | None = None, fmin: float = 55.0, fmax: float = 2000.0,
                    tuning: float | None = None, harmonic_decay: float | None = None):
    """:func:`semitone_energy` before the sum over frames: (frames, semitones) log energy, the semitones' MIDI
    numbers, the tuning, each frame's centre in seconds before the end of ``y``, and the length of ``y`` (s).
    ``harmonic_decay``: the notes' harmonics are taken out first (:func:`remove_harmonics`) when > 0; None:
    :data:`HARMONIC_DECAY`."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono audio (1-D), got shape {y.shape}")
    if sr != ANALYSIS_SR and n_fft is None:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(int(sr), ANALYSIS_SR)
        y = resample_poly(y, ANALYSIS_SR // g, int(sr) // g).astype(np.float32)
        sr = ANALYSIS_SR
    mag, freqs = _stft_mag(y, sr, n_fft)
    if tuning is None:
        tuning = estimate_tuning(mag, freqs)
    n_fft = 2 * (len(freqs) - 1)
    band = (freqs >= fmin) & (freqs <= fmax)
    band &= freqs * (2 ** (1 / 12) - 1) >= 0.8 * sr / n_fft
    if not band.any():
        return np.zeros((0, 0)), np.zeros(0, int), float(tuning), np.zeros(0), len(y) / sr
    midi = 69 + 12 * np.log2(freqs[band] / 440.0) - tuning
    semis = np.round(midi).astype(int)
    lo = int(semis.min())
    w = np.cos(np.pi * (midi - semis)) ** 2
    semitone = np.zeros((mag.shape[0], int(semis.max()) - lo + 1))
    np.add.at(semitone.T, semis - lo, (mag[:, band] * w).T)
    semitone = remove_harmonics(semitone, HARMONIC_DECAY if harmonic_decay is None else harmonic_decay,
                                HARMONIC_REMOVED)
    per_frame = np.log1p(100.0 * semitone / (semitone.max() + 1e-12))
    if WHITEN_SEMITONES > 0:
        from scipy.ndimage import uniform_filter1d

        local = uniform_filter1d(per_frame, 2 * int(WHITEN_SEMITONES) + 1, axis=1, mode="nearest")
        per_frame = np.maximum(per_frame - local, 0.0)
    age = len(y) / sr - (np.arange(per_frame.shape[0]) * (n_fft // 2) + n_fft / 2) / sr
    return per_frame, np.arange(lo, lo + semitone.shape[1]), float(tuning), age, len(y) / sr


def chroma_features(y: np.ndarray, sr: int, *, n_fft: int | None = None, fmin: float = 55.0,
                    fmax: float = 2000.0, tuning: float | None = None,
                    period: float | None = None) -> tuple[np.ndarray, float]:
    """Bass and treble pitch-class energy of ``y`` after tuning correction.

    :func:`semitone_energy` (same parameters) folded to pitch classes separately below and above
    :data:`BASS_SPLIT_MIDI` (E3).

    Returns
    -------
    chroma : np.ndarray
        Shape (2, 12): bass (below E3) and treble pitch classes C..B, each summing to 1 (or 0).
    tuning : float
        The deviation used, semitones.
    """
    energy, notes, tuning = semitone_energy(y, sr, n_fft=n_fft, fmin=fmin, fmax=fmax, tuning=tuning, period=period)
    return fold_pitch_classes(energy, notes), tuning


def phrase_chroma(y: np.ndarray, sr: int, period: float, *, tuning: float | None = None
                  ) -> tuple[np.ndarray, np.ndarray, float]:
    """The plain and the phrase-weighted bass/treble chroma of ``y``, from one STFT.

    Parameters
    ----------
    y : np.ndarray
        Mono audio.
    sr : int
        Sample rate, Hz.
    period : float
        The loop's length, s (see :func:`phase_weights`).
    tuning : float, optional
        As in :func:`semitone_energy`.

    Returns
    -------
    plain, weighted : np.ndarray
        Shape (2, 12) each: :func:`chroma_features` of ``y`` without and with ``period``.
    tuning : float
        The deviation used, semitones.
    """
    per_frame, notes, tuning, age, span = semitone_frames(y, sr, None, 55.0, 2000.0, tuning)
    weights = phase_weights(age, period, span) if period < span else np.ones(len(age))
    return fold_pitch_classes(per_frame.sum(axis=0), notes), fold_pitch_classes(weights @ per_frame, notes), tuning


def fold_pitch_classes(energy: np.ndarray, notes: np.ndarray) -> np.ndarray:
    """Semitone energy folded to (bass, treble) pitch classes, each summing to 1 (or 0)."""
    out = np.zeros((2, 12))
    for part, sel in enumerate((notes < BASS_SPLIT_MIDI, notes >= BASS_SPLIT_MIDI)):
        np.add.at(out[part], notes[sel] % 12, energy[sel])
        total = out[part].sum()
        if total > 0:
            out[part] /= total
    return out
