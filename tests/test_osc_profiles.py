"""OSC profiles: real python-osc servers on loopback stand in for AbletonOSC and TouchOSC."""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient

from livedj.engine.update import Suggestion, Update
from livedj.outputs.osc import OscPublisher
from livedj.outputs.osc_profiles import (
    EMPTY_COLOR, KEY_COLORS, AbletonOscProfile, TouchOscProfile, livedj_profile, make_profile,
)

MARK = "/test/mark"


def sugg(rank: int, tid: int, artist: str = "", title: str = "", key: str | None = "8A",
         bpm: float | None = 124.0, relation: str | None = None, score: float = 0.9) -> Suggestion:
    why = {"key_relation": relation} if relation else {}
    return Suggestion(rank=rank, track_id=tid, path=f"/music/{tid}.flac", title=title or f"Title {tid}",
                      artist=artist or f"Artist {tid}", score=score, similarity=0.8, bpm=bpm, key=key, why=why)


def update(seq: int, *suggestions: Suggestion, **kw) -> Update:
    return Update(seq=seq, t=5.0 + seq, suggestions=tuple(suggestions), **kw)


@dataclass
class NowPlaying:
    path: str
    title: str
    artist: str
    confidence: float


@dataclass(frozen=True)
class LiveUpdate(Update):
    """An Update with the fields the lead may add; the profiles read them with getattr."""

    now_playing: object = None
    live_bpm: float | None = None
    live_bpm_confidence: float | None = None
    live_key: str | None = None
    live_key_confidence: float | None = None


