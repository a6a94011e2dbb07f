"""Make the standard streams safe to write whatever the terminal, the locale or the shell gave us.

:func:`prepare_streams` runs first thing in every command:

- a closed stdout or stderr (``livedj run >&-``: Python sets ``sys.stdout`` to None) becomes
  /dev/null, as if a reader discarded it, instead of an AttributeError traceback on the first write;
- a stdout that cannot encode Unicode (``PYTHONIOENCODING=ascii``, a Latin-1 locale) writes the
  nearest plain text instead of raising UnicodeEncodeError: the dashboard's bars become ``#``, a
  dot ``.``, "Café" "Cafe", a wide character two ``?``: each as wide as what it replaces, so
  columns stay aligned. stderr keeps
  Python's ``backslashreplace``: a file name in a message stays exact there.
"""
from __future__ import annotations

import codecs
import os
import sys
import unicodedata

#: error handler name registered with :mod:`codecs`
PLAIN = "livedj-plain"

#: the dashboard's and tables' own symbols, as plain text of the same width (rich has laid the columns out)
_GLYPHS = {"·": ".", "–": "-", "—": "-", "…": ".", "●": "*", "⚠": "!", "━": "-", "╸": "-", "╺": "-",
           "─": "-", "│": "|", "▶": ">", "◀": "<", "•": "*", "✓": "v", "✗": "x", "×": "x", "→": ">",
           "\u00a0": " ", "«": "<", "»": ">", "‘": "'", "’": "'", "“": '"', "”": '"'}


def _plain_char(ch: str, encoding: str) -> str:
    if ch in _GLYPHS:
        return _GLYPHS[ch]
    code = ord(ch)
    if 0x2580 <= code <= 0x259F:  # block elements: the level, tag and score bars
        return "#"
    if 0x2800 <= code <= 0x28FF:  # braille: the waiting spinner
        return "*"
    if 0x2500 <= code <= 0x257F:  # box drawing rich did not already swap for ASCII
        return "+"
    stripped = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    try:
        if stripped and stripped != ch:
            stripped.encode(encoding)
            return stripped
    except UnicodeEncodeError:
        pass
    return "??" if unicodedata.east_asian_width(ch) in "WF" else "?"


def _plain(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start:error.end]
    return "".join(_plain_char(ch, error.encoding) for ch in text), error.end


codecs.register_error(PLAIN, _plain)


def writes_unicode(stream) -> bool:
    """Whether ``stream`` encodes any character (UTF-8); JSON for one that does not is written ASCII-escaped,
    never through the lossy handler."""
    try:
        "█–·".encode(stream.encoding or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def prepare_streams() -> None:
    """Swap a closed stdout/stderr for /dev/null; give a stdout that cannot write Unicode the plain-text handler."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
    out = sys.stdout
    if not writes_unicode(out) and hasattr(out, "reconfigure"):
        try:
            out.reconfigure(errors=PLAIN)
        except (ValueError, OSError):  # not a text stream we may reconfigure: leave it
            pass


class Terminal:
    """The terminal the process started on, for telling a hang-up from a reload (both are SIGHUP).

    A terminal that hangs up (the ssh session drops, the terminal window closes) is gone for good: its
    file descriptors stop being terminals (``isatty`` False) and every write gives EIO. ``systemctl reload``
    and ``kill -HUP`` leave them as they were (under systemd there is none to begin with).
    """

    def __init__(self, fds=(0, 1, 2)):
        self.fds = [fd for fd in fds if _isatty(fd)]  #: the descriptors that were a terminal at start

    def hung_up(self) -> bool:
        """True once a descriptor that was a terminal at start no longer is one."""
        return any(not _isatty(fd) for fd in self.fds)

    def detach(self) -> None:
        """Point the descriptors that were the terminal at /dev/null: what is still written there (the
        dashboard's last frame, a line) is dropped instead of raising EIO. Safe from any thread and a signal
        handler: the terminal is gone for every writer alike."""
        try:
            null = os.open(os.devnull, os.O_RDWR)
        except OSError:
            return
        try:
            for fd in self.fds:
                try:
                    os.dup2(null, fd)
                except OSError:
                    pass
        finally:
            os.close(null)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
