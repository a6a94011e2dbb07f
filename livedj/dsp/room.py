"""The booth simulator: what a track sounds like by the time the DJ-booth microphone hears it.

Pure numpy/scipy (soxr for the pitch fader), deterministic for a given ``seed``, used by the
identification benchmark, evaluation and tests. :func:`booth` chains the effects in the order
the sound meets them::

    pitch fader (speed) -> room (impulse response) -> crowd/room noise at an SNR
    -> microphone band limit -> input gain

Noise is added *before* the band limit because the capsule hears the crowd too; the SNR is
therefore the one in the air, measured on the reverberant music.
"""
from __future__ import annotations

import os

import numpy as np
from scipy import signal

__all__ = ["synthetic_ir", "load_ir", "pink_noise", "crowd_noise", "add_noise", "band_limit",
           "speed_change", "booth", "rt60_schroeder", "rumble_noise", "reflections_ir", "BOOTHS", "booth_preset"]


def synthetic_ir(sample_rate: int, rt60: float = 0.5, direct_to_reverb_db: float = 5.0,
                 seed: int = 0) -> np.ndarray:
    """A room impulse response: a unit direct path followed by an exponentially decaying noise tail.

    Parameters
    ----------
    sample_rate : int
        Rate of the IR, Hz.
    rt60 : float
        Time for the tail's energy to fall by 60 dB, s. 0 gives a pure direct path.
    direct_to_reverb_db : float
        Energy of the direct path over the energy of the tail, dB.
    seed : int
        Seed of the tail's noise.

    Returns
    -------
    np.ndarray
        float32, ``1.2 * rt60`` seconds long (at least one sample), peak-normalised direct path at 0.
    """
    if rt60 <= 0:
        return np.ones(1, dtype=np.float32)
    n = max(2, int(round(1.2 * rt60 * sample_rate)))
    t = np.arange(n) / sample_rate
    rng = np.random.default_rng(seed)
    # amplitude envelope exp(-6.91 t / rt60): energy falls 60 dB (ln(1e3) = 6.91) in rt60 seconds
    tail = rng.standard_normal(n) * np.exp(-6.907755 * t / rt60)
    tail[0] = 0.0
    # a little early damping of highs, as walls do: one-pole low-pass on the tail
    tail = signal.lfilter([0.6], [1.0, -0.4], tail)
    tail_energy = float(np.sum(tail**2))
    tail *= np.sqrt(10 ** (-direct_to_reverb_db / 10) / max(tail_energy, 1e-20))
    ir = tail
    ir[0] = 1.0
    return ir.astype(np.float32)


def rt60_schroeder(ir: np.ndarray, sample_rate: int, fit_db: tuple[float, float] = (-5.0, -25.0)) -> float:
    """Reverberation time of ``ir`` by Schroeder backward integration (T20 extrapolated to 60 dB).

    Parameters
    ----------
    ir : np.ndarray
        Impulse response.
    sample_rate : int
        Its rate, Hz.
    fit_db : (float, float)
        The decay range a line is fitted to, dB below the total energy.
    """
    energy = np.cumsum(np.asarray(ir, dtype=np.float64)[::-1] ** 2)[::-1]
    edc = 10 * np.log10(energy / energy[0] + 1e-30)
    hi, lo = fit_db
    idx = np.flatnonzero((edc <= hi) & (edc >= lo))
    if len(idx) < 2:
        return 0.0
    slope = np.polyfit(idx / sample_rate, edc[idx], 1)[0]  # dB per second (negative)
    return float(-60.0 / slope) if slope < 0 else float("inf")


