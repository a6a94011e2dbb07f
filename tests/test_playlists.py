"""The DJ's sequences and groups: rekordbox/Traktor/Mixxx playlists, M3U, the set log; resolving them."""
from __future__ import annotations

import os
import time

import pytest

from livedj.library import sequences as seqstore
from livedj.library.history import History
from livedj.library.importers import LibraryImportError
from livedj.library.importers.listfiles import read_m3u_tree
from livedj.library.importers.playlists import (Sequence, read_m3u, read_mixxx_playlists,
                                                read_rekordbox_playlists, read_set_log, read_traktor_playlists)
from tests.test_importers import REKORDBOX_XML
from tests.test_mixxx import add_playlist, add_track, make_mixxx_db, play

REKORDBOX_ORDER = REKORDBOX_XML.replace(
    '<TRACK Key="11"/><TRACK Key="12"/><TRACK Key="99"/>',
    '<TRACK Key="12"/><TRACK Key="11"/><TRACK Key="99"/><TRACK Key="12"/>').replace(
    '</NODE>\n    </NODE>\n  </PLAYLISTS>',
    '</NODE>\n      <NODE Name="Empty" Type="1" KeyType="0" Entries="0"/>\n    </NODE>\n  </PLAYLISTS>')


def test_rekordbox_playlists_in_order(tmp_path):
    f = tmp_path / "rb.xml"
    f.write_text(REKORDBOX_ORDER, encoding="utf-8")
    lists, problems = read_rekordbox_playlists(f)
    by = {s.name: s for s in lists}
    assert list(by) == ["Gigs/Friday", "By location", "Empty"]
    assert by["Gigs/Friday"].paths == ("C:/Music/Dance Floor/win.mp3", "/Users/dj/Music/Café del Mar/Señor.mp3",
                                       "C:/Music/Dance Floor/win.mp3")  # order and duplicates as the file has them
    assert by["Gigs/Friday"].kind == "playlist" and by["Gigs/Friday"].source == "rekordbox"
    assert by["Empty"].paths == ()
    assert [why for _, why in problems] == ["TRACK Key='99' is not in the COLLECTION; skipped"]


TRAKTOR_NML = """<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<NML VERSION="19"><HEAD COMPANY="www.native-instruments.com" PROGRAM="Traktor"></HEAD>
<COLLECTION ENTRIES="2">
<ENTRY TITLE="One"><LOCATION DIR="/:music/:" FILE="one.mp3" VOLUME="Macintosh HD"></LOCATION></ENTRY>
<ENTRY TITLE="Two"><LOCATION DIR="/:music/:" FILE="two.mp3" VOLUME="Macintosh HD"></LOCATION></ENTRY>
</COLLECTION>
<PLAYLISTS><NODE TYPE="FOLDER" NAME="$ROOT"><SUBNODES COUNT="3">
<NODE TYPE="PLAYLIST" NAME="Peak"><PLAYLIST ENTRIES="3" TYPE="LIST">
<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="Macintosh HD/:music/:two.mp3"></PRIMARYKEY></ENTRY>
<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="Macintosh HD/:music/:one.mp3"></PRIMARYKEY></ENTRY>
<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="garbage"></PRIMARYKEY></ENTRY>
</PLAYLIST></NODE>
<NODE TYPE="FOLDER" NAME="History"><SUBNODES COUNT="1">
<NODE TYPE="PLAYLIST" NAME="2026-11-27"><PLAYLIST ENTRIES="2" TYPE="LIST">
<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="Macintosh HD/:music/:one.mp3"></PRIMARYKEY></ENTRY>
<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="Macintosh HD/:other/:three.mp3"></PRIMARYKEY></ENTRY>
</PLAYLIST></NODE></SUBNODES></NODE>
<NODE TYPE="PLAYLIST" NAME="_LOOPS"><PLAYLIST ENTRIES="0" TYPE="LIST"></PLAYLIST></NODE>
</SUBNODES></NODE></PLAYLISTS></NML>
"""


