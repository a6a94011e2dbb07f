"""OSC publisher: a real python-osc server on loopback receives what livedj sends."""
from __future__ import annotations

import math
import os
import socket
import threading
import time

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_server import ThreadingOSCUDPServer

from livedj.engine.update import Suggestion, Update
from livedj.outputs.osc import (
    MAX_BUNDLE_BYTES, Message, OscPublisher, encode_bundle, fit_bundle, livedj_profile, parse_target,
)

FRAMING = 6  # /update, /tags, /level, /latency, /status, /update/end


def make_update(seq: int, n: int, **kw) -> Update:
    sugg = tuple(
        Suggestion(rank=i + 1, track_id=100 + i, path=f"/music/track{seq}_{i}.flac", title=f"Title {i}",
                   artist=f"Artist {i}", score=1.0 - 0.1 * i, similarity=0.9 - 0.05 * i,
                   bpm=120.0 + i, key="8A", why={"bpm_delta_pct": 1.5 * i})
        for i in range(n)
    )
    base = dict(seq=seq, t=5.0 + seq, suggestions=sugg, tags=(("techno", 0.8), ("electronic", 0.6)),
                level_db=-18.0, peak_db=-6.0, stage_ms={"mel": 3.0, "embed": 40.0, "query": 1.0},
                latency_ms=45.0, overflows=2)
    base.update(kw)
    return Update(**base)


class BundleRecorder(Dispatcher):
    """A dispatcher that also keeps each datagram's messages together, as it arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.packets: list[list[tuple[str, list]]] = []
        self.flat: list[tuple[str, tuple]] = []
        self.lock = threading.Lock()
        self.map("/livedj/*", self._on_message)

    def _on_message(self, address: str, *args) -> None:
        with self.lock:
            self.flat.append((address, args))

    def call_handlers_for_packet(self, data: bytes, client_address):
        assert OscBundle.dgram_is_bundle(data), "every update must be one bundle"
        bundle = OscBundle(data)
        with self.lock:
            self.packets.append([(m.address, list(m.params)) for m in bundle])
        return super().call_handlers_for_packet(data, client_address)


@pytest.fixture
def receiver():
    """Start a real OSC server on an ephemeral loopback port; yields (port, recorder)."""
    recorder = BundleRecorder()
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1], recorder
    server.shutdown()
    server.server_close()


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def closed_port() -> int:
    """A loopback UDP port nothing listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def by_seq(recorder: BundleRecorder) -> dict[int, list[tuple[str, list]]]:
    with recorder.lock:
        return {packet[0][1][0]: packet for packet in recorder.packets}


def test_each_update_arrives_as_one_framed_bundle(receiver):
    port, rec = receiver
    counts = {0: 0, 1: 1, 2: 3}
    with OscPublisher([("127.0.0.1", port)]) as pub:
        for seq, n in counts.items():
            assert pub.publish(make_update(seq, n)) == n + FRAMING
        assert pub.errors == 0 and pub.sent == sum(counts.values()) + 3 * FRAMING
    assert wait_for(lambda: len(rec.packets) == 3 and len(rec.flat) == 3 * FRAMING + 4)
    packets = by_seq(rec)
    for seq, n in counts.items():
        msgs = packets[seq]
        assert len(msgs) == n + FRAMING
        addresses = [a for a, _ in msgs]
        assert addresses[0] == "/livedj/update" and addresses[-1] == "/livedj/update/end"
        assert msgs[0][1][:3] == [seq, pytest.approx(5.0 + seq), n]
        assert msgs[-1][1] == [seq, n + FRAMING]
        assert all(args[0] == seq for _, args in msgs)  # every message carries its update's seq
        sugg = [args for a, args in msgs if a == "/livedj/suggestion"]
        assert [s[1] for s in sugg] == list(range(1, n + 1))
        assert [s[2] for s in sugg] == [f"/music/track{seq}_{i}.flac" for i in range(n)]
        assert [s[5] for s in sugg] == pytest.approx([1.0 - 0.1 * i for i in range(n)], abs=1e-6)
        assert {a for a in addresses} >= {"/livedj/tags", "/livedj/level", "/livedj/latency", "/livedj/status"}


