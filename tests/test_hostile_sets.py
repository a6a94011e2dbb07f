"""A hostile user's inputs to the offline set-building commands (mix, journey, playlist, eval, train)
that once lost a record, wasted the work, misled or ended in a traceback.

Real parts: generated records (livedj.synth) written as real files, the command line's own code run in
this process, a small index built by the real indexer with the `features` encoder.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from faults_common import has_traceback, one_line, run_here
from faults_common import own_home_fixture  # noqa: F401 (the fixture `own_home`)

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("own_home")]  # own_home: XDG homes of its own

SR = 44100


def _record(path: Path, seconds: float, seed: int = 1, bpm: float = 124.0, title: str | None = None) -> Path:
    from livedj.synth import TrackSpec, render_track, write_audio

    spec = TrackSpec(title or path.stem, "hostile", bpm, "A minor", "house", seed)
    write_audio(path, render_track(spec, seconds, SR), SR, spec.title, spec.artist)
    return path


def _errors(stderr: str) -> list[str]:
    """The error lines: progress and argparse's usage lines left out."""
    return [ln for ln in one_line(stderr) if not ln.startswith(("usage:", " "))]


@pytest.fixture(scope="module", name="records")
def records_fixture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("records")
    return _record(folder / "one.flac", 16.0, 1), _record(folder / "two.flac", 16.0, 2, bpm=126.0)


# -- livedj mix ---------------------------------------------------------------------------------------
def test_a_record_shorter_than_a_second_is_skipped_and_said(records, tmp_path):
    """0.3 s of music (or 10 samples of silence) ended the mix in pyloudnorm's ValueError, a traceback."""
    import soundfile as sf

    blip = tmp_path / "blip.wav"
    sf.write(blip, sf.read(records[0], start=SR, stop=SR + int(0.3 * SR))[0], SR)
    code, out, err = run_here(["mix", str(blip), str(records[0]), "-o", str(tmp_path / "m.wav"), "--no-progress"])
    assert code == 0 and not has_traceback(err), err
    assert _errors(err) == [f"livedj mix: {blip}: skipped: too short (0.30 s; a record needs 1 s)"]
    assert (tmp_path / "m.wav").is_file()
    code, _, err = run_here(["mix", "--preview", str(blip), str(records[0]), "-o", str(tmp_path / "p.wav")])
    assert code == 1 and not has_traceback(err) and len(_errors(err)) == 1 and "blip.wav" in err, err


def test_one_record_given_twice_in_a_row_is_refused_by_name(records, tmp_path, monkeypatch):
    """`livedj mix a.flac a.flac` (a slip of the shell's history, or one path spelled two ways) rendered the record
    blended into itself; `--preview A A` a transition from a record into itself. As `livedj journey A A`, refused
    in one line naming the file, before anything is decoded or written; a record played again later in the mix
    (A B A) is the DJ's choice and still mixed."""
    one, two = records
    monkeypatch.chdir(one.parent)
    for argv, what in ((["mix", str(one), str(one)], "records 1 and 2"),
                       (["mix", str(two), str(one), f"./{one.name}"], "records 2 and 3"),
                       (["mix", "--preview", str(one), str(one)], "NOW and NEXT")):
        code, out, err = run_here([*argv, "-o", str(tmp_path / "m.wav"), "--no-progress"])
        assert code == 1 and not has_traceback(err) and out == "", err
        assert _errors(err) == [f"livedj mix: {what} are the same record ({one}): "
                                "a mix blends each record into another; give it once"], err
        assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_a_folder_is_refused_before_rendering(records, tmp_path):
    """`-o set.wav` naming a folder rendered the whole mix, then failed to rename its temporary file:
    "[Errno 21] Is a directory: '.set.wav.partial' -> 'set.wav'"."""
    (tmp_path / "set.wav").mkdir()
    code, _, err = run_here(["mix", *map(str, records), "-o", str(tmp_path / "set.wav"), "--no-progress"])
    assert code == 1 and _errors(err) == [f"livedj mix: {tmp_path / 'set.wav'}: is a folder; give a file name"], err
    assert list((tmp_path / "set.wav").iterdir()) == [] and not list(tmp_path.glob(".*partial"))


def test_an_output_that_is_one_of_the_records_leaves_it_untouched(records, tmp_path):
    """`livedj mix a.flac b.flac -o a.flac` replaced the record a.flac with the mix: a record lost."""
    record = tmp_path / "mine.flac"
    shutil.copy(records[0], record)
    before = record.read_bytes()
    for argv in (["mix", str(record), str(records[1]), "--no-progress"], ["mix", "--preview", str(records[1]), str(record)]):
        code, _, err = run_here([*argv, "-o", str(record)])
        assert code == 1 and len(_errors(err)) == 1 and "is one of the records to mix" in err, err
    assert record.read_bytes() == before and not list(tmp_path.glob(".*partial")) and not list(tmp_path.glob("mine.c*"))


def test_progress_goes_to_stderr_and_stdout_is_the_tracklist(records, tmp_path):
    """The mix's progress was printed on stdout: `livedj mix ... > set.txt` got it among the tracklist."""
    code, out, err = run_here(["mix", *map(str, records), "-o", str(tmp_path / "m.wav")])
    assert code == 0, err
    assert "progress: mixing 2 records" in err
    assert not any(ln.startswith("progress:") or "━" in ln for ln in out.splitlines()), out
    assert out.splitlines()[0].startswith("00:00")


