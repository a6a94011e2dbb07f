"""livedj's exports read back, and written for other software, as a hostile tester would try them: names with
&<>"', newlines, backslashes, bytes that are not UTF-8 or lone surrogates; Windows paths in the set log; a set
CSV given to `livedj mix`; a Mixxx database that is no Mixxx one. Each case once ended in a traceback or a
record lost on the way back (the readers: test_hostile_imports2.py).
"""
from __future__ import annotations

import os
import shutil
import sqlite3

import pytest

from faults_common import XML_HEAD, has_traceback, run_here, untagged_library

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module", name="library")
def library_fixture(tmp_path_factory):
    """Two WAV files without tags and their index, built once."""
    return untagged_library(tmp_path_factory, "exports", 2)


def test_an_exported_m3u_keeps_a_backslash_in_a_name(library, tmp_path):
    """A Linux/macOS file name may hold a backslash; the M3U readers take one for Windows' separator, so
    "back\\slash.wav" came back as "back/slash.wav" (another file). It is written as a file: URL (%5C)."""
    from livedj.library.exports import export_m3u
    from livedj.library.history import Play
    from livedj.library.importers.playlists import read_m3u

    root, _ = library
    path = tmp_path / "back\\slash.wav"
    shutil.copy(root / "lib" / "t0.wav", path)
    plays = [Play(1, 1, 0.0, str(path), "", "", "", None, None, None, "manual", None)]
    for relative in (False, True):
        out = tmp_path / f"set{relative:d}.m3u"
        export_m3u(plays, out, relative=relative)
        (playlist,), problems = read_m3u(out)
        assert playlist.paths == (str(path),) and not problems, playlist.paths


@pytest.mark.parametrize("suffix", [".m3u", ".csv", ".xml"])
def test_a_set_exported_by_history_is_learned_back_by_playlists(library, tmp_path, suffix):
    """`livedj history --export set.csv` (or .xml) then `livedj index --playlists set.csv`: the CSV and the
    rekordbox XML were read as M3U, every line of text a "path" (none in the library, learned as a list).
    Names with &<>"', a newline and bytes that are not UTF-8 come back as they were exported."""
    from livedj.library.history import History
    from livedj.library.importers.listfiles import read_m3u_tree

    root, config = library
    music = tmp_path / "music"
    music.mkdir()
    names = ["a&b<c>\"d'e.wav", "new\nline.wav", os.fsdecode(b"caf\xe9.wav")]
    for i, name in enumerate(names):
        shutil.copy(root / "lib" / f"t{i % 2}.wav", music / name)
    history = History(tmp_path / "history.sqlite")
    session = history.start_session("Friday", at=1_700_000_000.0)
    for i, name in enumerate(names):
        history.log_play(session, str(music / name), title=f"T&<{i}>", artist="A\"'", source="manual",
                         at=1_700_000_000.0 + i)
    history.close()
    cfg = tmp_path / "config.toml"
    cfg.write_text(config.read_text().replace(str(root / "history.sqlite"), str(tmp_path / "history.sqlite")))
    out = tmp_path / f"set{suffix}"
    code, _, err = run_here(["history", "--export", str(out), "--config", str(cfg), "--index", str(root / "index")])
    assert code == 0, err

    (played,), problems = read_m3u_tree(out)
    assert played.paths == tuple(str(music / n) for n in names) and not problems, (played, problems)
    index_dir = tmp_path / "index"
    shutil.copytree(root / "index", index_dir)
    code, text, err = run_here(["index", str(music), "--playlists", str(out), "--config", str(cfg),
                                "--index", str(index_dir), "--jobs", "1"])
    assert code == 0 and not has_traceback(err), err
    assert "lists: 1 list, 3 entries, 3 in the library" in text + err, text + err


def test_exports_write_no_bpm_no_software_reads_and_a_playlist_name_xml_can_hold(tmp_path):
    """A set log's BPM of -5 or 100000 (a Mixxx database's garbage, logged as Mixxx gave it) was written as
    it was: rekordbox and the CSV got "-5.00"; a playlist name with a control character made an XML file
    no reader (livedj's own included) could parse."""
    import csv

    from livedj.library.exports import export_csv, export_rekordbox_xml
    from livedj.library.history import Play
    from livedj.library.importers import read_rekordbox_xml
    from livedj.library.importers.playlists import read_rekordbox_playlists

    plays = [Play(i, 1, 0.0, f"/m/{i}.mp3", "t", "a", "", None, bpm, None, "manual", None)
             for i, bpm in enumerate((-5.0, 100000.0, 126.0))]
    export_csv(plays, tmp_path / "set.csv")
    with open(tmp_path / "set.csv", encoding="utf-8-sig", newline="") as f:
        assert [row["bpm"] for row in csv.DictReader(f)] == ["", "", "126.00"]
    export_rekordbox_xml(plays, tmp_path / "set.xml", "Friday\x01 night\n")
    tracks, problems = read_rekordbox_xml(tmp_path / "set.xml")
    assert [t.bpm for t in tracks] == [None, None, 126.0] and not problems, problems
    (playlist,), _ = read_rekordbox_playlists(tmp_path / "set.xml")
    assert playlist.name == "Friday\ufffd night" and len(playlist.paths) == 3