def test_traktor_playlists_and_history(tmp_path):
    f = tmp_path / "collection.nml"
    f.write_text(TRAKTOR_NML, encoding="utf-8")
    lists, problems = read_traktor_playlists(f, volumes={"Macintosh HD": ""})
    by = {s.name: s for s in lists}
    assert list(by) == ["Peak", "History/2026-11-27"]  # _LOOPS left out
    assert by["Peak"].paths == ("/music/two.mp3", "/music/one.mp3") and by["Peak"].kind == "playlist"
    hist = by["History/2026-11-27"]
    assert hist.kind == "set" and hist.paths == ("/music/one.mp3", "/other/three.mp3")  # not in the COLLECTION
    assert len(problems) == 1 and "garbage" in problems[0][1]


def test_mixxx_playlists_crates_history(tmp_path):
    path = tmp_path / "mixxxdb.sqlite"
    db = make_mixxx_db(path)
    a, b, c = (add_track(db, f"/music/{x}.mp3", title=x) for x in "abc")
    warm = add_playlist(db, "Warm up")
    for t in (c, a, b):
        play(db, warm, t)
    history = add_playlist(db, "2026-11-27", hidden=2)
    for t in (a, c):
        play(db, history, t)
    auto = add_playlist(db, "Auto DJ", hidden=1)
    play(db, auto, b)
    crate = db.execute("INSERT INTO crates (name) VALUES ('Peak time')").lastrowid
    db.execute("INSERT INTO crate_tracks VALUES (?, ?)", (crate, b))
    db.execute("INSERT INTO crate_tracks VALUES (?, ?)", (crate, 999))  # a track Mixxx lost
    db.close()
    lists, problems = read_mixxx_playlists(path)
    got = {(s.name, s.kind): s.paths for s in lists}
    assert got == {("Warm up", "playlist"): ("/music/c.mp3", "/music/a.mp3", "/music/b.mp3"),
                   ("2026-11-27", "set"): ("/music/a.mp3", "/music/c.mp3"),
                   ("Peak time", "crate"): ("/music/b.mp3",)}
    assert len(problems) == 1 and "999" in problems[0][1]
    with pytest.raises(LibraryImportError, match="no such file"):
        read_mixxx_playlists(tmp_path / "missing.sqlite")


def test_m3u_files_and_folders(tmp_path):
    (tmp_path / "lists" / "sub").mkdir(parents=True)
    (tmp_path / "lists" / "friday.m3u8").write_text(
        "#EXTM3U\n#EXTINF:300,A - One\n../music/one.mp3\n\n/abs/two.flac\nfile:///abs/Caf%C3%A9.mp3\n"
        "http://radio.example/stream\n", encoding="utf-8")
    (tmp_path / "lists" / "sub" / "old.m3u").write_bytes(b"caf\xe9.mp3\r\n")  # Latin-1, CRLF
    (tmp_path / "lists" / "notes.txt").write_text("not a playlist")
    lists, problems = read_m3u_tree(tmp_path / "lists")
    assert [s.name for s in lists] == ["friday", "old"]
    assert lists[0].paths == (str(tmp_path / "music" / "one.mp3"), "/abs/two.flac", "/abs/Café.mp3")
    assert lists[1].paths == (str(tmp_path / "lists" / "sub" / "café.mp3"),)
    assert len(problems) == 1 and "not a local file" in problems[0][1]
    with pytest.raises(LibraryImportError, match="no such file"):
        read_m3u(tmp_path / "nope.m3u")


