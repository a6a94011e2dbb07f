"""A hostile user's inputs that once lost data, spoiled the index or ended in a traceback.

Real components throughout: generated audio files, the real indexer (the `features` encoder where
the embedding does not matter, musicnn where it does), Annoy files on disk, the command line's own
code run in this process.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from faults_common import _main_here, has_traceback, one_line

pytestmark = pytest.mark.faults

SR = 22050


def _music(seed: int, seconds: float = 8.0) -> np.ndarray:
    from livedj.synth import DEMO_TRACKS, render_track

    return render_track(DEMO_TRACKS[seed], duration=seconds, sample_rate=SR).astype(np.float32)


def _library(folder: Path, n: int, seconds: float = 8.0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"t{i}.wav" for i in range(n)]
    for i, path in enumerate(paths):
        sf.write(path, _music(i, seconds), SR)
    return paths


def _index(roots, index_dir: Path, encoder: str = "features"):
    from livedj.library.indexer import Settings, index_library

    return index_library([str(r) for r in roots], str(index_dir), Settings(encoder=encoder), jobs=1)


def _stored(index_dir: Path) -> dict[int, str]:
    """Track id -> path of every good track in the store."""
    from livedj.library.store import Store

    store = Store(index_dir, readonly=True)
    try:
        return {i: t.path for i, t in store.tracks().items()}
    finally:
        store.close()


# -- the index keeps what it cannot see ----------------------------------------------------------------
def test_a_library_folder_that_is_not_there_keeps_its_tracks(tmp_path):
    """`livedj index /media/usb/Music` with the stick unplugged used to drop every track of it."""
    usb, stick, index_dir = tmp_path / "usb", tmp_path / "stick", tmp_path / "index"
    _library(usb, 2)
    _library(stick, 1)
    link = tmp_path / "music-link"  # ~/Music -> the stick's folder: a dangling link once it is unplugged
    link.symlink_to(stick)
    assert _index([usb, link], index_dir).indexed == 3
    usb.rename(tmp_path / "unplugged")
    stick.rename(tmp_path / "unplugged-stick")
    report = _index([usb, link], index_dir)
    assert report.removed == 0 and report.index_items == 3 and len(_stored(index_dir)) == 3
    assert any("no such folder" in why and "2 indexed tracks are kept" in why for _, why in report.skipped)
    (tmp_path / "unplugged").rename(usb)
    (usb / "t1.wav").unlink()  # a file deleted from a folder that is there still leaves the index
    report = _index([usb], index_dir)
    assert report.removed == 1 and report.index_items == 2


def test_index_names_what_it_was_given_and_did_not_index(tmp_path, monkeypatch):
    """An empty PATH (an unset shell variable) indexed the current folder; a named non-audio file was ignored silently."""
    here = tmp_path / "cwd"
    _library(here, 1)
    monkeypatch.chdir(here)
    notes, playlist = tmp_path / "notes.txt", tmp_path / "set.m3u"
    notes.write_text("hello")
    playlist.write_text(str(here / "t0.wav") + "\n")
    report = _index(["", notes, playlist], tmp_path / "index")
    assert report.indexed == 0 and report.index_items == 0
    reasons = dict(report.skipped)
    assert reasons == {"''": "an empty path (not the current folder)", str(notes): "not an audio file (.txt)",
                       str(playlist): "not an audio file (.m3u)"}


# -- one damaged file must not spoil the index ------------------------------------------------------------
def test_a_damaged_float_file_is_skipped_and_leaves_every_vector_finite(tmp_path):
    """A float WAV with NaN samples (or samples ~100x full scale) gave a NaN vector; the library's fit,
    learned over every track, then made *every* vector NaN: all similarities 0, silently."""
    from livedj.library import index as annoy_index

    lib = tmp_path / "lib"
    _library(lib, 3)
    music = _music(3)
    nan = music.copy()
    nan[SR:SR + 10] = np.nan
    sf.write(lib / "nan.wav", nan, SR, subtype="FLOAT")
    sf.write(lib / "loud.wav", music * 100.0, SR, subtype="FLOAT")
    report = _index([lib], tmp_path / "index", encoder="musicnn")
    reasons = {Path(p).name: why for p, why in report.skipped}
    assert reasons == {"nan.wav": "damaged audio: NaN or infinite samples",
                       "loud.wav": "damaged audio: samples far beyond full scale"}
    assert report.indexed == 3 and report.index_items == 3
    loaded = annoy_index.load(tmp_path / "index")
    ids = list(_stored(tmp_path / "index"))
    assert len(ids) == 3 and all(np.isfinite(loaded.annoy.get_item_vector(i)).all() for i in ids)


# -- the command line ---------------------------------------------------------------------------------
def test_an_offset_past_any_timestamp_decodes_nothing(tmp_path):
    """`livedj suggest x.wav --at 1e15`: PyAV's seek raised OverflowError (a traceback)."""
    from livedj.audio.decode import decode

    path = tmp_path / "a.wav"
    sf.write(path, _music(0, 4.0), SR)
    for at in (1e15, 1e300):
        assert decode(path, 16000, at, 5.0).size == 0
    assert decode(path, 16000, 1.0, 1.0).size == 16000  # an ordinary offset still reads


