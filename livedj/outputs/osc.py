"""Publish each live update as one OSC bundle per target over UDP.

The address space is documented in ``docs/osc.md``. A *profile* turns an :class:`Update` into a
list of :class:`Message`; :class:`OscPublisher` encodes them into one bundle (one datagram, so a
receiver gets all of an update or none of it) and sends it to every target without ever
blocking or raising into the live loop.
"""
from __future__ import annotations

import errno
import json
import logging
import math
import socket
import struct
from typing import Callable, NamedTuple

from livedj.engine.update import Update
from livedj.outputs.jsonlines import jsonable, safe_text

log = logging.getLogger(__name__)

#: Keep a bundle well under the 9216-byte UDP limit of macOS and most OSC receivers' buffers.
MAX_BUNDLE_BYTES = 8000
#: The NTP time tag that means "handle now" (bundles are not scheduled).
_IMMEDIATELY = b"\x00\x00\x00\x00\x00\x00\x00\x01"
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
#: The stage order of ``/latency`` (stages not listed follow in the update's order).
STAGES = ("mel", "embed", "query", "rank", "publish")


class Message(NamedTuple):
    """One OSC message: ``int`` args are sent as ``i``, ``float`` as ``f``, ``str`` as ``s``."""

    address: str
    args: tuple = ()


Profile = Callable[[Update, str], "list[Message]"]


def _finite(value: float | None, default: float = 0.0) -> float:
    """A float for an ``f`` argument: None, NaN and infinities become ``default``."""
    if value is None:
        return default
    value = float(value)
    return value if math.isfinite(value) else default


def _db(value: float | None) -> float:
    """A level in dBFS, floored at -120 (silence is -inf before the floor)."""
    return max(_finite(value, -120.0), -120.0)


def livedj_profile(update: Update, prefix: str = "/livedj") -> list[Message]:
    """The default address space: one framed set of messages per update (see docs/osc.md).

    ``/update`` opens the set, ``/update/end`` closes it and repeats the message count, so a
    receiver that flattens bundles can still tell one update from the next. None values are
    sent as 0.0 (bpm) and "" (key).
    """
    seq = int(update.seq)
    msgs = [Message(f"{prefix}/update", (seq, _finite(update.t), len(update.suggestions)))]
    for s in update.suggestions:
        why = json.dumps(jsonable(s.why), separators=(",", ":")) if s.why else ""
        msgs.append(Message(f"{prefix}/suggestion", (
            seq, int(s.rank), safe_text(s.path), safe_text(s.artist), safe_text(s.title),
            _finite(s.score), _finite(s.similarity), _finite(s.bpm), safe_text(s.key or ""),
            int(s.track_id), safe_text(why),
        )))
    tag_args: list = [seq]
    for name, p in update.tags:
        tag_args += [safe_text(name), _finite(p)]
    msgs.append(Message(f"{prefix}/tags", tuple(tag_args)))
    msgs.append(Message(f"{prefix}/level", (seq, _db(update.level_db), _db(update.peak_db))))
    stages = [k for k in STAGES if k in update.stage_ms]
    stages += [k for k in update.stage_ms if k not in STAGES]
    lat_args: list = [seq, _finite(update.latency_ms)]
    for k in stages:
        lat_args += [safe_text(k), _finite(update.stage_ms[k])]
    msgs.append(Message(f"{prefix}/latency", tuple(lat_args)))
    msgs.append(Message(f"{prefix}/status", (seq, safe_text(update.status), int(update.overflows))))
    msgs.append(Message(f"{prefix}/update/end", (seq, len(msgs) + 1)))
    return msgs


#: Profiles by name, for ``--osc-profile`` (AbletonOSC and TouchOSC labels are planned).
PROFILES: dict[str, Profile] = {"livedj": livedj_profile}


def _osc_string(text: str) -> bytes:
    raw = text.encode("utf-8") + b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


def encode_message(msg: Message) -> bytes:
    """Encode one message as an OSC 1.0 packet (``int`` -> i, ``float`` -> f, ``str`` -> s).

    Raises
    ------
    TypeError
        When an argument is not an int, float or str.
    """
    tags, data = [","], []
    for arg in msg.args:
        if isinstance(arg, bool) or not isinstance(arg, (int, float, str)):
            raise TypeError(f"OSC argument of {msg.address} must be int, float or str, got {type(arg).__name__}")
        if isinstance(arg, int):
            tags.append("i")
            data.append(struct.pack(">i", min(max(arg, _INT32_MIN), _INT32_MAX)))
        elif isinstance(arg, float):
            tags.append("f")
            data.append(struct.pack(">f", _finite(arg)))
        else:
            tags.append("s")
            data.append(_osc_string(arg))
    return _osc_string(msg.address) + _osc_string("".join(tags)) + b"".join(data)


def encode_bundle(messages: list[Message]) -> bytes:
    """Encode ``messages`` as one OSC bundle to be handled immediately."""
    parts = [b"#bundle\x00", _IMMEDIATELY]
    for msg in messages:
        packet = encode_message(msg)
        parts += [struct.pack(">i", len(packet)), packet]
    return b"".join(parts)


