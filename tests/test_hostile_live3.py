"""`livedj run`'s leftovers of the earlier live sweeps (test_hostile_live.py, test_hostile_live2.py,
test_hostile_daemon.py): a reload's thread count, a terminal hung up, the memory a reload keeps, the
sound server's chatter when a device is lost, a sandboxed service's numba cache.

Real parts: the reload `livedj run` does on SIGHUP (:func:`livedj.commands.run.reload`) on a real config
file and index; `livedj run` itself, as a process, where a test says so.
"""
from __future__ import annotations

import io
from types import SimpleNamespace

from faults_common import base_fixture  # noqa: F401 (the fixture `base`: a library indexed with `features`)


def test_a_reload_names_analysis_threads_as_kept_until_the_next_start(base, tmp_path):
    """`[analysis] threads = 2` then `systemctl reload livedj`: "reloaded", and the analysis went on with
    one thread -- torch's count is per thread once a thread has run (the reload thread's set_num_threads
    never reaches the analysis thread). The line now names it as waiting for the next start, and a new
    encoder the reload makes gets the running count (it would set torch's for the threads made later)."""
    from livedj.commands.run import reload
    from livedj.config import load
    from livedj.service.notify import Notifier

    root, _ = base
    config = tmp_path / "config.toml"
    text = ('[analysis]\nencoder = "features"\nthreads = {}\n[osc]\ntargets = []\n'
            f'[index]\npath = "{root / "index"}"\n[history]\npath = "{tmp_path / "h.sqlite"}"\n')
    config.write_text(text.format(1))
    running = load(config)
    config.write_text(text.format(2))
    err = io.StringIO()
    loop = SimpleNamespace(engine=None, pending_engine=None)
    reload(loop, str(config), None, Notifier({}), err, running=running)
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "reloaded" in lines[0], lines
    assert "analysis.threads" in lines[0] and "next start" in lines[0], lines
    assert loop.pending_engine.encoder.threads == 1, loop.pending_engine.encoder.threads


def test_service_install_sandbox_fills_the_services_numba_cache(tmp_path, monkeypatch):
    """`livedj service install --sandbox` gives the service NUMBA_CACHE_DIR=%h/.cache/livedj/numba (its
    sources' folder is read-only in the sandbox), a folder nothing filled: the service's first start compiled
    the fingerprint loops (~12 s; 35 s measured on this busy machine) while the input already played.
    Install now compiles them there: a process with the unit's cache folder loads every loop from it."""
    import argparse
    import os
    import subprocess
    import sys

    from livedj.commands import service
    from livedj.service import unit

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no systemctl: nothing started
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(action="install", config=None, enable=False, sandbox=True)
    assert service.main(args, {}, out=out, err=err) == 0, err.getvalue()
    folder = home / ".cache" / "livedj" / "numba"
    assert "NUMBA_CACHE_DIR=%h/.cache/livedj/numba" in unit.dropin_path().read_text()  # the folder filled below
    assert "compiled loops ready" in out.getvalue() and not err.getvalue(), (out.getvalue(), err.getvalue())
    probe = ("from livedj.library import warm; found = warm.loops(); warm.warm(); "
             "print(sum(sum(f.stats.cache_hits.values()) for f in found), len(found))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(folder)})
    hits, count = map(int, done.stdout.split())
    assert count > 0 and hits >= count, (hits, count, done.stderr[-2000:])  # none compiled at the service's start


def _long_input(root, path, times: int = 6):
    """The library's records one after another, ``times`` over: minutes of music to play in real time."""
    import numpy as np
    import soundfile as sf

    ys = [sf.read(f, dtype="float32") for f in sorted((root / "lib" / "a").rglob("*.wav"))]
    sf.write(path, np.concatenate([y for y, _ in ys] * times), ys[0][1])
    return path


def test_a_terminal_that_hangs_up_leaves_the_night_running(base, tmp_path):
    """The ssh session to the booth laptop drops: the kernel hangs the terminal up, SIGHUP. `livedj run` read
    it as a reload, then the dashboard's next write said EIO and the run ended ("livedj run: [Errno 5]
    Input/output error", exit 1): suggestions and OSC gone mid-set. It now goes on without the terminal,
    says so in its log (stderr to a file), and stops on SIGTERM with the set log written. A SIGHUP while
    the terminal is there is still a reload."""
    import fcntl
    import os
    import signal
    import subprocess
    import sys
    import termios
    import threading
    import time

    root, _ = base
    config = tmp_path / "config.toml"
    config.write_text('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n[osc_in]\nenabled = false\n'
                      f'[index]\npath = "{root / "index"}"\n[history]\npath = "{tmp_path / "h.sqlite"}"\n')
    log = tmp_path / "livedj.log"
    screen, terminal = os.openpty()

    def controlling_terminal():  # as a login shell's job: the pty is its session's terminal
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    with open(log, "w") as err:
        run = subprocess.Popen([sys.executable, "-m", "livedj", "run", "--config", str(config),
                                "--input", str(_long_input(root, tmp_path / "night.wav"))],
                               stdin=terminal, stdout=terminal, stderr=err, preexec_fn=controlling_terminal,
                               env={**os.environ, "TERM": "xterm-256color"})
    os.close(terminal)
    reading = threading.Event()
    reading.set()
    reader = threading.Thread(target=_read_while, args=(screen, reading), daemon=True)  # the ssh client
    reader.start()

    def wait_for(text, timeout=120.0):
        return _said(log, run, text, timeout)

    try:
        assert wait_for("listening: ready"), log.read_text()
        run.send_signal(signal.SIGHUP)  # `kill -HUP`, the terminal there: a reload
        assert wait_for("reloaded"), log.read_text()
        reading.clear()  # the network drops: sshd reads no more, the dashboard fills the terminal and waits
        reader.join(10)
        assert _stuck(screen), "the dashboard did not fill the terminal"
        os.close(screen)  # then sshd gives up: the last descriptor of the terminal's side closed, a hang-up
        assert wait_for("terminal hung up"), log.read_text()
        time.sleep(3)
        assert run.poll() is None, log.read_text()  # it used to end here, within a second
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)
        code = run.wait(60)
    text = log.read_text()
    assert code == 0 and "Errno" not in text and "Traceback" not in text, text
    assert "set log" in text and "written" in text, text  # the closing summary, after the hang-up too


