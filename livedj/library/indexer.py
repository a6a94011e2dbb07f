"""`livedj index`: scan folders, analyse new or changed files, store them, rebuild the Annoy index.

The per-file work (:func:`analyze_file`) is a pure function of the file and the settings, run in
worker processes so both cores are busy; the parent alone writes the store (one writer, every
file committed on its own, so an interrupted run resumes where it stopped) and reports progress
through a callback, so the command line (or any other front end) draws it.

The song-beginning vector: leading silence is skipped (first 128-ms frame above -50 dBFS and
within 40 dB of the loudest frame), then ``beginning_s`` seconds (default 30) are cut into
5-s windows -- the same length as a live window -- and the unit mean of their embeddings is the
track's vector. BPM and key come from the file's tags when the DJ (or their software) wrote them
(source "tag"), otherwise they are estimated from the same decoded beginning (source "audio").
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Callable, Iterable

import numpy as np

from livedj.dsp import WINDOW_S
from livedj.dsp.level import first_sound, rms_db
from livedj.encoders.base import Encoder, unit
from livedj.library import verify
from livedj.library.rekey import rekey
from livedj.library.scan import FoundFile, scan
from livedj.library.store import display_path, encode_path

MIN_AUDIO_S = 3.0  # below this a track has no beginning worth embedding
SILENT_DBFS = -50.0  #: a beginning quieter than this (RMS) is silence or near-silence, not a record
SILENT = "silent or near-silent: not music"
#: a file whose samples are not all finite numbers (NaN, infinity): one such vector would spoil the fit of every track
CORRUPT = "damaged audio"


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


@dataclass
class Report:
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  #: (path, reason)
    seconds: float = 0.0
    index_items: int = 0
    index_dir: str = ""
    repaired: list[str] = field(default_factory=list)  #: why the index was rebuilt with nothing new to analyse
    cleaned: list[str] = field(default_factory=list)  #: leftovers of interrupted runs, removed
    rekeyed: int = 0  #: files whose audio key an older key analysis gave, estimated again

    @property
    def files_per_s(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0


# -- worker side ----------------------------------------------------------------------------
@dataclass
class Worker:
    """What one indexing process analyses with: the settings and their encoders, loaded once."""

    settings: Settings
    encoder: Encoder
    segment_encoder: Encoder

    @classmethod
    def load(cls, settings: Settings) -> "Worker":
        from livedj.encoders import get_encoder

        encoder = get_encoder(settings.encoder, threads=settings.threads, head=settings.head)
        segment_encoder = (encoder if settings.segment_encoder == settings.encoder
                           else get_encoder(settings.segment_encoder, threads=settings.threads, head=settings.head))
        return cls(settings, encoder, segment_encoder)

    def analyze(self, path: str) -> FileResult:
        return analyze_file(path, self.settings, self.encoder, self.segment_encoder)


#: this process's worker, set by the pool's initializer from explicit arguments (a spawned process
#: keeps its loaded encoders between tasks only in a global; the parent process never sets it)
_worker: Worker | None = None


def _init_worker(settings: Settings) -> None:
    global _worker
    keep_freed_memory()
    _worker = Worker.load(settings)


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Let glibc's malloc keep freed blocks up to ``mmap_threshold`` bytes for the next file.

    A file's analysis allocates and frees the same multi-MB arrays (decoded audio, spectrograms)
    every time. By default glibc serves most of them with mmap and returns them on free, so every
    file faults its pages in again -- thousands of faults per four-minute file, on huge pages that
    numpy asks for, zeroed (and compacted) by the kernel. Kept in the heap, the next file reuses
    them: the same values, ~5 % less CPU per file (docs/indexing.md). A worker's resident memory
    then stays at its peak between files, which it reaches again with the next file anyway.
    Returns False where the C library is not glibc (nothing done).
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    return bool(mallopt(m_mmap_threshold, int(mmap_threshold))) and bool(mallopt(m_trim_threshold, int(trim_threshold)))


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
        else:
            head, start = load_beginning(path, settings.beginning_s, sr)
    except DecodeError as exc:
        return FileResult(path, False, error=exc.reason, tags=tags)
    except Exception as exc:  # a decoder bug must not stop a 10,000-file run
        return FileResult(path, False, error=f"{type(exc).__name__}: {exc}", tags=tags)
    if not np.isfinite(audio if settings.segment_hop_s > 0 else head).all():  # a damaged float file
        return FileResult(path, False, error=f"{CORRUPT}: NaN or infinite samples", tags=tags)
    if len(head) < MIN_AUDIO_S * sr:
        return FileResult(path, False, error=f"too short: {len(head) / sr:.1f} s of sound", tags=tags)
    level = 20 * np.log10(np.sqrt(np.mean(np.square(head, dtype=np.float64))) + 1e-12)
    if level < SILENT_DBFS:  # no frame rose above the floor in the first minute: not music
        return FileResult(path, False, error=f"{SILENT} ({level:.0f} dBFS)", tags=tags)
    windows = beginning_windows(head, encoder)
    if not np.isfinite(windows).all():  # e.g. samples far beyond full scale overflow the encoder
        return FileResult(path, False, error=f"{CORRUPT}: samples far beyond full scale (no finite vector)", tags=tags)
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


def _analyze_in_worker(path: str) -> FileResult:
    assert _worker is not None, "called outside an indexing worker process"
    return _worker.analyze(path)


# -- parent side ----------------------------------------------------------------------------
ProgressFn = Callable[[str, int, int, str], None]  # (event, done, total, path); events: "scan", "file", "fingerprint", "build"


def index_library(roots: Iterable[str], index_dir: str, settings: Settings, *, jobs: int | None = None,
                  n_trees: int = 16, progress: ProgressFn | None = None, imported: Iterable = (),
                  trained=None) -> Report:
    """Bring the index in ``index_dir`` up to date with the audio files under ``roots``.

    ``trained``: a projection from `livedj train` (library/contrastive.py) that replaces the fitted
    one; the index is rebuilt from the window cache (with ``roots`` empty nothing is scanned).

    ``imported`` are :class:`~livedj.library.importers.ImportedTrack` from the DJ's software: their
    files are indexed too, and their BPM/key (the DJ's own analysis) win over tags and audio.
    """
    from livedj.encoders import encoder_dim, encoder_id
    from livedj.library import index as annoy_index  # here, not at the top: a worker process imports
    from livedj.library import vectors as vector_fit  # this module and needs neither (numba: ~0.4 s each)
    from livedj.library.refingerprint import refingerprint

    began = time.perf_counter()
    report = Report(index_dir=str(index_dir))
    progress = progress or (lambda *a: None)
    lock = verify.lock(index_dir)  # one build per directory; the kernel drops it if we die
    store = None
    try:
        store, damaged = verify.open_store(index_dir)
        if damaged:
            report.repaired.append(damaged)
        enc_id = encoder_id(settings.encoder, settings.head)
        known = store.fingerprints()
        window_cache = vector_fit.load_windows(index_dir, enc_id, settings.beginning_s)
        roots = [os.fsdecode(r) for r in roots]
        # "" (an unset shell variable) is not the current folder: whatever is under it would be indexed
        problems: list[tuple[str, str]] = [("''", "an empty path (not the current folder)") for r in roots if not r]
        roots = [os.path.abspath(r) for r in roots if r]
        found = list(scan(roots, problems=problems))
        dj = {os.path.abspath(t.path): t for t in imported}
        listed = {f.path for f in found}
        for path, track in dj.items():
            if path in listed:
                continue
            if not os.path.isfile(path):
                problems.append((path, f"in the {track.source} library, but the file is missing"))
                continue
            st = os.stat(path)
            found.append(FoundFile(path, st.st_size, st.st_mtime_ns))
        for p, why in problems:
            if why == "no such folder" and (n := sum(k.startswith(encode_path(os.path.join(p, ""))) for k in known)):
                why += f" (its {n} indexed tracks are kept: a drive not plugged in?)"
            report.skipped.append((display_path(encode_path(p)), why))
        todo: list[FoundFile] = []
        for f in found:
            old = known.get(encode_path(f.path))
            # a file stored without cached windows (an older livedj, or a run killed before the build)
            # is not re-decoded: its stored beginning vector is projected instead (library/vectors.py)
            if old and old[0] == f.size and old[1] == f.mtime_ns and (old[2] == "error" or old[3] == enc_id):
                if old[2] == "error":
                    report.skipped.append((display_path(encode_path(f.path)), f"{old[4]} (unchanged since it failed)"))
                else:
                    report.unchanged += 1
                    if f.path in dj:  # the DJ software's analysis may have changed: cheap to refresh
                        store.set_dj_analysis(f.path, dj[f.path])
            else:
                todo.append(f)
        # files that vanished from the scanned folders leave the index; a root that is not there (a
        # drive not plugged in) or a folder that could not be read says nothing about its files: kept
        seen = {encode_path(f.path) for f in found}
        present = [r for r in roots if os.path.exists(r)]  # a link to an unplugged drive: not there
        prefixes = tuple(encode_path(os.path.join(r, "")) for r in present)
        root_files = {encode_path(r) for r in present}
        unread = tuple(encode_path(os.path.join(p, "")) for p, why in problems if why.startswith("cannot read folder"))
        gone = [p for p in known if p not in seen and (p.startswith(prefixes) or p in root_files)
                and not p.startswith(unread)]
        report.removed = store.remove(gone)
        progress("scan", 0, len(todo), "")
        by_path = {f.path: f for f in todo}
        for i, result in enumerate(_run(list(by_path), settings, jobs), 1):
            f = by_path[result.path]
            if result.ok and f.path in dj:
                _prefer_dj(result, dj[f.path])
            if result.ok:
                store.put(f.path, f.size, f.mtime_ns, status="ok", tags=result.tags, bpm=result.bpm,
                          bpm_source=result.bpm_source, key=result.key, key_source=result.key_source,
                          start_s=result.start_s, encoder=enc_id, vector=result.vector, segments=result.segments,
                          segment_hop=settings.segment_hop_s if result.segments is not None else None,
                          landmarks=result.landmarks)
                store.set_key_analysis(f.path, result.key_confidence if result.key_source == "audio" else None,
                                       result.key_end, result.key_end_confidence)
                report.indexed += 1
                window_cache[encode_path(f.path)] = result.windows
            else:
                if not result.retry:  # a dead worker says nothing about the file: the next run tries it again
                    store.put(f.path, f.size, f.mtime_ns, status="error", error=result.error, tags=result.tags)
                report.skipped.append((display_path(encode_path(f.path)), result.error or "unknown error"))
            progress("file", i, len(todo), f.path)
        refreshed = refingerprint(store, index_dir, {encode_path(p) for p in by_path}, progress, jobs)
        report.rekeyed = rekey(store, settings, {encode_path(p) for p in by_path}, progress, jobs)
        digest = verify.store_digest(store.db)  # every file of the index checked against the manifest, every run
        why = verify.reasons_to_build(index_dir, digest) or _unloadable(index_dir, enc_id)
        if refreshed:  # the fingerprint index must be rebuilt from the new landmarks, whatever else says
            why = [*why, f"fingerprints of {refreshed} files computed again (new fingerprint parameters)"]
        fit = vector_fit.FitSettings(settings.fit, settings.fit_dims, settings.fit_shrinkage, settings.fit_room)
        if report.indexed or report.removed or why or _stale(index_dir, enc_id) \
                or _stale_vectors(index_dir, enc_id, settings, fit) or trained is not None:
            report.repaired += [] if (report.indexed or report.removed) else why
            progress("build", 0, 1, "")
            paths = {t.id: encode_path(t.path) for t in store.tracks().values()}
            window_cache = {p: window_cache[p] for p in paths.values() if p in window_cache}
            vector_fit.save_windows(index_dir, window_cache, enc_id, settings.beginning_s)
            items, dim, vector_entry = vector_fit.adapted_items(
                index_dir, store.vectors(enc_id), paths, window_cache, encoder=enc_id,
                beginning_s=settings.beginning_s, window_s=WINDOW_S, fit=fit, manifest=_manifest_or_none(index_dir),
                changed=report.indexed + report.removed, trained=trained)
            segments = store.segments(enc_id, encoder_dim(settings.segment_encoder, settings.head))
            manifest = annoy_index.build(index_dir, items, dim=dim,
                                         encoder=enc_id, n_trees=n_trees, segments=segments,
                                         segment_encoder=encoder_id(settings.segment_encoder, settings.head),
                                         segment_dim=encoder_dim(settings.segment_encoder, settings.head),
                                         landmarks=store.landmarks(),
                                         extra={verify.DIGEST_KEY: digest, "vector": vector_entry})
            report.index_items = manifest["items"]
            progress("build", 1, 1, "")
        else:
            report.index_items = annoy_index.read_manifest(index_dir)["items"]
        report.cleaned = verify.clean_leftovers(index_dir)
    finally:
        if store is not None:
            store.close()
        verify.unlock(lock)
    report.seconds = time.perf_counter() - began
    return report


def _prefer_dj(result: FileResult, track) -> None:
    """The DJ software's BPM/key (their own analysis) over tags and audio estimates."""
    if track.bpm:
        result.bpm, result.bpm_source = float(track.bpm), track.source
    if track.key is not None:
        result.key, result.key_source = int(track.key), track.source
    for name in ("title", "artist", "album"):
        if getattr(track, name, None) and name not in result.tags:
            result.tags[name] = getattr(track, name)


def _unloadable(index_dir: str, enc_id: str) -> list[str]:
    """Why the (intact) files of the index do not load, e.g. a manifest field of the wrong type."""
    from livedj.library import index as annoy_index

    try:
        annoy_index.load(index_dir, verify=False, private=False)  # sizes and CRCs were just checked
    except annoy_index.IndexUnusable as exc:
        return [str(exc)]
    return []


def _stale(index_dir: str, enc_id: str) -> bool:
    from livedj.library import index as annoy_index

    try:
        manifest = annoy_index.read_manifest(index_dir)
    except annoy_index.IndexUnusable:
        return True
    # a format-1 fingerprint index (hashes + entries files) loads by conversion: rewrite it once
    old_fp = any(e.get("file", "").endswith(".entries.npy") for e in (manifest.get("fingerprints") or {}).get("files", []))
    return manifest.get("encoder") != enc_id or old_fp


def _manifest_or_none(index_dir: str) -> dict | None:
    from livedj.library import index as annoy_index

    try:
        return annoy_index.read_manifest(index_dir)
    except annoy_index.IndexUnusable:
        return None


def _stale_vectors(index_dir: str, enc_id: str, settings: Settings, fit) -> bool:
    """The index's vectors were shaped by other settings (fit, beginning): rebuild from the window cache."""
    from livedj.library import vectors as vector_fit

    manifest = _manifest_or_none(index_dir)
    return manifest is None or vector_fit.stale(manifest, enc_id, settings.beginning_s, fit)


def _run(paths: list[str], settings: Settings, jobs: int | None) -> Iterable[FileResult]:
    """Analyse ``paths`` in ``jobs`` processes (inline for one job or few files), yielding as they finish."""
    jobs = jobs or os.cpu_count() or 1
    if not paths:  # nothing to analyse: no encoder (torch) to load for a run that only checks or rebuilds
        return
    if jobs <= 1 or len(paths) < 4:
        worker = Worker.load(settings)
        for path in paths:
            yield worker.analyze(path)
        return
    # spawn: workers must not inherit a parent's torch thread pools or open SQLite handles; a dead
    # worker (OOM killer) costs only its file: the pool restarts and the file is skipped by name
    from livedj.library import workers

    yield from workers.imap_unordered(
        _analyze_in_worker, paths, jobs=jobs, mp_context=get_context("spawn"), initializer=_init_worker,
        initargs=(dataclasses.replace(settings, threads=1),),
        lost=lambda path, why: FileResult(path, False, error=f"not analysed: {why} (tried again next run)", retry=True))