def test_set_log_with_skips_and_bans(tmp_path):
    h = History(tmp_path / "history.sqlite")
    s = h.start_session("Friday", at=100.0)
    h.log_play(s, "/m/a.mp3", at=101.0)
    h.log_feedback(s, "/m/x.mp3", "skip", playing="/m/a.mp3", at=102.0)
    h.log_play(s, "/m/b.mp3", at=103.0)
    h.log_feedback(s, "/m/y.mp3", "ban", at=104.0)
    with pytest.raises(ValueError):
        h.log_feedback(s, "/m/y.mp3", "love")
    h.close()
    (seq,), problems = read_set_log(tmp_path / "history.sqlite")
    assert (seq.name, seq.kind, seq.source, seq.paths) == ("Friday", "set", "livedj", ("/m/a.mp3", "/m/b.mp3"))
    assert seq.skipped == (("/m/a.mp3", "/m/x.mp3"),) and seq.banned == ("/m/y.mp3",)
    assert read_set_log(tmp_path / "none.sqlite") == ([], [])


def test_resolve_counts_what_does_not_resolve(tmp_path):
    ids = {seqstore.path_key("/m/a.mp3"): 1, seqstore.path_key("/m/b.mp3"): 2, seqstore.path_key("/m/c.mp3"): 3}
    lists = [Sequence("p", "playlist", "m3u", ("/m/a.mp3", "/m/./b.mp3", "/m/a.mp3", "/gone.mp3")),
             Sequence("night", "set", "livedj", ("/m/a.mp3", "/m/b.mp3", "/m/a.mp3"), (("/m/a.mp3", "/m/c.mp3"),)),
             Sequence("nothing known", "crate", "mixxx", ("/x.mp3",)),
             Sequence("empty", "playlist", "rekordbox", ())]
    out, report = seqstore.resolve(lists, ids)
    assert [(s.name, s.ids) for s in out] == [("p", (1, 2)), ("night", (1, 2, 1))]  # sets keep repeats
    assert out[1].skipped == ((1, 3),)
    assert (report.sequences, report.entries, report.resolved, report.unresolved, report.duplicates) == (4, 8, 6, 2, 1)
    assert report.empty == ["nothing known", "empty"]
    assert ("p", "/gone.mp3") in report.examples and any("not in the library" in line for line in report.lines())
    seqstore.save(tmp_path, out)
    back, problem = seqstore.load(tmp_path)
    assert back == out and problem is None
    (tmp_path / seqstore.FILENAME).write_text("{not json")
    back, problem = seqstore.load(tmp_path)
    assert back == [] and seqstore.FILENAME in problem and "unreadable" in problem
    assert seqstore.load(tmp_path / "nowhere") == ([], None)


def test_a_50000_entry_history_is_fine(tmp_path):
    ids = {seqstore.path_key(f"/m/{i}.mp3"): i for i in range(1, 2001)}
    night = Sequence("years", "set", "mixxx", tuple(f"/m/{(i * 7919) % 2500 + 1}.mp3" for i in range(50_000)))
    began = time.perf_counter()
    out, report = seqstore.resolve([night], ids)
    from livedj.library.context import build

    model = build(out)
    assert report.entries == 50_000 and report.unresolved == sum(
        (i * 7919) % 2500 + 1 > 2000 for i in range(50_000))
    assert model.stats["learned"] > 1500 and model.stats["transitions"] > 30_000
    assert time.perf_counter() - began < 60  # generous: it is about 2 s; the benchmark measures it


def test_set_log_writer_queues_skips_and_bans(tmp_path):
    from livedj.library.setlog import SetLogWriter

    writer = SetLogWriter(tmp_path / "history.sqlite", session_name="tonight")
    writer.start()
    writer.log("/m/a.mp3", source="osc")
    writer.log_feedback("/m/x.mp3", "skip", "/m/a.mp3")
    writer.log_feedback("/m/y.mp3", "ban")
    writer.stop()
    assert writer.error is None
    (seq,), _ = read_set_log(tmp_path / "history.sqlite")
    assert seq.paths == ("/m/a.mp3",) and seq.skipped == (("/m/a.mp3", "/m/x.mp3"),) and seq.banned == ("/m/y.mp3",)
