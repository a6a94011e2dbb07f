"""Landmarks stored with other fingerprint parameters, computed again (part of `livedj index`).

The store records the parameters its landmarks were computed with (:data:`FINGERPRINT_META`); when
:data:`livedj.dsp.fingerprint.PARAMS` changes, every stored file is decoded and fingerprinted again,
its vectors, tempo and key kept, so that the fingerprint index is never packed from landmarks of
another kind (docs/fingerprints.md, "Fingerprint parameters").
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from livedj.library import index as annoy_index
from livedj.library import workers

#: store meta key: the fingerprint parameters (:data:`livedj.dsp.fingerprint.PARAMS`) of the stored landmarks
FINGERPRINT_META = "fingerprint_params"


def current_params() -> str:
    """:data:`livedj.dsp.fingerprint.PARAMS` as stored under :data:`FINGERPRINT_META`."""
    from livedj.dsp import fingerprint as fp

    return json.dumps(fp.PARAMS, sort_keys=True)


def _stored_fingerprint_params(store, index_dir: str) -> str | None:
    """The parameters the stored landmarks were computed with, as canonical JSON; None if unknown.

    A store written before they were recorded: the fingerprint index built from it says (its
    meta file), since every build packs the stored landmarks as they are.
    """
    recorded = store.get_meta(FINGERPRINT_META)
    if recorded is not None:
        return recorded
    try:
        manifest = annoy_index.read_manifest(index_dir)
    except annoy_index.IndexUnusable:
        manifest = None
    prefix = ((manifest or {}).get("fingerprints") or {}).get("prefix")
    if not prefix:
        return None
    try:
        params = json.loads((Path(index_dir) / f"{prefix}.meta.json").read_text(encoding="utf-8")).get("params")
    except (OSError, ValueError, AttributeError):
        return None
    return json.dumps(params, sort_keys=True) if isinstance(params, dict) else None


def _fingerprint_file(path: str):
    """(path, landmarks or None, lost): one file decoded and fingerprinted again (in a worker process)."""
    from livedj.audio.decode import DecodeError, decode
    from livedj.dsp import fingerprint as fp

    try:
        return path, fp.landmarks(decode(path, fp.SR), fp.SR), False
    except (DecodeError, OSError):  # gone or unreadable since: no fingerprint until it is analysed again
        return path, None, False


def refingerprint(store, index_dir: str, fresh: set[bytes], progress: Callable[[str, int, int, str], None], jobs: int | None = 1) -> int:
    """Landmarks stored with other fingerprint parameters (an older livedj) computed again.

    Only the fingerprint: each file is decoded (in ``jobs`` processes) and its landmarks replaced;
    its vectors, tempo and key are kept. ``fresh``: files analysed in this run (already current).
    Each file's landmarks are committed with their parameters (the store's ``fingerprint_params``),
    so a pass stopped half-way (Ctrl-C) resumes with the files it had not done. The parameters are
    recorded for the whole store once every file is done; a worker that died leaves them
    unrecorded, so that the next run does the pass again. Returns how many files were done.
    """
    want = current_params()
    rows = store.db.execute("SELECT id, path FROM tracks WHERE status = 'ok' AND landmarks IS NOT NULL "
                            "AND fingerprint_params IS NOT ?", (want,)).fetchall()
    if _stored_fingerprint_params(store, index_dir) == want or not rows:
        if store.get_meta(FINGERPRINT_META) != want:
            store.set_meta(FINGERPRINT_META, want)
            store.db.commit()
        return 0
    by_path = {os.fsdecode(bytes(raw)): tid for tid, raw in rows if bytes(raw) not in fresh}
    if by_path:
        progress("fingerprint", 0, len(by_path), "")
    results = workers.map_files(_fingerprint_file, list(by_path), jobs=jobs, lost=lambda path, why: (path, None, True))
    lost = 0
    for i, (path, landmarks, dead) in enumerate(results, 1):
        store.set_landmarks(by_path[path], landmarks, None if landmarks is None else want)
        store.db.commit()  # each file on its own: a stopped pass keeps what it did
        lost += dead
        progress("fingerprint", i, len(by_path), path)
    if not lost:
        store.set_meta(FINGERPRINT_META, want)
    store.db.commit()
    return len(by_path)
