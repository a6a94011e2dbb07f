"""Keep the context model beside the index: read the DJ's lists, add the set log, build, cache.

``livedj index --from-…`` calls :func:`read_lists` and :func:`update_context`: the imported lists
are resolved against the store and written to ``sequences.json``; the set log is read afresh
every time (so tonight's plays, skips and bans count from the next build). The model is cached
in ``context.npz`` with a key of what it was built from; :func:`load_context` (engine start and
reload) uses the cache while the key matches and rebuilds otherwise.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from livedj.library import sequences as seqstore
from livedj.library.context import ContextModel, Params, build, copies_of

MODEL_FILE = "context.npz"


@dataclass
class ContextReport:
    """What one update learned and what it could not use."""

    imported: seqstore.ResolveReport | None = None  #: None: the saved lists were reused
    set_log: seqstore.ResolveReport | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)  #: (where, why) from the readers
    stats: dict = field(default_factory=dict)


def read_lists(*, rekordbox=(), traktor=(), mixxx=None, m3u=()) -> tuple[list, list[tuple[str, str]]]:
    """Playlists, crates and sets from each source (see :mod:`livedj.library.importers.playlists`).

    ``mixxx``: ``None`` for none, ``""`` for Mixxx's usual database, else its path. A source that
    cannot be read at all raises :class:`~livedj.library.importers.LibraryImportError`. A file given twice
    (``--playlists x.xml --playlists x.xml``, two paths of one file, a file and its folder) is read once:
    its lists counted twice would weigh its transitions double.
    """
    from functools import partial

    from livedj.library.importers import playlists as pl
    from livedj.library.importers.listfiles import first_time, read_m3u_tree

    sources = [(pl.read_rekordbox_playlists, f) for f in rekordbox]
    sources += [(pl.read_traktor_playlists, f) for f in traktor]
    if mixxx is not None:
        sources.append((pl.read_mixxx_playlists, mixxx or None))
    seen: set = set()
    sources += [(partial(read_m3u_tree, seen=seen), f) for f in m3u]
    lists, problems = [], []
    for reader, source in sources:
        if reader in (pl.read_rekordbox_playlists, pl.read_traktor_playlists) and not first_time(source, seen):
            continue
        found, trouble = reader(source)
        lists += found
        problems += trouble
    return lists, problems


def _stat_key(path: Path) -> list:
    try:
        st = path.stat()
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return [None, None]


def cache_key(index_dir, encoder: str, history_path) -> str:
    """What a cached model was built from: the lists, the set log (with its WAL), the store, the encoder."""
    index_dir = Path(index_dir)
    parts = [encoder, _stat_key(index_dir / seqstore.FILENAME), _stat_key(index_dir / "library.sqlite")]
    if history_path:
        h = Path(history_path)
        parts += [_stat_key(h), _stat_key(h.with_name(h.name + "-wal"))]
    return json.dumps(parts)


def _tracks_and_audio(index_dir, encoder: str):
    from livedj.library.store import Store

    store = Store(index_dir, readonly=True)
    try:
        tracks = store.tracks()
        audio = dict(store.vectors(encoder))
    finally:
        store.close()
    return tracks, audio


def update_context(index_dir, encoder: str, *, lists=None, history_path=None, params: Params = Params(),
                   moved: dict[str, str] | None = None, maps=()) -> tuple[ContextModel, ContextReport]:
    """Resolve ``lists`` (``None``: keep the saved ones), add the set log, build and cache the model.

    Lists of which not one entry is in the library do not replace the saved ones (said in the report's
    problems): the DJ's drive was not plugged in, or the collection is another computer's.

    ``moved`` and ``maps``: the DJ's files the index found elsewhere, and the path maps
    (:func:`livedj.library.sequences.resolve`)."""
    from livedj.library.importers.playlists import read_set_log

    report = ContextReport()
    tracks, audio = _tracks_and_audio(index_dir, encoder)
    ids = seqstore.path_ids(tracks)
    saved = Path(index_dir) / seqstore.FILENAME
    if lists is not None:
        resolved, report.imported = seqstore.resolve(lists, ids, moved=moved, maps=maps)
        if not report.imported.resolved and saved.exists():
            # a drive not plugged in, another computer's paths: lists of nothing must not replace what was learned
            report.problems.append((str(saved), "no entry of these lists is in the library; the lists learned "
                                                "before are kept"))
            lists = None
        else:
            seqstore.save(index_dir, resolved, seqstore.current_paths(tracks))
    if lists is None:
        resolved, problem = seqstore.load(index_dir, ids)
        if problem:  # it names the file: where, once
            where = str(Path(index_dir) / seqstore.FILENAME)
            report.problems.append((where, problem.removeprefix(f"{where}: ")))
    sets = []
    if history_path:
        try:
            raw, trouble = read_set_log(history_path)
            report.problems += trouble
            sets, report.set_log = seqstore.resolve(raw, ids)
        except Exception as exc:  # a damaged set log must not stop indexing: reported, left out
            report.problems.append((os.fsdecode(history_path), f"set log unreadable: {exc}; left out"))
    key = cache_key(index_dir, encoder, history_path)
    model = build(resolved + sets, audio, track_ids=tracks, params=params, copies=copies_of(tracks))
    model.stats["key"] = key
    model.save(Path(index_dir) / MODEL_FILE)
    report.stats = model.stats
    return model, report


def load_context(index_dir, encoder: str, history_path=None) -> tuple[ContextModel | None, str | None]:
    """The context model for the engine: the cache while it is current, else rebuilt (and cached
    when the index directory is writable). ``(None, None)`` when no list was ever imported and
    the set log is empty; ``(None, problem)`` when it cannot be had -- the term is then neutral."""
    index_dir = Path(index_dir)
    key = cache_key(index_dir, encoder, history_path)
    cached = index_dir / MODEL_FILE
    if cached.exists():
        try:
            model = ContextModel.load(cached)
            if model.stats.get("key") == key:
                return (None if model.empty else model), None
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass  # a damaged cache (or another livedj's) is rebuilt below
    has_lists = (index_dir / seqstore.FILENAME).exists()
    if not has_lists and not (history_path and Path(history_path).exists()):
        return None, None
    try:
        model, report = update_context(index_dir, encoder, history_path=history_path)
    except OSError as exc:  # a read-only index directory: build in memory only
        try:
            from livedj.library.importers.playlists import read_set_log

            tracks, audio = _tracks_and_audio(index_dir, encoder)
            ids = seqstore.path_ids(tracks)
            resolved, _ = seqstore.load(index_dir, ids)
            raw, _ = read_set_log(history_path) if history_path else ([], [])
            sets, _ = seqstore.resolve(raw, ids)
            model = build(resolved + sets, audio, track_ids=tracks, copies=copies_of(tracks))
        except Exception as inner:
            return None, f"context model unavailable: {inner}"
        return (None if model.empty else model), f"{cached}: not written ({exc.strerror or exc}); built in memory"
    except Exception as exc:
        return None, f"context model unavailable: {exc}"
    return (None if model.empty else model), None
