"""Keys stored by an older key analysis, estimated again (part of `livedj index`).

The store records which key analysis its keys come from (:data:`KEY_META`). When
:data:`KEY_ANALYSIS` changes (a better rule, such as the opening bars of docs/key.md), every file
whose key livedj estimated from its audio is decoded and its keys (beginning and end) estimated
again. Keys from tags or from the DJ's software are the DJ's own and stay. Vectors, tempo and
landmarks are kept, so the Annoy and fingerprint indexes are not rebuilt (the engine reads keys
from the store when it loads).
"""
from __future__ import annotations

import json
import os
from typing import Callable

from livedj.dsp.keyopening import INDEX_TEMPERATURE
from livedj.library import workers

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
    """(path, (key, confidence, key_end, key_end_confidence) or None): one file's keys estimated again.

    Reads the sound :func:`livedj.library.track_analysis.analyze_file` read, from the stored start of sound:
    the whole track (``beginning_s`` None: the segment settings decode it whole), or only its beginning
    (decoding no more than that).
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
    except (DecodeError, OSError):  # gone or unreadable since: its key stays until it is analysed again
        return path, None
    if len(sound) == 0:
        return path, None
    (key, confidence), (key_end, key_end_confidence) = track_keys(sound, sr, whole_track=beginning_s is None)
    return path, (key, confidence, key_end, key_end_confidence)


def rekey(store, settings, fresh: set[bytes], progress: Callable[[str, int, int, str], None], jobs: int | None = 1) -> int:
    """Keys estimated from audio by another key analysis (an older livedj) estimated again.

    ``settings``: the indexer's (sample rate, how much of a file is read). ``fresh``: files analysed in
    this run (already current). Each file's new key is committed with the analysis that made it
    (the store's ``key_analysis``), so a pass stopped half-way (Ctrl-C) resumes with the files it had
    not done. The analysis is recorded for the whole store once every file is done; a worker that
    died leaves it unrecorded, so the next run does that file again. Files that cannot be decoded keep
    their key. Returns how many files were done.
    """
    want = current_analysis()
    if store.get_meta(KEY_META) == want:
        return 0
    rows = store.db.execute("SELECT path, start_s FROM tracks WHERE status = 'ok' AND key_source = 'audio' "
                            "AND key_analysis IS NOT ?", (want,)).fetchall()
    todo = [(os.fsdecode(bytes(raw)), start_s) for raw, start_s in rows if bytes(raw) not in fresh]
    beginning = None if settings.segment_hop_s > 0 else settings.beginning_s
    jobs_list = [(path, start_s, settings.sample_rate, settings.max_track_s, beginning) for path, start_s in todo]
    if todo:
        progress("key", 0, len(todo), "")
    results = workers.map_files(_key_file, jobs_list, jobs=jobs, lost=lambda job, why: (job[0], "lost"))
    lost = False
    for i, (path, keys) in enumerate(results, 1):
        if keys == "lost":
            lost = True
        elif keys is not None and keys[0] is not None:
            store.set_audio_key(path, *keys, key_analysis=want)
            store.db.commit()  # each file on its own: a stopped pass keeps what it did
        progress("key", i, len(todo), path)
    if not lost:
        store.set_meta(KEY_META, want)
    store.db.commit()
    return len(todo)
