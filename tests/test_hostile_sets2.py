"""More of a hostile user's inputs to the offline commands (mix, journey, analyze): options combined in
ways that once dropped a record without a word, planned a set that plays one recording twice, or read
out a part of the file the DJ did not ask for. Earlier cases: tests/test_hostile_sets.py.

Real parts: generated records (livedj.synth) written as real files, a real `livedj index` (the
`features` encoder; copies found from the fingerprints), the command line's own code run in this process.
"""
from __future__ import annotations

import shutil

import pytest

from faults_common import has_traceback, index_here, one_line, quiet_config, run_here
from faults_common import own_home_fixture  # noqa: F401 (the fixture `own_home`)
from livedj.synth import DEMO_TRACKS, TrackSpec, render_track, write_audio

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("own_home")]  # own_home: XDG homes of its own

SR = 22050


def _errors(stderr: str) -> list[str]:
    """The error lines: progress and argparse's usage lines left out."""
    return [ln for ln in one_line(stderr) if not ln.startswith(("usage:", " "))]


@pytest.fixture(scope="module", name="library")
def library_fixture(tmp_path_factory):
    """Four generated records and a byte copy of the first in another folder, indexed by `livedj index`."""
    root = tmp_path_factory.mktemp("sets2")
    paths = []
    for spec in DEMO_TRACKS[:4]:
        path = root / "lib" / f"{spec.title}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, render_track(spec, 20.0, SR), SR, spec.title, spec.artist)
        paths.append(path)
    (root / "lib" / "copies").mkdir()
    copy = shutil.copy(paths[0], root / "lib" / "copies" / "first again.flac")
    code, _, err = index_here(root, root / "lib")
    assert code == 0 and "1 recording held twice" in _, err
    base = ["--config", str(quiet_config(root)), "--index", str(root / "index")]
    return paths, copy, base


# -- livedj mix ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra", [["--m3u", "{m3u}"], ["--preview", "{a}", "{b}"], ["--journey", "{a}", "{b}"]])
def test_records_given_with_another_source_are_refused_not_dropped(library, tmp_path, extra):
    """`livedj mix mine.flac --m3u set.m3u` mixed the playlist and left mine.flac out without a word (as
    did --preview and --journey): the record the DJ named was missing from the mix."""
    paths, _, base = library
    m3u = tmp_path / "set.m3u"
    m3u.write_text(f"{paths[1]}\n{paths[2]}\n")
    extra = [x.format(m3u=m3u, a=paths[1], b=paths[2]) for x in extra]
    code, _, err = run_here(["mix", str(paths[3]), *extra, "-o", str(tmp_path / "m.wav"), "--no-progress", *base])
    assert code == 2 and not has_traceback(err), err
    assert _errors(err)[-1] == (f"livedj mix: give records either as TRACK... or with {extra[0]}, not both "
                                f"({paths[3]} would be left out)"), err
    assert not (tmp_path / "m.wav").exists()


def test_steps_without_a_journey_are_refused(library, tmp_path):
    """`--steps 3` with records as TRACK... was ignored: the DJ expected three records between them."""
    paths, _, base = library
    code, _, err = run_here(["mix", str(paths[0]), str(paths[1]), "--steps", "3", "-o", str(tmp_path / "m.wav"),
                             "--no-progress", *base])
    assert code == 2 and _errors(err)[-1] == "livedj mix: --steps is the number of records between A and B of " \
                                             "--journey; give --journey A B too", err
    assert not (tmp_path / "m.wav").exists()


def test_two_copies_of_one_recording_in_a_row_are_refused_by_name(library, tmp_path):
    """`livedj mix A.flac copies/A-again.flac` (two files of one recording, found by `livedj index`) rendered
    the record blended into itself, where `mix A A` is refused. Now refused the same way, in one line naming
    both files; a copy played again later (A B A') still mixes."""
    paths, copy, base = library
    for argv, which in ((["mix", str(paths[0]), str(copy)], "records 1 and 2"),
                        (["mix", "--preview", str(copy), str(paths[0])], "NOW and NEXT")):
        code, out, err = run_here([*argv, "-o", str(tmp_path / "m.wav"), "--no-progress", *base])
        assert code == 1 and not has_traceback(err) and out == "", err
        a, b = (paths[0], copy) if which.startswith("records") else (copy, paths[0])
        assert _errors(err) == [f"livedj mix: {which} are copies of one recording ({a} and {b}): "
                                "a mix blends each record into another; give it once"], err
        assert not (tmp_path / "m.wav").exists()
    code, _, err = run_here(["mix", str(paths[0]), str(paths[1]), str(copy), "-o", str(tmp_path / "m.wav"),
                             "--no-progress", *base])
    assert code == 0 and (tmp_path / "m.wav").is_file(), err