def test_message_arguments_and_none_values(receiver):
    port, rec = receiver
    s = Suggestion(rank=1, track_id=7, path="/a.mp3", title="T", artist="A", score=0.5, similarity=float("nan"))
    update = make_update(4, 0, suggestions=(s,), level_db=float("-inf"), status="silence")
    with OscPublisher([("127.0.0.1", port)]) as pub:
        pub.publish(update)
    assert wait_for(lambda: len(rec.packets) == 1)
    msgs = dict((a, args) for a, args in rec.packets[0])
    # seq rank path artist title score similarity bpm key track_id why
    assert msgs["/livedj/suggestion"] == [4, 1, "/a.mp3", "A", "T", 0.5, 0.0, 0.0, "", 7, ""]
    assert msgs["/livedj/tags"][1:] == ["techno", pytest.approx(0.8), "electronic", pytest.approx(0.6)]
    assert msgs["/livedj/level"] == [4, -120.0, -6.0]
    assert msgs["/livedj/latency"] == [4, 45.0, "mel", 3.0, "embed", 40.0, "query", 1.0]
    assert msgs["/livedj/status"] == [4, "silence", 2]


def test_two_targets_both_receive(receiver):
    port1, rec1 = receiver
    rec2 = BundleRecorder()
    server2 = ThreadingOSCUDPServer(("127.0.0.1", 0), rec2)
    threading.Thread(target=server2.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        with OscPublisher([("127.0.0.1", port1), ("localhost", server2.server_address[1])]) as pub:
            assert pub.publish(make_update(0, 2)) == 2 * (2 + FRAMING)
        assert wait_for(lambda: len(rec1.packets) == 1 and len(rec2.packets) == 1)
        assert rec1.packets == rec2.packets
    finally:
        server2.shutdown()
        server2.server_close()


def test_closed_port_counts_errors_and_never_raises(receiver):
    port, rec = receiver
    with OscPublisher([("127.0.0.1", closed_port()), ("127.0.0.1", port)]) as pub:
        for seq in range(4):
            # the live target still gets every update, whatever the dead one does
            assert pub.publish(make_update(seq, 1)) >= 1 + FRAMING
            time.sleep(0.02)  # let the ICMP "port unreachable" come back
        assert pub.errors >= 1
        assert "ECONNREFUSED" in pub.last_error
        # the dashboard says why ("9 errors" alone read as livedj's fault when no OSC peer was set up)
        dead, live = pub.summary().removeprefix("osc ").split(" · ")[0].split(", ")
        assert dead.endswith("(nothing listening)") and live == f"127.0.0.1:{port}", pub.summary()
    assert wait_for(lambda: len(rec.packets) == 4)


def test_nothing_listening_clears_once_a_receiver_listens():
    """Started before Ableton or Mixxx: "nothing listening" while refused, gone once a peer listens."""
    port = closed_port()
    with OscPublisher([("127.0.0.1", port)]) as pub:
        for seq in range(4):
            pub.publish(make_update(seq, 1))
            time.sleep(0.02)
        assert "nothing listening" in pub.summary()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:  # a real UDP peer on that port
            peer.bind(("127.0.0.1", port))
            for seq in range(4, 10):
                pub.publish(make_update(seq, 1))
                time.sleep(0.02)
            assert "nothing listening" not in pub.summary(), pub.summary()
            assert peer.recv(65536)  # and it got the updates


def test_unresolvable_target_is_counted_not_raised(monkeypatch):
    real = socket.getaddrinfo

    def fake(host, *args, **kw):
        if host == "no-such-host.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    pub = OscPublisher([("no-such-host.invalid", 9000)])
    assert pub.errors == 1 and pub.targets == []
    assert pub.publish(make_update(0, 2)) == 0
    pub.close()


def test_non_utf8_and_unicode_strings_arrive_valid(receiver):
    port, rec = receiver
    path = os.fsdecode(b"/music/caf\xe9/\xff track.mp3")  # carries lone surrogates
    s = Suggestion(rank=1, track_id=1, path=path, title="Ça va — 東京\x00 (Remix)", artist="Björk",
                   score=1.0, similarity=1.0, bpm=None, key=None)
    with OscPublisher([("127.0.0.1", port)]) as pub:
        assert pub.publish(make_update(0, 0, suggestions=(s,))) == 1 + FRAMING
    assert wait_for(lambda: len(rec.packets) == 1)
    sugg = next(args for a, args in rec.packets[0] if a == "/livedj/suggestion")
    assert sugg[2] == "/music/caf\ufffd/\ufffd track.mp3"
    assert sugg[3] == "Björk"
    assert sugg[4] == "Ça va — 東京\ufffd (Remix)"  # a NUL would end the OSC string early


def test_huge_update_is_shortened_to_fit(receiver):
    port, rec = receiver
    long = "x" * 3000 + "/the end.flac"
    sugg = tuple(Suggestion(rank=i + 1, track_id=i, path=long, title="é" * 2000, artist="a", score=0.0,
                            similarity=0.0) for i in range(20))
    with OscPublisher([("127.0.0.1", port)]) as pub:
        assert pub.publish(make_update(0, 0, suggestions=sugg)) == 20 + FRAMING
    assert wait_for(lambda: len(rec.packets) == 1)
    msgs = rec.packets[0]
    assert len(msgs) == 20 + FRAMING
    paths = [args[2] for a, args in msgs if a == "/livedj/suggestion"]
    assert all("\u2026" in p and p.endswith(".flac") and len(p.encode()) <= 512 for p in paths)


def test_fit_bundle_respects_limit_and_gives_up_when_impossible():
    msgs = [Message("/x", ("y" * 9000,))]
    assert len(encode_bundle(msgs)) > MAX_BUNDLE_BYTES
    assert len(fit_bundle(msgs)) <= MAX_BUNDLE_BYTES
    many = [Message("/x", (i,)) for i in range(1000)]  # 16 KB of ints: nothing to shorten
    assert fit_bundle(many) is None


def test_broken_profile_or_update_is_counted(receiver):
    port, _ = receiver

    def broken(update, prefix):
        raise RuntimeError("boom")

    with OscPublisher([("127.0.0.1", port)], profile=broken) as pub:
        assert pub.publish(make_update(0, 1)) == 0
        assert pub.errors == 1 and "boom" in pub.last_error


def test_publish_after_close_is_harmless(receiver):
    port, _ = receiver
    pub = OscPublisher([("127.0.0.1", port)])
    pub.close()
    assert pub.publish(make_update(0, 1)) == 0


def test_prefix_and_profile_validation():
    with pytest.raises(ValueError, match="prefix"):
        OscPublisher([], prefix="livedj")
    with pytest.raises(ValueError, match="profile"):
        OscPublisher([], profile="nope")
    msgs = livedj_profile(make_update(0, 1), "/booth/2")
    assert msgs[0].address == "/booth/2/update" and msgs[-1].address == "/booth/2/update/end"
    assert all(not math.isnan(a) for m in msgs for a in m.args if isinstance(a, float))


def test_parse_target():
    assert parse_target("192.168.1.5:9000") == ("192.168.1.5", 9000)
    assert parse_target(":9001") == ("127.0.0.1", 9001)
    assert parse_target("[::1]:9002") == ("::1", 9002)
    for bad in ("host", "host:0", "host:abc", "host:70000"):
        with pytest.raises(ValueError, match="host:port"):
            parse_target(bad)


def test_summary_names_targets_and_errors():
    pub = OscPublisher([("127.0.0.1", 9)])
    assert pub.summary() == "osc 127.0.0.1:9"
    pub.errors = 2
    assert pub.summary() == "osc 127.0.0.1:9 · 2 errors"
    pub.close()
    assert "no usable target" in pub.summary()


def test_numpy_values_are_encoded():
    import numpy as np

    s = Suggestion(rank=np.int64(1), track_id=np.int32(5), path="/a", title="t", artist="a",
                   score=np.float32(0.5), similarity=np.float64(0.25), bpm=np.float32(128.0),
                   why={"d": np.float32(1.5)})
    update = make_update(np.int64(3), 0, suggestions=(s,), tags=(("x", np.float32(0.5)),),
                         overflows=np.int64(1))
    msgs = livedj_profile(update)
    assert msgs[1].args[:9] == (3, 1, "/a", "a", "t", 0.5, 0.25, 128.0, "")
    assert msgs[1].args[-1] == '{"d":1.5}'
    encode_bundle(msgs)  # every argument is a plain int, float or str


@pytest.fixture
def tablet_offline(monkeypatch):
    """``booth-tablet.local`` does not resolve (the booth's network not up yet) until the returned flag's
    ``[0]`` is set False; then it is 127.0.0.1."""
    real = socket.getaddrinfo
    down = [True]

    def fake(host, *args, **kw):
        if host == "booth-tablet.local":
            if down[0]:
                raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
            host = "127.0.0.1"
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return down


def test_a_target_that_cannot_be_reached_at_start_is_sent_to_once_it_can(tablet_offline, receiver):
    """The booth starts livedj at boot (systemd, linger) before the Wi-Fi is up: the tablet's name did not
    resolve (nor had its address a route), the target was dropped as unusable, and nothing reached it all
    night. Such a target is now retried off the live path (`livedj run`'s reload thread, every 10 s) and
    sent to from the update after it resolves."""
    port, recorder = receiver
    down = tablet_offline
    pub = OscPublisher([("booth-tablet.local", port)])
    assert pub.targets == [] and pub.errors == 1 and "booth-tablet.local" in pub.summary()
    pub.retry_waiting()  # still no network: quietly waiting
    assert pub.targets == [] and pub.errors == 1
    down[0] = False
    pub.retry_waiting()
    assert pub.targets == [f"booth-tablet.local:{port}"]
    pub.publish(make_update(0, 2))
    assert wait_for(lambda: len(recorder.packets) == 1)
    pub.close()


def test_the_live_run_tries_waiting_targets_through_its_reloadable_output(tablet_offline, receiver):
    """`livedj run`'s OSC output (run_parts.ReloadableOsc) hands the retry to its publisher."""
    from livedj.commands.run_parts import ReloadableOsc
    from livedj.config import defaults

    port, recorder = receiver
    down = tablet_offline
    config = defaults()
    config["osc"]["targets"] = []
    osc = ReloadableOsc(config, [f"booth-tablet.local:{port}"])
    assert "not reachable yet" in osc.summary()
    down[0] = False
    osc.retry_waiting()
    osc.publish(make_update(0, 2))
    assert wait_for(lambda: len(recorder.packets) == 1)
    osc.close()


def test_an_osc_target_the_config_already_has_is_not_added_twice():
    """examples/osc_receiver.py says `livedj run --osc 127.0.0.1:9000`, and the default config already sends
    there: the receiver printed every update twice. An --osc the config has (same host and port, the livedj
    profile's bundles) or given twice is one target; another profile at that port is not the same."""
    from livedj.commands.run_parts import _osc_targets
    from livedj.config import defaults

    config = defaults()
    assert _osc_targets(config, ["127.0.0.1:9000", "127.0.0.1:9000", "10.0.0.2:9000"]) == [
        {"host": "127.0.0.1", "port": 9000, "profile": "livedj"}, ("10.0.0.2", 9000)]
    config["osc"]["targets"] = [{"host": "127.0.0.1", "port": 9000, "profile": "touchosc"}]
    assert len(_osc_targets(config, ["127.0.0.1:9000"])) == 2
