"""A record's tags are shown on the terminal, in tables and on the dashboard: their control characters
must not reach it (an ESC sequence in a title clears the DJ's screen or renames the window; a newline
splits a table's row). Real files written with tags, a real store and set log on disk."""
from __future__ import annotations

import numpy as np

from livedj.library.history import History
from livedj.library.store import Store
from livedj.library.tags import read_tags, tag_text
from livedj.synth import write_audio

HOSTILE = "Intro\x1b[2J\x1b]0;owned\x07 Mix\nLine two\x9b"


def test_tag_text_is_one_line_without_control_characters():
    assert tag_text(HOSTILE) == "Intro [2J ]0;owned Mix Line two"
    assert tag_text("  Plain \t title  ") == "Plain title"
    assert tag_text("Café – Björk 日本") == "Café – Björk 日本"  # letters of any script stay
    assert tag_text(None) == ""


def test_a_files_hostile_title_is_read_as_one_clean_line(tmp_path):
    path = tmp_path / "a.flac"
    write_audio(path, np.zeros(22050, np.float32), 22050, title=HOSTILE, artist="DJ\x1bX")
    tags = read_tags(path)
    assert "\x1b" not in tags["title"] + tags["artist"] and "\n" not in tags["title"]
    assert tags["title"].startswith("Intro") and tags["title"].endswith("Line two")


def test_a_store_and_a_set_log_written_before_the_cleaning_are_read_clean(tmp_path):
    """Rows already on disk (an index or a set log of an earlier livedj) are cleaned when read."""
    store = Store(tmp_path / "index")
    store.put(str(tmp_path / "x\x1b[31m.wav"), 1, 1, status="ok", tags={"artist": "A\nB", "album": "\x1b[5m"},
              vector=np.ones(4, np.float32))
    store.put(str(tmp_path / "y.wav"), 1, 1, status="ok", tags={"title": HOSTILE}, vector=np.ones(4, np.float32))
    tracks = sorted(store.tracks().values(), key=lambda t: t.path)
    store.close()
    assert [t.title for t in tracks] == ["x [31m", "Intro [2J ]0;owned Mix Line two"]  # the first from its file name
    assert (tracks[0].artist, tracks[0].album) == ("A B", "[5m")

    history = History(tmp_path / "history.sqlite")
    session = history.start_session("tonight")
    history.log_play(session, "/music/y.wav", title=HOSTILE, artist="\x1b]0;x\x07DJ")
    (play,) = history.plays(session)
    history.close()
    assert (play.title, play.artist) == ("Intro [2J ]0;owned Mix Line two", "]0;x DJ")
