"""The OSC server the booth talks back through: ``/livedj/played 42`` -> ``Played(42)``.

Every datagram is parsed by a small strict OSC 1.0 parser (:mod:`livedj.control.osc_parse`, which
says why not python-osc's). Whatever arrives, the server thread only counts and drops it; each kind
of rejection is logged once, then only counted.

Each message is checked on its own and becomes one :class:`~livedj.engine.session.Command`
sent into the session's queue (the analysis thread applies it). The address list is in
``docs/osc.md`` ("OSC in").
"""
from __future__ import annotations

import logging
import math
import socket
import threading
from typing import Callable

from livedj.control.osc_parse import MalformedPacket, Unsupported, parse_packet
from livedj.engine.session import (
    MAX_DRUNK, MAX_LOOKBACK, Ban, Command, Drunk, Lookback, Pause, Pin, Played, Refresh, Session, Skip,
)
from livedj.fsutil import printable  # a sender's raw ESC or newline would drive the terminal or forge log lines

#: Longest string argument (and address) accepted, in UTF-8 bytes.
MAX_STRING_BYTES = 4096
#: The kinds of rejection counted in :attr:`OscControlServer.rejected`.
REJECT_KINDS = ("malformed", "too_long", "unknown_address", "bad_types", "out_of_range", "unknown_track",
                "queue_full", "error")

#: What a handler returns when it acted itself (a preview request) instead of making a command.
_HANDLED = object()