def _said(log, run, text: str, timeout: float) -> bool:
    """True once ``text`` is in the log of ``run`` (a livedj process), False if it ended or ``timeout`` passed first."""
    import time

    deadline = time.monotonic() + timeout
    while text not in log.read_text() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return text in log.read_text()


def _stuck(fd: int, timeout: float = 60.0) -> bool:
    """True once the terminal holds unread output that stopped growing for a second (its writer waits)."""
    import array
    import fcntl
    import termios
    import time

    def unread() -> int:
        n = array.array("i", [0])
        fcntl.ioctl(fd, termios.FIONREAD, n)
        return n[0]

    deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        now = unread()
        if now != last:
            last, since = now, time.monotonic()
        elif now > 0 and time.monotonic() - since >= 1.0:
            return True
        time.sleep(0.1)
    return False


def _read_while(fd: int, reading) -> None:
    """Read what is drawn on the terminal (a full buffer would stall the writer) while ``reading`` is set."""
    import os
    import select

    while reading.is_set():
        if select.select([fd], [], [], 0.1)[0]:
            try:
                os.read(fd, 65536)
            except OSError:  # EIO: the child closed its side
                return


def test_a_lost_sound_server_is_our_line_not_thirty_of_portaudios(base, tmp_path):
    """The sound server dies (killed, crashed) under `livedj run`: each retry to open the microphone printed
    ~10 lines of PortAudio's and ALSA's own ("Expression 'AlsaOpen( ... )' failed in
    'src/hostapi/alsa/pa_linux_alsa.c'", "ALSA lib pulse.c:242:(pulse_connect) PulseAudio: Unable to
    connect: Connection refused", blank lines): 34 lines in 12 s, livedj's "input lost" line buried among
    them (and the dashboard torn). The opens now keep that output out, and livedj's line says the server's
    reason. Left: the 3 lines PortAudio's own thread prints as the stream dies."""
    import os
    import signal
    import subprocess
    import sys

    import pytest
    from vmic import VirtualMic, missing_tools

    if missing_tools():
        pytest.skip(f"virtual mic needs {', '.join(missing_tools())}")
    root, _ = base
    config = tmp_path / "config.toml"
    config.write_text('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n[osc_in]\nenabled = false\n'
                      f'[index]\npath = "{root / "index"}"\n[history]\npath = "{tmp_path / "h.sqlite"}"\n'
                      '[audio]\ndevice = "pulse"\n')
    log = tmp_path / "livedj.log"
    mic = VirtualMic().start()
    try:
        with open(log, "w") as err:
            run = subprocess.Popen([sys.executable, "-m", "livedj", "run", "--config", str(config),
                                    "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=err,
                                   env={**os.environ, **mic.env})

        def wait_for(text, timeout=120.0):
            return _said(log, run, text, timeout)

        try:
            assert wait_for("listening: ready"), log.read_text()
            mic._proc.kill()  # the sound server gone
            mic._proc.wait(10)
            # the reopen's failure, with the server's reason in our line (a stop that never returns is left)
            assert wait_for("Connection refused", timeout=60), log.read_text()
        finally:
            run.send_signal(signal.SIGTERM)
            run.wait(60)
    finally:
        mic.stop()
    lines = log.read_text().splitlines()
    ours = [ln for ln in lines if ln.startswith("livedj")]
    theirs = [ln for ln in lines if not ln.startswith("livedj")]
    assert any("Connection refused" in ln and ln.startswith("livedj: input lost") for ln in ours), ours
    assert len(theirs) <= 3 and not any(ln.startswith("ALSA lib") for ln in theirs), theirs


def test_the_chatter_window_keeps_other_lines_and_gives_stderr_back_when_an_open_hangs(monkeypatch, capfd):
    """While an open is inside the window, a log line of another thread written to fd 2 is written back
    after it (not dropped with PortAudio's lines), and an open that hangs (a stopped sound server) gets fd 2
    back after WINDOW_S: the journal's lines are not held for as long as it hangs."""
    import os
    import time

    from livedj.audio import portaudio

    monkeypatch.setattr(portaudio, "WINDOW_S", 0.05)
    with portaudio.native_chatter() as chatter:
        os.write(2, b"ALSA lib pulse.c:242:(pulse_connect) PulseAudio: Unable to connect: %s\n\n")
        os.write(2, b"livedj: a line of another thread\n")
        time.sleep(3)  # the open hangs
        os.write(2, b"livedj: said while the open still hangs\n")
        assert "said while the open still hangs" in capfd.readouterr().err  # there already, not held
    err = capfd.readouterr().err
    assert "a line of another thread" in err and "ALSA lib" not in err, err
    assert chatter.said.startswith("PulseAudio: Unable to connect"), chatter.said


def test_an_engine_a_reload_replaced_is_freed(base, tmp_path):
    """Each SIGHUP reload kept ~2-3 MB more (40 reloads: 236 -> 340 MB) and a private copy of the index mapped
    (deleted files, disk space not given back: 1.3 GB for a library's fingerprints): the engine loaded at
    start stayed referenced by `run_live` all night, the one a swap replaced by the analysis thread until the
    next swap, and the set log's lookup cached the one before until the next play. A replaced engine is now
    freed at the swap."""
    import gc
    import os
    import signal
    import threading
    import time
    import weakref

    from livedj.commands.run import run_live
    from livedj.config import load

    root, _ = base
    config = tmp_path / "config.toml"
    config.write_text('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n[osc_in]\nenabled = false\n'
                      f'[index]\npath = "{root / "index"}"\n[history]\npath = "{tmp_path / "h.sqlite"}"\n')
    listening, seen = threading.Event(), {}

    class Notifier:  # the loop says READY through it once it listens
        def ready(self, *_):
            listening.set()

        def __getattr__(self, name):
            return lambda *a, **k: None

    def night() -> None:
        from livedj.engine.daemon import LiveLoop

        try:
            assert listening.wait(120), "never listened"
            loop = next(o for o in gc.get_objects() if isinstance(o, LiveLoop))
            first = weakref.ref(loop.engine)
            os.kill(os.getpid(), signal.SIGHUP)  # a reload: the next hop swaps the new engine in
            deadline = time.monotonic() + 120
            while loop.engine is first() and time.monotonic() < deadline:
                time.sleep(0.05)
            seen["swapped"] = loop.engine is not first()
            gc.collect()
            seen["first alive"] = first() is not None
            del loop
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    driver = threading.Thread(target=night, daemon=True)
    driver.start()
    run_live(load(config), input_file=str(_long_input(root, tmp_path / "night.wav")), dashboard=False,
             notifier=Notifier(), config_path=str(config))
    driver.join(10)
    assert seen == {"swapped": True, "first alive": False}, seen
