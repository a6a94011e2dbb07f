"""`livedj index` on odd library layouts: links, overlapping roots, odd names, files that lie or change.

Real generated audio files, the real indexer (the `features` encoder: these concern files, not the
embedding) and a real store on disk. The layouts that were already handled are checked too, briefly.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.faults

SR = 22050


def _music(seed: int, seconds: float = 5.0) -> np.ndarray:
    from livedj.synth import DEMO_TRACKS, render_track

    return render_track(DEMO_TRACKS[seed], duration=seconds, sample_rate=SR).astype(np.float32)


def _index(roots, index_dir: Path, progress=None):
    from livedj.library.indexer import Settings, index_library

    return index_library([str(r) for r in roots], str(index_dir), Settings(encoder="features"), jobs=1,
                         progress=progress)


def _rows(index_dir: Path) -> dict[bytes, str]:
    """Stored path -> status of every row."""
    from livedj.library.store import Store

    store = Store(index_dir, readonly=True)
    try:
        return dict(store.db.execute("SELECT path, status FROM tracks").fetchall())
    finally:
        store.close()


def _why(report) -> dict[str, str]:
    return {Path(p).name: why for p, why in report.skipped}


@pytest.fixture(name="lib")
def lib_fixture(tmp_path) -> Path:
    lib = tmp_path / "lib"
    (lib / "sub").mkdir(parents=True)
    sf.write(lib / "a.wav", _music(0), SR)
    sf.write(lib / "sub" / "b.flac", _music(1), SR)
    return lib


def test_the_same_folder_through_a_link_is_indexed_once(lib, tmp_path):
    """~/Music and a link to it named together (or an index built through both) stored every record twice."""
    link = tmp_path / "music-link"
    link.symlink_to(lib)
    before = _index([link], tmp_path / "index")  # an index built through the link alone
    assert before.indexed == 2
    report = _index([lib, link, lib / "sub", lib], tmp_path / "index")  # and the folder itself, sub-folder, again
    assert sorted(_rows(tmp_path / "index")) == [b"%s/a.wav" % bytes(lib), b"%s/sub/b.flac" % bytes(lib)]
    # the names through the link leave the index: the rows move to the folder's own names, their analysis kept
    # (library/moves.py: the same size, mtime and first 64 kB; before, they were removed and analysed again)
    assert report.index_items == 2 and report.removed == 0 and len(report.moved) == 2 and report.indexed == 0
    assert _why(report) == {"music-link": f"2 files already found under {lib} (the same files, through a link): "
                                          "indexed once, under that folder"}


def test_a_linked_or_hard_linked_file_is_indexed_once_and_named(lib, tmp_path):
    (lib / "alias.wav").symlink_to(lib / "a.wav")
    os.link(lib / "sub" / "b.flac", lib / "hard.flac")
    outside = tmp_path / "c.wav"
    outside.symlink_to(lib / "a.wav")
    report = _index([lib, outside], tmp_path / "index")
    assert report.indexed == 2 and report.index_items == 2 and len(_rows(tmp_path / "index")) == 2
    assert _why(report) == {"alias.wav": f"the same file as {lib / 'a.wav'} (a link): indexed once, under that name",
                            # a folder's files come before its sub-folders': the hard link is found first
                            "b.flac": f"the same file as {lib / 'hard.flac'} (a link): indexed once, under that name",
                            "c.wav": f"the same file as {lib / 'a.wav'} (a link): indexed once, under that name"}


def test_a_file_deleted_between_scan_and_analysis_is_named_and_not_stored(lib, tmp_path):
    """It was stored as a failed file ("no such file"), over the good row it had."""
    index_dir = tmp_path / "index"
    _index([lib], index_dir)
    sf.write(lib / "a.wav", _music(2), SR)  # changed: analysed again next run
    os.utime(lib / "a.wav", ns=(1, 1))

    def delete_after_scan(event, done, total, path):  # called once the scan is done, before any analysis
        if event == "scan":
            (lib / "a.wav").unlink()

    report = _index([lib], index_dir, delete_after_scan)
    assert _why(report) == {"a.wav": "deleted or moved while being indexed (looked at again next run)"}
    assert set(_rows(index_dir).values()) == {"ok"}  # its earlier good row is kept, not replaced by an error
    assert _index([lib], index_dir).removed == 1  # the next run sees it gone


def test_a_file_replaced_or_growing_during_analysis_is_analysed_again_next_run(lib, tmp_path):
    """Already fine: the row keeps the scan's size and time, so the next run sees the file changed."""
    index_dir = tmp_path / "index"

    def grow(event, done, total, path):
        if event == "scan":
            sf.write(lib / "a.wav", _music(0, 10.0), SR)

    assert _index([lib], index_dir, grow).indexed == 2
    assert _index([lib], index_dir).indexed == 1 and _index([lib], index_dir).indexed == 0


def test_an_enormous_tag_is_cut(lib, tmp_path):
    """A 1 MB title was stored whole, read on every load and printed whole in every table."""
    from mutagen.flac import FLAC

    from livedj.library.store import Store

    tagged = FLAC(lib / "sub" / "b.flac")
    tagged["title"] = "T" * 1_000_000
    tagged["artist"] = "\x00\xff\x01junk" * 1000
    tagged["bpm"] = "1e400"
    tagged.save()
    _index([lib], tmp_path / "index")
    raw = Store(tmp_path / "index", readonly=True)
    try:
        title, artist, bpm_source = raw.db.execute(
            "SELECT title, artist, bpm_source FROM tracks WHERE path = ?", (bytes(lib / "sub" / "b.flac"),)).fetchone()
    finally:
        raw.close()
    assert len(title) == 500 and title.endswith("…") and len(artist) <= 500  # tags.MAX_TAG_CHARS
    assert "\x00" not in artist and bpm_source != "tag"  # an infinite BPM tag is not a BPM


def test_layouts_that_were_already_handled(tmp_path):
    """Link loops, a link to a parent, names not UTF-8 or with a newline, a 255-byte name, a path near
    PATH_MAX, extensions that lie, zero-byte files: named or indexed, never a traceback or a hang."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "self").symlink_to(lib)
    (lib / "parent").symlink_to(tmp_path)
    (lib / "x.wav").symlink_to(lib / "y.wav")
    (lib / "y.wav").symlink_to(lib / "x.wav")
    sf.write(os.fsencode(lib) + b"/caf\xff.wav", _music(0), SR)
    sf.write(str(lib / "new\nline.wav"), _music(1), SR)
    sf.write(lib / ("n" * 251 + ".wav"), _music(2), SR)
    deep = str(lib)
    while len(deep) < 3800:
        deep = os.path.join(deep, "d" * 200)
    os.makedirs(deep)
    sf.write(lib / "flac.mp3", _music(3), SR, format="FLAC")
    os.rename(lib / "flac.mp3", os.path.join(deep, "flac.mp3"))  # libsndfile refuses such a long name
    sf.write(lib / "wav.ogg", _music(4), SR, format="WAV")
    (lib / "text.flac").write_text("not audio\n" * 100)
    (lib / "zero.mp3").write_bytes(b"")
    report = _index([lib], tmp_path / "index")
    assert report.indexed == 5 and report.index_items == 5
    assert _why(report) == {"x.wav": "cannot stat: Too many levels of symbolic links",
                            "y.wav": "cannot stat: Too many levels of symbolic links",
                            "text.flac": "no decodable audio frames", "zero.mp3": "empty file (0 bytes)"}