# -- checking arguments ----------------------------------------------------------------------------
class Rejected(Exception):
    """A message that is valid OSC but not a valid command; ``kind`` is one of REJECT_KINDS."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(text)
        self.kind = kind


def _number(value: object, what: str) -> float:
    """A finite int or float argument as float (TouchOSC sends every number as float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Rejected("bad_types", f"{what} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise Rejected("out_of_range", f"{what} must be finite, got {value!r}")
    return float(value)


def _one(args: tuple, what: str) -> object:
    if len(args) != 1:
        raise Rejected("bad_types", f"expected one argument ({what}), got {len(args)}")
    return args[0]


class OscControlServer:
    """Receive control messages over OSC/UDP and send them into the session as commands.

    Parameters
    ----------
    session : Session
        Commands go to ``session.send`` (a thread-safe queue; the analysis thread applies them).
    resolve : callable
        ``resolve(track_id or path) -> track_id or None`` (None: not in the library).
    host, port : str, int
        Where to listen. The default 127.0.0.1 only hears this machine; binding to a network
        address is an explicit choice (anyone on that network can then steer the session).
        Port 0 picks a free port (read :attr:`port`).
    log : logging.Logger
        Where rejections are logged, once per kind.
    prefix : str
        The address prefix ("/livedj").

    Attributes
    ----------
    received : int
        Datagrams received.
    accepted : int
        Commands sent into the session.
    ignored : int
        Button releases (a trigger with argument 0), which do nothing.
    rejected : dict of str to int
        Dropped datagrams (``malformed``) and messages (the other kinds), by kind.
    last_rejected, last_accepted : str
        The most recent of each, for the dashboard.
    """

    def __init__(self, session: Session, resolve: Callable[[int | str], int | None], host: str = "127.0.0.1",
                 port: int = 9001, log: logging.Logger = logging.getLogger("livedj.osc_in"),
                 prefix: str = "/livedj", previewer=None) -> None:
        self.session = session
        self.previewer = previewer  #: a livedj.control.preview.PreviewWorker for /preview <id>
        self._sender: object = None
        self.resolve = resolve
        self.log = log
        self.prefix = prefix.rstrip("/")
        self.received = 0
        self.accepted = 0
        self.ignored = 0
        self.rejected: dict[str, int] = {}
        self.last_rejected = ""
        self.last_accepted = ""
        self._logged: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except UnicodeError as exc:  # a label over 63 characters: refused by the idna codec, not as OSError
            raise OSError(f"not a host name ({exc})") from None
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind(addr)
            self._sock.settimeout(0.1)  # how fast stop() is noticed
        except OSError:
            self._sock.close()
            raise
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        p = self.prefix
        self._handlers: dict[str, Callable[[tuple], Command | None]] = {
            f"{p}/played": lambda a: Played(self._track(a), source="osc"),
            f"{p}/skip": lambda a: Skip(self._track(a)),
            f"{p}/ban": lambda a: Ban(self._track(a)),
            f"{p}/pin": lambda a: Pin(self._track(a)),
            f"{p}/unpin": lambda a: self._trigger(a, Pin(None)),
            f"{p}/lookback": lambda a: Lookback(self._lookback(a)),
            f"{p}/drunk": lambda a: Drunk(self._drunk(a)),
            f"{p}/pause": lambda a: self._trigger(a, Pause(True)),
            f"{p}/resume": lambda a: self._trigger(a, Pause(False)),
            f"{p}/refresh": lambda a: self._trigger(a, Refresh()),
        }
        if previewer is not None:
            self._handlers[f"{p}/preview"] = self._preview

    # -- argument checks -------------------------------------------------------------------------
    def _track(self, args: tuple) -> int:
        value = _one(args, "track id or path")
        if isinstance(value, str):
            if not value:
                raise Rejected("bad_types", "empty path")
            key: int | str = value
        else:
            number = _number(value, "track id")
            if not number.is_integer():
                raise Rejected("bad_types", f"track id must be a whole number, got {number!r}")
            key = int(number)
        track_id = self.resolve(key)
        if isinstance(track_id, bool) or not isinstance(track_id, int):
            raise Rejected("unknown_track", f"no track {key!r} in the library")
        return track_id

    @staticmethod
    def _lookback(args: tuple) -> int:
        n = _number(_one(args, "updates"), "lookback")
        if not 1 <= n <= MAX_LOOKBACK:
            raise Rejected("out_of_range", f"lookback must be 1..{MAX_LOOKBACK}, got {n:g}")
        return int(round(n))  # a fader sends 12.37: the nearest count is meant

    @staticmethod
    def _drunk(args: tuple) -> float:
        amount = _number(_one(args, "amount"), "drunk")
        if not 0.0 <= amount <= MAX_DRUNK:
            raise Rejected("out_of_range", f"drunk must be 0..{MAX_DRUNK:g}, got {amount:g}")
        return amount

    def _preview(self, args: tuple) -> object:
        """Hand "now playing -> this track" to the preview worker (its own thread); it replies."""
        track_id = self._track(args)
        if not self.previewer.request(track_id, self._sender):
            raise Rejected("queue_full", "4 previews are already waiting")
        return _HANDLED

    @staticmethod
    def _trigger(args: tuple, command: Command) -> Command | None:
        """No argument, or one number as a button sends it: non-zero (press) acts, 0 (release) not."""
        if not args:
            return command
        value = _one(args, "nothing, or a button value")
        if isinstance(value, bool):
            return command if value else None
        return command if _number(value, "button value") != 0.0 else None

    # -- handling --------------------------------------------------------------------------------
    def _reject(self, kind: str, text: str, sender: object = None) -> None:
        self.rejected[kind] = self.rejected.get(kind, 0) + 1
        self.last_rejected = f"{kind}: {text}"
        if kind not in self._logged:
            self._logged.add(kind)
            src = f" from {sender[0]}:{sender[1]}" if isinstance(sender, tuple) and len(sender) >= 2 else ""
            self.log.warning("OSC in: dropped %s%s: %s (each kind is logged once, then only counted)",
                             kind, src, text)

    def handle_message(self, address: str, args: tuple, sender: object = None) -> bool:
        """Check one message and send its command; True when a command was sent."""
        shown = printable(address if len(address) <= 80 else address[:77] + "...")
        try:
            if len(address.encode("utf-8")) > MAX_STRING_BYTES or any(
                    isinstance(a, str) and len(a.encode("utf-8")) > MAX_STRING_BYTES for a in args):
                raise Rejected("too_long", f"{shown}: a string is longer than {MAX_STRING_BYTES} bytes")
            handler = self._handlers.get(address)
            if handler is None:
                raise Rejected("unknown_address", f"{shown}: unknown address")
            if any(isinstance(a, Unsupported) for a in args):
                raise Rejected("bad_types", f"{shown}: unsupported argument type")
            self._sender = sender
            try:
                command = handler(args)
            except Rejected as exc:
                raise Rejected(exc.kind, f"{shown}: {exc}") from None
            if command is None:
                self.ignored += 1
                return False
            if command is not _HANDLED and not self.session.send(command):
                raise Rejected("queue_full", f"{shown}: the session's command queue is full")
        except Rejected as exc:
            self._reject(exc.kind, str(exc), sender)
            return False
        except Exception as exc:  # resolve() or the session failed: count, never kill the thread
            self._reject("error", f"{shown}: {exc!r}", sender)
            return False
        self.accepted += 1
        self.last_accepted = f"{address} {' '.join(map(str, args))}".strip()[:200]
        if isinstance(command, Ban):  # documented as logged: a ban is not a play, so the journal keeps it
            logging.getLogger("livedj").info("OSC in: banned track %s for this session", command.track_id)
        return True

    def handle_datagram(self, data: bytes, sender: object = None) -> int:
        """Parse one datagram and handle each of its messages; returns the commands sent."""
        self.received += 1
        try:
            messages = parse_packet(data)
        except MalformedPacket as exc:
            self._reject("malformed", f"{len(data)}-byte datagram: {exc}", sender)
            return 0
        except RecursionError:
            self._reject("malformed", "bundles nested too deep", sender)
            return 0
        return sum(self.handle_message(address, args, sender) for address, args in messages)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self._sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    return
                self._reject("error", f"receive failed: {exc!r}")
                self._stop.wait(0.05)  # do not spin if the socket keeps failing
                continue
            try:
                self.handle_datagram(data, sender)
            except Exception as exc:  # a bug here must not stop the booth's control
                self._reject("error", f"unexpected: {exc!r}", sender)

    def start(self) -> OscControlServer:
        """Start the server thread (a daemon: it never holds up exit)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="livedj-osc-in", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the socket (within about 0.1 s)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._sock.close()

    def summary(self) -> str:
        """One line for the dashboard, e.g. "osc in :9001 · 12 ok · 3 dropped"."""
        dropped = sum(self.rejected.values())
        return f"osc in {self.host}:{self.port} · {self.accepted} ok" + (f" · {dropped} dropped" if dropped else "")

    def __enter__(self) -> OscControlServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
