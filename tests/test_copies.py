"""One recording held twice in the library (an MP3 and a FLAC of it, a copy with a lead-in of silence):
found by a real `livedj index`, grouped in the store, suggested once and never after any copy played.

A folder of generated records (livedj.synth), the cheap `features` encoder, the index built in this
process by the command line. Records that share a 6-s loop, and an edit holding only the first part of a
record, are not copies.
"""
from __future__ import annotations

import sqlite3
import time

import numpy as np
import pytest

from faults_common import index_here, quiet_config
from livedj.config import load as load_config
from livedj.engine.loader import load_engine
from livedj.engine.ranker import rank
from livedj.engine.session import Played, PlayedBefore, Session
from livedj.library.history import History
from livedj.library.store import Store
from livedj.synth import DEMO_TRACKS, render_track
from livedj.synth.audio_io import write_audio

SR = 22050
DUR = 30.0


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """7 records: A, its MP3 copy (0.84 x + noise), its copy behind 2 s of silence; B, the first 12 s of B
    (an edit); C holding 6 s of A (a loop); D. Indexed once by `livedj index`."""
    root = tmp_path_factory.mktemp("copies")
    lib = root / "lib"
    a, b, c, d = (render_track(spec, DUR, SR) for spec in DEMO_TRACKS[:4])
    rng = np.random.default_rng(0)
    loop = c.copy()
    loop[int(12 * SR):int(18 * SR)] = a[int(12 * SR):int(18 * SR)]
    files = {"A": ("album/A.flac", a), "A mp3": ("compilation/A copy.mp3", 0.84 * a + 0.002 * rng.standard_normal(len(a))),
             "A lead-in": ("folder/A again.flac", np.r_[np.zeros(2 * SR), a]), "B": ("album/B.flac", b),
             "B edit": ("album/B edit.flac", b[:int(12 * SR)]), "C loop": ("album/C.flac", loop), "D": ("album/D.flac", d)}
    for name, (path, audio) in files.items():
        (lib / path).parent.mkdir(parents=True, exist_ok=True)
        write_audio(lib / path, np.asarray(audio, np.float32), SR, title=name, artist="Synth")
    code, out, err = index_here(root, lib)
    assert code == 0, err
    store = Store(root / "index", readonly=True)
    tracks = store.tracks()
    store.close()
    ids = {name: next(t.id for t in tracks.values() if t.path == str(lib / path)) for name, (path, _) in files.items()}
    return root, ids, out


def _recordings(index_dir) -> dict[int, int | None]:
    store = Store(index_dir, readonly=True)
    try:
        return {t.id: getattr(t, "recording", None) for t in store.tracks().values()}
    finally:
        store.close()


def _engine(root):
    config = load_config(str(quiet_config(root)))
    config["index"]["path"] = str(root / "index")
    return load_engine(config)


def test_index_groups_the_copies_and_nothing_else(library):
    root, ids, out = library
    recording = _recordings(root / "index")
    copies = {ids["A"], ids["A mp3"], ids["A lead-in"]}
    assert {recording[t] for t in copies} == {min(copies)}  # before: no copy known
    others = {name: recording[t] for name, t in ids.items() if t not in copies}
    assert others == {name: None for name in others}  # the loop and the edit are other records
    assert "  copies 1 recording held twice" not in out and "1 recording held 3 times or more" in out, out


def test_rank_shows_one_copy_of_a_recording(library):
    root, ids, _ = library
    engine = _engine(root)
    everything = np.array(sorted(engine.tracks))
    sims = np.where(np.isin(everything, [ids["A"], ids["A mp3"], ids["A lead-in"]]), 0.99, 0.5)
    shown = [s.track_id for s in rank(everything, sims, engine.tracks, top=10)]
    copies = [t for t in shown if t in (ids["A"], ids["A mp3"], ids["A lead-in"])]
    assert len(copies) == 1 and len(shown) == len(everything) - 2, shown  # before: all three, first
    a = (ids["A"], ids["A mp3"], ids["A lead-in"])
    for copy in a:  # `livedj suggest`/`playlist`/`journey` exclude by id: a copy excluded excludes all
        shown = [s.track_id for s in rank(everything, sims, engine.tracks, top=10, exclude={copy})]
        assert not set(shown) & set(a) and len(shown) == len(everything) - 3, (copy, shown)
    pinned = rank(everything, sims, engine.tracks, top=10, pinned=ids["A mp3"])  # the DJ's target, once
    assert pinned[0].track_id == ids["A mp3"] and not {s.track_id for s in pinned[1:]} & set(a)