def _shorten(text: str, max_bytes: int) -> str:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes, keeping both ends ("head…tail").

    Both ends matter: a path's folder and file name, a title's start and its "(Remix)".
    """
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    keep = max(max_bytes - 3, 2)  # 3 bytes for the ellipsis
    head = raw[: (keep + 1) // 2].decode("utf-8", "ignore")
    tail = raw[len(raw) - keep // 2:].decode("utf-8", "ignore")
    return f"{head}\u2026{tail}"


def fit_bundle(messages: list[Message], max_bytes: int = MAX_BUNDLE_BYTES) -> bytes | None:
    """Encode ``messages`` as a bundle of at most ``max_bytes``, shortening long strings.

    Returns None when even 16-byte strings do not fit (too many messages).
    """
    dgram = encode_bundle(messages)
    cap = 512
    while len(dgram) > max_bytes and cap >= 16:
        messages = [
            Message(m.address, tuple(_shorten(a, cap) if isinstance(a, str) else a for a in m.args))
            for m in messages
        ]
        dgram = encode_bundle(messages)
        cap //= 2
    return dgram if len(dgram) <= max_bytes else None


def parse_target(text: str) -> tuple[str, int]:
    """Parse ``"host:port"`` (or ``"[v6addr]:port"``, or ``":port"`` for localhost).

    Raises
    ------
    ValueError
        When there is no port or it is not in 1..65535.
    """
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"OSC target must be host:port with a port in 1..65535, got {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


class _Target:
    """One destination: its own connected, non-blocking UDP socket (so ICMP errors show up)."""

    def __init__(self, host: str, port: int) -> None:
        self.label = f"{host}:{port}"
        self.sock: socket.socket | None = None
        self.logged: set[str] = set()  # failure kinds already logged: each is logged once
        family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect(addr)  # for UDP only sets the peer: never waits
        except OSError:
            sock.close()
            raise
        self.sock = sock


class OscPublisher:
    """Send every update as one OSC bundle to each of ``targets``.

    Parameters
    ----------
    targets : list of (host, port)
        Where to send. Names are resolved once, here; a target that cannot be resolved or
        reached is counted in ``errors`` and skipped, never raised.
    prefix : str
        The address prefix, e.g. "/livedj" gives "/livedj/update".
    profile : callable or str
        ``profile(update, prefix) -> list[Message]``, or a name in :data:`PROFILES`.
    max_bundle_bytes : int
        Longest datagram sent; long strings are shortened to fit.

    Attributes
    ----------
    sent : int
        Messages handed to the network, over all targets.
    bundles : int
        Datagrams handed to the network, over all targets.
    errors : int
        Failures: unresolvable targets, refused/unreachable/full sends, oversize or broken updates.
    last_error : str
        The most recent failure, for the dashboard ("" when none).
    """

    def __init__(self, targets: list[tuple[str, int]], prefix: str = "/livedj",
                 profile: Profile | str = "livedj", max_bundle_bytes: int = MAX_BUNDLE_BYTES) -> None:
        prefix = prefix.rstrip("/")
        if prefix and (not prefix.startswith("/") or any(c in prefix for c in " #*,?[]{}")):
            raise ValueError(f"OSC prefix must start with '/' and hold no spaces or #*,?[]{{}}, got {prefix!r}")
        if isinstance(profile, str):
            if profile not in PROFILES:
                raise ValueError(f"unknown OSC profile {profile!r}; known: {', '.join(PROFILES)}")
            profile = PROFILES[profile]
        self.prefix = prefix
        self.profile = profile
        self.max_bundle_bytes = max_bundle_bytes
        self.sent = 0
        self.bundles = 0
        self.errors = 0
        self.last_error = ""
        self._targets: list[_Target] = []
        for host, port in targets:
            try:
                self._targets.append(_Target(host, int(port)))
            except (OSError, ValueError, UnicodeError) as exc:
                self._fail(f"OSC target {host}:{port} unusable: {exc}")

    @property
    def targets(self) -> list[str]:
        """The usable targets as "host:port"."""
        return [t.label for t in self._targets]

    def summary(self) -> str:
        """One line for the dashboard, e.g. "osc 127.0.0.1:9000 · 3 errors"."""
        text = "osc " + (", ".join(self.targets) or "no usable target")
        return text + (f" · {self.errors} errors" if self.errors else "")

    def _fail(self, text: str, level: int = logging.WARNING) -> None:
        self.errors += 1
        self.last_error = text
        log.log(level, text)

    def publish(self, update: Update) -> int:
        """Send ``update`` to every target; never blocks, never raises.

        Returns
        -------
        int
            Messages sent, summed over targets (0 when nothing could be sent).
        """
        try:
            messages = self.profile(update, self.prefix)
            dgram = fit_bundle(messages, self.max_bundle_bytes)
        except Exception as exc:  # a broken update or profile must not stop the live loop
            self._fail(f"OSC update {getattr(update, 'seq', '?')} not encoded: {exc!r}", logging.ERROR)
            return 0
        if dgram is None:
            self._fail(f"OSC update {update.seq} too big for {self.max_bundle_bytes} bytes; dropped")
            return 0
        sent = 0
        for target in self._targets:
            try:
                target.sock.send(dgram)
            except OSError as exc:
                # ECONNREFUSED: nothing listens (reported by the previous send's ICMP);
                # EAGAIN: the socket buffer is full, so this update is dropped, not queued.
                reason = errno.errorcode.get(exc.errno, str(exc.errno))
                text = f"OSC send to {target.label} failed: {reason} (logged once; counted on the dashboard)"
                # a receiver that is down fails every other send (the ICMP answer arrives late), so
                # "works again" cannot be told reliably: log each kind of failure once per target
                self._fail(text, logging.DEBUG if reason in target.logged else logging.WARNING)
                target.logged.add(reason)
                continue
            sent += len(messages)
            self.bundles += 1
        self.sent += sent
        return sent

    def close(self) -> None:
        """Close the sockets (publishing afterwards sends nothing)."""
        for target in self._targets:
            target.sock.close()
        self._targets = []

    def __enter__(self) -> OscPublisher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