@pytest.mark.parametrize("argv, option", [
    (["playlist", "x", "--at", "-5"], "--at"), (["playlist", "x", "--at", "nan"], "--at"),
    (["playlist", "x", "--seed-random", "-5"], "--seed-random"),
    (["mix", "a.wav", "-o", "m.wav", "--lufs", "nan"], "--lufs"),
    (["mix", "a.wav", "-o", "m.wav", "--lufs", "1e300"], "--lufs"),
    (["mix", "--journey", "a", "b", "--steps", "-5", "-o", "m.wav"], "--steps"),
    (["demo", "--duration", "1e300"], "--duration")])
def test_hostile_option_values_are_usage_errors(argv, option, tmp_path, monkeypatch):
    """Each was a traceback (negative --at or --seed-random, --duration 1e300) or silently wrong output
    (--lufs nan wrote a mix of constant DC)."""
    for kind in ("CONFIG", "DATA", "CACHE"):  # nothing of the user's is read or written
        monkeypatch.setenv(f"XDG_{kind}_HOME", str(tmp_path / kind.lower()))
    result = _main_here(argv)
    lines = [ln for ln in one_line(result.stderr) if not ln.startswith(("usage:", " "))]
    assert result.returncode == 2 and not has_traceback(result.stderr), result.stderr
    assert len(lines) == 1 and option in lines[0], result.stderr


def test_mix_journey_plans_through_the_library(tmp_path):
    """`livedj mix --journey A B` called plan() with a keyword it no longer takes: a TypeError, every time."""
    from livedj.commands.mix import _journey
    from livedj.config import defaults, override

    paths = _library(tmp_path / "lib", 4)
    _index([tmp_path / "lib"], tmp_path / "index")
    config = override(defaults(), {"index": {"path": str(tmp_path / "index")}, "analysis": {"encoder": "features"}})
    args = argparse.Namespace(journey=[str(paths[0]), str(paths[3])], steps=1)
    planned = _journey(args, config)
    assert planned[0] == str(paths[0]) and planned[-1] == str(paths[3]) and len(planned) == 3


def test_a_mix_of_no_readable_record_says_so_and_keeps_the_earlier_file(tmp_path):
    """It failed with "No such file or directory: '.m.wav.partial' -> 'm.wav'"."""
    from livedj.mix.make import OutputError, make_mix

    out = tmp_path / "m.wav"
    shutil.copy(_library(tmp_path / "lib", 1)[0], out)
    before = out.read_bytes()
    (tmp_path / "empty.mp3").write_bytes(b"")
    (tmp_path / "text.flac").write_text("not audio\n" * 100)
    with pytest.raises(OutputError) as e:
        make_mix([tmp_path / "empty.mp3", tmp_path / "text.flac"], out, show_progress=False)
    assert str(e.value) == f"{out}: not written: none of the 2 records could be read"
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "empty.mp3", "lib", "m.wav", "text.flac"]
