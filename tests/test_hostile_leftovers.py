"""Small defects left over from the hostile rounds (test_hostile_*.py): each once gave a wrong answer, a
traceback or a message that named the wrong thing; each test says what the DJ saw before."""
from __future__ import annotations

import os
import threading

import pytest

from faults_common import XML_HEAD, has_traceback, full_disk, one_line, read_only_mount, run_here
from faults_common import own_home_fixture  # noqa: F401 (the fixture `own_home`)

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("own_home")]  # own_home: XDG homes of its own


def _errors(stderr: str) -> list[str]:
    """The error lines: progress and argparse's usage lines left out."""
    return [ln for ln in one_line(stderr) if not ln.startswith(("usage:", " "))]


def _through_a_pipe(path, text: str):
    """``path`` made a FIFO that a thread fills with ``text`` (as `--playlists <(cat x)` or /dev/stdin)."""
    os.mkfifo(path)
    writer = threading.Thread(target=path.write_text, args=(text,), daemon=True)
    writer.start()
    return writer


@pytest.mark.parametrize("kind", ["csv", "xspf", "rekordbox", "m3u"])
def test_a_playlist_through_a_pipe_is_told_by_its_content(tmp_path, kind):
    """`--playlists /dev/stdin < set.csv | x.xspf` (any stream) was read as an M3U: each line of CSV or XML a
    "path". A stream is now read once into memory (within the 256 MiB cap) and told by its content as a
    regular file is."""
    from livedj.library.exports import CSV_COLUMNS
    from livedj.library.importers.listfiles import read_m3u_tree

    text = {
        "csv": ",".join(CSV_COLUMNS) + "\n" + ",".join("/m/a.mp3" if c == "path" else "" for c in CSV_COLUMNS)
               + "\n" + ",".join("/m/b.mp3" if c == "path" else "" for c in CSV_COLUMNS) + "\n",
        "xspf": XML_HEAD + '<playlist xmlns="http://xspf.org/ns/0/"><title>Friday</title><trackList>'
                '<track><location>file:///m/a.mp3</location></track><track><location>file:///m/b.mp3</location>'
                "</track></trackList></playlist>",
        "rekordbox": XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION>'
                     '<TRACK TrackID="1" Location="file://localhost/m/a.mp3"/>'
                     '<TRACK TrackID="2" Location="file://localhost/m/b.mp3"/></COLLECTION><PLAYLISTS>'
                     '<NODE Type="0" Name="ROOT"><NODE Type="1" Name="Friday" KeyType="0">'
                     '<TRACK Key="1"/><TRACK Key="2"/></NODE></NODE></PLAYLISTS></DJ_PLAYLISTS>',
        "m3u": "#EXTM3U\n/m/a.mp3\n/m/b.mp3\n",
    }[kind]
    writer = _through_a_pipe(tmp_path / "stream", text)
    lists, problems = read_m3u_tree(tmp_path / "stream")
    writer.join(10)
    assert [list(s.paths) for s in lists] == [["/m/a.mp3", "/m/b.mp3"]] and not problems, (lists, problems)


def test_one_collection_given_twice_counts_its_lists_once(tmp_path, monkeypatch):
    """`--playlists x.xml --playlists x.xml` (or ./x.xml and a link to it, a file and its folder, --from-rekordbox
    and --playlists of one XML) read the file twice: each playlist counted twice, its transitions weighed
    double. Each file is now read once, by its device and inode; two different files with one content are
    still two."""
    from livedj.library.context_update import read_lists

    monkeypatch.chdir(tmp_path)
    xml = tmp_path / "lists" / "x.xml"
    xml.parent.mkdir()
    xml.write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION>'
                   '<TRACK TrackID="1" Location="file://localhost/m/a.mp3"/>'
                   '<TRACK TrackID="2" Location="file://localhost/m/b.mp3"/></COLLECTION><PLAYLISTS>'
                   '<NODE Type="0" Name="ROOT"><NODE Type="1" Name="Friday" KeyType="0">'
                   '<TRACK Key="1"/><TRACK Key="2"/></NODE></NODE></PLAYLISTS></DJ_PLAYLISTS>')
    (tmp_path / "link.xml").symlink_to(xml)
    m3u = tmp_path / "lists" / "y.m3u"
    m3u.write_text("/m/a.mp3\n/m/c.mp3\n")
    for kwargs in ({"m3u": [xml, xml]}, {"m3u": [xml, "lists/./x.xml", tmp_path / "link.xml"]},
                   {"rekordbox": [xml], "m3u": [xml]}, {"m3u": [xml, tmp_path / "lists"]}):
        lists, problems = read_lists(**kwargs)
        names = sorted(s.name for s in lists)
        assert names in (["Friday"], ["Friday", "y"]) and not problems, (kwargs, names)
    (tmp_path / "copy.xml").write_bytes(xml.read_bytes())
    assert [s.name for s in read_lists(m3u=[xml, tmp_path / "copy.xml"])[0]] == ["Friday", "Friday"]