def load_ir(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """A recorded impulse response from a file, mono at ``sample_rate``, peak-normalised to 1.

    Leading samples before the direct sound (the largest peak, less 1 ms) are dropped so that
    convolving with it does not delay the music.
    """
    from livedj.audio.decode import decode

    ir = np.asarray(decode(path, sample_rate), dtype=np.float64)
    if ir.size == 0 or not np.any(ir):
        raise ValueError(f"{os.fsdecode(path)}: the impulse response is empty or silent")
    start = max(0, int(np.argmax(np.abs(ir))) - int(0.001 * sample_rate))
    ir = ir[start:]
    return (ir / np.max(np.abs(ir))).astype(np.float32)


def pink_noise(n: int, seed: int = 0) -> np.ndarray:
    """``n`` samples of 1/f (pink) noise, unit RMS, float32 (white noise shaped in the frequency domain)."""
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0  # no DC boost
    y = np.fft.irfft(spectrum / np.sqrt(f), n)
    y -= y.mean()
    return (y / max(float(np.sqrt(np.mean(y**2))), 1e-20)).astype(np.float32)


def crowd_noise(n: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Babble-like noise: a few speech-band voices with syllable-rate (3-6 Hz) envelopes, unit RMS, float32."""
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    rng = np.random.default_rng(seed)
    sos = signal.butter(2, [300.0, min(3400.0, 0.45 * sample_rate)], btype="bandpass", fs=sample_rate,
                        output="sos")
    t = np.arange(n) / sample_rate
    out = np.zeros(n)
    for _ in range(8):  # eight talkers: enough to blur into babble, few enough to keep its modulation
        voice = signal.sosfilt(sos, rng.standard_normal(n))
        rate, phase = rng.uniform(3.0, 6.0), rng.uniform(0, 2 * np.pi)
        envelope = np.maximum(0.0, np.sin(2 * np.pi * rate * t + phase)) ** 2
        out += voice * envelope
    out += 0.3 * pink_noise(n, seed + 1) * np.sqrt(np.mean(out**2))  # the room's steady rumble
    out -= out.mean()
    return (out / max(float(np.sqrt(np.mean(out**2))), 1e-20)).astype(np.float32)


def add_noise(y: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``y`` plus ``noise`` scaled so that RMS(y) / RMS(scaled noise) is ``snr_db`` dB.

    The noise is tiled or cut to ``len(y)``. A silent ``y`` is returned unchanged (no SNR defined).
    """
    y = np.asarray(y, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    if len(y) == 0:
        return y.astype(np.float32)
    if len(noise) == 0:
        raise ValueError("add_noise: empty noise")
    noise = np.resize(noise, len(y))  # repeats a short noise
    p_signal, p_noise = float(np.mean(y**2)), float(np.mean(noise**2))
    if p_signal == 0.0 or p_noise == 0.0:
        return y.astype(np.float32)
    scale = np.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10)))
    return (y + scale * noise).astype(np.float32)


def band_limit(y: np.ndarray, sample_rate: int, low_hz: float | None = 100.0,
               high_hz: float | None = 8000.0, order: int = 4) -> np.ndarray:
    """A cheap capsule's / phone's frequency range: Butterworth high-pass and low-pass, zero-phase.

    ``None`` (or a high edge at or above Nyquist) leaves that side open.
    """
    y = np.asarray(y, dtype=np.float64)
    nyquist = sample_rate / 2
    sections = []
    if low_hz is not None and low_hz > 0:
        sections.append(signal.butter(order, low_hz, btype="highpass", fs=sample_rate, output="sos"))
    if high_hz is not None and high_hz < 0.98 * nyquist:
        sections.append(signal.butter(order, high_hz, btype="lowpass", fs=sample_rate, output="sos"))
    if not sections or len(y) == 0:
        return y.astype(np.float32)
    sos = np.vstack(sections)
    padlen = min(len(y) - 1, 3 * (2 * len(sos) + 1))
    return signal.sosfiltfilt(sos, y, padlen=max(0, padlen)).astype(np.float32)


