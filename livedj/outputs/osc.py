"""Publish each live update over OSC/UDP to every target, shaped by each target's profile.

The address spaces are documented in ``docs/osc.md`` and ``docs/ableton.md``. A *profile*
(:mod:`livedj.outputs.osc_profiles`, one object per target) turns an :class:`Update` into a list
of :class:`Message`; :class:`OscPublisher` encodes them with python-osc's builders into one
bundle (one datagram, so a receiver gets all of an update or none of it) or, for profiles that ask
for it, one datagram per message, and sends them without ever blocking or raising into the live
loop.
"""
from __future__ import annotations

import errno
import logging
import socket
from typing import Any

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from livedj.engine.update import Update
from livedj.outputs.osc_profiles import (  # noqa: F401  (re-exported: the public API of this module)
    PROFILES, STAGES, Message, OscProfile, finite, check_prefix, livedj_profile, make_profile,
)

log = logging.getLogger(__name__)

#: Keep a bundle well under the 9216-byte UDP limit of macOS and most OSC receivers' buffers.
MAX_BUNDLE_BYTES = 8000
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def build_message(msg: Message) -> OscMessage:
    """``msg`` as python-osc's :class:`OscMessage` (``int`` -> i, clamped to int32; ``float`` -> f,
    non-finite sent as 0; ``str`` -> s).

    Raises
    ------
    TypeError
        When an argument is not an int, float or str.
    """
    builder = OscMessageBuilder(msg.address)
    for arg in msg.args:
        if isinstance(arg, bool) or not isinstance(arg, (int, float, str)):
            raise TypeError(f"OSC argument of {msg.address} must be int, float or str, got {type(arg).__name__}")
        if isinstance(arg, int):
            builder.add_arg(min(max(arg, _INT32_MIN), _INT32_MAX), OscMessageBuilder.ARG_TYPE_INT)
        elif isinstance(arg, float):
            builder.add_arg(finite(arg), OscMessageBuilder.ARG_TYPE_FLOAT)
        else:
            builder.add_arg(arg, OscMessageBuilder.ARG_TYPE_STRING)
    return builder.build()


def encode_message(msg: Message) -> bytes:
    """Encode one message as an OSC 1.0 packet (see :func:`build_message`)."""
    return build_message(msg).dgram


def encode_bundle(messages: list[Message]) -> bytes:
    """Encode ``messages`` as one OSC bundle to be handled immediately."""
    bundle = OscBundleBuilder(IMMEDIATELY)
    for msg in messages:
        bundle.add_content(build_message(msg))
    return bundle.build().dgram


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


def fit_message(message: Message, max_bytes: int = MAX_BUNDLE_BYTES) -> bytes | None:
    """Encode one message as a plain (bundle-less) datagram of at most ``max_bytes``."""
    dgram = encode_message(message)
    cap = 512
    while len(dgram) > max_bytes and cap >= 16:
        message = Message(message.address, tuple(_shorten(a, cap) if isinstance(a, str) else a
                                                 for a in message.args))
        dgram = encode_message(message)
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


TargetSpec = Any
"""A target: ``(host, port)``, ``(host, port, profile)`` or a dict with ``host``, ``port`` and
optionally ``profile`` plus the profile's options (the ``[[osc.targets]]`` tables of the config)."""


#: how often `livedj run` tries again a target it could not reach at start (OscPublisher.retry_waiting)
RETRY_S = 10.0


def _may_come(exc: OSError) -> bool:
    """Whether a target failing with ``exc`` may work later: a name not resolving (yet), no route (yet)."""
    return isinstance(exc, socket.gaierror) or exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH,
                                                               errno.ENETDOWN, errno.EADDRNOTAVAIL)


#: a target refused within this many updates reads "nothing listening" on the dashboard
_REFUSED_LATELY = 3


