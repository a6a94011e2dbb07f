"""One track's analysis for the index: tags, the song-beginning vector, segment vectors, landmarks, BPM, key.

:func:`analyze_file` is a pure function of the file and the :class:`Settings`, run in the indexing
worker processes (:mod:`livedj.library.indexer`); it never raises for a bad file, it says why.

The song-beginning vector: leading silence is skipped (first 128-ms frame above -50 dBFS and
within 40 dB of the loudest frame), then ``beginning_s`` seconds (default 30) are cut into
5-s windows -- the same length as a live window -- and the unit mean of their embeddings is the
track's vector. BPM and key come from the file's tags when the DJ (or their software) wrote them
(source "tag"), otherwise they are estimated from the same decoded beginning (source "audio").
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from livedj.dsp import WINDOW_S
from livedj.dsp.level import first_sound, rms_db
from livedj.encoders.base import Encoder, unit

MIN_AUDIO_S = 3.0  # below this a track has no beginning worth embedding
SILENT_DBFS = -50.0  #: a beginning quieter than this (RMS) is silence or near-silence, not a record
SILENT = "silent or near-silent: not music"
#: a file whose samples are not all finite numbers (NaN, infinity): one such vector would spoil the fit of every track
CORRUPT = "damaged audio"
FAR_BEYOND_FULL_SCALE = 16.0  #: +24 dBFS: a float master may exceed 1.0 a little, never by this much


@dataclass(frozen=True)
class Settings:
    encoder: str = "musicnn"
    beginning_s: float = 30.0  #: seconds of each song's beginning that are embedded (30: measured, docs/fit.md)
    sample_rate: int = 16000
    threads: int = 1
    segment_hop_s: float = 5.0  #: 0: no segment vectors and no fingerprints (no identification of what plays)
    segment_encoder: str = "features"  #: cheap enough for a vector every few seconds of every track
    max_track_s: float = 1200.0  #: segments cover at most this much of a file (a 2-hour mix is not a record)
    head: str | None = None  #: the booth head file of a headed encoder (``musicnn-booth``); None: its default
    fit: str = "lda"  #: the projection fitted to the library at index time (library/vectors.py): "lda" or "none"
    fit_dims: int = 16
    fit_shrinkage: float = 0.3
    fit_room: float = 0.25  #: weight of the shipped room nuisance in the fit (library/fit.py, docs/fit.md); 0: off


@dataclass
class FileResult:
    path: str
    ok: bool
    error: str | None = None
    tags: dict = field(default_factory=dict)
    vector: np.ndarray | None = None
    windows: np.ndarray | None = None  #: (n, dim) base vectors of the beginning's windows (the fit's input)
    segments: np.ndarray | None = None  #: (n, dim), NaN rows for silent segments
    landmarks: tuple[np.ndarray, np.ndarray] | None = None  #: fingerprint (hashes, frame times)
    start_s: float | None = None
    bpm: float | None = None
    bpm_source: str | None = None
    key: int | None = None
    key_source: str | None = None
    retry: bool = False  #: not analysed for a reason outside the file (its worker died): try again next run
    key_confidence: float | None = None  #: calibrated, for a key estimated from audio (None: tag/DJ, certain)
    key_end: int | None = None  #: the key of the track's last 30 s (for mixing out), estimated from audio
    key_end_confidence: float | None = None


def load_beginning(path: str, beginning_s: float, sample_rate: int = 16000) -> tuple[np.ndarray, float]:
    """Decode the song's beginning: ``beginning_s`` seconds after the leading silence.

    Returns the audio (mono float32 at ``sample_rate``) and where it starts in the file (s).
    Raises :class:`~livedj.audio.decode.DecodeError` for a file that cannot be decoded.
    """
    from livedj.audio.decode import decode

    sr = sample_rate
    head = decode(path, sr, 0.0, beginning_s + 10.0)
    start = first_sound(head, sr)
    if start >= 10.0 - 0.2 and len(head) >= int((beginning_s + 10.0) * sr) - sr:
        return decode(path, sr, start, beginning_s), start  # a long silent intro: seek past it
    return head[int(start * sr):int((start + beginning_s) * sr)], start


def _measured_duration(tags: dict, decoded_s: float, max_track_s: float) -> None:
    """Put the decoded length in ``tags["duration"]`` when the whole file was decoded and the header's
    length is missing or wrong by over a second: a WAV written by a streaming tool (data size 0 or
    0xFFFFFFFF: "6.7 hours"), a VBR MP3 without a Xing header (its length guessed from the first frame's
    bitrate: several times too long) ended up in exported playlists."""
    if decoded_s < max_track_s - 1.0 and decoded_s > 0:  # stopped before the limit: the file's end
        claimed = tags.get("duration")
        if not claimed or abs(claimed - decoded_s) > 1.0:
            tags["duration"] = decoded_s


def beginning_windows(audio: np.ndarray, encoder, window_s: float = WINDOW_S) -> np.ndarray:
    """The embeddings (n, dim) of consecutive ``window_s`` windows of ``audio``."""
    step = int(window_s * encoder.sample_rate)
    windows = [audio[i:i + step] for i in range(0, max(1, len(audio) - step + 1), step)]
    return np.stack([e.vector for e in encoder.analyze_many(windows)]).astype(np.float32)


def beginning_vector(audio: np.ndarray, encoder, window_s: float = WINDOW_S) -> np.ndarray:
    """The unit mean of the embeddings of consecutive ``window_s`` windows of ``audio``."""
    return unit(np.mean(beginning_windows(audio, encoder, window_s), axis=0))


def segment_vectors(audio: np.ndarray, encoder, hop_s: float, window_s: float = WINDOW_S,
                    silence_db: float = -50.0) -> np.ndarray:
    """One vector per ``window_s`` window every ``hop_s`` over ``audio``; NaN rows where it is silent."""
    sr = encoder.sample_rate
    step, size = int(hop_s * sr), int(window_s * sr)
    windows = [audio[i:i + size] for i in range(0, max(1, len(audio) - size + 1), step)]
    rows = np.full((len(windows), encoder.dim), np.nan, dtype=np.float32)
    heard = [i for i, window in enumerate(windows) if len(window) >= sr and rms_db(window) >= silence_db]
    if heard:
        rows[heard] = [e.vector for e in encoder.analyze_many([windows[i] for i in heard])]
    return rows


def analyze_file(path: str, settings: Settings, encoder: Encoder, segment_encoder: Encoder | None = None
                 ) -> FileResult:
    """Tags, song-beginning vector, segment vectors, BPM and key of one file. Never raises for a bad file."""
    from livedj.audio.decode import DecodeError, decode
    from livedj.dsp.rhythm import estimate_tempo
    from livedj.dsp.tonal import track_keys
    from livedj.library.tags import read_tags

    segment_encoder = segment_encoder or encoder
    sr = settings.sample_rate
    tags = read_tags(path)
    try:
        if settings.segment_hop_s > 0:  # the whole track is needed anyway: decode it once
            audio = decode(path, sr, 0.0, settings.max_track_s)
            start = first_sound(audio[:int(60 * sr)], sr)
            head = audio[int(start * sr):int((start + settings.beginning_s) * sr)]
            _measured_duration(tags, len(audio) / sr, settings.max_track_s)
        else:
            head, start = load_beginning(path, settings.beginning_s, sr)
    except DecodeError as exc:
        return FileResult(path, False, error=exc.reason, tags=tags)
    except Exception as exc:  # a decoder bug must not stop a 10,000-file run
        return FileResult(path, False, error=f"{type(exc).__name__}: {exc}", tags=tags)
    samples = audio if settings.segment_hop_s > 0 else head
    if not np.isfinite(samples).all():  # a damaged float file
        return FileResult(path, False, error=f"{CORRUPT}: NaN or infinite samples", tags=tags)
    if samples.size and np.max(np.abs(samples)) > FAR_BEYOND_FULL_SCALE:  # no real master: every frame would clip
        return FileResult(path, False, error=f"{CORRUPT}: samples far beyond full scale", tags=tags)
    if len(head) == 0 and start >= MIN_AUDIO_S:  # long enough, but not one frame of sound in it
        return FileResult(path, False, error=f"{SILENT} (nothing above {SILENT_DBFS:.0f} dBFS in {start:.1f} s)",
                          tags=tags)
    if len(head) < MIN_AUDIO_S * sr:
        return FileResult(path, False, error=f"too short: {len(head) / sr:.1f} s of sound ({MIN_AUDIO_S:g} s needed)",
                          tags=tags)
    level = 20 * np.log10(np.sqrt(np.mean(np.square(head, dtype=np.float64))) + 1e-12)
    if level < SILENT_DBFS:  # no frame rose above the floor in the first minute: not music
        return FileResult(path, False, error=f"{SILENT} ({level:.0f} dBFS)", tags=tags)
    windows = beginning_windows(head, encoder)
    if not np.isfinite(windows).all():  # a last guard for the fit: the checks above leave no known cause
        return FileResult(path, False, error=f"{CORRUPT}: the encoder gave no finite vector", tags=tags)
    result = FileResult(path, True, tags=tags, vector=unit(np.mean(windows, axis=0)), windows=windows, start_s=start)
    if settings.segment_hop_s > 0:
        from livedj.dsp.fingerprint import landmarks

        result.segments = segment_vectors(audio, segment_encoder, settings.segment_hop_s)
        result.landmarks = landmarks(audio, sr)
    if "bpm" in tags:
        result.bpm, result.bpm_source = tags["bpm"], "tag"
    else:
        bpm, _ = estimate_tempo(head, sr)
        result.bpm, result.bpm_source = (float(bpm), "audio") if bpm else (None, None)
    # The beginning's key (what a DJ mixes into) is the track's key; the end's is kept for mixing out.
    sound = audio[int(start * sr):] if settings.segment_hop_s > 0 else head
    (key, confidence), (result.key_end, result.key_end_confidence) = track_keys(
        sound, sr, whole_track=settings.segment_hop_s > 0)
    if "key" in tags:
        result.key, result.key_source = tags["key"], "tag"
    else:
        result.key_confidence = confidence
        result.key, result.key_source = (int(key), "audio") if key is not None else (None, None)
    return result