def speed_change(y: np.ndarray, speed: float, sample_rate: int) -> np.ndarray:
    """The pitch fader: play ``y`` ``speed`` times faster, tempo and pitch together (soxr resampling).

    The result has ``len(y) / speed`` samples at the same ``sample_rate``; a sine at f Hz comes out at
    ``f * speed`` Hz.
    """
    if speed <= 0:
        raise ValueError(f"speed_change: speed must be positive, got {speed}")
    y = np.asarray(y, dtype=np.float32)
    if speed == 1.0:
        return y.copy()
    import soxr

    # reading the samples as if recorded at sr * speed and resampling to sr shortens them by 1/speed
    return soxr.resample(y, sample_rate * speed, sample_rate, quality="HQ").astype(np.float32)


def booth(y: np.ndarray, sample_rate: int, *, ir: np.ndarray | None = None, rt60: float = 0.5,
          snr_db: float | None = 10.0, noise: str | np.ndarray = "pink",
          band: tuple[float | None, float | None] | None = (100.0, 8000.0), speed: float = 1.0,
          gain_db: float = 0.0, seed: int = 0, direct_to_reverb_db: float = 5.0) -> np.ndarray:
    """What the booth microphone hears of ``y``: the whole chain, in this order.

    1. ``speed``: the pitch fader (:func:`speed_change`);
    2. the room: convolution with ``ir`` (a recorded IR from :func:`load_ir`) or, when ``ir`` is
       None, :func:`synthetic_ir` with ``rt60`` (0 = dry); the output keeps ``len`` of step 1;
    3. ``noise`` ("pink", "crowd", or an array) at ``snr_db`` against the reverberant music (None = none);
    4. ``band``: the microphone's range (:func:`band_limit`; None = full range);
    5. ``gain_db``, then clipping to [-1, 1] as an ADC would.

    Parameters
    ----------
    y : np.ndarray
        Mono float audio at ``sample_rate``.
    sample_rate : int
        Rate of ``y`` and of the result, Hz.
    seed : int
        Seeds the synthetic IR and the noise: equal arguments give equal output.

    Returns
    -------
    np.ndarray
        float32, ``round(len(y) / speed)`` samples.
    """
    x = speed_change(y, speed, sample_rate)
    n = len(x)
    if ir is None and rt60 > 0:
        ir = synthetic_ir(sample_rate, rt60=rt60, direct_to_reverb_db=direct_to_reverb_db, seed=seed)
    if ir is not None and len(ir) > 1:
        x = signal.fftconvolve(x.astype(np.float64), np.asarray(ir, dtype=np.float64))[:n]
    if snr_db is not None:
        if isinstance(noise, str):
            if noise == "pink":
                noise_arr = pink_noise(n, seed + 101)
            elif noise == "crowd":
                noise_arr = crowd_noise(n, sample_rate, seed + 101)
            elif noise == "rumble":
                noise_arr = rumble_noise(n, sample_rate, seed + 101)
            else:
                raise ValueError(f"booth: noise must be 'pink', 'crowd', 'rumble' or an array, got {noise!r}")
        else:
            noise_arr = np.asarray(noise)
        x = add_noise(x, noise_arr, snr_db)
    if band is not None:
        x = band_limit(x, sample_rate, band[0], band[1])
    x = np.asarray(x, dtype=np.float64) * 10 ** (gain_db / 20)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def rumble_noise(n: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Low-frequency-heavy noise, unit RMS, float32: brown (1/f^2) noise below ~250 Hz (subwoofer
    spill, air conditioning, feet) plus pink noise 12 dB lower: most of its energy is where the
    fingerprints do not look, but it still masks the lowest peaks."""
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    shape = 1.0 / np.maximum(f, 20.0) / (1.0 + (f / 250.0) ** 4)
    y = np.fft.irfft(spectrum * shape, n)
    y /= max(float(np.sqrt(np.mean(y**2))), 1e-20)
    y += 0.25 * pink_noise(n, seed + 7)
    y -= y.mean()
    return (y / max(float(np.sqrt(np.mean(y**2))), 1e-20)).astype(np.float32)


def reflections_ir(sample_rate: int, rt60: float = 0.7, direct_to_reverb_db: float = 0.0, n_reflections: int = 12,
                   seed: int = 0) -> np.ndarray:
    """Another IR family: a direct path, ``n_reflections`` discrete early reflections (walls, the
    booth's glass, 3-60 ms, some of them strong) and a diffuse tail; energies scaled to
    ``direct_to_reverb_db`` as :func:`synthetic_ir` does. Comb-filtering by the strong early echoes
    is what a small booth adds and an exponential noise tail does not."""
    n = max(2, int(round(1.2 * max(rt60, 0.08) * sample_rate)))
    rng = np.random.default_rng(seed + 31)
    rest = synthetic_ir(sample_rate, rt60=max(rt60, 0.08), direct_to_reverb_db=0.0, seed=seed).astype(np.float64)
    rest = np.resize(rest, n)
    rest[0] = 0.0
    rest *= 0.5
    at = (rng.uniform(0.003, 0.060, n_reflections) * sample_rate).astype(int)
    rest[np.minimum(at, n - 1)] += rng.uniform(0.2, 0.7, n_reflections) * rng.choice([-1.0, 1.0], n_reflections)
    rest *= np.sqrt(10 ** (-direct_to_reverb_db / 10) / max(float(np.sum(rest**2)), 1e-20))
    rest[0] = 1.0
    return rest.astype(np.float32)


#: named booth simulations (not one simulator the fingerprints could be tuned to): noise spectrum,
#: IR family, direct-path ratio and microphone band vary. "standard" is :func:`booth`'s default;
#: "issue16" the other simulation of issue 16 (random IR, direct +5 dB, RT60 0.5 s, low-frequency
#: heavy noise at 10 dB SNR, 100 Hz-8 kHz)
BOOTHS: dict[str, dict] = {
    "standard": dict(rt60=0.5, direct_to_reverb_db=5.0, noise="pink", snr_db=10.0, band=(100.0, 8000.0)),
    "issue16": dict(rt60=0.5, direct_to_reverb_db=5.0, noise="rumble", snr_db=10.0, band=(100.0, 8000.0), ir_seed=1),
    "crowd": dict(rt60=0.4, direct_to_reverb_db=3.0, noise="crowd", snr_db=8.0, band=(100.0, 8000.0)),
    "rumble-club": dict(rt60=0.9, direct_to_reverb_db=0.0, noise="rumble", snr_db=6.0, band=(60.0, 10000.0)),
    "glass-booth": dict(ir="reflections", rt60=0.6, direct_to_reverb_db=2.0, noise="pink", snr_db=12.0,
                        band=(100.0, 8000.0)),
    "phone": dict(rt60=0.3, direct_to_reverb_db=8.0, noise="crowd", snr_db=12.0, band=(300.0, 3400.0)),
}


def booth_preset(y: np.ndarray, sample_rate: int, name: str, *, speed: float = 1.0, seed: int = 0) -> np.ndarray:
    """:func:`booth` with the settings of ``BOOTHS[name]``; ``seed`` varies the IR and the noise."""
    try:
        p = dict(BOOTHS[name])
    except KeyError:
        raise ValueError(f"booth_preset: unknown booth {name!r} (known: {', '.join(BOOTHS)})") from None
    ir = None
    if p.pop("ir", None) == "reflections":
        ir = reflections_ir(sample_rate, rt60=p["rt60"], direct_to_reverb_db=p["direct_to_reverb_db"], seed=seed)
    ir_seed = p.pop("ir_seed", 0)
    if ir is None and p["rt60"] > 0:
        ir = synthetic_ir(sample_rate, rt60=p["rt60"], direct_to_reverb_db=p["direct_to_reverb_db"],
                          seed=seed * 7919 + ir_seed)
    return booth(y, sample_rate, ir=ir, rt60=p["rt60"], snr_db=p["snr_db"], noise=p["noise"], band=p["band"],
                 speed=speed, seed=seed, direct_to_reverb_db=p["direct_to_reverb_db"])
