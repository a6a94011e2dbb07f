"""The sd_notify client against real AF_UNIX datagram sockets (a path and the abstract namespace)."""
from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid

import pytest

from livedj.service.notify import WATCHDOG_MIN_GAP, Notifier

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="AF_UNIX sockets are POSIX-only")


@pytest.fixture
def manager():
    """A stand-in for systemd: a bound datagram socket and its NOTIFY_SOCKET value."""
    # a short folder: AF_UNIX paths are limited to 107 bytes and pytest's tmp_path can be longer
    with tempfile.TemporaryDirectory(prefix="sdn") as folder:
        path = os.path.join(folder, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(2.0)
        try:
            yield sock, path
        finally:
            sock.close()


def receive(sock) -> list[str]:
    data = sock.recv(4096).decode()
    assert data.endswith("\n")
    return data.rstrip("\n").split("\n")


def nothing_waiting(sock) -> bool:
    sock.settimeout(0.05)
    try:
        sock.recv(4096)
    except (socket.timeout, BlockingIOError):
        return True
    finally:
        sock.settimeout(2.0)
    return False


def test_ready_status_stopping_reach_the_socket(manager):
    sock, path = manager
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.enabled and n.watchdog_interval is None
    n.ready("listening: 120 tracks")
    assert receive(sock) == ["READY=1", "STATUS=listening: 120 tracks"]
    n.ready()
    assert receive(sock) == ["READY=1"]
    n.status("next: A\nB")  # a newline would start another assignment
    assert receive(sock) == ["STATUS=next: A B"]
    n.stopping()
    assert receive(sock) == ["STOPPING=1"]
    assert n.sent == 4 and n.failed == 0
    n.close()


def test_reloading_carries_the_monotonic_time(manager):
    sock, path = manager
    n = Notifier({"NOTIFY_SOCKET": path})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    n.reloading("reloading config")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    lines = receive(sock)
    assert lines[0] == "RELOADING=1" and lines[2] == "STATUS=reloading config"
    key, value = lines[1].split("=")
    assert key == "MONOTONIC_USEC" and before <= int(value) <= after


def test_abstract_namespace_socket():
    name = f"livedj-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert n.enabled
        n.ready("up")
        assert receive(sock) == ["READY=1", "STATUS=up"]
    finally:
        sock.close()


def test_watchdog_usec_parsing_and_rate_limit(manager):
    sock, path = manager
    now = [100.0]
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"}, clock=lambda: now[0])
    assert n.watchdog_interval == pytest.approx(4.0)
    gap = 4.0 * WATCHDOG_MIN_GAP
    n.watchdog()
    assert receive(sock) == ["WATCHDOG=1"]
    now[0] += gap * 0.5  # called again within the gap (every hop): nothing is sent
    n.watchdog()
    assert nothing_waiting(sock)
    n.watchdog(force=True)
    assert receive(sock) == ["WATCHDOG=1"]
    now[0] += gap + 0.01
    n.watchdog()
    assert receive(sock) == ["WATCHDOG=1"]
    assert n.sent == 3


@pytest.mark.parametrize("env, expected", [
    ({"WATCHDOG_USEC": "30000000"}, 30.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "{pid}"}, 30.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "x"}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_interval_from_environment(manager, env, expected):
    _, path = manager
    env = {k: v.format(pid=os.getpid()) for k, v in env.items()}
    n = Notifier({"NOTIFY_SOCKET": path, **env})
    assert n.watchdog_interval == (pytest.approx(expected) if expected else None)


def test_no_watchdog_means_no_pings(manager):
    sock, path = manager
    n = Notifier({"NOTIFY_SOCKET": path})
    n.watchdog()
    assert nothing_waiting(sock) and n.sent == 0


@pytest.mark.parametrize("value", [None, "", "vsock:2:1234", "relative/path", "@"])
def test_disabled_without_a_usable_socket(value):
    env = {"WATCHDOG_USEC": "30000000"}
    if value is not None:
        env["NOTIFY_SOCKET"] = value
    n = Notifier(env)
    assert not n.enabled and n.watchdog_interval is None
    n.ready("x")
    n.status("x")
    n.watchdog(force=True)
    n.reloading()
    n.stopping()
    assert n.notify("READY=1") is False and n.sent == 0 and n.failed == 0


def test_never_raises_when_the_manager_is_gone(manager):
    sock, path = manager
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    n.ready()
    assert receive(sock) == ["READY=1"]
    sock.close()
    os.unlink(path)
    n.ready("again")
    n.watchdog()
    n.stopping()
    assert n.failed == 3 and n.sent == 1
    gone = Notifier({"NOTIFY_SOCKET": f"@livedj-nobody-{uuid.uuid4().hex}"})
    assert gone.notify("READY=1") is False and gone.failed == 1


def test_never_blocks_when_the_manager_does_not_read(manager):
    sock, path = manager
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills after a few datagrams
    n = Notifier({"NOTIFY_SOCKET": path})
    began = time.monotonic()
    results = [n.notify(f"STATUS={i}") for i in range(2000)]
    assert time.monotonic() - began < 2.0
    assert results[0] is True and False in results  # the overflow was dropped, not waited for
    assert n.sent + n.failed == 2000


def test_sigterm_landing_while_the_main_thread_notifies_does_not_deadlock(manager):
    """`livedj run`'s SIGTERM handler says STOPPING=1 on the main thread. A signal that lands while the main
    thread is itself inside notify() (a STATUS= on a new top pick) ran the handler with the notifier's lock
    held by the same thread: a plain Lock blocked it for ever, and systemd had to SIGKILL livedj."""
    import threading

    sock, path = manager
    n = Notifier({"NOTIFY_SOCKET": path})
    done = threading.Event()

    def main_thread_interrupted_inside_notify():
        with n._lock:  # where the handler runs: between two bytecodes of notify(), the lock held
            n.stopping()
        done.set()

    threading.Thread(target=main_thread_interrupted_inside_notify, daemon=True).start()
    assert done.wait(3), "the handler's notify() waited for the lock its own thread holds"
    assert sock.recv(4096) == b"STOPPING=1\n"
