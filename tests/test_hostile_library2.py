"""`livedj index` runs on a library that changes between them, as a DJ's does: files deleted, added,
renamed, settings switched off and on again. Each case once left the index silently wrong.

Real generated audio files (livedj.synth), the command line's own `livedj index` run in this process with
the `features` encoder (these concern the library, not the embedding), real SQLite stores and the
context model as `livedj run` loads it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from faults_common import index_here
from livedj.encoders import encoder_id
from livedj.library.context_update import load_context
from livedj.library.store import Store
from livedj.synth import DEMO_TRACKS, render_track
from livedj.synth.audio_io import write_audio

pytestmark = pytest.mark.faults

SR = 22050


def _record(lib: Path, name: str, seed: int, seconds: float = 12.0) -> Path:
    path = lib / name
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = render_track(DEMO_TRACKS[seed], duration=seconds, sample_rate=SR).astype(np.float32)
    write_audio(path, audio, SR, title=path.stem, artist="Synth")
    return path


def _ids(index_dir: Path) -> dict[str, int]:
    """File name -> track id of every good row."""
    store = Store(index_dir, readonly=True)
    try:
        return {Path(t.path).name: t.id for t in store.tracks().values()}
    finally:
        store.close()


def test_a_playlist_keeps_its_records_when_the_library_changes_after_the_import(tmp_path):
    """The lists imported once (`--playlists`, `--from-rekordbox`) are kept by track id and reused by every later
    plain `livedj index` and by `livedj run`. SQLite hands a deleted row's id to the next file stored, so a
    record deleted and another added put the new record into the DJ's playlist in its place (and a store
    rebuilt from scratch renumbered every list): the context model learned lists the DJ never made."""
    lib = tmp_path / "lib"
    for i in range(4):
        _record(lib, f"t{i}.wav", i)
    playlist = tmp_path / "set.m3u"
    playlist.write_text("#EXTM3U\n" + "".join(f"{lib / n}\n" for n in ("t0.wav", "t3.wav", "t1.wav", "t2.wav")))
    code, _, err = index_here(tmp_path, lib, "--playlists", playlist)
    assert code == 0, err
    assert _ids(tmp_path / "index")["t3.wav"] == max(_ids(tmp_path / "index").values())  # the newest id

    (lib / "t3.wav").unlink()  # the playlist's record deleted, a new one added: a plain run, no --playlists
    _record(lib, "new.wav", 4)
    code, out, err = index_here(tmp_path, lib)
    assert code == 0 and "removed 1" in out, (out, err)
    ids = _ids(tmp_path / "index")
    model, problem = load_context(tmp_path / "index", encoder_id("features"), tmp_path / "history.sqlite")
    assert problem is None and model is not None
    learned = {name for name, tid in ids.items() if model.learned[model.ids.tolist().index(tid)]}
    assert learned == {"t0.wav", "t1.wav", "t2.wav"}, learned  # before: new.wav too, in t3's place

    (tmp_path / "index" / "library.sqlite").write_bytes(b"garbage " * 512)  # set aside, rebuilt: new ids
    (lib / "t0.wav").rename(lib / "z.wav")  # and the scan order changed: t1 first, z last
    code, out, err = index_here(tmp_path, lib)
    assert code == 0, (out, err)
    ids = _ids(tmp_path / "index")
    model, problem = load_context(tmp_path / "index", encoder_id("features"), tmp_path / "history.sqlite")
    learned = {name for name, tid in ids.items() if model is not None and model.learned[model.ids.tolist().index(tid)]}
    assert learned == {"t1.wav", "t2.wav"}, learned  # t0 was renamed: no longer the file the playlist names


def test_records_indexed_with_fingerprints_off_get_them_when_switched_on(tmp_path):
    """`[index] segment_hop_s = 0` (a quick first index before a gig) stores no segment vectors and no
    landmarks. Switched on again, every such record was "unchanged" for ever: never identified by `livedj run`,
    its copies never found, and the report gave no hint. Now each is analysed again once, and said so."""
    lib = tmp_path / "lib"
    a = _record(lib, "a.wav", 0)
    a_copy = lib / "copy of a.wav"
    a_copy.write_bytes(a.read_bytes())
    _record(lib, "b.wav", 1)
    code, out, err = index_here(tmp_path, lib, extra="[index]\nsegment_hop_s = 0\n")
    assert code == 0 and "indexed 3" in out, (out, err)
    assert "copies" not in out  # no fingerprints: nothing to find copies with

    code, out, err = index_here(tmp_path, lib)  # identification switched on again (the default hop)
    assert code == 0, (out, err)
    assert "indexed 3 · unchanged 0" in out, out  # before: "indexed 0 · unchanged 3"
    assert "3 tracks analysed again" in out and "segment_hop_s = 0" in out, out
    assert "1 recording held twice" in out, out
    store = Store(tmp_path / "index", readonly=True)
    try:
        bare = store.db.execute("SELECT count(*) FROM tracks WHERE segments IS NULL OR landmarks IS NULL").fetchone()[0]
    finally:
        store.close()
    assert bare == 0
    code, out, err = index_here(tmp_path, lib)  # once: the next run has nothing to do
    assert code == 0 and "indexed 0 · unchanged 3" in out and "analysed again" not in out, out


def test_a_record_named_in_latin_1_without_tags_is_logged_and_so_is_the_rest_of_the_night(tmp_path):
    """A file whose name is not UTF-8 (café.wav from an old FAT stick) and that has no title tag is titled by
    its name, undecodable bytes and all. Logging its play raised UnicodeEncodeError in the set log's thread:
    the thread died, that play and every later one of the night were lost, and nothing said so."""
    import soundfile as sf

    from livedj.library.history import History
    from livedj.library.setlog import SetLogWriter

    lib = tmp_path / "lib"
    lib.mkdir()
    odd = os.path.join(os.fsencode(lib), b"caf\xe9.wav")
    sf.write(odd, render_track(DEMO_TRACKS[0], duration=8.0, sample_rate=SR), SR)  # no tags: titled by its name
    _record(lib, "b.wav", 1)
    code, out, err = index_here(tmp_path, lib)
    assert code == 0 and "indexed 2" in out, (out, err)
    store = Store(tmp_path / "index", readonly=True)
    tracks = sorted(store.tracks().values(), key=lambda t: t.path)
    store.close()
    assert os.fsencode(tracks[1].path) == odd

    writer = SetLogWriter(tmp_path / "history.sqlite")
    writer.start()
    for track in (tracks[1], tracks[0]):  # café, then b: as run_parts logs a play
        writer.log(track.path, title=track.title, artist=track.artist, album=track.album, source="osc")
    writer.stop()
    assert writer.error is None and not writer.unwritten
    history = History(tmp_path / "history.sqlite")
    try:
        plays = history.plays(history.sessions()[-1].id)
    finally:
        history.close()
    assert [os.fsencode(p.path) for p in plays] == [odd, os.fsencode(tracks[0].path)]  # before: none
    assert plays[0].title.startswith("caf") and plays[1].title == "b"


def test_history_export_says_how_many_plays_it_wrote(tmp_path):
    """A play with no file (a set log fixed by hand, an entry told without a path) cannot go into an M3U or a
    rekordbox playlist and is left out; `livedj history --export` still said every play was written."""
    from faults_common import quiet_config, run_here
    from livedj.library.history import History

    history = History(tmp_path / "history.sqlite")
    night = history.start_session()
    for name in ("a", "b"):
        history.log_play(night, f"/music/{name}.mp3", title=name)
    history.log_play(night, "", title="told without a file")
    history.close()
    config = str(quiet_config(tmp_path))
    for out, written in (("set.m3u8", 2), ("set.xml", 2), ("set.csv", 3)):
        code, said, err = run_here(["history", "--config", config, "--export", str(tmp_path / out)])
        assert code == 0, err
        assert said.startswith(f"wrote {written} tracks of session {night}"), said  # before: "wrote 3" for each
        assert ("1 play without a file left out" in said) == (written == 2), said
