"""/livedj/preview <id> over real UDP: the transition now playing -> id is rendered on the preview
worker's own thread, and the reply names the file."""
from __future__ import annotations

import socket
import threading

import av
import pytest

from livedj.control.osc_in import OscControlServer, parse_packet
from livedj.control.preview import PreviewWorker, _osc_reply
from livedj.engine.session import Session
from livedj.library.store import Track
from livedj.synth import TrackSpec, render_track, write_audio


def _track(tmp_path, track_id, spec, seconds):
    path = tmp_path / f"{spec.title}.flac"
    write_audio(path, render_track(spec, seconds, 44100), 44100, spec.title, spec.artist)
    return Track(track_id, str(path), spec.title, spec.artist, "", seconds, spec.bpm, "tag", None, None)


def _receive(sock: socket.socket) -> tuple[str, tuple]:
    data, _ = sock.recvfrom(65536)
    return parse_packet(data)[0]


def test_preview_request_replies_with_the_file(tmp_path):
    tracks = {1: _track(tmp_path, 1, TrackSpec("now", "n", 126.0, "A minor", "house", 1), 50.0),
              2: _track(tmp_path, 2, TrackSpec("next", "x", 124.0, "A minor", "disco", 2), 40.0)}
    playing: list = [None]
    threads = []

    def reply(sender, address, args):
        threads.append(threading.current_thread().name)
        _osc_reply(sender, address, args)

    worker = PreviewWorker(lambda: tracks, lambda: playing[0], tmp_path / "previews", reply=reply,
                           nice=0)  # on a shared test machine a niced thread can starve for minutes
    session = Session()
    server = OscControlServer(session, lambda ref: ref if ref in tracks else None, port=0, previewer=worker).start()
    booth = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    booth.bind(("127.0.0.1", 0))
    booth.settimeout(300)
    try:
        from pythonosc.osc_message_builder import OscMessageBuilder

        def send(track_id):
            msg = OscMessageBuilder("/livedj/preview")
            msg.add_arg(track_id)
            booth.sendto(msg.build().dgram, ("127.0.0.1", server.port))

        send(2)  # nothing identified as playing yet
        address, args = _receive(booth)
        assert address == "/livedj/preview/error" and args[0] == 2 and "playing" in args[1]
        playing[0] = 1
        send(2)
        address, args = _receive(booth)
        assert address == "/livedj/preview/ready" and args[0] == 2
        with av.open(args[1]) as c:
            seconds = sum(f.samples for f in c.decode(audio=0)) / 44100
        assert 25 < seconds < 36
        send(99)  # not in the library: rejected by the server, counted, no reply
        assert session.commands.empty()  # a preview is no session command
    finally:
        server.stop()
        worker.stop()
        booth.close()
    assert server.rejected.get("unknown_track") == 1
    assert set(threads) == {"livedj-preview"} and worker.done == 1 and worker.failed == 1


def test_a_reply_that_cannot_be_sent_leaves_the_worker_serving(tmp_path, caplog):
    """A request whose sender cannot be answered (source port 0: sendto says EINVAL) used to kill the
    worker's thread with a traceback: every later /livedj/preview then queued up unanswered."""
    worker = PreviewWorker(dict, lambda: None, tmp_path / "previews", nice=0)
    booth = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    booth.bind(("127.0.0.1", 0))
    booth.settimeout(10)
    try:
        assert worker.request(2, ("127.0.0.1", 0))  # nothing identified: an error reply, unsendable
        assert worker.request(3, booth.getsockname())
        address, args = _receive(booth)
    finally:
        worker.stop()
        booth.close()
    assert address == "/livedj/preview/error" and args[0] == 3
    assert worker.failed == 2 and not worker._thread.is_alive()  # stopped by stop(), not by the error
    assert any("reply" in r.getMessage() for r in caplog.records)