def test_an_audio_file_given_as_a_playlist_is_one_line(records, tmp_path):
    """`--m3u record.flac` read the FLAC as text: thousands of "skipped: no such file" lines of binary junk."""
    code, _, err = run_here(["mix", "--m3u", str(records[0]), "-o", str(tmp_path / "m.wav"), "--no-progress"])
    assert code == 1 and not has_traceback(err)
    assert _errors(err) == [f"livedj mix: {records[0]}: not a playlist (binary data); give records as TRACK..."]


def test_a_short_outgoing_record_is_heard_before_the_blend(tmp_path):
    """A record shorter than a phrase plus the blend was blended out from its first bar: bar 0 is on
    every phrase boundary, so the shorter phrases were never tried (a preview with no lead-in)."""
    from livedj.mix.make import make_preview

    now, nxt = _record(tmp_path / "now.flac", 40.0, 3), _record(tmp_path / "next.flac", 40.0, 4, bpm=126.0)
    entries, stats = make_preview(now, nxt, tmp_path / "preview.wav")
    assert entries[1].transition.startswith("blend 8 bars")
    assert entries[1].start == pytest.approx(8.0, abs=0.05)  # the preview's 8 s of lead-in


# -- journey, playlist ------------------------------------------------------------------------------------
def test_a_title_inside_another_title_can_be_chosen(tmp_path):
    """"Intro" also matched "Intro (Remix)": no words could choose it ("matches 2 tracks"); a file not in
    the index was told "matches 0 tracks; give its path" when its path was given."""
    from livedj.library.indexer import Settings, index_library

    lib = tmp_path / "lib"
    lib.mkdir()
    for i, title in enumerate(("Intro", "Intro (Remix)", "Outro")):
        _record(lib / f"t{i}.wav", 8.0, i + 1, title=title)
    index_library([str(lib)], str(tmp_path / "index"), Settings(encoder="features"), jobs=1)
    config = tmp_path / "config.toml"
    config.write_text('[analysis]\nencoder = "features"\n')
    base = ["--config", str(config), "--index", str(tmp_path / "index")]
    code, out, err = run_here(["journey", "intro", "Outro", "--steps", "0", *base])
    assert code == 0 and [ln.split(" - ", 1)[1].split("  [")[0] for ln in out.splitlines()] == ["Intro", "Outro"], err
    code, _, err = run_here(["journey", "hostile", "Outro", *base])
    assert code == 1 and _errors(err) == ["livedj journey: 'hostile' matches 3 tracks in the index; give more words "
                                          "or its path"]
    stranger = _record(tmp_path / "stranger.wav", 4.0, 5)
    code, _, err = run_here(["journey", str(stranger), "Outro", *base])
    assert code == 1 and _errors(err) == [f"livedj journey: {stranger}: not in the index (run `livedj index` on "
                                          "its folder first)"]


@pytest.mark.parametrize("name, why", [("folder.m3u", "is a folder"), ("missing/set.m3u", "does not exist")])
def test_a_playlist_output_that_cannot_be_written_is_refused_before_any_work(tmp_path, name, why):
    """It was found after the chain was built, named by a hidden temporary file:
    "/x/.folder.m3u.jj7rz4_5.tmp: Is a directory"."""
    (tmp_path / "folder.m3u").mkdir()
    code, _, err = run_here(["playlist", "anything", "-o", str(tmp_path / name), "--index", str(tmp_path / "no-index")])
    assert code == 2 and len(_errors(err)) == 1 and "--output" in err and why in err, err


# -- eval, train ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, status, needle", [
    (["--encoders", "nope"], 2, "--encoders: unknown encoder 'nope'"),  # was a ValueError traceback
    (["--encoders", ","], 2, "--encoders: no encoder"),  # an empty table; with --protocol an IndexError
    (["--encoders", ",", "--protocol", "split"], 2, "--encoders: no encoder"),
    (["--encoders", "features"], 1, "no such folder")])  # was "need at least 2 audio files in sub-folders"
def test_eval_options_and_folder_are_one_line_errors(tmp_path, argv, status, needle):
    folder = tmp_path / "crates" if status == 2 else tmp_path / "not-there"
    (tmp_path / "crates").mkdir()
    code, _, err = run_here(["eval", str(folder), *argv])
    assert code == status and not has_traceback(err) and len(_errors(err)) == 1 and needle in err, err


def test_a_booth_head_out_that_is_a_folder_is_refused_before_training(tmp_path):
    """`train --booth-head --out FOLDER` extracted features and trained, then failed on FOLDER.tmp and
    left that 3-MB temporary file."""
    from livedj.adapt.head import make_head, save_head

    (tmp_path / "head.safetensors").mkdir()
    (tmp_path / "lib").mkdir()
    code, _, err = run_here(["train", "--booth-head", "--library", str(tmp_path / "lib"), "--index", str(tmp_path),
                         "--out", str(tmp_path / "head.safetensors")])
    assert code == 2 and _errors(err) == [f"livedj train: error: argument --out: {tmp_path / 'head.safetensors'}: "
                                          "is a folder; give a file name"], err  # a usage error since --out is checked by argtypes
    with pytest.raises(OSError):
        save_head(make_head(hidden=8, out_dim=4), tmp_path / "head.safetensors")
    assert not (tmp_path / "head.safetensors.tmp").exists()
