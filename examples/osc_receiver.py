"""A tiny OSC receiver for livedj: prints the suggestions of every update.

Run it, then point livedj at it::

    python examples/osc_receiver.py --port 9000
    livedj run --osc 127.0.0.1:9000

It collects the messages between ``/livedj/update`` and ``/livedj/update/end`` (one bundle per
update) and prints the set once it is complete. Needs only python-osc.
"""
from __future__ import annotations

import argparse
import sys

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer


def label(artist: str, title: str, path: str) -> str:
    """"Artist - Title"; the title alone when untagged (the file name when it has none)."""
    title = title or path.replace("\\", "/").rsplit("/", 1)[-1]
    return f"{artist} - {title}" if artist else title


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--prefix", default="/livedj")
    args = parser.parse_args()
    prefix = args.prefix.rstrip("/")
    current: dict = {}

    def on_update(address, seq, t, n):
        current.clear()
        current.update(seq=seq, t=t, n=n, suggestions=[], tags=[])

    def on_suggestion(address, seq, rank, path, artist, title, score, similarity, bpm, key, *rest):
        if current.get("seq") == seq:
            current["suggestions"].append((rank, artist, title, score, similarity, bpm, key, path))

    def on_tags(address, seq, *pairs):
        if current.get("seq") == seq:
            current["tags"] = list(zip(pairs[::2], pairs[1::2]))

    def on_level(address, seq, rms_db, peak_db):
        if current.get("seq") == seq:
            current["level"] = (rms_db, peak_db)

    def on_now(address, seq, path, artist, title, confidence, *rest):
        if current.get("seq") == seq:
            current["now"] = (label(artist, title, path), confidence)

    def on_end(address, seq, count):
        if current.get("seq") != seq:
            return  # the start of this update was lost
        level = current.get("level", (-120.0, -120.0))
        tags = ", ".join(f"{name} {p:.2f}" for name, p in current["tags"][:3])
        print(f"\nupdate {seq} at {current['t']:.1f} s  level {level[0]:.1f} dBFS  [{tags}]")
        if "now" in current:  # only in updates that know what plays
            print(f"  now playing: {current['now'][0]} (confidence {current['now'][1]:.2f})")
        for rank, artist, title, score, similarity, bpm, key, path in current["suggestions"]:
            bpm_text = f"{bpm:5.1f}" if bpm > 0 else "    -"  # 0.0 means unknown
            print(f"  {rank:2d}. {label(artist, title, path)}  score {score:.2f}  sim {similarity:.2f}"
                  f"  bpm {bpm_text}  key {key or '-'}")
            print(f"      {path}")
        sys.stdout.flush()  # show each update at once, even when piped

    dispatcher = Dispatcher()
    dispatcher.map(f"{prefix}/update", on_update)
    dispatcher.map(f"{prefix}/suggestion", on_suggestion)
    dispatcher.map(f"{prefix}/tags", on_tags)
    dispatcher.map(f"{prefix}/level", on_level)
    dispatcher.map(f"{prefix}/now", on_now)
    dispatcher.map(f"{prefix}/update/end", on_end)
    server = BlockingOSCUDPServer((args.host, args.port), dispatcher)
    print(f"listening for {prefix}/* on {args.host}:{server.server_address[1]} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