class _Target:
    """One destination: its profile and its own connected, non-blocking UDP socket.

    Connected, so that ICMP "port unreachable" shows up as ECONNREFUSED on a later send.
    """

    def __init__(self, host: str, port: int, profile: OscProfile) -> None:
        self.label = f"{host}:{port}"
        self.profile = profile
        self.sock: socket.socket | None = None
        self.logged: set[str] = set()  # failure kinds already logged: each is logged once
        self.refused_at = -1_000  #: the publish (`OscPublisher.publishes`) of the last ECONNREFUSED
        family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect(addr)  # for UDP only sets the peer: never waits
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _unpack_target(spec: TargetSpec, default_profile) -> tuple[str, int, object, dict]:
    """(host, port, profile, options) of one target spec."""
    if isinstance(spec, dict):
        # None means "not set" (the config fills every key of the schema): the profile's default
        options = {k: v for k, v in spec.items() if v is not None}
        host, port = options.pop("host", "127.0.0.1"), options.pop("port")
        profile = options.pop("profile", None) or default_profile
        return str(host), int(port), profile, options
    if len(spec) == 3:
        return str(spec[0]), int(spec[1]), spec[2] or default_profile, {}
    host, port = spec
    return str(host), int(port), default_profile, {}


class OscPublisher:
    """Send every update to each of ``targets``, shaped by each target's own profile.

    Parameters
    ----------
    targets : list
        Where to send: ``(host, port)``, ``(host, port, profile)`` or dicts ``{"host", "port",
        "profile", **options}`` (the config's ``[[osc.targets]]``). Names are resolved once,
        here; a target that cannot be resolved or reached, or whose profile options are wrong,
        is counted in ``errors`` and skipped, never raised.
    prefix : str
        The default address prefix, e.g. "/livedj" gives "/livedj/update".
    profile : str, callable or OscProfile
        The profile of targets that name none: a name in :data:`PROFILES`, or
        ``profile(update, prefix) -> list[Message]``.
    max_bundle_bytes : int
        Longest datagram sent; long strings are shortened to fit.

    Attributes
    ----------
    sent : int
        Messages handed to the network, over all targets.
    errors : int
        Failures: unusable targets, refused/unreachable/full sends, oversize or broken updates.
    last_error : str
        The most recent failure, for the dashboard ("" when none).
    """

    def __init__(self, targets: list[TargetSpec], prefix: str = "/livedj",
                 profile: OscProfile | str = "livedj", max_bundle_bytes: int = MAX_BUNDLE_BYTES) -> None:
        prefix = check_prefix(prefix)
        if isinstance(profile, str) and profile not in PROFILES:
            raise ValueError(f"unknown OSC profile {profile!r}; known: {', '.join(PROFILES)}")
        self.prefix = prefix
        self.profile = profile
        self.max_bundle_bytes = max_bundle_bytes
        self.sent = 0
        self.publishes = 0
        self.errors = 0
        self.last_error = ""
        self._targets: list[_Target] = []
        #: (host, port, profile) of targets that could not be reached at start (no name, no route yet)
        self._waiting: list[tuple[str, int, OscProfile]] = []
        for spec in targets:
            try:
                host, port, prof, options = _unpack_target(spec, profile)
            except (KeyError, TypeError, ValueError) as exc:
                self._fail(f"OSC target {spec!r} unusable: {exc!r}")
                continue
            try:
                target_profile = make_profile(prof, options.pop("prefix", prefix), **options)
                self._targets.append(_Target(host, port, target_profile))
            except OSError as exc:
                if not _may_come(exc):
                    self._fail(f"OSC target {host}:{port} unusable: {exc}")
                    continue
                self._waiting.append((host, port, target_profile))
                self._fail(f"OSC target {host}:{port} not reachable yet ({exc}); tried again every "
                           f"{RETRY_S:g} s, off the live path")
            except (ValueError, UnicodeError) as exc:
                self._fail(f"OSC target {host}:{port} unusable: {exc}")

    def retry_waiting(self) -> list[str]:
        """Try again the targets that could not be reached at start (a name that did not resolve yet, an
        address with no route: the network not up at boot); those that can now are sent to from the next
        update. Blocks on name resolution: call it off the live path. Returns the targets taken up."""
        taken = []
        for entry in list(self._waiting):
            host, port, profile = entry
            try:
                target = _Target(host, port, profile)
            except (OSError, ValueError, UnicodeError) as exc:
                log.debug("OSC target %s:%s still not reachable: %s", host, port, exc)
                continue
            self._waiting.remove(entry)
            self._targets = [*self._targets, target]  # a new list: publish() iterates the one it took
            taken.append(target.label)
            log.info("OSC target %s reachable now: sending to it", target.label)
        return taken

    @property
    def targets(self) -> list[str]:
        """The usable targets as "host:port"."""
        return [t.label for t in self._targets]

    def summary(self) -> str:
        """One line for the dashboard, e.g. "osc 127.0.0.1:9000 · 3 errors"."""
        names = [t.label + ("" if t.profile.name == "livedj" else f" ({t.profile.name})")
                 # refused within the last few updates: the ICMP answer makes every other send fail, so
                 # "refused lately" is what can be told; without it "9 errors" read as a fault of livedj
                 + (" (nothing listening)" if self.publishes - t.refused_at <= _REFUSED_LATELY else "")
                 for t in self._targets]
        names += [f"{host}:{port} (not reachable yet)" for host, port, _ in self._waiting]
        text = "osc " + (", ".join(names) or "no usable target")
        return text + (f" · {self.errors} errors" if self.errors else "")

    def _fail(self, text: str, level: int = logging.WARNING) -> None:
        self.errors += 1
        self.last_error = text
        log.log(level, text)

    def _datagrams(self, target: _Target, update: Update) -> tuple[list[bytes], int] | None:
        """The datagrams for ``target`` and the number of messages in them; None on failure."""
        try:
            messages = target.profile.messages(update)
            if not messages:
                return [], 0
            if target.profile.bundle:
                dgrams = [fit_bundle(messages, self.max_bundle_bytes)]
            else:
                dgrams = [fit_message(m, self.max_bundle_bytes) for m in messages]
        except Exception as exc:  # a broken update or profile must not stop the live loop
            target.profile.reset()
            self._fail(f"OSC update {getattr(update, 'seq', '?')} not encoded for {target.label}: {exc!r}",
                       logging.ERROR)
            return None
        if any(d is None for d in dgrams):
            target.profile.reset()
            self._fail(f"OSC update {update.seq} too big for {self.max_bundle_bytes} bytes; dropped")
            return None
        return dgrams, len(messages)

    def publish(self, update: Update) -> int:
        """Send ``update`` to every target; never blocks, never raises.

        Returns
        -------
        int
            Messages sent, summed over targets (0 when nothing could be sent or nothing changed).
        """
        sent = 0
        self.publishes += 1
        for target in self._targets:
            built = self._datagrams(target, update)
            if built is None:
                continue
            dgrams, n_messages = built
            try:
                for dgram in dgrams:
                    target.sock.send(dgram)
            except OSError as exc:
                # ECONNREFUSED: nothing listens (reported by the previous send's ICMP);
                # EAGAIN: the socket buffer is full, so this update is dropped, not queued.
                # Either way the receiver may have missed something: a stateful profile starts over.
                target.profile.reset()
                reason = errno.errorcode.get(exc.errno, str(exc.errno))
                if exc.errno == errno.ECONNREFUSED:
                    target.refused_at = self.publishes
                text = f"OSC send to {target.label} failed: {reason} (logged once; counted on the dashboard and in the closing summary)"
                # a receiver that is down fails every other send (the ICMP answer arrives late), so
                # "works again" cannot be told reliably: log each kind of failure once per target
                self._fail(text, logging.DEBUG if reason in target.logged else logging.WARNING)
                target.logged.add(reason)
                continue
            sent += n_messages
        self.sent += sent
        return sent

    def close(self) -> None:
        """Close the sockets (publishing afterwards sends nothing)."""
        for target in self._targets:
            target.sock.close()
        self._targets, self._waiting = [], []

    def __enter__(self) -> OscPublisher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
