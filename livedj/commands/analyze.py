"""`livedj analyze FILE --at S`: what the live loop would show for a 5-s excerpt (the offline dashboard)."""
from __future__ import annotations

import json
import sys


HELP = "BPM, key, tags and now-playing for a 5-s excerpt"
DESCRIPTION = (
    "What the live loop would show for the window of FILE at the offset: BPM, key (Camelot and musical), "
    "tags, and the library track identified as playing (or 'not in library').")


def add_arguments(parser) -> None:
    from livedj.commands import argtypes

    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--at", type=argtypes.seconds, default=0.0, metavar="SECONDS", help="window start (default 0)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def main(args, config) -> int:
    from livedj.audio.decode import DecodeError, decode
    from livedj.engine.loader import load_engine
    from livedj.library.index import IndexUnusable
    from livedj.library.store import StoreError
    from livedj.outputs.jsonlines import jsonable
    from livedj.outputs.terminal import writes_unicode

    window_s = config["audio"]["window_s"]
    # tempo and key listen 12 s, the fingerprint match identify_s, as live
    context_s = max(window_s, 12.0, config["analysis"]["identify_s"])
    try:
        engine = load_engine(config)
        sr = engine.encoder.sample_rate
        start = max(0.0, args.at + window_s - context_s)
        audio = decode(args.file, sr, start, args.at + window_s - start)
    except (IndexUnusable, StoreError, DecodeError) as exc:
        print(f"livedj analyze: {exc}", file=sys.stderr)
        return 1
    # the window is the last second(s) decoded: a file that ends before --at + 1 s holds only the
    # context before the window, read out as "@ --at" (suggest, decoding from --at, says it ends)
    if len(audio) < sr or start + len(audio) / sr < args.at + 1.0:
        from livedj.audio.decode import too_short

        print(f"livedj analyze: {too_short(args.file, args.at, window_s)}", file=sys.stderr)
        return 1
    # the live loop refreshes tempo and key on alternate hops and votes identification over
    # several updates: run those hops here so the readout is what the dashboard would show
    from livedj.engine.session import Session

    session = Session()
    for _ in range(max(2, engine.now_playing.updates_to_confirm)):  # 2: tempo, then key
        update = engine.update(audio, sr, t=args.at + window_s, session=session)
    readout = {
        "file": args.file, "at": args.at,
        "bpm": None if update.live_bpm is None else round(update.live_bpm, 1),
        "bpm_confidence": round(update.live_bpm_confidence, 2),
        "key": update.live_key, "key_name": update.live_key_name,
        "key_confidence": round(update.live_key_confidence, 2),
        "tags": [[n, round(p, 3)] for n, p in update.tags],
        "now_playing": update.now_playing, "status": update.status,
    }
    if args.json:
        print(json.dumps(jsonable(readout), ensure_ascii=not writes_unicode(sys.stdout)))
        return 0
    print(f"{args.file} @ {args.at:g} s")
    print(f"  BPM        {readout['bpm'] or '?'}  (confidence {readout['bpm_confidence']:.2f})")
    print(f"  key        {readout['key'] or '?'} / {readout['key_name'] or '?'}  "
          f"(confidence {readout['key_confidence']:.2f})")
    if update.status == "silence":  # tags of silence ("rock 0.21") mean nothing
        print(f"  sounds like -  (silence: {update.level_db:.0f} dBFS)")
    else:
        print("  sounds like " + (", ".join(f"{n} {p:.2f}" for n, p in readout["tags"]) or "-"))
    now = readout["now_playing"]
    print(f"  playing    {now['path']} (confidence {now['confidence']:.2f})" if now else "  playing    not in library")
    return 0