class Receiver:
    """A python-osc server handling datagrams one by one, in order, recording each one."""

    def __init__(self, port: int = 0) -> None:
        self.datagrams: list[tuple[bool, list[tuple[str, tuple]]]] = []  # (was a bundle, messages)
        self.marks = 0
        self.lock = threading.Lock()
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._on_message)
        recorder = self

        class Server(BlockingOSCUDPServer):
            def finish_request(self, request, client_address):
                data = request[0]
                with recorder.lock:
                    recorder.datagrams.append((OscBundle.dgram_is_bundle(data), []))
                super().finish_request(request, client_address)

        self.server = Server(("127.0.0.1", port), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.client = SimpleUDPClient("127.0.0.1", self.port)

    def _on_message(self, address: str, *args) -> None:
        with self.lock:
            if address == MARK:
                self.datagrams.pop()
                self.marks += 1
            else:
                self.datagrams[-1][1].append((address, args))

    def take(self) -> list[tuple[bool, list]]:
        """Everything that arrived since the last take (waits for a marker sent after it)."""
        before = self.marks
        self.client.send_message(MARK, 0)  # loopback keeps the order: all earlier sends are in
        deadline = time.monotonic() + 5.0
        while self.marks == before and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.marks > before, "marker never arrived"
        with self.lock:
            out, self.datagrams = self.datagrams, []
        return out

    def messages(self) -> list[tuple[str, tuple]]:
        return [m for _, msgs in self.take() for m in msgs]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_abletonosc_exact_messages_and_only_changes(receiver):
    target = {"host": "127.0.0.1", "port": receiver.port, "profile": "abletonosc", "track": 2, "slots": 3,
              "resync_s": 0}
    a = sugg(1, 10, "Daft Punk", "Da Funk", "8A", 111.4, relation="same")
    b = sugg(2, 11, "Moby", "Porcelain", "9B", None, relation="clash")
    c = sugg(2, 12, "Orbital", "Halcyon", None, 128.0)  # no key: unknown relation -> grey
    with OscPublisher([target]) as pub:
        assert pub.publish(update(0, a, b)) == 7
        got = receiver.take()
        assert all(not is_bundle and len(msgs) == 1 for is_bundle, msgs in got), "plain messages only"
        assert [m for _, msgs in got for m in msgs] == [
            ("/live/api/show_message", ("livedj: Daft Punk - Da Funk (8A, 111 BPM)",)),
            ("/live/clip/set/name", (2, 0, "1. Daft Punk - Da Funk (8A, 111 BPM)")),
            ("/live/clip/set/color", (2, 0, KEY_COLORS["same"])),
            ("/live/clip/set/name", (2, 1, "2. Moby - Porcelain (9B)")),
            ("/live/clip/set/color", (2, 1, KEY_COLORS["clash"])),
            ("/live/clip/set/name", (2, 2, "")),
            ("/live/clip/set/color", (2, 2, EMPTY_COLOR)),
        ]
        # the same picks again: nothing at all is sent
        assert pub.publish(update(1, a, b)) == 0
        assert receiver.messages() == []
        # rank 2 changes: only slot 1 is rewritten, the status bar stays
        pub.publish(update(2, a, c))
        assert receiver.messages() == [
            ("/live/clip/set/name", (2, 1, "2. Orbital - Halcyon (128 BPM)")),
            ("/live/clip/set/color", (2, 1, KEY_COLORS["unknown"])),
        ]
        # a new top pick: status bar once, slot 0 and 1 move, slot 2 was and stays empty
        pub.publish(update(3, c, a))
        assert receiver.messages() == [
            ("/live/api/show_message", ("livedj: Orbital - Halcyon (128 BPM)",)),
            ("/live/clip/set/name", (2, 0, "1. Orbital - Halcyon (128 BPM)")),
            ("/live/clip/set/color", (2, 0, KEY_COLORS["unknown"])),
            ("/live/clip/set/name", (2, 1, "2. Daft Punk - Da Funk (8A, 111 BPM)")),
            ("/live/clip/set/color", (2, 1, KEY_COLORS["same"])),
        ]
        # no suggestions: the status bar is left alone, the slots empty out
        pub.publish(update(4))
        assert receiver.messages() == [
            ("/live/clip/set/name", (2, 0, "")), ("/live/clip/set/color", (2, 0, EMPTY_COLOR)),
            ("/live/clip/set/name", (2, 1, "")), ("/live/clip/set/color", (2, 1, EMPTY_COLOR)),
        ]
        assert pub.errors == 0 and "abletonosc" in pub.summary()


def test_abletonosc_colour_from_live_key_and_first_slot():
    prof = AbletonOscProfile(track=0, slots=2, first_slot=4, show_message=False, resync_s=0)
    up = LiveUpdate(seq=0, t=1.0, suggestions=(sugg(1, 1, key="9A"), sugg(2, 2, key="8B")), live_key="8A")
    msgs = prof.messages(up)
    assert [m.address for m in msgs].count("/live/api/show_message") == 0
    assert ("/live/clip/set/color", (0, 4, KEY_COLORS["adjacent"])) in msgs
    assert ("/live/clip/set/color", (0, 5, KEY_COLORS["relative"])) in msgs
    assert all(isinstance(m.args[2], int) for m in msgs if m.address.endswith("color"))


def test_resync_and_reset_send_everything_again():
    clock = [0.0]
    prof = AbletonOscProfile(slots=1, resync_s=10.0, clock=lambda: clock[0])
    up = update(0, sugg(1, 1))
    assert len(prof.messages(up)) == 3
    clock[0] = 9.0
    assert prof.messages(up) == []
    clock[0] = 10.5  # the receiver may have restarted: everything again
    assert len(prof.messages(up)) == 3
    assert prof.messages(up) == []
    prof.reset()  # what the publisher does after a failed send
    assert len(prof.messages(up)) == 3


def test_touchosc_labels_and_changes_in_one_bundle(receiver):
    target = {"host": "127.0.0.1", "port": receiver.port, "profile": "touchosc", "slots": 2, "prefix": "/booth"}
    now = NowPlaying("/music/7.flac", "Windowlicker", "Aphex Twin", 0.87)
    up = LiveUpdate(seq=0, t=5.0, suggestions=(sugg(1, 10, "Moby", "Porcelain", "9B", 95.0, score=0.75),),
                    now_playing=now, live_bpm=123.96, live_key="8A")
    with OscPublisher([target]) as pub:
        pub.publish(up)
        got = receiver.take()
        assert len(got) == 1 and got[0][0], "one bundle"
        msgs = dict(got[0][1])
        assert msgs["/booth/1/label"] == ("Moby - Porcelain",)
        assert msgs["/booth/1/info"] == ("9B, 95 BPM",)
        assert msgs["/booth/1/key"] == ("9B",) and msgs["/booth/1/id"] == (10,)
        assert msgs["/booth/1/bpm"][0] == pytest.approx(95.0)
        assert msgs["/booth/1/score"][0] == pytest.approx(0.75)
        assert msgs["/booth/2/label"] == ("",) and msgs["/booth/2/bpm"] == (0.0,) and msgs["/booth/2/id"] == (-1,)
        assert msgs["/booth/now/label"] == ("Aphex Twin - Windowlicker",)
        assert msgs["/booth/now/confidence"][0] == pytest.approx(0.87)
        assert msgs["/booth/bpm"][0] == pytest.approx(124.0) and msgs["/booth/key"] == ("8A",)
        assert msgs["/booth/status"] == ("listening",)
        assert msgs["/booth/deck/1/label"] == ("",) and msgs["/booth/deck/2/level"] == (0.0,)  # no deck confirmed
        assert len(msgs) == 2 * 9 + 5 + 2 * 3
        # only the live BPM moves: one message
        pub.publish(LiveUpdate(seq=1, t=6.0, suggestions=up.suggestions, now_playing=now, live_bpm=125.0,
                               live_key="8A"))
        assert receiver.messages() == [("/booth/bpm", (125.0,))]


def test_touchosc_works_on_updates_without_the_new_fields():
    msgs = TouchOscProfile(slots=1, resync_s=0).messages(update(0, sugg(1, 3)))
    d = {m.address: m.args for m in msgs}
    assert d["/livedj/now/label"] == ("",) and d["/livedj/bpm"] == (0.0,) and d["/livedj/key"] == ("",)


def test_livedj_profile_now_and_live_messages():
    now = {"path": "/m/a.flac", "title": "T", "artist": "A", "confidence": 0.5}
    up = LiveUpdate(seq=7, t=1.0, suggestions=(), now_playing=now, live_bpm=float("nan"),
                    live_bpm_confidence=0.9, live_key="8A", live_key_confidence=0.4)
    msgs = livedj_profile(up, "/livedj")
    d = {m.address: m.args for m in msgs}
    assert d["/livedj/now"] == (7, "/m/a.flac", "A", "T", 0.5)
    assert d["/livedj/live"] == (7, 0.0, 0.9, "8A", 0.4)
    assert msgs[-1] == ("/livedj/update/end", (7, len(msgs)))
    # without the fields: no /now, no /live (the documented n + 6)
    assert len(livedj_profile(update(0, sugg(1, 1)), "/livedj")) == 7


def test_both_decks_of_a_blend_in_the_livedj_and_touchosc_profiles():
    decks = ({"track_id": 2, "path": "/m/b.flac", "artist": "B", "title": "In", "confidence": 0.6, "level": 0.12},
             {"track_id": 1, "path": "/m/a.flac", "artist": "A", "title": "Out", "confidence": 0.9, "level": 0.25})
    up = LiveUpdate(seq=3, t=1.0, suggestions=(), now_playing=dict(decks[0]), decks=decks)
    msgs = livedj_profile(up, "/livedj")
    d = {m.address: m.args for m in msgs}
    assert d["/livedj/now"] == (3, "/m/b.flac", "B", "In", 0.6)  # now: the incoming record, as before
    assert d["/livedj/decks"] == (3, 2, 2, "/m/b.flac", "B", "In", 0.6, 0.12, 1, "/m/a.flac", "A", "Out", 0.9, 0.25)
    assert msgs[-1] == ("/livedj/update/end", (3, len(msgs)))
    touch = TouchOscProfile(slots=0, resync_s=0)
    t = {m.address: m.args for m in touch.messages(up)}
    assert t["/livedj/deck/1/label"] == ("B - In",) and t["/livedj/deck/2/label"] == ("A - Out",)
    assert t["/livedj/deck/1/level"] == (0.12,) and t["/livedj/deck/2/confidence"] == (0.9,)
    t = {m.address: m.args for m in touch.messages(LiveUpdate(seq=4, t=2.0, suggestions=(), now_playing=dict(decks[0]),
                                                               decks=decks[:1]))}
    assert t == {"/livedj/deck/2/label": ("",), "/livedj/deck/2/level": (0.0,), "/livedj/deck/2/confidence": (0.0,)}


def test_targets_with_different_profiles_each_get_their_own(receiver):
    other = Receiver()
    try:
        targets = [{"host": "127.0.0.1", "port": receiver.port},
                   ("127.0.0.1", other.port, "abletonosc")]
        with OscPublisher(targets) as pub:
            pub.publish(update(0, sugg(1, 1)))
            got = receiver.take()
            assert len(got) == 1 and got[0][0] and got[0][1][0][0] == "/livedj/update"
            assert {a for a, _ in other.messages()} == {"/live/api/show_message", "/live/clip/set/name",
                                                       "/live/clip/set/color"}
    finally:
        other.close()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_down_receiver_never_raises_nor_blocks_then_catches_up():
    port = closed_port()
    targets = [{"host": "127.0.0.1", "port": port, "profile": "abletonosc", "slots": 2, "resync_s": 0},
               ("127.0.0.1", port, "touchosc")]
    up = update(0, sugg(1, 1), sugg(2, 5))
    with OscPublisher(targets) as pub:
        t0 = time.perf_counter()
        for seq in range(20):
            pub.publish(up)
            time.sleep(0.002)  # let ICMP "port unreachable" come back
        assert time.perf_counter() - t0 < 2.0
        assert pub.errors >= 1 and "ECONNREFUSED" in pub.last_error
        # AbletonOSC comes up on that port: a failed send made the profile start over, so the
        # unchanged picks still reach it (the first send may still report the old ICMP error)
        server_ok = Receiver(port)
        try:
            got: list = []
            for _ in range(3):
                pub.publish(up)
                got = server_ok.messages()
                if got:
                    break
            assert ("/live/api/show_message", ("livedj: Artist 1 - Title 1 (8A, 124 BPM)",)) in got
            assert len([m for m in got if m[0].startswith("/live/clip/set/")]) == 4
        finally:
            server_ok.close()


def test_unset_options_from_the_config_are_ignored():
    """The config fills every schema key; None means "not set" for the profile."""
    target = {"host": "127.0.0.1", "port": 9, "profile": None, "prefix": None, "track": None, "slots": None}
    with OscPublisher([target, dict(target, profile="touchosc", slots=2)]) as pub:
        assert pub.errors == 0 and len(pub.targets) == 2


def test_bad_profile_options_are_counted_not_raised():
    pub = OscPublisher([{"host": "127.0.0.1", "port": 9, "profile": "abletonosc", "trak": 1},
                        {"host": "127.0.0.1", "port": 9, "profile": "abletonosc", "slots": -1},
                        {"host": "127.0.0.1", "port": 9, "profile": "touchosc", "prefix": "no slash"},
                        {"host": "127.0.0.1", "port": 9, "profile": "nope"}])
    assert pub.targets == [] and pub.errors == 4
    with pytest.raises(ValueError, match="trak"):
        make_profile("abletonosc", track=1, trak=2)


def test_broken_profile_is_counted_and_other_targets_still_get_theirs(receiver):
    def broken(update, prefix):
        raise RuntimeError("boom")

    with OscPublisher([("127.0.0.1", receiver.port, broken), ("127.0.0.1", receiver.port, "touchosc")]) as pub:
        assert pub.publish(update(0, sugg(1, 1))) > 0
        assert pub.errors == 1 and "boom" in pub.last_error
        assert len(receiver.take()) == 1
