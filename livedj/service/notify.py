"""The sd_notify protocol, spoken without libsystemd or any Python dependency.

A service started by systemd with ``Type=notify`` finds a socket address in ``$NOTIFY_SOCKET``
and sends it newline-separated ``KEY=VALUE`` datagrams (see sd_notify(3)):

- ``READY=1`` once start-up is complete (livedj: the index is loaded and audio flows);
- ``STATUS=...`` a one-line status shown by ``systemctl status``;
- ``WATCHDOG=1`` keep-alive pings; with ``WatchdogSec=`` set, systemd exports ``WATCHDOG_USEC``
  and restarts the service when no ping arrives within that interval;
- ``RELOADING=1`` (with ``MONOTONIC_USEC=``, which systemd >= 253 wants) before a reload, then
  ``READY=1`` again when the reload is done; ``STOPPING=1`` when shutting down.

Outside systemd (``$NOTIFY_SOCKET`` unset) every method is a no-op, so the daemon calls them
unconditionally. Sending never raises and never blocks: the socket is non-blocking and any
``OSError`` (the manager went away, its queue is full) drops that one message, because a status
message must never take the audio analysis down with it.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

#: A watchdog ping is sent at most once per ``watchdog_interval * WATCHDOG_MIN_GAP``. A quarter
#: of the interval (systemd recommends pinging at half): calls come once per analysis hop, so
#: the longest silence is a quarter interval plus one hop (plus one analysis), well inside it.
WATCHDOG_MIN_GAP = 0.25


def _address(value: str) -> str | None:
    """The ``sendto`` address for a ``$NOTIFY_SOCKET`` value, or None when unusable.

    A leading ``@`` names a socket in the abstract namespace (Linux), which Python spells with a
    leading NUL byte. Other forms (``vsock:...`` from newer systemd) are not supported here.
    """
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    return None


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Seconds from ``WATCHDOG_USEC``, or None when no watchdog applies to this process."""
    usec = environ.get("WATCHDOG_USEC", "")
    try:
        usec_value = int(usec)
    except ValueError:
        return None
    if usec_value <= 0:
        return None
    pid = environ.get("WATCHDOG_PID", "")
    if pid:  # the variables were meant for another process (e.g. inherited by a child)
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    return usec_value / 1e6


def _one_line(text: str) -> str:
    # a newline would start a new KEY=VALUE assignment in the datagram
    return " ".join(str(text).splitlines())


class Notifier:
    """Tell the service manager about start-up, status, liveness, reloads and shutdown.

    Parameters
    ----------
    environ : Mapping[str, str], optional
        Where ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` are read (default: the
        process environment, read once here).
    clock : callable, optional
        Monotonic seconds for the watchdog rate limit (replaceable in tests).

    Attributes
    ----------
    enabled : bool
        True when ``$NOTIFY_SOCKET`` names a usable address; otherwise every method is a no-op.
    watchdog_interval : float or None
        The watchdog timeout in seconds (``WATCHDOG_USEC``), or None when systemd runs no
        watchdog for this process (also when ``WATCHDOG_PID`` names another process).

    Notes
    -----
    Thread-safe: the main thread (ready, status) and the analysis thread (watchdog) may call it
    concurrently. Call :meth:`close` (or let the process exit) to release the socket.
    """

    def __init__(self, environ: Mapping[str, str] = os.environ, clock=time.monotonic):
        raw = environ.get("NOTIFY_SOCKET", "")
        self.address = _address(raw) if raw else None
        self.enabled = self.address is not None
        if raw and not self.enabled:
            log.warning("NOTIFY_SOCKET=%r is not a form livedj supports; not notifying systemd", raw)
        self.watchdog_interval = _watchdog_interval(environ) if self.enabled else None
        self.sent = 0  #: datagrams sent (for tests and diagnostics)
        self.failed = 0  #: datagrams dropped because sending failed
        self._sock: socket.socket | None = None
        # reentrant: `livedj run`'s SIGTERM handler says STOPPING on the main thread, possibly while that same
        # thread is inside notify() (a STATUS=): a plain Lock would wait for itself for ever
        self._lock = threading.RLock()
        self._last_ping: float | None = None
        self._clock = clock

    def __repr__(self) -> str:
        where = "disabled" if not self.enabled else repr(self.address.replace("\0", "@"))
        return f"Notifier({where}, watchdog_interval={self.watchdog_interval})"

    # -- the protocol ---------------------------------------------------------------------
    def notify(self, *assignments: str) -> bool:
        """Send one datagram of ``KEY=VALUE`` lines; True when it was handed to the kernel.

        Parameters
        ----------
        *assignments : str
            Lines such as ``"READY=1"``; newlines inside a value are not allowed.

        Returns
        -------
        bool
            False when disabled or when sending failed (never raises).
        """
        if not self.enabled or not assignments:
            return False
        data = ("\n".join(assignments) + "\n").encode("utf-8", "replace")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                    self._sock.setblocking(False)  # a stalled manager must not stall the caller
                self._sock.sendto(data, self.address)
            except OSError as exc:
                self.failed += 1
                if self.failed == 1:  # once: a vanished manager would otherwise flood the log
                    log.warning("sd_notify to %s failed: %s", self.address.replace("\0", "@"), exc)
                return False
            self.sent += 1
            return True

    def ready(self, status: str = "") -> None:
        """``READY=1``: start-up (or a reload) is complete; with an optional ``STATUS=``."""
        self.notify("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def status(self, text: str) -> None:
        """``STATUS=text``: the one-line status that ``systemctl status`` shows."""
        self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self, force: bool = False) -> None:
        """``WATCHDOG=1``, rate-limited; call it from the loop whose liveness it proves.

        Sends at most once per ``watchdog_interval * WATCHDOG_MIN_GAP`` seconds (monotonic
        clock), so calling it every hop is cheap. A no-op when systemd runs no watchdog.

        Parameters
        ----------
        force : bool
            Send now regardless of the rate limit.
        """
        if self.watchdog_interval is None:
            return
        now = self._clock()
        last = self._last_ping
        if not force and last is not None and now - last < self.watchdog_interval * WATCHDOG_MIN_GAP:
            return
        if self.notify("WATCHDOG=1"):
            self._last_ping = now

    def reloading(self, status: str = "") -> None:
        """``RELOADING=1`` with ``MONOTONIC_USEC=``; send :meth:`ready` when the reload is done."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}", *([f"STATUS={_one_line(status)}"] if status else []))

    def stopping(self, status: str = "") -> None:
        """``STOPPING=1``: shutdown has begun (systemd stops expecting watchdog pings)."""
        self.notify("STOPPING=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def close(self) -> None:
        """Release the socket; later calls open a new one."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
