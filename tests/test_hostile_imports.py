"""What the DJ hands livedj from other programs: rekordbox XML, Traktor NML, Mixxx's database, M3U/PLS
playlists, livedj's own exports read back. Each case once ended in a traceback, a hang, or lost entries.

Real files on disk throughout, the real readers, and the command line's own code run in this process
(generated audio, the `features` encoder: these faults concern the inputs, not the embedding).
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faults_common import XML_HEAD, has_traceback, index_a_copy, one_line, run_here, untagged_library

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module", name="library")
def library_fixture(tmp_path_factory):
    """Three WAV files without tags (names come from the DJ's software) and their index, built once."""
    return untagged_library(tmp_path_factory, "imports", 3)


def _tracks(index_dir: Path) -> dict[str, object]:
    from livedj.library.store import Store

    store = Store(index_dir, readonly=True)
    try:
        return {Path(t.path).name: t for t in store.tracks().values()}
    finally:
        store.close()


# -- names that are no rich markup, and stay on one line -------------------------------------------------
def test_names_in_brackets_are_text_not_markup(library, tmp_path):
    """A playlist "Warm up [/]" (a report line) and a track "Zero [/]" (`livedj context`) were taken for rich
    markup: "closing tag '[/]' has nothing to close", a traceback; "[feat. mc]" vanished from the table."""
    root, config = library
    lib = root / "lib"
    xml = tmp_path / "collection.xml"
    xml.write_text(XML_HEAD + f'''<DJ_PLAYLISTS Version="1.0.0"><COLLECTION Entries="3">
<TRACK TrackID="1" Name="Zero [/]" Artist="A" Location="file://localhost{lib}/t0.wav"/>
<TRACK TrackID="2" Name="One [feat. mc]" Artist="B" Location="file://localhost{lib}/t1.wav"/>
<TRACK TrackID="3" Name="Two" Artist="C" Location="file://localhost{lib}/t2.wav"/></COLLECTION>
<PLAYLISTS><NODE Type="0" Name="ROOT"><NODE Type="1" Name="Warm up [/]" KeyType="0">
<TRACK Key="1"/><TRACK Key="2"/><TRACK Key="3"/><TRACK Key="99"/></NODE></NODE></PLAYLISTS></DJ_PLAYLISTS>''')
    index_dir = tmp_path / "index"
    code, out, err = run_here(["index", "--from-rekordbox", str(xml), "--config", str(config), "--index", str(index_dir),
                           "--jobs", "1"])  # a new index: the titles are taken from the XML
    assert code == 0 and not has_traceback(err), err
    assert "playlist 'Warm up [/]': TRACK Key='99' is not in the COLLECTION" in err
    code, out, err = run_here(["context", "Two", "--config", str(config), "--index", str(index_dir)])
    assert code == 0 and not has_traceback(err), err
    assert "A - Zero [/]" in out and "B - One [feat. mc]" in out


def test_a_title_in_brackets_in_the_set_log_table(library, tmp_path):
    """`livedj history --session 1` with a play titled "Intro [/]": the same markup traceback."""
    from livedj.library.history import History

    root, _ = library
    config = tmp_path / "config.toml"
    config.write_text(f'[osc]\ntargets = []\n[history]\npath = "{tmp_path / "history.sqlite"}"\n')
    history = History(tmp_path / "history.sqlite")
    session = history.start_session("night [/]")
    history.log_play(session, str(root / "lib" / "t0.wav"), title="Intro [/]", artist="[bold]DJ")
    history.close()
    for argv in (["history"], ["history", "--session", str(session)]):
        code, out, err = run_here([*argv, "--config", str(config)])
        assert code == 0 and not has_traceback(err), err
    assert "Intro [/]" in out and "[bold]DJ" in out


def test_a_traktor_title_with_a_newline_stays_on_one_report_line(library, tmp_path):
    root, _ = library
    nml = tmp_path / "collection.nml"
    nml.write_text(XML_HEAD + f'''<NML VERSION="19"><COLLECTION ENTRIES="1">
<ENTRY TITLE="first&#10;forged line" ARTIST="x"><LOCATION DIR="{str(root / "lib").replace("/", "/:")}/:" FILE="t0.wav"
VOLUME=""/><TEMPO BPM="fast"/></ENTRY></COLLECTION></NML>''')
    code, out, err, _ = index_a_copy(library, tmp_path, "--from-traktor", nml)
    assert code == 0 and not has_traceback(err), err
    assert "TEMPO BPM='fast' is not a number" in out
    assert not any(line.startswith("forged line") for line in out.splitlines())
    assert "first\\x0aforged line" in out


def test_names_from_the_dj_software_fill_empty_tags_of_files_already_indexed(library, tmp_path):
    """`livedj index --from-rekordbox` on a library already indexed: a file without title/artist tags kept
    none (only BPM and key were refreshed), so lists and the dashboard showed its file name. The DJ
    software's names now fill what the file's tags leave empty; a file's own tag stays as it is."""
    root, config = library
    lib = root / "lib"
    xml = tmp_path / "collection.xml"
    xml.write_text(XML_HEAD + f'''<DJ_PLAYLISTS Version="1.0.0"><COLLECTION Entries="2">
<TRACK TrackID="1" Name="Rekordbox Zero" Artist="RB Artist" Album="RB Album" Location="file://localhost{lib}/t0.wav"/>
<TRACK TrackID="2" Name="Rekordbox One" Artist="RB Other" Location="file://localhost{lib}/t1.wav"/>
</COLLECTION></DJ_PLAYLISTS>''')
    index_dir = tmp_path / "index"
    shutil.copytree(root / "index", index_dir)
    with sqlite3.connect(index_dir / "library.sqlite") as db:  # t1's own title tag, as the file gave it
        assert db.execute("UPDATE tracks SET title = 'Own Title' WHERE path = ?",
                          (os.fsencode(lib / "t1.wav"),)).rowcount == 1
    code, out, err = run_here(["index", str(lib), "--from-rekordbox", str(xml), "--config", str(config),
                               "--index", str(index_dir), "--jobs", "1"])
    assert code == 0 and not has_traceback(err), err
    assert "unchanged 3" in out, out  # already indexed: not analysed again
    with sqlite3.connect(index_dir / "library.sqlite") as db:
        names = {Path(os.fsdecode(p)).name: (t, a, al)
                 for p, t, a, al in db.execute("SELECT path, title, artist, album FROM tracks")}
    assert names["t0.wav"] == ("Rekordbox Zero", "RB Artist", "RB Album"), names
    assert names["t1.wav"] == ("Own Title", "RB Other", None), names
    assert names["t2.wav"] == (None, None, None), names


# -- XML ---------------------------------------------------------------------------------------------------
def test_traktor_key_value_infinite_is_skipped(library, tmp_path):
    """MUSICAL_KEY VALUE="inf" (or "1e400"): int(float(...)) raised OverflowError, a traceback."""
    root, _ = library
    entries = "".join(
        f'<ENTRY TITLE="t{i}"><LOCATION DIR="{str(root / "lib").replace("/", "/:")}/:" FILE="t{i}.wav" VOLUME=""/>'
        f'<TEMPO BPM="124"/><MUSICAL_KEY VALUE="{value}"/></ENTRY>' for i, value in enumerate(("inf", "1e400", "21")))
    nml = tmp_path / "collection.nml"
    nml.write_text(XML_HEAD + f'<NML VERSION="19"><COLLECTION ENTRIES="3">{entries}</COLLECTION></NML>')
    code, out, err, index_dir = index_a_copy(library, tmp_path, "--from-traktor", nml)
    assert code == 0 and not has_traceback(err), err
    assert "MUSICAL_KEY VALUE='inf' is not 0-23" in out and "MUSICAL_KEY VALUE='1e400' is not 0-23" in out
    tracks = _tracks(index_dir)
    assert len(tracks) == 3 and tracks["t2.wav"].key == 21 and tracks["t0.wav"].bpm == 124.0


def test_folders_nested_thousands_deep(library, tmp_path):
    """Playlist folders 3,000 deep: the recursive walks raised RecursionError, a traceback."""
    root, _ = library
    depth = 3000
    xml = tmp_path / "deep.xml"
    xml.write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION><TRACK TrackID="1" '
                   f'Location="file://localhost{root}/lib/t0.wav"/></COLLECTION><PLAYLISTS><NODE Type="0" Name="ROOT">'
                   + '<NODE Type="0" Name="f">' * depth + '<NODE Type="1" Name="p"><TRACK Key="1"/></NODE>'
                   + "</NODE>" * depth + "</NODE></PLAYLISTS></DJ_PLAYLISTS>")
    nml = tmp_path / "deep.nml"
    nml.write_text(XML_HEAD + '<NML VERSION="19"><COLLECTION><ENTRY TITLE="a"><LOCATION DIR="/:m/:" FILE="a.mp3"/>'
                   '</ENTRY></COLLECTION><PLAYLISTS><NODE TYPE="FOLDER" NAME="$ROOT">'
                   + '<SUBNODES><NODE TYPE="FOLDER" NAME="f">' * depth
                   + '<SUBNODES><NODE TYPE="PLAYLIST" NAME="p"><PLAYLIST><ENTRY><PRIMARYKEY TYPE="TRACK" '
                     'KEY="/:m/:a.mp3"/></ENTRY></PLAYLIST></NODE></SUBNODES>'
                   + "</NODE></SUBNODES>" * depth + "</NODE></PLAYLISTS></NML>")
    code, out, err, _ = index_a_copy(library, tmp_path, "--from-rekordbox", xml, "--from-traktor", nml)
    assert code == 0 and not has_traceback(err), err
    assert "lists: 2 lists" in err
    from livedj.library.importers import read_rekordbox_xml
    (track,), _ = read_rekordbox_xml(xml)
    assert track.crates == ("f/" * depth + "p",)


