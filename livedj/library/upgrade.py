"""The upgrade pass of `livedj index`: stored rows made by an older livedj's analysis, done again file by file.

:mod:`livedj.library.rekey` (audio keys) and :mod:`livedj.library.refingerprint` (landmarks) each
select the rows whose own record of what made them (a column of the row) is not current and say how
one file is analysed again and stored; :func:`upgrade_pass` runs those files in worker processes,
commits each one as it comes, names the files it could not do and records, for the whole store,
whether every selected row is current now (or :data:`UNFINISHED`).
"""
from __future__ import annotations

import json
from typing import Callable

from livedj.library import workers

#: the store-wide meta value while some rows are not of the current analysis (a pass left files
#: undone): each row's own column says which, NULL there meaning not the current one. Not a valid
#: analysis, so the next run never mistakes it for the current one and returns early.
UNFINISHED = json.dumps(None)


def upgrade_pass(store, *, meta_key: str, current: str, selected: int, items: list,
                 path_of: Callable[[object], str], analyse: Callable, store_result: Callable[[str, object], None],
                 event: str, progress: Callable[[str, int, int, str], None], jobs: int | None
                 ) -> tuple[int, list[tuple[str, str]]]:
    """Analyse ``items`` again in worker processes, store each result, and stamp the store's meta.

    A file whose worker died, or whose analysis gave no result (it could not be decoded now), is left
    as it was, row and record both, so the next run selects it again. The store-wide ``meta_key`` is
    set to ``current`` only when every selected row was done, else to :data:`UNFINISHED`.

    Parameters
    ----------
    store : livedj.library.store.Store
        The library store, writable.
    meta_key : str
        The store meta key that records the analysis for the whole store.
    current : str
        Today's analysis, as recorded in the meta and in each row done.
    selected : int
        Rows selected as not current, ``items`` and also those left out of them (analysed in this run
        but not stored anew: their indexing worker died); only when all of them are done is the store
        current.
    items : list
        One picklable job a file to analyse again (``analyse``'s argument).
    path_of : callable
        ``path_of(item)``: the file an item is about (named in the report when its worker dies).
    analyse : callable
        ``analyse(item) -> (path, result, why not)``, a module-level function run in a worker
        process; ``result`` None (with ``why not``) where the file could not be analysed.
    store_result : callable
        ``store_result(path, result)`` writes one file's new result and its record; the pass commits.
    event : str
        The progress event: ``progress(event, done, total, path)``.
    progress : callable
        Called once before the first file (``done`` 0) and after each file.
    jobs : int or None
        Worker processes (None: one per CPU).

    Returns
    -------
    done : int
        Files analysed and stored again.
    failed : list of (str, str)
        (path, why) of files left as they were.
    """
    if items:
        progress(event, 0, len(items), "")
    results = workers.map_files(analyse, items, jobs=jobs, lost=lambda item, why: (path_of(item), None, why))
    done, failed = 0, []
    for i, (path, result, why) in enumerate(results, 1):
        if result is None:  # nothing new: the old value stays, and so does the record of what made it
            failed.append((path, why))
        else:
            store_result(path, result)
            store.db.commit()  # each file on its own: a stopped pass (Ctrl-C) keeps what it did
            done += 1
        progress(event, i, len(items), path)
    recorded = current if selected == done else UNFINISHED
    if store.get_meta(meta_key) != recorded:
        store.set_meta(meta_key, recorded)
    store.db.commit()
    return done, failed


def distrust_after_older(store, meta_key: str, column: str, current: str) -> int:
    """Forget the rows' record of ``current`` when an older livedj has written the store since.

    An older livedj (0cf4b73, db2a1e3: a DJ who rolled back) knows no per-row record: it analyses
    every file again with its own analysis, records that in the store's meta only, and leaves each
    row's ``column`` saying today's. Today's livedj only ever records ``current`` or
    :data:`UNFINISHED` there, so any other analysis means such a run: the rows that say ``current``
    are unknown again (NULL) and the store is :data:`UNFINISHED`, so that the rows stored from here
    on are trusted and a pass stopped half-way still resumes. Returns the rows forgotten.
    """
    recorded = store.get_meta(meta_key)
    if recorded is None or recorded in (current, UNFINISHED):
        return 0
    n = store.db.execute(f"UPDATE tracks SET {column} = NULL WHERE {column} = ?", (current,)).rowcount
    store.set_meta(meta_key, UNFINISHED)
    store.db.commit()
    return n
