"""OSC in: a real python-osc client (and raw UDP) talks to the control server on loopback."""
from __future__ import annotations

import logging
import queue
import socket
import struct
import time

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from livedj.control.osc_in import MalformedPacket, OscControlServer, parse_packet
from livedj.engine.session import Ban, Drunk, Lookback, Pause, Pin, Played, Refresh, Session, Skip

LIBRARY = {42: 42, 7: 7, "/music/a.flac": 7}


def resolve(key):
    return LIBRARY.get(key)


@pytest.fixture
def server():
    session = Session()
    srv = OscControlServer(session, resolve, port=0, log=logging.getLogger("test.osc_in")).start()
    client = SimpleUDPClient("127.0.0.1", srv.port)
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    yield srv, session, client, raw
    raw.close()
    srv.stop()


def settle(srv: OscControlServer, datagrams: int, timeout: float = 5.0) -> None:
    """Wait until the server has handled ``datagrams`` datagrams in all."""
    deadline = time.monotonic() + timeout
    while srv.received < datagrams and time.monotonic() < deadline:
        time.sleep(0.005)
    assert srv.received >= datagrams, f"only {srv.received} of {datagrams} datagrams handled"


def drain(session: Session) -> list:
    out = []
    while True:
        try:
            out.append(session.commands.get_nowait())
        except queue.Empty:
            return out