def test_a_copy_of_a_record_played_tonight_is_never_suggested(library, tmp_path):
    """The set log says the MP3 was played an hour ago (the live loop's start: PlayedBefore); a live update
    on A's own audio, on-deck exclusion off, suggests neither A nor its other copy. Also for the copy
    played now (Played), and a ban."""
    root, ids, _ = library
    engine = _engine(root)
    history = History(str(tmp_path / "history.sqlite"))
    night = history.start_session(at=time.time() - 3600)
    history.log_play(night, engine.tracks[ids["A mp3"]].path, title="A mp3")
    by_path = {t.path: t.id for t in engine.tracks.values()}
    earlier = tuple(by_path[p] for p in history.played_tonight(12 * 3600.0))  # as commands/run.make_session
    history.close()
    copies = {ids["A"], ids["A mp3"], ids["A lead-in"]}
    audio, _ = _window(root, engine)
    for command in (PlayedBefore(earlier), Played(ids["A lead-in"], "osc")):
        session = Session(exclude_now_playing=False)  # what plays is heard as A: left in, to see the log's effect
        session.apply(command)
        update = engine.update(audio, SR, session=session)
        shown = {s.track_id for s in update.suggestions}
        assert shown and not shown & copies, (command, shown)  # before: A and its lead-in copy, first
    session = Session(exclude_now_playing=False, banned={ids["A"]})
    shown = {s.track_id for s in engine.update(audio, SR, session=session).suggestions}
    assert shown and not shown & copies
    session = Session(exclude_now_playing=False, pinned=ids["A"])  # the DJ's target, reached by playing its copy
    session.apply(Played(ids["A mp3"], "osc"))
    update = engine.update(audio, SR, session=session)
    assert session.pinned is None and update.pinned is None  # before: still pinned, and never shown


def _window(root, engine):
    """A's window as the live loop hears it (the original file, decoded)."""
    from livedj.audio.decode import decode

    store = Store(root / "index", readonly=True)
    path = next(t.path for t in store.tracks().values() if t.title == "A")
    store.close()
    return decode(path, SR, 5.0, engine.window_s), path


def test_an_older_store_without_copies_loads_and_gets_them_on_the_next_index(library, tmp_path):
    import shutil

    root, ids, _ = library
    old = tmp_path / "old"
    shutil.copytree(root / "index", old / "index")
    with sqlite3.connect(old / "index" / "library.sqlite") as db:  # as a store written before copies were looked for
        db.execute("DROP TABLE IF EXISTS copy_pairs")
        db.execute("DROP TABLE IF EXISTS copy_searched")
        db.execute("DELETE FROM meta WHERE key = 'copies_method'")
    assert set(_recordings(old / "index").values()) == {None}  # read-only: no copies known, no error
    engine = _engine(old)
    assert len(engine.tracks) == len(ids) and not getattr(engine, "copies", None)
    code, out, err = index_here(old, root / "lib")
    assert code == 0, err
    assert "unchanged 7" in out and "held 3 times or more" in out, out
    assert len({r for r in _recordings(old / "index").values() if r is not None}) == 1


def test_a_changed_copy_is_looked_at_again(library, tmp_path):
    """A pair is stored with both rows' indexed_at: a row written again (a changed file) is not read as a
    copy until the next run has compared it again."""
    import shutil

    root, ids, _ = library
    shutil.copytree(root / "index", tmp_path / "index")
    with sqlite3.connect(tmp_path / "index" / "library.sqlite") as db:
        db.execute("UPDATE tracks SET indexed_at = indexed_at + 1 WHERE id = ?", (ids["A mp3"],))
    recording = _recordings(tmp_path / "index")
    assert recording[ids["A mp3"]] is None and recording[ids["A"]] == recording[ids["A lead-in"]] is not None


