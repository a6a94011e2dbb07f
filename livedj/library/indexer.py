"""`livedj index`: scan folders, analyse new or changed files, store them, rebuild the Annoy index.

The per-file work (:func:`livedj.library.track_analysis.analyze_file`) is a pure function of the file
and the settings, run in worker processes so both cores are busy; the parent alone writes the store
(one writer, every file committed on its own, so an interrupted run resumes where it stopped) and
reports progress through a callback, so the command line (or any other front end) draws it.
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Callable, Iterable

from livedj.dsp import WINDOW_S
from livedj.encoders.base import Encoder
from livedj.library import index_checks as checks, moves, verify
from livedj.library.rekey import rekey
from livedj.library.scan import FoundFile, MissingFile, scan_with_imported
from livedj.library.store import display_path, encode_path
from livedj.library.track_analysis import FileResult, Settings, analyze_file
from livedj.words import plural


@dataclass
class Report:
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  #: (path, reason)
    missing: list[MissingFile] = field(default_factory=list)  #: listed by the DJ's software, not here (not in skipped)
    relocated: list = field(default_factory=list)  #: relocate.Moved: listed elsewhere, found here by name or path map
    moved: list = field(default_factory=list)  #: moves.Move: files moved since the last run, their analysis kept
    moves_unsure: list[str] = field(default_factory=list)  #: new files analysed: more than one could be a gone row's
    seconds: float = 0.0
    index_items: int = 0
    index_dir: str = ""
    repaired: list[str] = field(default_factory=list)  #: why the index was rebuilt with nothing new to analyse
    cleaned: list[str] = field(default_factory=list)  #: leftovers of interrupted runs, removed
    rekeyed: int = 0  #: files whose audio key an older key analysis gave, estimated again
    damaged: int = 0  #: unchanged files analysed again: their stored vectors were not all finite (an older livedj)
    resegmented: int = 0  #: unchanged files analysed again: another encoder made their segment vectors (an older livedj)
    unsegmented: int = 0  #: unchanged files analysed again: indexed with segment_hop_s = 0 (no segments, no landmarks)
    copies: object = None  #: copies.Found: recordings the library holds more than once (None: not looked for)
    copies_problem: str = ""  #: why copies were not looked for this run (the index itself is built)

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


def _analyze_in_worker(path: str) -> FileResult:
    assert _worker is not None, "called outside an indexing worker process"
    return _worker.analyze(path)


# -- parent side ----------------------------------------------------------------------------
ProgressFn = Callable[[str, int, int, str], None]  # (event, done, total, path); events: "scan", "file", "fingerprint", "build"


def index_library(roots: Iterable[str], index_dir: str, settings: Settings, *, jobs: int | None = None,
                  n_trees: int = 16, progress: ProgressFn | None = None, imported: Iterable = (),
                  trained=None, maps=()) -> Report:
    """Bring the index in ``index_dir`` up to date with the audio files under ``roots``.

    ``trained``: a projection from `livedj train` (library/contrastive.py) that replaces the fitted
    one; the index is rebuilt from the window cache (with ``roots`` empty nothing is scanned).

    ``imported`` are :class:`~livedj.library.importers.ImportedTrack` from the DJ's software: their
    files are indexed too, and their BPM/key (the DJ's own analysis) win over tags and audio. One
    listed under another computer's folders is found by ``maps`` (relocate.PathMap: ``OLD=NEW``) or
    among the scanned files by its name (library/relocate.py; ``Report.relocated``).
    """
    from livedj.encoders import encoder_dim, encoder_id
    from livedj.library import index as annoy_index  # here, not at the top: a worker process imports
    from livedj.library import vectors as vector_fit  # this module and needs neither (numba: ~0.4 s each)
    from livedj.library.refingerprint import current_params, refingerprint
    from livedj.library.rekey import current_analysis

    began = time.perf_counter()
    report = Report(index_dir=str(index_dir))
    progress = progress or (lambda *a: None)
    verify.refuse_foreign(index_dir)  # a music folder named as the index: its files are not the build's
    lock = verify.lock(index_dir)  # one build per directory; the kernel drops it if we die
    store = None
    try:
        store, damaged = verify.open_store(index_dir)
        if damaged:
            report.repaired.append(damaged)
        checks.record_analysis_if_empty(store)
        enc_id = encoder_id(settings.encoder, settings.head)
        known = store.fingerprints()
        # no manifest and nothing stored: a new index (a first run), built, not "repaired"
        new = not known and not os.path.lexists(os.path.join(index_dir, verify.MANIFEST))
        window_cache = vector_fit.load_windows(index_dir, enc_id, settings.beginning_s)
        roots = [os.fsdecode(r) for r in roots]
        # "" (an unset shell variable) is not the current folder: whatever is under it would be indexed
        problems: list[tuple[str, str]] = [("''", "an empty path (not the current folder)") for r in roots if not r]
        roots = [os.path.abspath(r) for r in roots if r]
        # a file the DJ's software lists under another name (a link) is the scan's file: indexed once
        found, dj, aliases = scan_with_imported(roots, imported, problems, report.missing, maps=maps,
                                                moved=report.relocated)
        for p, why in problems:
            if why == "no such folder" and (n := sum(k.startswith(encode_path(os.path.join(p, ""))) for k in known)):
                why += f" (its {n} indexed tracks are kept: a drive not plugged in?)"
            report.skipped.append((display_path(encode_path(p)), why))
        # files that vanished from the scanned folders leave the index, unless they moved: one row, its
        # analysis kept (put under the new path before anything below looks rows up by path)
        gone = moves.gone_rows(known, found, roots, problems, aliases)
        moved = moves.find_moves(store, gone, (f for f in found if encode_path(f.path) not in known))
        moves.apply_moves(store, moved.moves, known, window_cache)
        report.moved, report.moves_unsure, gone = moved.moves, moved.unsure, gone - {m.old for m in moved.moves}
        gone = moves.keep_empty_roots(roots, found, gone, report.skipped)  # an unmounted drive's mount point
        damaged = checks.damaged(store, window_cache, enc_id, encoder_dim(settings.segment_encoder, settings.head))
        foreign = checks.foreign_segments(store, index_dir, enc_id, encoder_id(settings.segment_encoder, settings.head),
                                    encoder_dim(settings.segment_encoder, settings.head))
        # indexed with segment_hop_s = 0, now on: else never identified, their copies never found
        bare = {bytes(r) for r, in store.db.execute("SELECT path FROM tracks WHERE status = 'ok' AND encoder = ? AND "
                                                    "segments IS NULL", (enc_id,))} if settings.segment_hop_s > 0 else set()
        todo: list[FoundFile] = []
        moved_to = {encode_path(m.new) for m in report.moved}
        for f in found:
            old = known.get(encode_path(f.path))
            # a file stored without cached windows (an older livedj, or a run killed before the build)
            # is not re-decoded: its stored beginning vector is projected instead (library/vectors.py)
            current = old and old[0] == f.size and old[1] == f.mtime_ns and (old[2] == "error" or old[3] == enc_id)
            if current and old[2] == "ok" and encode_path(f.path) in damaged:  # unchanged, its vectors unusable
                report.damaged += 1
                current = False
            elif current and old[2] == "ok" and encode_path(f.path) in foreign:  # segments of another encoder
                report.resegmented += 1
                current = False
            elif current and old[2] == "ok" and encode_path(f.path) in bare:
                report.unsegmented += 1
                current = False
            if current:
                if old[2] == "error":
                    report.skipped.append((display_path(encode_path(f.path)), f"{old[4]} (unchanged since it failed)"))
                else:
                    report.unchanged += encode_path(f.path) not in moved_to  # counted apart: moved
                    if f.path in dj:  # the DJ software's analysis may have changed: cheap to refresh
                        store.set_dj_analysis(f.path, dj[f.path])
            else:
                todo.append(f)
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
                          landmarks=result.landmarks,
                          fingerprint_params=current_params() if result.landmarks is not None else None,
                          segment_encoder=encoder_id(settings.segment_encoder, settings.head),
                          head_hash=moves.head_hash(f.path))
                store.set_key_analysis(f.path, result.key_confidence if result.key_source == "audio" else None,
                                       result.key_end, result.key_end_confidence, key_analysis=current_analysis())
                report.indexed += 1
                window_cache[encode_path(f.path)] = result.windows
            else:
                if not result.retry and not os.path.exists(f.path):  # deleted or moved after the scan
                    result.retry, result.error = True, "deleted or moved while being indexed (looked at again next run)"
                if not result.retry:  # a dead worker says nothing about the file: the next run tries it again
                    store.put(f.path, f.size, f.mtime_ns, status="error", error=result.error, tags=result.tags)
                report.skipped.append((display_path(encode_path(f.path)), result.error or "unknown error"))
            progress("file", i, len(todo), f.path)
        refreshed, not_refreshed = refingerprint(store, index_dir, {encode_path(p) for p in by_path}, progress, jobs)
        report.skipped += [(display_path(encode_path(p)), f"fingerprint not computed again ({why}): the old one is "
                            "kept, out of the fingerprint index, until a later run does it") for p, why in not_refreshed]
        report.rekeyed, not_rekeyed = rekey(store, settings, {encode_path(p) for p in by_path}, progress, jobs)
        report.skipped += [(display_path(encode_path(p)), f"key not estimated again ({why}): the old one is kept "
                            "until a later run does it") for p, why in not_rekeyed]
        digest = verify.store_digest(store.db)  # every file of the index checked against the manifest, every run
        why = verify.reasons_to_build(index_dir, digest) or checks.unloadable(index_dir, enc_id)
        if refreshed:  # the fingerprint index must be rebuilt from the new landmarks, whatever else says
            why = [*why, f"fingerprints of {plural(refreshed, 'file')} computed again (new fingerprint parameters)"]
        fit = vector_fit.FitSettings(settings.fit, settings.fit_dims, settings.fit_shrinkage, settings.fit_room)
        if report.indexed or report.removed or why or checks.stale(index_dir, enc_id) \
                or checks.stale_vectors(index_dir, enc_id, settings, fit) or trained is not None:
            report.repaired += [] if (report.indexed or report.removed or new) else why
            progress("build", 0, 1, "")
            paths = {t.id: encode_path(t.path) for t in store.tracks().values()}
            window_cache = {p: window_cache[p] for p in paths.values() if p in window_cache}
            vector_fit.save_windows(index_dir, window_cache, enc_id, settings.beginning_s)
            items, dim, vector_entry = vector_fit.adapted_items(
                index_dir, store.vectors(enc_id), paths, window_cache, encoder=enc_id,
                beginning_s=settings.beginning_s, window_s=WINDOW_S, fit=fit, manifest=checks.manifest_or_none(index_dir),
                changed=report.indexed + report.removed, trained=trained,
                # copies known so far (this run's new ones are found after the build: the next fit has them)
                recordings=store.recordings())
            segments = store.segments(enc_id, encoder_dim(settings.segment_encoder, settings.head))
            manifest = annoy_index.build(index_dir, items, dim=dim,
                                         encoder=enc_id, n_trees=n_trees, segments=segments,
                                         segment_encoder=encoder_id(settings.segment_encoder, settings.head),
                                         segment_dim=encoder_dim(settings.segment_encoder, settings.head),
                                         # an older livedj's landmarks left by the upgrade: kept in the store only
                                         landmarks=store.landmarks(current_params()),
                                         extra={verify.DIGEST_KEY: digest, "vector": vector_entry})
            report.index_items = manifest["items"]
            progress("build", 1, 1, "")
        else:
            report.index_items = annoy_index.read_manifest(index_dir)["items"]
            if report.moved:  # the index holds ids (unchanged), the window cache paths: saved re-keyed
                vector_fit.save_windows(index_dir, window_cache, enc_id, settings.beginning_s)
        try:  # after the build: today's fingerprints
            report.copies = _find_copies(store, index_dir, current_params())
        except Exception as exc:  # the index is built and sound: copies are looked for again next run
            report.copies_problem = f"{type(exc).__name__}: {exc}"
        report.cleaned = verify.clean_leftovers(index_dir)
    finally:
        if store is not None:
            store.close()
        verify.unlock(lock)
    report.seconds = time.perf_counter() - began
    return report


def _find_copies(store, index_dir: str, params: str):
    """:func:`livedj.library.copies.find_copies` with the fingerprint index the manifest of ``index_dir``
    names (none: nothing found)."""
    from pathlib import Path

    from livedj.library import copies
    from livedj.library import index as annoy_index
    from livedj.library.fpindex import FingerprintIndex

    entry = (annoy_index.read_manifest(index_dir).get("fingerprints") or {})
    index = FingerprintIndex.load(Path(index_dir) / entry["prefix"]) if entry.get("hashes") else None
    return copies.find_copies(store, index, params)


def _prefer_dj(result: FileResult, track) -> None:
    """The DJ software's BPM/key (their own analysis) over tags and audio estimates."""
    if track.bpm:
        result.bpm, result.bpm_source = float(track.bpm), track.source
    if track.key is not None:
        result.key, result.key_source = int(track.key), track.source
    for name in ("title", "artist", "album"):
        if getattr(track, name, None) and name not in result.tags:
            result.tags[name] = getattr(track, name)


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
