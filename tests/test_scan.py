"""What `livedj index` walks: the scan finds the DJ's records and nothing a drive keeps on the side.

Pure file-system work on a temporary folder (no decoding): the files are empty, the scan only
looks at names and kinds.
"""
from __future__ import annotations

import os
from pathlib import Path

from livedj.library.scan import scan


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def found(roots, problems=None) -> list[str]:
    return [os.path.relpath(f.path, roots[0]) for f in scan(roots, problems=problems)]


def test_trash_and_hidden_folders_of_a_usb_stick_are_not_indexed(tmp_path):
    """Deleted records in a stick's trash must not come back as suggestions."""
    stick = tmp_path / "STICK"
    touch(stick, "House/a.mp3", "House/b.flac", "Techno/deep/c.m4a",
          ".Trashes/501/deleted.mp3", ".Trash-1000/files/deleted.mp3", "$RECYCLE.BIN/S-1-5/deleted.mp3",
          "System Volume Information/x.wav", "lost+found/#123.mp3", ".Spotlight-V100/Store/x.mp3",
          "House/.hidden-album/d.mp3", "House/._a.mp3", ".DS_Store", "House/cover.jpg")
    assert found([stick]) == ["House/a.mp3", "House/b.flac", "Techno/deep/c.m4a"]


def test_a_hidden_root_named_by_the_user_is_scanned(tmp_path):
    """Only sub-folders are skipped: `livedj index ~/.music` means what it says."""
    root = tmp_path / ".music"
    touch(root, "a.ogg", "sub/b.wav", "sub/.cache/c.wav")
    assert found([root]) == ["a.ogg", "sub/b.wav"]


def test_a_folder_named_like_a_record_is_reported_and_its_contents_scanned(tmp_path):
    touch(tmp_path, "Album.mp3/01.mp3", "Album.mp3/02.mp3", ".Trashes/Old.mp3/03.mp3")
    problems: list[tuple[str, str]] = []
    assert found([tmp_path], problems) == ["Album.mp3/01.mp3", "Album.mp3/02.mp3"]
    assert [os.path.basename(p) for p, _ in problems] == ["Album.mp3"]  # nothing about the trash's copy


def test_names_and_folders_are_in_sorted_order_and_extensions_match_any_case(tmp_path):
    touch(tmp_path, "b/2.MP3", "b/1.Flac", "a/z.wav", "a/notes.txt")
    assert found([tmp_path]) == ["a/z.wav", "b/1.Flac", "b/2.MP3"]
