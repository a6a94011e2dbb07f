"""JSON lines: one strict, ASCII JSON object per update, flushed, robust to odd input."""
from __future__ import annotations

import io
import json
import os

import numpy as np

from livedj.engine.update import Suggestion, Update
from livedj.outputs.jsonlines import JsonLinesWriter, jsonable, safe_text


def make_update(seq: int, path: str = "/music/a.flac", **kw) -> Update:
    s = Suggestion(rank=1, track_id=3, path=path, title="Title", artist="Artist", score=0.7,
                   similarity=0.8, bpm=None, key="8A", why={"bpm_delta_pct": 2.0})
    return Update(seq=seq, t=5.0, suggestions=(s,), tags=(("techno", 0.9),), stage_ms={"mel": 1.0}, **kw)


class FlushCounter(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_one_flushed_line_per_update():
    out = FlushCounter()
    writer = JsonLinesWriter(out)
    for seq in range(3):
        assert writer.publish(make_update(seq))
        assert out.flushes == seq + 1  # a reader on a pipe sees each update at once
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [0, 1, 2]
    first = json.loads(lines[0])
    assert first["suggestions"][0]["path"] == "/music/a.flac"
    assert first["suggestions"][0]["bpm"] is None and first["tags"] == [["techno", 0.9]]
    assert writer.written == 3 and writer.errors == 0


def test_non_utf8_path_nan_and_numpy_make_strict_json():
    path = os.fsdecode(b"/music/caf\xe9.mp3")
    update = make_update(0, path=path, level_db=float("-inf"))
    s = update.suggestions[0]
    weird = Suggestion(**{**s.__dict__, "score": float("nan"), "why": {"sim": np.float32(0.5), "v": np.arange(2)}})
    update = Update(**{**update.__dict__, "suggestions": (weird,)})
    out = io.StringIO()
    assert JsonLinesWriter(out).publish(update)
    line = out.getvalue()
    assert line.endswith("\n") and line.isascii()
    # the strictest reading: no NaN/Infinity tokens, no lone surrogates
    obj = json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert obj["suggestions"][0]["path"] == "/music/caf\ufffd.mp3"
    obj["suggestions"][0]["path"].encode("utf-8")
    assert obj["level_db"] is None and obj["suggestions"][0]["score"] is None
    assert obj["suggestions"][0]["why"] == {"sim": 0.5, "v": [0, 1]}


def test_closed_or_broken_stream_is_counted_not_raised():
    out = io.StringIO()
    out.close()
    writer = JsonLinesWriter(out)
    assert writer.publish(make_update(0)) is False and writer.errors == 1

    class Gone(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    writer = JsonLinesWriter(Gone())
    assert writer.publish(make_update(0)) is False
    assert writer.broken and writer.publish(make_update(1)) is False


def test_a_full_disk_is_logged_once_and_its_end_once(caplog):
    """``--json-lines > /dev/full`` logged a warning every update: one a second all night. Written to a real /dev/full."""
    import logging

    full = open("/dev/full", "w", encoding="utf-8")
    writer = JsonLinesWriter(full)
    with caplog.at_level(logging.WARNING, logger="livedj"):
        assert not any(writer.publish(make_update(i)) for i in range(50))
    try:
        full.close()
    except OSError:  # its buffer still holds what the disk refused
        pass
    assert writer.errors == 50
    lost = [r.getMessage() for r in caplog.records if "not written" in r.getMessage()]
    assert len(lost) == 1 and "No space left" in lost[0]
    out = io.StringIO()
    writer._stream = out  # the disk has room again (the same writer, another stream)
    with caplog.at_level(logging.WARNING, logger="livedj"):
        assert writer.publish(make_update(50)) and writer.publish(make_update(51))
    assert [r.getMessage() for r in caplog.records if "written again" in r.getMessage()] == [
        "JSON lines written again after 50 lost"]


def test_default_stream_follows_stdout(capsys):
    JsonLinesWriter().publish(make_update(9))
    assert json.loads(capsys.readouterr().out)["seq"] == 9


def test_helpers():
    assert safe_text(b"a\xffb") == "a\ufffdb"
    assert safe_text("x\ud800y") == "x\ufffd\ufffd\ufffdy"  # a stray surrogate, not from fsdecode
    assert safe_text(None) == "" and safe_text("ok") == "ok"
    assert jsonable({"a": (1, float("inf")), 2: np.int64(3)}) == {"a": [1, None], "2": 3}
