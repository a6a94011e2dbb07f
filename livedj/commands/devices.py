"""`livedj devices`: list audio input devices."""
from __future__ import annotations

import sys


HELP = "list audio input devices"
DESCRIPTION = "List audio input devices."
TAKES_INDEX = False  #: no --index option: the command does not read the index


def add_arguments(parser) -> None:
    pass  # only the common options


def main(args, config) -> int:
    from rich.console import Console
    from rich.table import Table

    try:
        from livedj.audio.capture import list_input_devices

        devices = list_input_devices()
    except (OSError, ImportError) as exc:  # PortAudio missing: say how to get it
        print(f"livedj: cannot list audio devices: {exc} (install PortAudio: apt-get install libportaudio2)",
              file=sys.stderr)
        return 1
    if not devices:
        print("no audio input devices found: connect a microphone or sound card, or feed a file with "
              "`livedj run --input mix.mp3`")
        return 0
    table = Table(title="audio input devices")
    for column in ("index", "name", "channels", "default rate", "default"):
        table.add_column(column)
    from rich.text import Text

    from livedj.outputs.jsonlines import safe_text

    for d in devices:  # a Text: a name such as "USB Audio [hw:1,0]" is not rich markup (it lost "[hw:1,0]")
        table.add_row(str(d["index"]), Text(safe_text(d["name"])), str(d["channels"]), f"{d['default_samplerate']:.0f} Hz",
                      "*" if d.get("is_default") else "")
    Console().print(table)
    return 0
