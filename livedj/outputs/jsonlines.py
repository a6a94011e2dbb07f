"""Write each live update as one JSON line (``livedj run --json-lines``).

Also home of the two text helpers every output shares: :func:`safe_text` (valid UTF-8 from any
file name) and :func:`jsonable` (strict JSON from any update field).
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
from typing import IO

from livedj.engine.update import Update

log = logging.getLogger(__name__)


def safe_text(value: object) -> str:
    """Return ``value`` as a string that encodes to valid UTF-8 and holds no NUL.

    Names decoded with ``os.fsdecode`` carry lone surrogates for non-UTF-8 bytes; those bytes
    become U+FFFD, so the result can always be written (OSC strings, JSON, the terminal).
    """
    if isinstance(value, (bytes, os.PathLike)):
        value = os.fsdecode(value)
    text = "" if value is None else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # surrogates that did not come from fsdecode
            raw = text.encode("utf-8", "surrogatepass")
        text = raw.decode("utf-8", "replace")
    # OSC strings end at the first NUL, so one inside would cut the rest of the message.
    return text.replace("\x00", "\ufffd")


def jsonable(obj: object) -> object:
    """A copy of ``obj`` that strict JSON can hold.

    Strings go through :func:`safe_text`, NaN and infinities become None (JSON has neither),
    numpy scalars and arrays become Python numbers and lists, anything else its ``str``.
    """
    if obj is None or isinstance(obj, (bool, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, bytes, os.PathLike)):
        return safe_text(obj)
    if isinstance(obj, dict):
        return {safe_text(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy scalar or array, without importing numpy here
        return jsonable(obj.tolist())
    return safe_text(obj)


class JsonLinesWriter:
    """Write ``update.to_json()`` as one line per update and flush, so a pipe sees it at once.

    Parameters
    ----------
    stream : text file
        Where to write; ``sys.stdout`` by default (resolved when writing, so a redirected
        stdout is followed).

    Attributes
    ----------
    written : int
        Lines written.
    errors : int
        Lines that could not be written (closed stream, broken pipe).
    broken : bool
        True once the reader went away (``BrokenPipeError``); later updates are skipped.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self.written = 0
        self.errors = 0
        self.broken = False
        self._failing = 0  # lines lost in a row since the last one written (a full disk: said once, not every second)

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stdout

    @staticmethod
    def dumps(update: Update) -> str:
        """The line for ``update``, without its newline: ASCII-only, strict JSON."""
        return json.dumps(jsonable(update.to_json()), allow_nan=False)

    def publish(self, update: Update) -> bool:
        """Write and flush one line; returns False (and counts) instead of raising on failure."""
        if self.broken:
            return False
        try:
            line = self.dumps(update)
            stream = self.stream
            stream.write(line + "\n")
            stream.flush()
        except BrokenPipeError:
            self.broken = True  # e.g. `livedj run --json-lines | head`: the reader is gone
            self.errors += 1
            log.warning("JSON lines reader went away; no more lines are written")
            return False
        except (OSError, ValueError, TypeError) as exc:  # ValueError: write to a closed file
            self.errors += 1
            if not self._failing:  # once per stretch of failures: a full disk all night is one line, not 36,000
                log.warning("JSON line for update %s not written: %s (further failures counted, not logged)",
                            getattr(update, "seq", "?"), exc)
            self._failing += 1
            return False
        if self._failing:
            log.warning("JSON lines written again after %d lost", self._failing)
            self._failing = 0
        self.written += 1
        return True

    def close(self) -> None:
        """Flush; the stream itself is the caller's (stdout is never closed here)."""
        try:
            self.stream.flush()
        except (OSError, ValueError):
            pass