@pytest.mark.parametrize("option", [["--out", "mine.safetensors"], ["--library", "."], ["--hours", "1"],
                                    ["--resume"]])
def test_booth_head_options_without_booth_head_are_refused(tmp_path, option):
    """`livedj train --out mine.safetensors` (no --booth-head) trained the library's head into the index and
    never wrote mine.safetensors, without a word; as --library, --hours and --resume, options only the booth
    head reads. Now a usage error in one line, before anything is read or trained."""
    code, out, err = run_here(["train", *option, "--index", str(tmp_path / "none")])
    assert code == 2 and out == "" and not has_traceback(err), err
    assert _errors(err) == [f"livedj train: {option[0]} is for --booth-head (the library's head is written into "
                            f"the index); give --booth-head, or leave {option[0]} out"], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("top", ["0", "-3"])
def test_context_top_zero_or_negative_is_a_usage_error(tmp_path, top):
    """`livedj context TRACK --top 0` (or -3) showed one neighbour. Now refused as a usage error in one line
    naming the option, as `livedj suggest --top 0` is."""
    code, out, err = run_here(["context", "anything", "--top", top, "--index", str(tmp_path / "none")])
    assert code == 2 and out == "" and not has_traceback(err), err
    assert _errors(err) == [f"livedj context: error: argument --top: must be 1..1000, got {top}"], err


def test_history_reads_a_read_only_set_log(tmp_path):
    """`livedj history` on a set log on a read-only mount (a stick locked, last night's log copied read-only)
    was refused before anything was read: "config error: history.path: not writable". Reading it (the list,
    --export) now works; `livedj run`, which writes it, still refuses it."""
    from livedj.library.history import History

    folder = tmp_path / "log"
    folder.mkdir()
    h = History(folder / "history.sqlite")
    s = h.start_session("Friday", at=1_700_000_000.0)
    h.log_play(s, "/m/a.mp3", title="A", artist="X", source="osc", at=1_700_000_100.0)
    h.close()
    config = tmp_path / "c.toml"
    config.write_text(f'[history]\npath = "{folder / "history.sqlite"}"\n')
    undo = read_only_mount(folder)
    try:
        code, out, err = run_here(["history", "--config", str(config)])
        assert code == 0 and "Friday" in out and not err, (out, err)
        code, out, err = run_here(["history", "--config", str(config), "--export", str(tmp_path / "set.m3u")])
        assert code == 0 and not err, err
        code, _, err = run_here(["run", "--config", str(config), "--duration", "1"])
        assert code == 2 and "history.path: not writable" in err, err
    finally:
        undo()
    assert (tmp_path / "set.m3u").read_text().splitlines()[-1] == "/m/a.mp3"


