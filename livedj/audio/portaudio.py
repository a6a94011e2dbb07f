"""PortAudio as livedj uses it: ``sounddevice`` imported lazily, the input devices listed, and its errors
about a device said in one line (:class:`CaptureError`).

``sounddevice`` is imported lazily: PortAudio enumerates devices when it initialises, and the
environment (PULSE_SERVER, ...) must be final by then. ``refresh_devices()`` re-initialises
PortAudio to see devices that appeared later. :class:`livedj.audio.capture.MicSource` opens the
streams.
"""
from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager

__all__ = ["CaptureError", "AmbiguousDeviceError", "device_error", "load_sounddevice", "refresh_devices",
           "list_input_devices", "native_chatter"]

#: what PortAudio's ALSA host API and ALSA's plugins print on fd 2 when a device is gone (30-odd lines a retry)
_CHATTER = re.compile(r"^(Expression '.*' failed in '|ALSA lib |Cannot connect to server|jack server)|^\s*$")
_window = threading.Lock()  # one capture of fd 2 at a time (the reopen thread; the start)
WINDOW_S = 1.0  #: fd 2 is given back after this long even if the open has not returned


class CaptureError(OSError):
    """The input device could not be opened or failed; the message is one line naming it."""


class AmbiguousDeviceError(CaptureError):
    """The configured name matches several inputs: waiting will not make it name one."""


def device_error(device, e: Exception, where: str = "") -> CaptureError:
    """One line for PortAudio's/sounddevice's error about ``device``: it lists several matches on lines of
    their own ("Multiple input devices found for 'ALSA':\n[0] pulse, ALSA\n[1] default, ALSA")."""
    msg = str(e)
    if msg.startswith("Multiple ") and "\n" in msg:
        matches = [line.strip() for line in msg.splitlines()[1:] if line.strip()]
        return AmbiguousDeviceError(
            f"input device {device!r} matches {len(matches)} inputs ({'; '.join(matches)}): set its index "
            f"or a name only it has (`livedj devices` lists them)")
    return CaptureError(f"input device {device!r}{where}: {' '.join(msg.split())}")


class Chatter:
    """What PortAudio and ALSA printed on fd 2 while a device was opened: ``lines`` (the chatter kept out of
    the log) and ``said`` (one line: the sound server's own reason, e.g. "PulseAudio: Unable to connect:
    Connection refused", and how many lines there were; empty when none)."""

    def __init__(self):
        self.lines: list[str] = []

    @property
    def said(self) -> str:
        lines = [ln.strip() for ln in self.lines if ln.strip()]
        if not lines:
            return ""
        alsa = [ln for ln in lines if ln.startswith("ALSA lib ")]
        reason = re.sub(r"^ALSA lib \S+:\(\w+\) ", "", alsa[-1]) if alsa else ""
        return (f"{reason}; " if reason else "") + f"{len(lines)} lines of PortAudio/ALSA output left out"


@contextmanager
def native_chatter():
    """Open or re-initialise PortAudio inside this: what its C code prints on fd 2 then goes to a temporary
    file, not to the terminal or the journal (30-odd "Expression '...' failed in 'src/hostapi/alsa/...'" and
    "ALSA lib pulse.c:...: Connection refused" lines each retry buried livedj's own line). Yields a
    :class:`Chatter`; lines that are not PortAudio's or ALSA's are written back to fd 2 afterwards.

    fd 2 is the process's: another thread's write during the window (a log line) lands in the file too and
    is written back when the window closes (ms later; nothing is lost). A crash inside the window would lose
    its last words, so it is kept to the open and the re-initialisation (tens of ms, every few seconds
    while a device is lost), and fd 2 is given back after :data:`WINDOW_S` whatever the open does (a
    stopped sound server hangs it). The chatter PortAudio's own thread prints as a stream dies (3 lines) is not
    caught: no window can be open around it.
    """
    import sys
    import tempfile

    chatter = Chatter()
    with _window:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            caught = tempfile.TemporaryFile()
        except (OSError, ValueError, AttributeError):  # no fd 2 to take: nothing to catch
            yield chatter
            return
        back, guard = threading.Event(), threading.Lock()

        def give_back() -> None:  # once, before ``saved`` is closed
            with guard:
                if not back.is_set():
                    os.dup2(saved, 2)
                    back.set()

        # an open that hangs (a stopped sound server) must not keep the journal's lines for as long
        timer = threading.Timer(WINDOW_S, give_back)
        timer.daemon = True
        try:
            os.dup2(caught.fileno(), 2)
            timer.start()
            try:
                yield chatter
            finally:
                try:
                    sys.stderr.flush()
                except (OSError, ValueError, AttributeError):
                    pass
                timer.cancel()
                give_back()
            caught.seek(0)
            others = []
            for line in caught.read().decode("utf-8", "replace").splitlines(keepends=True):
                (chatter.lines if _CHATTER.match(line) else others).append(line)
            if others:
                try:
                    os.write(2, "".join(others).encode("utf-8", "replace"))
                except OSError:
                    pass
        finally:
            os.close(saved)
            caught.close()


def load_sounddevice():
    """The ``sounddevice`` module, imported now (a :class:`CaptureError` without PortAudio)."""
    try:
        import sounddevice
    except OSError as e:  # "PortAudio library not found"
        raise CaptureError(f"sounddevice unusable: {e} (install libportaudio2)") from e
    return sounddevice


def refresh_devices() -> None:
    """Re-initialise PortAudio so devices added or removed since start-up are seen.

    Only call while no stream is open (it invalidates open streams).
    """
    sd = load_sounddevice()
    with native_chatter():
        sd._terminate()
        sd._initialize()


def list_input_devices() -> list[dict]:
    """Input-capable devices, as PortAudio sees them.

    Returns
    -------
    list of dict
        Keys: ``index`` (int), ``name`` (str), ``channels`` (max input channels),
        ``default_samplerate`` (float, Hz), ``is_default`` (bool).
    """
    sd = load_sounddevice()
    try:
        default = sd.default.device[0]
        if default is None or default < 0:
            default = sd.query_devices(kind="input")["index"]
    except Exception:  # no default input device at all
        default = -1
    devices = []
    for info in sd.query_devices():
        if info["max_input_channels"] > 0:
            devices.append({
                "index": int(info["index"]),
                "name": str(info["name"]),
                "channels": int(info["max_input_channels"]),
                "default_samplerate": float(info["default_samplerate"]),
                "is_default": int(info["index"]) == default,
            })
    return devices