def test_a_failure_while_looking_for_copies_keeps_the_run_and_its_index(library, tmp_path, monkeypatch):
    """The copies are looked for after the index is built: a failure there (here a read error of the landmarks,
    raised by hand since a disk that fails between two steps cannot be made to here) was a traceback and
    exit 1 after a whole index run. Now one line; the index is used as built and the next run looks again."""
    import shutil

    from livedj.library import copies

    root, ids, _ = library
    old = tmp_path / "old"
    shutil.copytree(root / "index", old / "index")
    with sqlite3.connect(old / "index" / "library.sqlite") as db:  # nothing looked for yet
        db.execute("DELETE FROM copy_pairs")
        db.execute("DELETE FROM copy_searched")

    def unreadable(*args, **kwargs):
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patched:
        patched.setattr(copies, "find_copies", unreadable)
        code, out, err = index_here(old, root / "lib")
    assert code == 0 and "Traceback" not in err, err
    line = [ln for ln in out.splitlines() if ln.startswith("  copies ")]
    assert len(line) == 1 and "not looked for" in line[0] and "Input/output error" in line[0], out
    assert len(_engine(old).tracks) == len(ids)
    code, out, err = index_here(old, root / "lib")
    assert code == 0 and "held 3 times or more" in out, out


def _encoded_paths(index_dir) -> dict[str, bytes]:
    from livedj.library.store import encode_path

    store = Store(index_dir, readonly=True)
    try:
        return {t.path: encode_path(t.path) for t in store.tracks().values()}
    finally:
        store.close()


def test_train_gives_copies_of_one_recording_one_class(library):
    """`livedj train` fitted its LDA classes and contrastive negatives over cache keys (paths), one class a
    path: the three copies of A were three classes, pushed apart. Now one class; every other record its own."""
    from livedj.commands.train import recording_owners

    root, ids, _ = library
    by_path = _encoded_paths(root / "index")
    keys = sorted(by_path.values())
    owners = dict(zip(keys, recording_owners(str(root / "index"), keys)))
    lib = root / "lib"
    label = {name: owners[by_path[str(lib / path)]] for name, path in (
        ("A", "album/A.flac"), ("A mp3", "compilation/A copy.mp3"), ("A lead-in", "folder/A again.flac"),
        ("B", "album/B.flac"), ("B edit", "album/B edit.flac"), ("C loop", "album/C.flac"), ("D", "album/D.flac"))}
    assert label["A"] == label["A mp3"] == label["A lead-in"], label
    assert len(set(label.values())) == 5, label  # A's copies one class; B, its edit, C and D one each


def test_the_index_fit_gives_copies_of_one_recording_one_class(library, tmp_path, monkeypatch):
    """The fit at `livedj index` time grouped windows by track id: copies were classes apart. A re-fit
    (here: another index.fit_dims) now hands the fit the copies known to the store as one class."""
    import shutil

    from livedj.library import fit as fitting

    root, ids, _ = library
    shutil.copytree(root / "index", tmp_path / "index")
    seen = []
    real = fitting.fit_lda

    def spy(x, groups, **kwargs):
        seen.append(np.asarray(groups).copy())
        return real(x, groups, **kwargs)

    monkeypatch.setattr(fitting, "fit_lda", spy)
    code, out, err = index_here(tmp_path, root / "lib", extra="[index]\nfit_dims = 8\n")
    assert code == 0, err
    assert len(seen) == 1, out
    classes = set(seen[0].tolist())
    assert ids["A mp3"] not in classes and ids["A lead-in"] not in classes and min(
        ids["A"], ids["A mp3"], ids["A lead-in"]) in classes, classes
    assert len(classes) == 5, classes


def test_one_function_groups_copies_into_recordings():
    """The store's pairs, ``Track.recording`` and every view of it (the ranker's groups, the context model's
    copies, the fit's paths) come from :func:`livedj.library.copies.recordings`: copies of copies are one
    recording, named by its lowest id, whichever way round the pairs are given."""
    from types import SimpleNamespace

    from livedj.library.context import copies_of
    from livedj.library.copies import recordings, recordings_by_path, track_pairs

    groups = recordings([(9, 7), (7, 3), (5, 4), (4, 5)])
    assert groups == {3: (3, 7, 9), 4: (4, 5)} and recordings([]) == {}
    tracks = {t: SimpleNamespace(id=t, path=f"/m/{t}.flac", recording=r)
              for t, r in ((3, 3), (4, 4), (5, 4), (6, None), (7, 3), (9, 3))}
    assert recordings(track_pairs(tracks)) == groups  # the groups back from Track.recording
    assert copies_of(tracks) == {5: 4, 7: 3, 9: 3}
    assert recordings_by_path(tracks) == {b"/m/3.flac": 3, b"/m/4.flac": 4, b"/m/5.flac": 4, b"/m/7.flac": 3,
                                          b"/m/9.flac": 3}
