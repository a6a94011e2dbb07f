"""What a `livedj index` run must do again although no file is new: the checks of the store and the index
files that :func:`livedj.library.indexer.index_library` asks on its way.

A store's own record of its analysis (:func:`record_analysis_if_empty`); stored rows analysed again
(:func:`damaged` vectors, :func:`foreign_segments` of another encoder); an index rebuilt although its
files are intact (:func:`unloadable`, :func:`stale`, :func:`stale_vectors`).
"""
from __future__ import annotations

import os

from livedj.dsp import WINDOW_S
from livedj.library import verify
from livedj.library.track_analysis import Settings


def record_analysis_if_empty(store) -> None:
    """A store without analysed files (new, or set aside as damaged) will hold only this livedj's keys and
    landmarks: record their analysis now. Recorded only at the end of a run, a run stopped before it (Ctrl-C)
    left the files it stored looking like an older livedj's: the next run estimated their keys and
    fingerprints again. (A store of an older livedj is upgraded file by file instead: each row records
    what made its key and landmarks, see ``store_schema._ADDED_COLUMNS``.)"""
    from livedj.library.refingerprint import FINGERPRINT_META, current_params
    from livedj.library.rekey import KEY_META, current_analysis
    from livedj.library.upgrade import distrust_after_older

    if store.db.execute("SELECT 1 FROM tracks WHERE status = 'ok' LIMIT 1").fetchone() is None:
        store.set_meta(KEY_META, current_analysis())
        store.set_meta(FINGERPRINT_META, current_params())
        store.db.commit()
    else:  # an older livedj ran on this store after this one (rolled back): its rows' records are wrong
        distrust_after_older(store, KEY_META, "key_analysis", current_analysis())
        distrust_after_older(store, FINGERPRINT_META, "fingerprint_params", current_params())


def damaged(store, window_cache: dict, enc_id: str, segment_dim: int) -> set[bytes]:
    """Stored tracks whose vectors, or cached beginning windows (the fit's input), are not all finite.

    Older livedj versions could store a NaN vector; one spoils the library fit (every similarity 0),
    and an unchanged file is never analysed again otherwise.
    """
    import numpy as np

    bad = store.damaged(enc_id, segment_dim)
    return bad | {raw for raw, windows in window_cache.items() if not np.isfinite(windows).all()}


def foreign_segments(store, index_dir: str, enc_id: str, segment_id: str, segment_dim: int) -> set[bytes]:
    """Stored tracks whose segment vectors another segment encoder made: analysed again.

    Before d660ac3 the segment vectors came from the beginning encoder (musicnn, 200 wide; the
    manifest's segment entry names no encoder); today's segment index cannot hold them (it was a
    reshape traceback). A row records its segment encoder (column ``segment_encoder``, so an
    interrupted upgrade resumes); an older row's (NULL) is the one the manifest names, whose
    segment entry is of the last build. A width that does not fit today's is foreign in any case.
    """
    import json

    try:
        with open(os.path.join(index_dir, verify.MANIFEST), encoding="utf-8") as f:
            seg = json.load(f).get("segments")
        made_by = seg.get("encoder", "") if isinstance(seg, dict) else None
    except (OSError, ValueError, AttributeError):
        made_by = None  # no manifest, or an unreadable one: only the width tells
    rows = store.db.execute("SELECT path, length(segments), segment_encoder FROM tracks WHERE status = 'ok' "
                            "AND encoder = ? AND segments IS NOT NULL", (enc_id,))
    return {bytes(raw) for raw, size, row_by in rows
            if (row_by if row_by is not None else made_by) not in (None, segment_id) or size % (4 * segment_dim)}


def unloadable(index_dir: str, enc_id: str) -> list[str]:
    """Why the (intact) files of the index do not load, e.g. a manifest field of the wrong type."""
    from livedj.library import index as annoy_index

    try:
        annoy_index.load(index_dir, verify=False, private=False, window_s=WINDOW_S)  # CRCs just checked; our windows
    except annoy_index.IndexUnusable as exc:  # the report says it was rebuilt: not "rebuild with `livedj index`"
        return [str(exc).split("; rebuild with `livedj index`")[0]]
    return []


def stale(index_dir: str, enc_id: str) -> bool:
    from livedj.library import index as annoy_index

    try:
        manifest = annoy_index.read_manifest(index_dir)
    except annoy_index.IndexUnusable:
        return True
    # a format-1 fingerprint index (hashes + entries files) loads by conversion: rewrite it once
    old_fp = any(e.get("file", "").endswith(".entries.npy") for e in (manifest.get("fingerprints") or {}).get("files", []))
    return manifest.get("encoder") != enc_id or old_fp


def manifest_or_none(index_dir: str) -> dict | None:
    from livedj.library import index as annoy_index

    try:
        return annoy_index.read_manifest(index_dir)
    except annoy_index.IndexUnusable:
        return None


def stale_vectors(index_dir: str, enc_id: str, settings: Settings, fit) -> bool:
    """The index's vectors were shaped by other settings (fit, beginning): rebuild from the window cache."""
    from livedj.library import vectors as vector_fit

    manifest = manifest_or_none(index_dir)
    return manifest is None or vector_fit.stale(manifest, enc_id, settings.beginning_s, fit)
