"""PortAudio as livedj uses it: ``sounddevice`` imported lazily, the input devices listed, and its errors
about a device said in one line (:class:`CaptureError`).

``sounddevice`` is imported lazily: PortAudio enumerates devices when it initialises, and the
environment (PULSE_SERVER, ...) must be final by then. ``refresh_devices()`` re-initialises
PortAudio to see devices that appeared later. :class:`livedj.audio.capture.MicSource` opens the
streams.
"""
from __future__ import annotations

__all__ = ["CaptureError", "AmbiguousDeviceError", "device_error", "load_sounddevice", "refresh_devices",
           "list_input_devices"]


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
