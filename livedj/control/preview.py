"""Transition previews for the live loop: ``/livedj/preview <id>`` renders "now playing -> id"
on a worker thread of its own (never the analysis thread) and replies with the file's path.

The worker runs at a lower CPU priority (``nice`` +10 for its thread) so that on a 2-core booth
machine the analysis keeps its pace while a preview renders (~30 s of audio; a few seconds of
CPU). Replies go to the sender of the request, over OSC/UDP:

* ``/livedj/preview/ready <id> <path>`` -- the WAV is written;
* ``/livedj/preview/error <id> <reason>`` -- nothing playing is identified, a file is unreadable, ...
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

__all__ = ["PreviewWorker", "default_preview_dir"]


def default_preview_dir() -> Path:
    """``$XDG_CACHE_HOME/livedj/previews`` (``~/.cache/livedj/previews``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if base.startswith("~"):  # no home (HOME unset, a user without one): not a folder "~" in the current one
        import tempfile

        return Path(tempfile.gettempdir()) / f"livedj-previews-{os.getuid()}"
    return Path(base) / "livedj" / "previews"


def _osc_reply(sender, address: str, args: list) -> None:
    if not (isinstance(sender, tuple) and len(sender) >= 2):
        return
    from pythonosc.udp_client import SimpleUDPClient

    SimpleUDPClient(sender[0], sender[1]).send_message(address, args)


class PreviewWorker:
    """Render previews one at a time on a daemon thread.

    Parameters
    ----------
    tracks : callable
        ``tracks() -> {id: Track}`` (the engine's current library; it changes on reload).
    now_playing : callable
        ``now_playing() -> track id or None``: the record identified on the deck.
    out_dir : path-like
        Where previews are written (created).
    reply : callable
        ``reply(sender, address, args)``; default: an OSC message to the sender.
    options : livedj.mix.render.MixOptions, optional
        Default: 8-bar blends (about 30 s with the context).
    nice : int
        CPU priority of the worker's thread, added to the process's (Linux).
    """

    def __init__(self, tracks: Callable[[], dict], now_playing: Callable[[], int | None], out_dir=None,
                 reply: Callable = _osc_reply, options=None, nice: int = 10,
                 log: logging.Logger = logging.getLogger("livedj.preview")):
        self.nice = nice
        self.tracks, self.now_playing, self.reply, self.log = tracks, now_playing, reply, log
        self.out_dir = Path(out_dir) if out_dir is not None else default_preview_dir()
        self.options = options
        self.done = 0
        self.failed = 0
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._decks: OrderedDict = OrderedDict()  # path -> Deck: the record on the deck stays analysed
        self._thread = threading.Thread(target=self._run, name="livedj-preview", daemon=True)
        self._started = False
        self._reply_failed = False  # a reply failed before: later ones are logged at debug level

    def request(self, track_id: int, sender=None) -> bool:
        """Queue a preview of now playing -> ``track_id``; False when 4 are already waiting."""
        if not self._started:
            self._started = True
            self._thread.start()
        try:
            self._queue.put_nowait((track_id, sender))
            return True
        except queue.Full:
            return False

    def stop(self) -> None:
        if self._started:
            self._queue.put((None, None))
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        try:  # Linux: a thread has its own nice value; the analysis thread keeps the CPU first
            if self.nice:
                tid = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + self.nice)
        except (AttributeError, OSError):
            pass
        while True:
            track_id, sender = self._queue.get()
            if track_id is None:
                return
            try:
                path = self.render(track_id)
            except Exception as exc:  # noqa: BLE001 - a failed preview is said, never kills the worker
                self.failed += 1
                reason = " ".join(str(exc).split()) or type(exc).__name__
                self.log.warning("preview of %s failed: %s", track_id, reason)
                self._reply(sender, "/livedj/preview/error", [int(track_id), reason])
                continue
            self.done += 1
            self._reply(sender, "/livedj/preview/ready", [int(track_id), str(path)])

    def _reply(self, sender, address: str, args: list) -> None:
        """Answer ``sender``; a reply that cannot be sent (a sender at port 0, a network gone) is logged
        (the first as a warning), and the worker goes on serving the next request."""
        try:
            self.reply(sender, address, args)
        except Exception as exc:  # noqa: BLE001 - the booth's next preview must still be answered
            self.log.log(logging.DEBUG if self._reply_failed else logging.WARNING,
                         "preview reply %s to %s not sent: %s", address, sender, exc)
            self._reply_failed = True

    def render(self, track_id: int) -> Path:
        """Write the preview now playing -> ``track_id``; returns its path (raises on failure)."""
        from livedj.mix.make import make_preview
        from livedj.mix.render import MixOptions, prepare

        tracks = self.tracks()
        now = self.now_playing()
        if now is None or now not in tracks:
            raise LookupError("no record is identified as playing")
        if track_id not in tracks:
            raise LookupError(f"no track {track_id} in the library")
        options = self.options or MixOptions(blend_bars=8)
        paths = [tracks[now].path, tracks[track_id].path]
        for p in paths:
            if p not in self._decks:
                self._decks[p] = prepare(p, options)
            self._decks.move_to_end(p)
        while len(self._decks) > 3:
            self._decks.popitem(last=False)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        out = self.out_dir / f"preview-{now}-{track_id}.wav"
        from dataclasses import replace

        # render() fades a cut record in place: hand it copies, keep the analysed decks clean
        prepared = {p: replace(self._decks[p], audio=self._decks[p].audio.copy()) for p in paths}
        make_preview(paths[0], paths[1], out, options, prepared=prepared)
        return out