# -- livedj journey ------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["journey", "mix"])
@pytest.mark.parametrize("to_copy", [False, True], ids=["itself", "its copy"])
def test_a_journey_from_a_record_to_itself_or_its_copy_is_refused(library, tmp_path, command, to_copy):
    """`journey A A` (or A to its copy in another folder) planned A, its neighbours, then A again: a set
    that plays one recording twice (what "no repeats" promises it never does), with no direction to go."""
    paths, copy, base = library
    b = copy if to_copy else paths[0]
    argv = (["journey", str(paths[0]), str(b), "--steps", "2", "-o", str(tmp_path / "set.m3u")] if command == "journey"
            else ["mix", "--journey", str(paths[0]), str(b), "--steps", "2", "-o", str(tmp_path / "m.wav"),
                  "--no-progress"])
    code, out, err = run_here([*argv, *base])
    assert code == 1 and not has_traceback(err), (out, err)
    what = f"copies of one recording ({paths[0]} and {copy})" if to_copy else f"the same record ({paths[0]})"
    assert _errors(err) == [f"livedj {command}: waypoints 1 and 2 are {what}: a journey goes between two "
                            "different records"], err
    assert not (tmp_path / "set.m3u").exists() and not (tmp_path / "m.wav").exists()


def test_a_journey_between_two_records_still_plans(library, tmp_path):
    """The refusal above is for one recording only: two records plan as before, each once."""
    paths, copy, base = library
    code, out, err = run_here(["journey", str(paths[0]), str(paths[1]), "--steps", "2", *base])
    assert code == 0, err
    titles = [ln.split(" - ", 1)[1].split("  [")[0] for ln in out.splitlines()]
    assert titles[0] == DEMO_TRACKS[0].title and titles[-1] == DEMO_TRACKS[1].title
    assert len(titles) == 4 and titles.count(DEMO_TRACKS[0].title) == 1  # nor the copy of the first


# -- livedj analyze -----------------------------------------------------------------------------------
def test_analyze_past_the_end_of_a_short_file_says_so(library, tmp_path):
    """`analyze two-seconds.flac --at 10` read out the file's first 2 s as "@ 10 s" (the context before
    the window reached back to the start), where suggest says the file ends before 10 s."""
    _, _, base = library
    spec = TrackSpec("short", "x", 124.0, "A minor", "house", 3)
    short = tmp_path / "short.flac"
    write_audio(short, render_track(spec, 2.0, SR), SR, spec.title, spec.artist)
    code, out, err = run_here(["analyze", str(short), "--at", "10", *base])
    assert code == 1 and out == "" and _errors(err) == [
        f"livedj analyze: {short}: less than 1 s of audio at 10 s: it lasts 2 s (try --at 0)"], (out, err)
    code, out, err = run_here(["analyze", str(short), "--at", "0", "--json", *base])
    assert code == 0 and '"at": 0.0' in out, err  # the whole 2 s from its start still reads out


def test_copies_with_the_same_tags_are_told_apart_by_their_paths(library):
    """"Echo Chamber" held twice (a copy in another folder) said "matches 2 tracks; give more words or
    its path": no words tell two files with the same tags apart, and which paths was not said."""
    paths, copy, base = library
    code, _, err = run_here(["journey", DEMO_TRACKS[0].title, str(paths[1]), *base])
    assert code == 1 and _errors(err) == [f"livedj journey: {DEMO_TRACKS[0].title!r} matches 2 tracks with the same "
                                          f"artist and title; give its path ({paths[0]}, {copy})"], err
    code, out, err = run_here(["journey", str(copy), str(paths[1]), "--steps", "0", *base])
    assert code == 0 and len(out.splitlines()) == 2, err  # the path chooses the copy


@pytest.mark.parametrize("command", ["analyze", "suggest"])
def test_a_file_shorter_than_a_second_says_its_length(library, tmp_path, command):
    """A 0.5-s file said "less than 1 s of audio at 0 s: it lasts 0 s (try --at 0)": the length rounded
    to nothing, and the --at it offered was the one that had just failed."""
    _, _, base = library
    spec = TrackSpec("blip", "x", 124.0, "A minor", "house", 3)
    blip = tmp_path / "blip.flac"
    write_audio(blip, render_track(spec, 0.5, SR), SR, spec.title, spec.artist)
    code, out, err = run_here([command, str(blip), *base])
    assert code == 1 and out == "" and _errors(err) == [
        f"livedj {command}: {blip}: it lasts 0.5 s; a window needs 1 s of audio at least"], (out, err)
