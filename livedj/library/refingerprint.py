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
from livedj.library.upgrade import upgrade_pass

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
    """(path, landmarks or None, why not): one file decoded and fingerprinted again (in a worker process)."""
    from livedj.audio.decode import DecodeError, decode
    from livedj.dsp import fingerprint as fp

    try:
        return path, fp.landmarks(decode(path, fp.SR), fp.SR), ""
    except (DecodeError, OSError) as exc:  # gone or unreadable since: its old landmarks are kept
        return path, None, str(exc) or type(exc).__name__


def refingerprint(store, index_dir: str, fresh: set[bytes], progress: Callable[[str, int, int, str], None],
                  jobs: int | None = 1) -> tuple[int, list[tuple[str, str]]]:
    """Landmarks stored with other fingerprint parameters (an older livedj) computed again.

    Only the fingerprint: each file is decoded (in ``jobs`` processes) and its landmarks replaced;
    its vectors, tempo and key are kept. Each file's landmarks are committed with their parameters
    (the store's ``fingerprint_params``), so a pass stopped half-way (Ctrl-C) resumes with the files
    it had not done. A file whose worker died, or that cannot be decoded now, keeps its old landmarks
    and their parameters: nothing new was computed, and the next run tries it again. The parameters
    are recorded for the whole store only once every row's landmarks are current; until then the
    store says :data:`~livedj.library.upgrade.UNFINISHED`, so that its rebuilt fingerprint index (labelled with today's
    parameters) cannot vouch for the rows left.

    Parameters
    ----------
    store : livedj.library.store.Store
        The library store, writable.
    index_dir : str
        The index directory (its fingerprint index says the parameters of a store that predates
        their record).
    fresh : set of bytes
        Encoded paths analysed in this run (their landmarks are current, or were not stored).
    progress : callable
        ``progress("fingerprint", done, total, path)``.
    jobs : int, optional
        Worker processes (None: one per CPU).

    Returns
    -------
    done : int
        Files whose landmarks were computed again (the fingerprint index must be rebuilt if any).
    failed : list of (str, str)
        (path, why) of files left with their old landmarks (left out of the fingerprint index,
        see :meth:`livedj.library.store.Store.landmarks`).
    """
    want = current_params()
    if _stored_fingerprint_params(store, index_dir) == want:
        # rows written before each recorded its parameters: the store (or its index) vouches for them
        store.db.execute("UPDATE tracks SET fingerprint_params = ? WHERE landmarks IS NOT NULL "
                         "AND fingerprint_params IS NULL", (want,))
    rows = store.db.execute("SELECT id, path FROM tracks WHERE status = 'ok' AND landmarks IS NOT NULL "
                            "AND fingerprint_params IS NOT ?", (want,)).fetchall()
    by_path = {os.fsdecode(bytes(raw)): tid for tid, raw in rows if bytes(raw) not in fresh}
    return upgrade_pass(store, meta_key=FINGERPRINT_META, current=want, selected=len(rows), items=list(by_path),
                        path_of=lambda path: path, analyse=_fingerprint_file,
                        store_result=lambda path, landmarks: store.set_landmarks(by_path[path], landmarks, want),
                        event="fingerprint", progress=progress, jobs=jobs)
