"""A private PulseAudio server whose null sink "vsink" is heard on the capture device "pulse".

Used by the ``virtual_mic`` pytest fixture (tests/conftest.py) and by hand::

    python tests/virtual_mic/vmic.py -- livedj devices     # runs a command with the mic up

Facts this relies on (found the hard way on headless machines with no sound card):

* PortAudio enumerates devices when ``sounddevice`` is imported, so XDG_RUNTIME_DIR and
  PULSE_SERVER must be in the environment first (or PortAudio re-initialised afterwards).
* The capture device is ALSA's "pulse" plugin (package libasound2-plugins).
* pulse.pa's keep-alive loopback and suspend/resume avoid losing the first ~2 s of a capture.
* Works as root without a DBus session (``-n`` plus our own script).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PULSE_PA = HERE / "pulse.pa"
SINK = "vsink"
RATE = 48000
#: The packages providing what this needs, for skip messages.
APT_PACKAGES = "libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins"


class VirtualMicError(RuntimeError):
    """The private PulseAudio could not be started or driven."""


def missing_tools() -> list[str]:
    """Executables this helper needs that are not on PATH."""
    return [t for t in ("pulseaudio", "pactl", "paplay", "parec") if shutil.which(t) is None]


class VirtualMic:
    """Start/stop a private PulseAudio; play files into its virtual microphone.

    Attributes
    ----------
    env : dict
        The variables a process needs to reach this server (XDG_RUNTIME_DIR, PULSE_SERVER).
    device : str
        The sounddevice/PortAudio input device name to capture from ("pulse").
    """

    device = "pulse"
    sample_rate = RATE

    def __init__(self):
        self.runtime_dir: str | None = None
        self.env: dict[str, str] = {}
        self._proc: subprocess.Popen | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "VirtualMic":
        missing = missing_tools()
        if missing:
            raise VirtualMicError(f"missing {', '.join(missing)} (apt-get install {APT_PACKAGES})")
        self.runtime_dir = tempfile.mkdtemp(prefix="livedj-vmic.")
        os.chmod(self.runtime_dir, 0o700)
        self.env = {
            "XDG_RUNTIME_DIR": self.runtime_dir,
            "PULSE_SERVER": f"unix:{self.runtime_dir}/pulse/native",
        }
        log = os.path.join(self.runtime_dir, "pulse.log")
        self._proc = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(PULSE_PA), "--daemonize=no", "--exit-idle-time=-1",
             "--use-pid-file=no", f"--log-target=file:{log}"],
            env=self.full_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while self._pactl("info", check=False).returncode != 0:
            if self._proc.poll() is not None:
                raise VirtualMicError(f"pulseaudio exited with {self._proc.returncode}; see {log}")
            if time.monotonic() > deadline:
                self.stop()
                raise VirtualMicError(f"pulseaudio did not answer within {timeout} s; see {log}")
            time.sleep(0.05)
        self.wait_flowing(timeout=max(1.0, deadline - time.monotonic()))
        return self

    def stop(self) -> None:
        """Terminate the server (by its own PID) and remove its runtime directory."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=3)
        self._proc = None
        if self.runtime_dir:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
            self.runtime_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- helpers -----------------------------------------------------------------------------
    def full_env(self) -> dict[str, str]:
        """os.environ plus this server's variables, for subprocesses."""
        return {**os.environ, **self.env}

    def _pactl(self, *args, check=True) -> subprocess.CompletedProcess:
        r = subprocess.run(["pactl", *args], env=self.full_env(), capture_output=True, text=True,
                           timeout=10)
        if check and r.returncode != 0:
            raise VirtualMicError(f"pactl {' '.join(args)} failed: {r.stderr.strip()}")
        return r

    def wait_flowing(self, timeout: float = 5.0) -> bool:
        """Block until the monitor source delivers audio (0.1 s of it); False on timeout."""
        try:
            r = subprocess.run(
                ["sh", "-c", f"parec -d {SINK}.monitor --latency-msec=10 --raw | head -c 9600 >/dev/null"],
                env=self.full_env(), timeout=timeout, capture_output=True)
            return r.returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def play(self, path, wait: bool = True) -> subprocess.Popen:
        """Play a sound file (WAV is safest) into the virtual microphone with paplay."""
        proc = subprocess.Popen(["paplay", f"--device={SINK}", os.fsdecode(path)],
                                env=self.full_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if wait:
            _, err = proc.communicate(timeout=120)
            if proc.returncode != 0:
                raise VirtualMicError(f"paplay {os.fsdecode(path)} failed: {err.decode(errors='replace').strip()}")
        return proc

    def _module_ids(self, needle: str) -> list[str]:
        out = self._pactl("list", "short", "modules").stdout
        return [line.split("\t")[0] for line in out.splitlines() if needle in line]

    def unload_sink(self, all_sources: bool = True) -> None:
        """Remove the virtual microphone (simulates a device unplugged).

        Parameters
        ----------
        all_sources : bool
            True (default): also remove the keep-alive "drain" sink, leaving no source at all, so
            open capture streams die (PortAudio stops; sounddevice's finished_callback runs),
            like an unplugged USB interface. False: only "vsink" goes; PulseAudio then moves
            open captures to the drain monitor (silence, a ~0.5 s stall, no error).
        """
        for mid in self._module_ids("module-loopback"):
            self._pactl("unload-module", mid, check=False)
        for mid in self._module_ids(f"sink_name={SINK} "):
            self._pactl("unload-module", mid)
        if all_sources:
            for mid in self._module_ids("sink_name=drain "):
                self._pactl("unload-module", mid)

    def reload_sink(self) -> None:
        """Bring the virtual microphone back after ``unload_sink`` (as pulse.pa sets it up)."""
        for name in (SINK, "drain"):
            if not self._module_ids(f"sink_name={name} "):
                self._pactl("load-module", "module-null-sink", f"sink_name={name}", f"rate={RATE}",
                            "channels=1", "format=s16le")
        if not self._module_ids("module-loopback"):
            self._pactl("load-module", "module-loopback", f"source={SINK}.monitor", "sink=drain",
                        "latency_msec=10", "source_dont_move=true", "sink_dont_move=true")
        self._pactl("suspend-sink", SINK, "1")
        self._pactl("suspend-sink", SINK, "0")
        self._pactl("set-default-sink", SINK)
        self._pactl("set-default-source", f"{SINK}.monitor")
        self.wait_flowing()


def main(argv: list[str]) -> int:
    """``vmic.py -- CMD ...``: run CMD with the virtual microphone up, then stop it."""
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if not argv:
        print(__doc__)
        return 2
    with VirtualMic() as mic:
        print(f"virtual mic up: {mic.env}", file=sys.stderr)
        return subprocess.call(argv, env=mic.full_env())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