def test_a_suggested_chain_exported_as_csv_reads_back_as_a_playlist_not_a_played_set(tmp_path):
    """`livedj playlist SEED -o chain.csv` wrote every row at "1970-01-01T00:00:00" (time 0.0), and reading
    the CSV back took the chain livedj suggested for a set the DJ played (the strongest evidence)."""
    import csv

    from livedj.commands.playlist import write_playlist
    from livedj.library.importers.listfiles import read_m3u_tree
    from livedj.library.store import Track

    tracks = {i: Track(id=i, path=f"/m/{i}.mp3", title=f"t{i}", artist="a", album="", duration=300.0, bpm=124.0,
                       bpm_source="tags", key=21, key_source="tags") for i in (1, 2)}
    out = tmp_path / "chain.csv"
    write_playlist([1, 2], tracks, str(out))
    with open(out, encoding="utf-8-sig", newline="") as f:
        assert [row["time"] for row in csv.DictReader(f)] == ["", ""]
    (chain,), problems = read_m3u_tree(out)
    assert chain.kind == "playlist" and chain.paths == ("/m/1.mp3", "/m/2.mp3") and not problems


def test_a_csv_export_of_tags_with_lone_surrogates(tmp_path):
    """A title with a lone surrogate (a tag or a name decoded badly upstream) made export_csv raise
    UnicodeEncodeError (used by `livedj playlist -o x.csv` on the store's tags); the path keeps its bytes."""
    from livedj.library.exports import export_csv
    from livedj.library.history import Play

    path = os.fsdecode(b"/m/caf\xe9.mp3")
    export_csv([Play(1, 1, None, path, "T\ud800x", "A\udcffz", "", None, None, None, "manual\ud800", None)],
               tmp_path / "set.csv")
    raw = (tmp_path / "set.csv").read_bytes()
    assert "T\ufffdx,".encode() in raw and "A\ufffdz".encode() in raw and b"/m/caf\xe9.mp3" in raw


def test_mix_renders_a_set_exported_as_csv_or_xspf(tmp_path):
    """`livedj history --export set.csv` then `livedj mix --m3u set.csv`: every CSV line was taken for a path
    ("7 records could not be read"); an XSPF the same."""
    import contextlib
    import io

    from livedj.commands.mix import read_m3u

    (tmp_path / "set.csv").write_text("position,time,artist,title,album,bpm,key_camelot,key,source,confidence,path\n"
                                      "1,,a,t,,,,,manual,,/m/a.mp3\n2,,b,t,,,,,manual,,/m/b.mp3\n")
    (tmp_path / "set.xspf").write_text('<playlist xmlns="http://xspf.org/ns/0/"><trackList><track><location>'
                                       "file:///m/a.mp3</location></track></trackList></playlist>")
    (tmp_path / "two.xml").write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION/><PLAYLISTS><NODE '
                                      'Type="0" Name="ROOT"><NODE Type="1" Name="a"/><NODE Type="1" Name="b"/></NODE>'
                                      "</PLAYLISTS></DJ_PLAYLISTS>")
    with contextlib.redirect_stderr(io.StringIO()):
        assert read_m3u(str(tmp_path / "set.csv")) == ["/m/a.mp3", "/m/b.mp3"]
        assert read_m3u(str(tmp_path / "set.xspf")) == ["/m/a.mp3"]
        with pytest.raises(LookupError, match="two.xml: 2 playlists in it"):
            read_m3u(str(tmp_path / "two.xml"))


@pytest.mark.parametrize("kind", ["garbage", "empty", "no position"])
def test_appending_to_a_database_that_is_no_mixxx_one_is_a_value_error(tmp_path, kind):
    """`livedj suggest --mixxx-playlist NAME` with [mixxx] database naming another file: sqlite3's
    DatabaseError/OperationalError ("file is not a database", "no such table: Playlists") was a traceback
    (the command answers ValueError in one line); nothing is written."""
    from livedj.library.mixxx import append_to_playlist

    db_path = tmp_path / "mixxxdb.sqlite"
    if kind == "garbage":
        db_path.write_bytes(b"not a database at all" * 100)
    else:
        db = sqlite3.connect(db_path)
        db.execute("CREATE TABLE other (a)" if kind == "empty" else "CREATE TABLE Playlists (id INTEGER PRIMARY KEY, name, hidden)")
        db.commit()
        db.close()
    before = db_path.read_bytes()
    with pytest.raises(ValueError, match="not a Mixxx database livedj can write to"):
        append_to_playlist(db_path, "p", ["/m/a.mp3"], is_running=lambda _: False)
    assert db_path.read_bytes() == before


def test_a_windows_path_in_the_set_log_reads_back_as_written(tmp_path, monkeypatch):
    """A play logged with another computer's path ("C:/Music/x.mp3", told over OSC by a Windows laptop):
    `--relative` made it "../../<current folder>/C:/Music/x.mp3", and the CSV read back joined it to the
    CSV's folder; both now read back as "C:/Music/x.mp3", for a path map to find."""
    from livedj.library.exports import export_csv, export_m3u
    from livedj.library.history import Play
    from livedj.library.importers.listfiles import read_m3u_tree

    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    plays = [Play(1, 1, None, "C:/Music/x.mp3", "t", "a", "", None, None, None, "osc", None)]
    export_m3u(plays, tmp_path / "out" / "set.m3u", relative=True)
    export_csv(plays, tmp_path / "out" / "set.csv")
    for name in ("set.m3u", "set.csv"):
        (back,), problems = read_m3u_tree(tmp_path / "out" / name)
        assert back.paths == ("C:/Music/x.mp3",) and not problems, (name, back.paths)
