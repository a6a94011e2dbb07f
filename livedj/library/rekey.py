"""Keys stored by an older key analysis, estimated again (part of `livedj index`).

The store records which key analysis its keys come from (:data:`KEY_META`). When
:data:`KEY_ANALYSIS` changes (a better rule, such as the opening bars of docs/key.md), every file
whose key livedj estimated from its audio is decoded and its keys (beginning and end) estimated
again. Keys from tags or from the DJ's software are the DJ's own and stay. Vectors, tempo and
landmarks are kept, so the Annoy and fingerprint indexes are not rebuilt (the engine reads keys
from the store when it loads). A file that cannot be decoded then (or whose worker dies) keeps its old key
and is named in the report; the store stays marked unfinished until a later run has done it.
"""
from __future__ import annotations

import json
import os
from typing import Callable

from livedj.dsp.keyopening import INDEX_TEMPERATURE
# UNFINISHED: what :data:`KEY_META` says while some rows' audio keys are not current (each row's
# ``key_analysis`` says which); imported here too, where the tests and older callers look for it
from livedj.library.upgrade import UNFINISHED, upgrade_pass  # noqa: F401

#: store meta key: the key analysis (:data:`KEY_ANALYSIS`) the stored audio keys come from
KEY_META = "key_analysis"
#: Version 2: the opening bars break ties between a key and its relative (livedj.dsp.keyopening).
#: Version 3: the same keys, their confidence recalibrated (keyopening.INDEX_TEMPERATURE; the ranking weighs it).
#: Raise the version when the key analysis changes in a way the stored keys should follow.
KEY_ANALYSIS = {"version": 3, "opening": "relatives", "index_temperature": INDEX_TEMPERATURE}


def current_analysis() -> str:
    """:data:`KEY_ANALYSIS` as stored under :data:`KEY_META`."""
    return json.dumps(KEY_ANALYSIS, sort_keys=True)


def _key_file(job: tuple[str, float, int, float, float | None]):
    """(path, keys, why not): one file's keys estimated again (in a worker process).

    Reads the sound :func:`livedj.library.track_analysis.analyze_file` read, from the stored start of sound:
    the whole track (``beginning_s`` None: the segment settings decode it whole), or only its beginning
    (decoding no more than that). ``keys``: (key, confidence, key_end, key_end_confidence), key None where
    the sound read has no pitch (or there is none after the start of sound); None with ``why not`` where
    the file could not be decoded.
    """
    from livedj.audio.decode import DecodeError, decode
    from livedj.dsp.tonal import track_keys

    path, start_s, sr, max_track_s, beginning_s = job
    start_s = start_s or 0.0
    try:
        if beginning_s is None:
            sound = decode(path, sr, 0.0, max_track_s)[int(start_s * sr):]
        else:
            sound = decode(path, sr, start_s, beginning_s)
    except (DecodeError, OSError) as exc:  # gone or unreadable since: its old key is kept
        return path, None, str(exc) or type(exc).__name__
    if len(sound) == 0:
        return path, (None, 0.0, None, None), ""
    (key, confidence), (key_end, key_end_confidence) = track_keys(sound, sr, whole_track=beginning_s is None)
    return path, (key, confidence, key_end, key_end_confidence), ""


def rekey(store, settings, fresh: set[bytes], progress: Callable[[str, int, int, str], None],
          jobs: int | None = 1) -> tuple[int, list[tuple[str, str]]]:
    """Keys estimated from audio by another key analysis (an older livedj) estimated again.

    Each file's new keys are committed with the analysis that made them (the store's ``key_analysis``),
    so a pass stopped half-way (Ctrl-C) resumes with the files it had not done. A file whose worker
    died, or that cannot be decoded now, keeps its old key and the analysis it came from: the next run
    tries it again. A file decoded but without pitch (the new analysis finds no key) also keeps its
    key, its row marked current: trying again would find the same. The analysis is recorded for the
    whole store (:data:`KEY_META`) only once every audio key is current; until then the store says
    :data:`UNFINISHED`, so that the next run does not return early.

    Parameters
    ----------
    store : livedj.library.store.Store
        The library store, writable.
    settings : livedj.library.indexer.Settings
        The indexer's (sample rate, how much of a file is read).
    fresh : set of bytes
        Encoded paths analysed in this run (their keys are current, or were not stored).
    progress : callable
        ``progress("key", done, total, path)``.
    jobs : int, optional
        Worker processes (None: one per CPU).

    Returns
    -------
    done : int
        Files whose keys were estimated again.
    failed : list of (str, str)
        (path, why) of files left with their old key.
    """
    want = current_analysis()
    if store.get_meta(KEY_META) == want:
        # rows written before each recorded its analysis (the previous release): the store vouches for them
        if store.db.execute("UPDATE tracks SET key_analysis = ? WHERE key_source = 'audio' "
                            "AND key_analysis IS NULL", (want,)).rowcount:
            store.db.commit()
        return 0, []
    rows = store.db.execute("SELECT path, start_s FROM tracks WHERE status = 'ok' AND key_source = 'audio' "
                            "AND key_analysis IS NOT ?", (want,)).fetchall()
    todo = [(os.fsdecode(bytes(raw)), start_s) for raw, start_s in rows if bytes(raw) not in fresh]
    beginning = None if settings.segment_hop_s > 0 else settings.beginning_s
    jobs_list = [(path, start_s, settings.sample_rate, settings.max_track_s, beginning) for path, start_s in todo]
    return upgrade_pass(store, meta_key=KEY_META, current=want, selected=len(rows), items=jobs_list,
                        path_of=lambda job: job[0], analyse=_key_file,
                        store_result=lambda path, keys: _store_keys(store, path, keys, want),
                        event="key", progress=progress, jobs=jobs)


def _store_keys(store, path: str, keys: tuple, analysis: str) -> None:
    """One file's keys estimated again (``keys`` from :func:`_key_file`), recorded as made by ``analysis``.

    Where the sound read has no pitch (key None) the old key stays and only the row is marked current:
    estimating it again would find the same. The caller commits.
    """
    if keys[0] is None:
        store.db.execute("UPDATE tracks SET key_analysis = ? WHERE path = ? AND key_source = 'audio'",
                         (analysis, os.fsencode(path)))
    else:
        store.set_audio_key(path, *keys, key_analysis=analysis)
