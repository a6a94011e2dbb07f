"""Stereo decoding of whole records and streamed encoding of the mix, with PyAV (FFmpeg).

The live path (:mod:`livedj.audio.decode`) decodes mono at 16 kHz; a mix needs stereo at full
rate. The writer takes the mix chunk by chunk, so a one-hour mix is never held in memory.
"""
from __future__ import annotations

import os
from pathlib import Path

import av
import av.error
import numpy as np

from livedj.audio.decode import DecodeError
from livedj.fsutil import short_name

__all__ = ["SAMPLE_RATE", "FORMATS", "load_stereo", "MixWriter", "WriteFailed", "check_output"]

#: the mix's sample rate, Hz
SAMPLE_RATE = 44100

#: extension -> (container, codec, sample format, bit rate); ``ogg`` goes through libsndfile's
#: reference Vorbis encoder: FFmpeg's own Vorbis encoder is experimental and its granule
#: positions are wrong (players show a wrong length).
FORMATS = {
    "mp3": ("mp3", "libmp3lame", "fltp", 320_000),
    "flac": ("flac", "flac", "s16", 0),
    "wav": ("wav", "pcm_s16le", "s16", 0),
    "ogg": None,
}


def load_stereo(path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode a whole file to stereo float32 at ``sample_rate``.

    Parameters
    ----------
    path : str or os.PathLike
        Any format FFmpeg reads.
    sample_rate : int
        Output rate, Hz.

    Returns
    -------
    np.ndarray
        Shape ``(2, n)``; a mono file is copied to both channels.

    Raises
    ------
    DecodeError
        Missing, empty, unreadable or silent-length file (one line naming it).
    """
    name = os.fsdecode(path)
    if not os.path.isfile(name):
        raise DecodeError(path, "no such file" if not os.path.exists(name) else "not a file")
    try:
        container = av.open(name, mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError, UnicodeEncodeError) as e:
        raise DecodeError(path, getattr(e, "strerror", None) or str(e) or type(e).__name__) from e
    chunks = []
    try:
        if not container.streams.audio:
            raise DecodeError(path, "no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=sample_rate)
        errors = 0
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except (av.error.FFmpegError, ValueError) as e:
                errors += 1
                if errors >= 64:
                    raise DecodeError(path, f"{errors} undecodable packets in a row") from e
                continue
            errors = 0
            for frame in frames:
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    except av.error.FFmpegError:
        pass  # a truncated file: keep what decoded
    finally:
        container.close()
    if not chunks:
        raise DecodeError(path, "no audio decoded")
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False)


def check_output(path) -> str | None:
    """Why ``path`` cannot be written (unknown format, a folder, missing or read-only folder), else None."""
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    if ext not in FORMATS:
        return f"{path}: unsupported format {path.suffix or '(none)'!r}; use one of .{', .'.join(FORMATS)}"
    if path.is_dir():  # else found only by the rename, after the whole render
        return f"{path}: is a folder; give a file name"
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return f"{path}: folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{path}: folder {folder} is not writable"
    return None


class WriteFailed(OSError):
    """The mix could not be written (a full disk, a drive pulled out): one line naming the DJ's file, never
    the temporary ``.partial`` one it is written under (``[Errno 28] No space left on device:
    '.set.wav.partial'`` named a file the DJ never gave and never sees)."""


def _write_failed(path: Path, exc: BaseException) -> WriteFailed:
    why = getattr(exc, "strerror", None)
    if not why:  # libsndfile (.ogg) says only "System error."
        try:
            full = os.statvfs(path.parent).f_bavail == 0
        except OSError:
            full = False
        why = "No space left on device" if full else (str(exc).strip() or type(exc).__name__)
    return WriteFailed(f"{path}: cannot write ({why})")


_WRITE_ERRORS = (OSError, RuntimeError, av.error.FFmpegError)  # RuntimeError: soundfile's LibsndfileError


class MixWriter:
    """Encode stereo float chunks to a file; the format follows the extension.

    Written under a temporary name and renamed by :meth:`close`, so a failed render never
    leaves half a mix where a good one was. Use as a context manager. A write that fails raises
    :class:`WriteFailed` naming ``path``.
    """

    def __init__(self, path, sample_rate: int = SAMPLE_RATE, title: str | None = None):
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.samples = 0
        self._tmp = self.path.with_name(f".{short_name(self.path.name)}.partial")  # a long name: its own is too long
        ext = self.path.suffix.lower().lstrip(".")
        if ext not in FORMATS:
            raise ValueError(check_output(path))
        try:
            self._open(FORMATS[ext], sample_rate, title)
        except _WRITE_ERRORS as exc:
            if self._tmp.exists():
                self._tmp.unlink()
            raise _write_failed(self.path, exc) from None

    def _open(self, spec, sample_rate: int, title: str | None) -> None:
        self._sndfile = None
        if spec is None:
            import soundfile as sf

            self._sndfile = sf.SoundFile(str(self._tmp), "w", sample_rate, 2, format="OGG", subtype="VORBIS")
            if title:
                self._sndfile.title = title
            return
        fmt, codec, sample_fmt, bit_rate = spec
        self._container = av.open(str(self._tmp), "w", format=fmt)
        if title:
            self._container.metadata["title"] = title
        self._stream = self._container.add_stream(codec, rate=sample_rate, layout="stereo")
        if bit_rate:
            self._stream.bit_rate = bit_rate
        self._resampler = av.AudioResampler(format=sample_fmt, layout="stereo", rate=sample_rate,
                                            frame_size=self._stream.codec_context.frame_size or 1024)

    def write(self, x: np.ndarray) -> None:
        """Append ``x`` (shape ``(2, n)``, float in [-1, 1]) to the file."""
        x = np.ascontiguousarray(np.clip(x, -1.0, 1.0), dtype=np.float32)
        self.samples += x.shape[1]
        try:
            self._write(x)
        except _WRITE_ERRORS as exc:
            raise _write_failed(self.path, exc) from None

    def _write(self, x: np.ndarray) -> None:
        if self._sndfile is not None:
            self._sndfile.write(x.T)
            return
        frame = av.AudioFrame.from_ndarray(x, format="fltp", layout="stereo")
        frame.sample_rate = self.sample_rate
        for f in self._resampler.resample(frame):
            self._container.mux(self._stream.encode(f))

    def close(self, ok: bool = True) -> None:
        """Finish the file and move it into place (``ok``), or delete the partial file (what fails then is
        not said: the error that stopped the mix is)."""
        try:
            self._finish(ok)
        except _WRITE_ERRORS as exc:
            if ok:
                raise _write_failed(self.path, exc) from None
        finally:
            if self._tmp.exists():
                self._tmp.unlink()

    def _finish(self, ok: bool) -> None:
        if self._sndfile is not None:
            self._sndfile.close()
        else:
            if ok:
                for f in self._resampler.resample(None):
                    self._container.mux(self._stream.encode(f))
                self._container.mux(self._stream.encode(None))
            self._container.close()
        if ok:
            os.replace(self._tmp, self.path)

    def __enter__(self) -> "MixWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)
