"""OSC out: encoding one live update with python-osc's builders vs hand-written ``struct`` packing.

livedj encodes OSC with python-osc's ``OscMessageBuilder`` / ``OscBundleBuilder``
(:mod:`livedj.outputs.osc`); the baseline is the hand-written encoder livedj used before (kept here,
byte-identical output, checked). Both run in this process on the same updates:

- the default ``livedj`` profile: one bundle per update with 10 suggestions (~60 messages);
- the ``touchosc`` profile on changing updates: one datagram per message.

The figure that matters is the cost against the live loop: the builders' time per update as a
share of one live update (43 ms p50 on the demo index, README "Measured") -- target under 2 %.
"""
from __future__ import annotations

import math
import struct
import time

from benchmarks.common import pct, row

LIVE_UPDATE_MS = 43.0  #: p50 of one live update (README "Measured", `livedj run --input F --fast`)
_IMMEDIATELY = b"\x00\x00\x00\x00\x00\x00\x00\x01"


def _string(text: str) -> bytes:
    raw = text.encode("utf-8") + b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


def struct_message(msg) -> bytes:
    """The hand-written encoder (the baseline): address, type tags, big-endian arguments; ints
    clamped to int32, non-finite floats sent as 0, as livedj's encoder does."""
    tags, data = [","], []
    for arg in msg.args:
        if isinstance(arg, bool) or not isinstance(arg, (int, float, str)):
            raise TypeError(f"OSC argument of {msg.address} must be int, float or str")
        if isinstance(arg, int):
            tags.append("i")
            data.append(struct.pack(">i", min(max(arg, -(2**31)), 2**31 - 1)))
        elif isinstance(arg, float):
            tags.append("f")
            data.append(struct.pack(">f", arg if math.isfinite(arg) else 0.0))
        else:
            tags.append("s")
            data.append(_string(arg))
    return _string(msg.address) + _string("".join(tags)) + b"".join(data)


def struct_bundle(messages) -> bytes:
    parts = [b"#bundle\x00", _IMMEDIATELY]
    for msg in messages:
        packet = struct_message(msg)
        parts += [struct.pack(">i", len(packet)), packet]
    return b"".join(parts)


def updates(n: int, suggestions: int = 10):
    from livedj.engine.update import Suggestion, Update

    for seq in range(n):
        sugg = tuple(Suggestion(rank=i + 1, track_id=1000 * seq + i, path=f"/music/Crate {i}/Artist {i} - Title {seq}.flac",
                                title=f"Title {seq} ({i} Remix)", artist=f"Artist {i}", score=0.9 - 0.01 * i,
                                similarity=0.8 - 0.01 * i, bpm=124.0 + i, key=f"{1 + i % 12}A",
                                why={"similarity": 0.8, "tempo": 0.9, "key_relation": "adjacent", "key": 0.9,
                                     "bpm_delta_pct": 1.2})
                     for i in range(suggestions))
        yield Update(seq=seq, t=5.0 + seq, suggestions=sugg, tags=(("techno", 0.8), ("electronic", 0.6),
                                                                   ("house", 0.3)),
                     level_db=-18.0, peak_db=-6.0, stage_ms={"mel": 3.0, "embed": 40.0, "query": 0.2, "rank": 0.2},
                     latency_ms=43.0, now_playing={"track_id": seq, "path": "/music/x.flac", "title": "Now",
                                                   "artist": "Someone", "confidence": 0.9},
                     live_bpm=124.0, live_key="8A", live_key_name="A minor")


def _time_us(encode, batches, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        for messages in batches:
            began = time.perf_counter()
            encode(messages)
            times.append((time.perf_counter() - began) * 1e6)
    return times


def run(quick: bool = False) -> list[dict]:
    from livedj.outputs.osc import encode_bundle, encode_message
    from livedj.outputs.osc_profiles import make_profile

    n, repeats = (20, 2) if quick else (200, 10)
    ups = list(updates(n))
    livedj = make_profile("livedj", "/livedj")
    bundles = [livedj.messages(u) for u in ups]
    touch = make_profile("touchosc", "/livedj")
    singles = [touch.messages(u) for u in ups]
    for messages in bundles:  # same bytes, or the comparison means nothing
        assert encode_bundle(messages) == struct_bundle(messages)
    for messages in singles:
        assert [encode_message(m) for m in messages] == [struct_message(m) for m in messages]
    rows = []
    n_messages = sum(map(len, bundles)) / len(bundles)
    # alternate the two encoders so that load on the machine hits both alike
    built, packed = [], []
    for _ in range(repeats):
        built += _time_us(encode_bundle, bundles, 1)
        packed += _time_us(struct_bundle, bundles, 1)
    b50, p50 = pct(built, 0.5), pct(packed, 0.5)
    rows.append(row("osc.encode.bundle.p50", f"livedj profile, one bundle of {n_messages:.0f} messages: python-osc "
                    "builders (baseline: hand-written struct)", b50, "us", baseline=p50))
    rows.append(row("osc.encode.bundle.p99", "the same, p99", pct(built, 0.99), "us", baseline=pct(packed, 0.99)))
    share = 100 * b50 / 1000 / LIVE_UPDATE_MS
    rows.append(row("osc.encode.bundle.share", f"builders' time per update as a share of one live update "
                    f"({LIVE_UPDATE_MS:.0f} ms p50)", share, "%", baseline=100 * p50 / 1000 / LIVE_UPDATE_MS,
                    target=2.0))
    changed = [m for m in singles if m]
    built, packed = [], []
    for _ in range(repeats):
        built += _time_us(lambda ms: [encode_message(m) for m in ms], changed, 1)
        packed += _time_us(lambda ms: [struct_message(m) for m in ms], changed, 1)
    rows.append(row("osc.encode.touchosc.p50", f"touchosc profile, {sum(map(len, changed)) / max(len(changed), 1):.0f} "
                    "datagrams per update: builders (baseline: struct)", pct(built, 0.5), "us",
                    baseline=pct(packed, 0.5)))
    return rows