def test_entity_bomb_and_external_entities_are_refused_in_one_line(library, tmp_path):
    """Refused at the declaration, whatever expat this Python has (nothing expanded, no file read); the message
    says why, not "incomplete"."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    levels = "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(f'<?xml version="1.0"?><!DOCTYPE DJ_PLAYLISTS [<!ENTITY a0 "lol">{levels}]>'
                    '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION><TRACK TrackID="1" Name="&a9;" '
                    'Location="file://localhost/x.mp3"/></COLLECTION></DJ_PLAYLISTS>')
    xxe = tmp_path / "xxe.xml"
    xxe.write_text(f'<?xml version="1.0"?><!DOCTYPE DJ_PLAYLISTS [<!ENTITY x SYSTEM "file://{secret}">]>'
                   '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION><TRACK TrackID="1" Location="file://localhost/x.mp3">'
                   "&x;</TRACK></COLLECTION></DJ_PLAYLISTS>")
    for bad, reason in ((bomb, "declares an entity ('a0')"), (xxe, "declares an external entity ('x')")):
        began = time.monotonic()
        code, out, err, _ = index_a_copy(library, tmp_path / bad.stem, "--from-rekordbox", bad)
        assert time.monotonic() - began < 30
        assert code == 1 and not has_traceback(err) and len(one_line(err)) == 1, err
        assert str(bad) in err and "refused" in err and reason in err and "SECRET" not in out + err


# -- Mixxx's database ---------------------------------------------------------------------------------------
def test_mixxx_database_of_another_schema_still_gives_its_tracks(library, tmp_path):
    """A library table without artist/title/album/duration/bpm columns (an older or newer Mixxx) and crates
    without a name column: "no such column", the whole import refused; the tracks are readable."""
    root, _ = library
    db_path = tmp_path / "mixxxdb.sqlite"
    with sqlite3.connect(db_path) as db:
        db.executescript(f"""
            CREATE TABLE track_locations (id INTEGER PRIMARY KEY, location TEXT);
            CREATE TABLE library (id INTEGER PRIMARY KEY, location INTEGER, bpm_info TEXT);
            CREATE TABLE crates (id INTEGER PRIMARY KEY, label TEXT);
            CREATE TABLE crate_tracks (crate_id INTEGER, track_id INTEGER);
            CREATE TABLE Playlists (id INTEGER PRIMARY KEY, name TEXT);
            CREATE TABLE PlaylistTracks (playlist_id INTEGER, track_id INTEGER);
            INSERT INTO track_locations VALUES (1, '{root}/lib/t0.wav'), (2, '{root}/lib/t1.wav');
            INSERT INTO library VALUES (1, 1, '?'), (2, 2, '?');
            INSERT INTO crates VALUES (1, 'x'); INSERT INTO crate_tracks VALUES (1, 1);
            INSERT INTO Playlists VALUES (1, 'Warm up'); INSERT INTO PlaylistTracks VALUES (1, 2), (1, 1);""")
    db.close()
    code, out, err, index_dir = index_a_copy(library, tmp_path, "--from-mixxx", db_path)
    assert code == 0 and not has_traceback(err), err
    assert f"{db_path}: 2 tracks" in err and "lists: 1 list, 2 entries, 2 in the library" in err
    assert len(_tracks(index_dir)) == 3
    with sqlite3.connect(db_path) as db:
        db.execute("ALTER TABLE track_locations RENAME COLUMN location TO path")
    db.close()
    code, out, err, _ = index_a_copy(library, tmp_path / "again", "--from-mixxx", db_path)
    assert code == 1 and not has_traceback(err) and len(one_line(err)) == 1, err
    assert str(db_path) in err and "track_locations.location" in err


def test_mixxx_names_stored_as_blobs(library, tmp_path):
    """A playlist name stored as a BLOB (SQLite keeps what a writer gives it) reached sequences.json as bytes:
    "Object of type bytes is not JSON serializable", a traceback after the tracks were indexed."""
    from test_mixxx import add_playlist, add_track, make_mixxx_db, play

    root, _ = library
    db_path = tmp_path / "mixxxdb.sqlite"
    db = make_mixxx_db(db_path)
    ids = [add_track(db, str(root / "lib" / f"t{i}.wav"), title=f"t{i}") for i in range(2)]
    playlist = add_playlist(db, b"Warm up \xff")
    for track_id in ids:
        play(db, playlist, track_id)
    db.execute("INSERT INTO crates (name) VALUES (?)", (b"crate",))
    db.execute("INSERT INTO crate_tracks VALUES (last_insert_rowid(), ?)", (ids[0],))
    db.close()
    code, out, err, _ = index_a_copy(library, tmp_path, "--from-mixxx", db_path)
    assert code == 0 and not has_traceback(err), err
    from livedj.library.importers.playlists import read_mixxx_playlists
    lists, _ = read_mixxx_playlists(db_path)
    assert sorted(s.name for s in lists) == ["Warm up \ufffd", "crate"]


# -- M3U and PLS ----------------------------------------------------------------------------------------------
def test_m3u_in_utf16_or_windows_1252(library, tmp_path):
    """A UTF-16 M3U (Windows tools, with or without BOM) was read as Latin-1: every entry garbage; a
    Windows-1252 "Don’t" became "Don\\x92t"."""
    from livedj.library.importers.playlists import read_m3u

    root, _ = library
    body = f"#EXTM3U\r\n#EXTINF:6,A - Zero\r\n{root}/lib/t0.wav\r\n..\\lib\\t1.wav\r\n"
    for name, data in (("bom.m3u", body.encode("utf-16")), ("plain.m3u8", body.encode("utf-16-le"))):
        (root / "pl").mkdir(exist_ok=True)
        (root / "pl" / name).write_bytes(data)
        (playlist,), problems = read_m3u(root / "pl" / name)
        assert playlist.paths == (str(root / "lib" / "t0.wav"), str(root / "lib" / "t1.wav")) and not problems
    ansi = tmp_path / "ansi.m3u"
    ansi.write_bytes("Don’t Stop – Café.mp3\r\n".encode("cp1252"))
    (playlist,), _ = read_m3u(ansi)
    assert playlist.paths == (str(tmp_path / "Don’t Stop – Café.mp3"),)
    code, out, err, _ = index_a_copy(library, tmp_path, "--playlists", root / "pl")
    assert code == 0 and "lists: 2 lists, 4 entries, 4 in the library" in err, err


def test_a_playlist_file_named_in_latin_1_is_learned(library, tmp_path):
    """An M3U whose file name is not UTF-8 (copied from an old FAT stick: "café.m3u" in Latin-1) names its
    list with undecodable bytes: writing sequences.json ended `livedj index --playlists` in a
    UnicodeEncodeError traceback, after the tracks were indexed, and the list was not kept."""
    root, _ = library
    folder = tmp_path / "lists"
    folder.mkdir()
    name = os.path.join(os.fsencode(folder), b"caf\xe9.m3u")
    with open(name, "wb") as f:
        f.write(f"#EXTM3U\n{root}/lib/t0.wav\n{root}/lib/t1.wav\n".encode())
    code, out, err, index_dir = index_a_copy(library, tmp_path, root / "lib", "--playlists", folder)
    assert code == 0 and not has_traceback(err), err
    assert "lists: 1 list, 2 entries, 2 in the library" in out + err, out + err
    from livedj.library.sequences import load

    lists, problem = load(index_dir)
    assert problem is None and [s.name for s in lists] == [os.fsdecode(b"caf\xe9")] and len(lists[0].ids) == 2


def test_a_pls_playlist(tmp_path):
    """A .pls file was read as M3U: "[playlist]", "File1=..." and "NumberOfEntries=2" became paths."""
    from livedj.library.importers.listfiles import read_m3u_tree

    (tmp_path / "radio.pls").write_text("[playlist]\nFile2=b.mp3\nTitle2=B\nFile1=/m/a.mp3\nFile3=http://x/y\n"
                                        "NumberOfEntries=3\nVersion=2\n")
    (playlist,), problems = read_m3u_tree(tmp_path)
    assert playlist.paths == ("/m/a.mp3", str(tmp_path / "b.mp3"))
    assert len(problems) == 1 and "not a local file" in problems[0][1]


def test_an_exported_m3u_reads_back_whatever_the_names(library, tmp_path):
    """`livedj history --export set.m3u` writes a name that is not UTF-8 as its bytes; reading it back took the
    whole file as Latin-1, so that entry *and every UTF-8 one* ("Señor") missed the library. A name with a
    newline was split into two entries, a relative "#1.wav" read as a comment."""
    from livedj.library.exports import export_m3u
    from livedj.library.history import Play
    from livedj.library.importers.playlists import read_m3u

    root, _ = library
    names = [os.fsdecode(b"caf\xe9.wav"), "Señor.wav", "new\nline.wav", "#1.wav", " lead.wav"]
    for i, name in enumerate(names):
        shutil.copy(root / "lib" / f"t{i % 3}.wav", tmp_path / name)
    plays = [Play(i, 1, 0.0, str(tmp_path / n), "", "", "", None, None, None, "manual", None) for i, n in enumerate(names)]
    for relative in (False, True):
        out = tmp_path / f"set{relative:d}.m3u"
        export_m3u(plays, out, relative=relative)
        (playlist,), problems = read_m3u(out)
        assert playlist.paths == tuple(str(tmp_path / n) for n in names) and not problems, playlist.paths


def test_a_named_pipe_among_playlists_is_skipped_not_waited_for(tmp_path):
    """`livedj index --playlists folder` with a FIFO named x.m3u in it waited for a writer forever."""
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "good.m3u").write_text("/m/a.mp3\n")
    os.mkfifo(tmp_path / "lists" / "pipe.m3u")
    (tmp_path / "lists" / "gone.m3u").symlink_to(tmp_path / "nowhere")
    code = ("from livedj.library.importers.listfiles import read_m3u_tree as r; "
            f"lists, problems = r({str(tmp_path / 'lists')!r}); print(len(lists), sorted(problems))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("1 ") and "pipe.m3u', 'not a file" in run.stdout and "gone.m3u', 'cannot read" in run.stdout


def test_mix_reads_an_m3u_as_index_does(tmp_path):
    """`livedj mix --m3u` had a reader of its own: UTF-8 only, no file: URLs, no backslashes."""
    from livedj.commands.mix import read_m3u

    playlist = tmp_path / "set.m3u"
    playlist.write_bytes("#EXTM3U\r\nfile:///m/Caf%C3%A9.mp3\r\nsub\\b.mp3\r\nhttp://x/y\r\n".encode("utf-16"))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert read_m3u(str(playlist)) == ["/m/Café.mp3", str(tmp_path / "sub" / "b.mp3")]
    assert "not a local file" in err.getvalue()
    with pytest.raises(LookupError, match="no such file"):
        read_m3u(str(tmp_path / "nope.m3u"))