def test_a_set_log_read_only_that_is_empty_or_older_reads_as_such(tmp_path):
    """Read-only, nothing is created: an empty file reads as an empty set log, one without the feedback table
    (an older livedj's) as one without skips."""
    import sqlite3

    from livedj.library.history import History

    (tmp_path / "empty.sqlite").write_bytes(b"")
    h = History(tmp_path / "empty.sqlite", readonly=True)
    assert h.sessions() == [] and h.feedback() == {}
    h.close()
    assert (tmp_path / "empty.sqlite").read_bytes() == b""
    h = History(tmp_path / "old.sqlite")
    h.log_play(h.start_session("x", at=1.0), "/m/a.mp3", at=2.0)
    h.close()
    with sqlite3.connect(tmp_path / "old.sqlite") as db:
        db.execute("DROP TABLE feedback")
    h = History(tmp_path / "old.sqlite", readonly=True)
    assert [s.plays for s in h.sessions()] == [1] and h.feedback() == {}
    h.close()


@pytest.fixture(scope="module")
def two_records(tmp_path_factory):
    from livedj.synth import DEMO_TRACKS, render_track, write_audio

    folder = tmp_path_factory.mktemp("records")
    paths = []
    for spec in DEMO_TRACKS[:2]:
        paths.append(folder / f"{spec.title}.flac")
        write_audio(paths[-1], render_track(spec, 16.0, 22050), 22050, spec.title, spec.artist)
    return paths


@pytest.mark.parametrize("ext", ["wav", "ogg"])
def test_a_mix_on_a_full_disk_names_the_output_file(two_records, tmp_path, ext):
    """`livedj mix ... -o /full/set.wav` said "[Errno 28] No space left on device: '/full/.set.wav.partial'",
    naming a temporary file the DJ never gave (and .ogg ended in libsndfile's traceback, "System error.").
    Now one line naming set.wav; nothing is left on the disk."""
    disk = tmp_path / "disk"
    undo = full_disk(disk, 64)
    try:
        out = disk / f"set.{ext}"
        code, stdout, err = run_here(["mix", *map(str, two_records), "-o", str(out), "--no-progress",
                                      "--index", str(tmp_path / "none")])
        left = sorted(p.name for p in disk.iterdir())
    finally:
        undo()
    assert code == 1 and not has_traceback(err) and stdout == "", err
    assert _errors(err) == [f"livedj mix: {out}: cannot write (No space left on device)"], err
    assert left == []


def test_a_sequences_json_that_is_a_folder_is_named_once(tmp_path_factory):
    """`livedj index` with the index's sequences.json a folder said "sequences.json: sequences.json: unreadable
    ([Errno 21] Is a directory: 'sequences.json')": the file three times. Now once, saying it is a folder."""
    from faults_common import untagged_library
    from livedj.library import sequences as seqstore

    root, config = untagged_library(tmp_path_factory, "seqfolder", 2)
    saved = root / "index" / seqstore.FILENAME
    saved.mkdir()
    _, problem = seqstore.load(root / "index")
    assert problem.count(str(saved)) == 1 and problem.count("sequences.json") == 1, problem
    code, out, err = run_here(["index", str(root / "lib"), "--config", str(config), "--index", str(root / "index"),
                               "--jobs", "1"])
    assert code == 0 and not has_traceback(err), err
    lines = [ln.strip() for ln in one_line(out + err) if "sequences.json" in ln]
    assert lines == [f"{saved}: a folder, not livedj's saved lists; playlists ignored (move it away, then "
                     "`livedj index --playlists ...`)"], lines


def test_suggest_on_a_pipe_says_it_is_not_a_regular_file(tmp_path, tmp_path_factory):
    """`livedj suggest fifo` (a named pipe, or a device) said "empty file (0 bytes)": a pipe's size is 0.
    Now one line saying what it is; nothing waits for a writer."""
    from faults_common import untagged_library

    root, config = untagged_library(tmp_path_factory, "suggestpipe", 2)
    os.mkfifo(tmp_path / "pipe.mp3")
    code, out, err = run_here(["suggest", str(tmp_path / "pipe.mp3"), "--config", str(config),
                               "--index", str(root / "index")])
    assert code == 1 and out == "" and not has_traceback(err), err
    assert _errors(err) == [f"livedj suggest: {tmp_path / 'pipe.mp3'}: cannot decode audio: not a regular file "
                            "(a pipe or a device); give an audio file"], err