def message(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


VALID = [
    (("/livedj/played", 42), Played(42, source="osc")),
    (("/livedj/played", "/music/a.flac"), Played(7, source="osc")),
    (("/livedj/played", 42.0), Played(42, source="osc")),  # TouchOSC sends floats
    (("/livedj/skip", 7), Skip(7)),
    (("/livedj/ban", "/music/a.flac"), Ban(7)),
    (("/livedj/pin", 42), Pin(42)),
    (("/livedj/unpin",), Pin(None)),
    (("/livedj/lookback", 12), Lookback(12)),
    (("/livedj/lookback", 11.6), Lookback(12)),  # a fader: the nearest count
    (("/livedj/lookback", 60), Lookback(60)),
    (("/livedj/drunk", 0.5), Drunk(0.5)),
    (("/livedj/drunk", 2), Drunk(2.0)),
    (("/livedj/pause",), Pause(True)),
    (("/livedj/pause", 1.0), Pause(True)),  # a TouchOSC button press
    (("/livedj/resume",), Pause(False)),
    (("/livedj/refresh",), Refresh()),
]


def test_every_valid_command_reaches_the_session(server):
    srv, session, client, _ = server
    for (address, *args), _ in VALID:
        client.send_message(address, args)
    settle(srv, len(VALID))
    assert drain(session) == [cmd for _, cmd in VALID]
    assert srv.accepted == len(VALID) and srv.rejected == {}
    assert srv.last_accepted == "/livedj/refresh"


def test_button_release_is_ignored_not_rejected(server):
    srv, session, client, _ = server
    client.send_message("/livedj/pause", 0.0)
    client.send_message("/livedj/refresh", [False])
    settle(srv, 2)
    assert drain(session) == [] and srv.ignored == 2 and srv.rejected == {}


BAD_MESSAGES = [
    (message("/livedj/nope", 1), "unknown_address"),
    (message("/other/played", 42), "unknown_address"),
    (message("/livedj/played"), "bad_types"),  # wrong arity
    (message("/livedj/played", 42, 7), "bad_types"),
    (message("/livedj/played", 4.5), "bad_types"),
    (message("/livedj/played", b"\x01\x02"), "bad_types"),  # a blob
    (message("/livedj/played", ""), "bad_types"),
    (message("/livedj/lookback", "12"), "bad_types"),
    (message("/livedj/pause", "now"), "bad_types"),
    (message("/livedj/pause", 1, 2), "bad_types"),
    (message("/livedj/lookback", 0), "out_of_range"),
    (message("/livedj/lookback", 61), "out_of_range"),
    (message("/livedj/drunk", -0.1), "out_of_range"),
    (message("/livedj/drunk", 2.5), "out_of_range"),
    (message("/livedj/drunk", float("nan")), "out_of_range"),
    (message("/livedj/drunk", float("inf")), "out_of_range"),
    (message("/livedj/played", 999), "unknown_track"),
    (message("/livedj/ban", "/music/missing.flac"), "unknown_track"),
    (message("/livedj/played", "x" * 5000), "too_long"),
    (message("/livedj/" + "a" * 5000), "too_long"),
]


def _bundle(*dgrams: bytes) -> bytes:
    """An OSC bundle of raw elements (python-osc's builder only takes parsed messages)."""
    return b"#bundle\x00" + b"\x00" * 7 + b"\x01" + b"".join(struct.pack(">i", len(d)) + d for d in dgrams)


GOOD = message("/livedj/skip", 42)
MALFORMED = [
    b"",  # empty datagram
    b"\x8f\x13random bytes\x00\x00\xff" * 3,
    GOOD[:-2],  # truncated
    GOOD[:-4],  # truncated at an argument boundary: the int is missing
    b"/livedj/skip\x00\x00\x00\x00,i\x00\x00",  # a type tag without its data
    b"/livedj/skip\x00\x00\x00\x00,x\x00\x00\x00\x00\x00\x01",  # unknown type tag
    b"/livedj/skip\x00\x00\x00\x00i\x00\x00\x00\x00\x00\x00\x01",  # tags without ','
    b"/liv\xffdj\x00\x00\x00\x00",  # not UTF-8
    b"/livedj/skip\x00\x00\x00\x00,i\x00\x00\x00\x00\x00\x01\x00\x00",  # bytes left over
    b"#bundle\x00",  # a bundle cut in its header
    b"#bundle\x00" + b"\x00" * 7 + b"\x01" + struct.pack(">i", -4),  # hangs python-osc 1.10
    b"#bundle\x00" + b"\x00" * 7 + b"\x01" + struct.pack(">i", 4000) + GOOD,  # element too big
    _bundle(GOOD, GOOD[:-4]),  # a bundle with one bad (truncated) message
]


def test_malformed_and_bad_packets_are_counted_logged_once_and_the_server_survives(server, caplog):
    srv, session, client, raw = server
    caplog.set_level(logging.DEBUG, logger="test.osc_in")
    dgrams = [d for d, _ in BAD_MESSAGES] + MALFORMED
    for _ in range(2):  # twice: the second round is only counted, never logged
        for d in dgrams:
            raw.sendto(d, ("127.0.0.1", srv.port))
    client.send_message("/livedj/ban", 42)  # still works afterwards
    settle(srv, 2 * len(dgrams) + 1)
    assert drain(session) == [Ban(42)]
    expected: dict[str, int] = {}
    for _, kind in BAD_MESSAGES:
        expected[kind] = expected.get(kind, 0) + 2
    expected["malformed"] = 2 * len(MALFORMED)
    assert srv.rejected == expected
    assert srv.accepted == 1 and srv.received == 2 * len(dgrams) + 1
    logged = [r.getMessage() for r in caplog.records if r.name == "test.osc_in"]
    assert len(logged) == len(expected), logged  # one line per kind, however many arrived
    for kind in expected:
        assert sum(f"dropped {kind} " in line for line in logged) == 1
    assert all(len(line) < 400 for line in logged), "huge strings are not echoed into the log"
    assert srv._thread.is_alive()


def test_bundles_are_unpacked_and_bad_bundles_dropped_whole(server):
    srv, session, _, raw = server
    raw.sendto(_bundle(message("/livedj/skip", 7), _bundle(message("/livedj/drunk", 1.0))), ("127.0.0.1", srv.port))
    raw.sendto(_bundle(message("/livedj/skip", 42), b"/bad"), ("127.0.0.1", srv.port))
    # a well-formed bundle with one invalid command: the others still count
    raw.sendto(_bundle(message("/livedj/pin", 999), message("/livedj/pin", 7)), ("127.0.0.1", srv.port))
    settle(srv, 3)
    assert drain(session) == [Skip(7), Drunk(1.0), Pin(7)]
    assert srv.rejected == {"malformed": 1, "unknown_track": 1}


def test_deep_bundle_nesting_is_malformed():
    d = message("/livedj/refresh")
    for _ in range(20):
        d = _bundle(d)
    with pytest.raises(MalformedPacket, match="deep"):
        parse_packet(d)


def test_resolve_raising_is_counted_not_fatal(caplog):
    def broken(key):
        raise RuntimeError("database locked")

    session = Session()
    with OscControlServer(session, broken, port=0) as srv:
        SimpleUDPClient("127.0.0.1", srv.port).send_message("/livedj/played", 1)
        SimpleUDPClient("127.0.0.1", srv.port).send_message("/livedj/refresh", [])
        settle(srv, 2)
        assert srv.rejected == {"error": 1} and "database locked" in srv.last_rejected
        assert drain(session) == [Refresh()]


def test_full_session_queue_is_counted():
    session = Session()
    session.commands = queue.Queue(maxsize=1)
    srv = OscControlServer(session, resolve, port=0)
    try:
        assert srv.handle_datagram(message("/livedj/refresh")) == 1
        assert srv.handle_datagram(message("/livedj/refresh")) == 0
        assert srv.rejected == {"queue_full": 1}
    finally:
        srv.stop()


def test_binds_loopback_by_default_and_stops_quickly():
    srv = OscControlServer(Session(), resolve, port=0).start()
    assert srv.host == "127.0.0.1" and srv.port > 0
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 1.0 and not srv._thread.is_alive()
    assert "osc in 127.0.0.1:" in srv.summary()


def test_fuzzed_datagrams_never_raise():
    """Random mutations of valid packets: each is counted as accepted, ignored or rejected."""
    import random

    rng = random.Random(1234)
    seeds = [d for (address, *args), _ in VALID for d in [message(address, *args)]]
    seeds += [_bundle(GOOD, message("/livedj/drunk", 1.5)), b"#bundle\x00" + b"\x00" * 8]
    srv = OscControlServer(Session(), resolve, port=0, log=logging.getLogger("test.fuzz"))
    try:
        for _ in range(3000):
            d = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 4)):
                op = rng.random()
                if op < 0.4 and d:
                    d[rng.randrange(len(d))] = rng.randrange(256)
                elif op < 0.7:
                    del d[rng.randrange(len(d) + 1):]
                else:
                    d[rng.randrange(len(d) + 1):0] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            srv.handle_datagram(bytes(d))  # must not raise
        assert srv.received == 3000
        assert sum(srv.rejected.values()) > 0 and "error" not in srv.rejected
    finally:
        srv.stop()


_PYTHON_OSC_PARSE = """
import sys
from pythonosc.osc_bundle import OscBundle
print("ready", flush=True)
OscBundle(bytes.fromhex(sys.argv[1]))
print("parsed", flush=True)
"""


def _python_osc_parses_within(packet: bytes, seconds: float) -> bool:
    """Whether the installed python-osc parses ``packet`` as a bundle (or rejects it) within
    ``seconds`` once imported; run in a child process that is killed otherwise, so that a hang in
    python-osc can never hang this test."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", _PYTHON_OSC_PARSE, packet.hex()], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"  # imports done: the clock starts now
        try:
            child.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True
    finally:
        child.kill()
        child.wait()


def test_python_osc_hangs_on_a_negative_bundle_element_size():
    """The reason livedj parses OSC in itself (livedj/control/osc_in.py): python-osc's OscBundle
    never returns on a bundle whose element size is negative; livedj rejects it at once."""
    negative = b"#bundle\x00" + b"\x00" * 7 + b"\x01" + struct.pack(">i", -4)
    assert _python_osc_parses_within(_bundle(GOOD), 10.0)  # the harness: a good bundle parses
    hangs = not _python_osc_parses_within(negative, 3.0)  # a 20-byte parse takes microseconds
    assert hangs, ("the installed python-osc no longer hangs on a negative bundle element size: "
                   "correct the reason line in livedj/control/osc_in.py (_packet) and its docstring")
    with pytest.raises(MalformedPacket, match="size out of bounds"):
        parse_packet(negative)
