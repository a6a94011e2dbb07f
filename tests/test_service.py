"""The systemd unit: its text, `systemd-analyze verify`, and `livedj service unit|install|uninstall|status`.

`systemd-analyze` runs offline (no running systemd needed); CI gets it from the apt package
``systemd``. ``systemctl`` is replaced by a fake on PATH that logs its arguments, so no test
touches a real service manager.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from livedj.commands import service
from livedj.service import unit

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None,
                                   reason="systemd-analyze missing: apt-get install systemd")


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> values, comments dropped (enough for these units: no continuations)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def verify(path: Path, tmp_path: Path, user: bool = True, home: Path | None = None) -> subprocess.CompletedProcess:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}  # --user verify looks it up, even offline
    if home is not None:
        env["HOME"] = str(home)
    argv = [SYSTEMD_ANALYZE] + (["--user"] if user else []) + ["verify", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


def fake_executable(path: Path, body: str = "exit 0") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def xdg(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # --sandbox makes folders in the home
    # `install --sandbox` fills the service's numba cache (tests/test_hostile_live3.py runs it): not here
    monkeypatch.setattr(unit, "warm_numba_cache", lambda folder: (True, "livedj: warmed (fake)"))
    return tmp_path / "config"


@pytest.fixture
def fake_systemctl(tmp_path, monkeypatch):
    """A `systemctl` on PATH that appends its arguments to a log and exits with ``rc`` (a file)."""
    bin_dir = tmp_path / "bin"
    log, rc = tmp_path / "systemctl.log", tmp_path / "systemctl.rc"
    rc.write_text("0")
    fake_executable(bin_dir / "systemctl", f'echo "$*" >> "{log}"\nexit "$(cat "{rc}")"')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    class Fake:
        def calls(self) -> list[str]:
            return log.read_text().splitlines() if log.exists() else []

        def exit_with(self, code: int) -> None:
            rc.write_text(str(code))

    return Fake()


@pytest.fixture
def no_systemctl(tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def run_service(action: str, **options) -> tuple[int, str, str]:
    args = argparse.Namespace(action=action, config=options.pop("config", None),
                              enable=options.pop("enable", False), sandbox=options.pop("sandbox", False))
    out, err = io.StringIO(), io.StringIO()
    rc = service.main(args, {}, out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


# -- the unit text ------------------------------------------------------------------------
def test_unit_has_the_service_contract():
    s = parse_unit(unit.render_unit(["/opt/livedj/bin/livedj"]))["Service"]
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["ExecStart"] == ["/opt/livedj/bin/livedj run --no-dashboard"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["WatchdogSec"] == ["30"] and s["Restart"] == ["on-failure"]
    assert "PYTHONUNBUFFERED=1" in s["Environment"]
    # audio must keep working: these break /dev/snd, the sound server socket or the JIT/cffi callbacks
    for key in ("PrivateDevices", "MemoryDenyWriteExecute", "ProtectSystem", "PrivateTmp", "PrivateUsers",
                "DevicePolicy", "ProtectHome"):
        assert key not in s, key
    assert "AF_UNIX" in s["RestrictAddressFamilies"][0] and "AF_INET" in s["RestrictAddressFamilies"][0]


def test_repository_copy_matches_what_install_writes():
    shipped = (ROOT / "systemd" / "livedj.service").read_text()
    assert shipped == unit.render_unit(unit.PLACEHOLDER_COMMAND)


def test_exec_start_quotes_and_escapes():
    line = unit.exec_start(["/srv/dj tools/100%/livedj"], config="/etc/live$dj.toml")
    assert line == '"/srv/dj tools/100%%/livedj" run --no-dashboard --config /etc/live$$dj.toml'
    assert unit.exec_start(["/usr/bin/python3", "-m", "livedj"]) == "/usr/bin/python3 -m livedj run --no-dashboard"


def test_executable_command_prefers_the_running_script(tmp_path):
    script = fake_executable(tmp_path / "venv" / "bin" / "livedj")
    assert unit.executable_command(str(script), which=lambda name: None) == [str(script)]
    elsewhere = str(fake_executable(tmp_path / "other" / "livedj"))
    # started as `python -m livedj`: the livedj on PATH, else the interpreter with -m
    assert unit.executable_command("/x/livedj/__main__.py", which=lambda name: elsewhere) == [elsewhere]
    assert unit.executable_command("/x/__main__.py", which=lambda name: None, python="/v/bin/python") == \
        ["/v/bin/python", "-m", "livedj"]


# -- systemd-analyze verify ------------------------------------------------------------------
@needs_analyze
def test_rendered_unit_verifies(tmp_path):
    path = tmp_path / unit.UNIT_NAME
    path.write_text(unit.render_unit())  # this installation's real executable: verify checks it exists
    for user in (True, False):
        result = verify(path, tmp_path, user=user)
        assert result.returncode == 0 and result.stderr == "", result.stderr


@needs_analyze
def test_verify_would_catch_a_broken_unit(tmp_path):
    """Guard for the test above: verify does check ExecStart and report unknown keys here."""
    path = tmp_path / unit.UNIT_NAME
    path.write_text(unit.render_unit([str(tmp_path / "missing" / "livedj")]).replace("WatchdogSec", "WatchdogSecs"))
    result = verify(path, tmp_path)
    assert result.returncode != 0 and "WatchdogSecs" in result.stderr and "missing" in result.stderr


@needs_analyze
def test_repository_copy_verifies_with_home_specifier(tmp_path):
    home = tmp_path / "home"
    fake_executable(home / ".local" / "bin" / "livedj")  # what %h/.local/bin/livedj names
    result = verify(ROOT / "systemd" / "livedj.service", tmp_path, home=home)
    assert result.returncode == 0 and result.stderr == "", result.stderr


@needs_analyze
def test_installed_unit_with_sandbox_dropin_verifies(tmp_path, xdg):
    exe = fake_executable(tmp_path / "dj tools" / "livedj")  # a space: quoting must survive systemd
    unit.install(unit.render_unit([str(exe)]), sandbox=True)
    assert unit.dropin_path().exists()
    result = verify(unit.unit_path(), tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr


@needs_analyze
def test_readme_system_unit_verifies(tmp_path):
    """The system-unit example in systemd/README.md stays valid."""
    readme = (ROOT / "systemd" / "README.md").read_text()
    match = re.search(r"```ini\n(# /etc/systemd/system/livedj.service.*?)```", readme, re.S)
    assert match, "README lost its system unit example"
    exe = fake_executable(tmp_path / "livedj")
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={exe}", match.group(1), flags=re.M)
    path = tmp_path / "livedj.service"
    path.write_text(text)
    result = verify(path, tmp_path, user=False)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def _readme_livedj_commands(text: str) -> list[tuple[str, list[str]]]:
    """Each livedj command line of the README's ```sh and ```ini blocks: (the line, livedj's arguments),
    past ``sudo -u USER``, ``VAR=value`` and ``ExecStart=``; also the one ``systemd-run`` starts."""
    import shlex

    found = []
    for block in re.findall(r"```(?:sh|ini)\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"\s#", line.strip().removeprefix("ExecStart="))[0]
            if not line or line.startswith("#"):
                continue
            parts: list[list[str]] = [[]]
            for word in shlex.split(line):
                if word in ("&&", ";", "|", "&", "||"):
                    parts.append([])
                else:
                    parts[-1].append(word)
            for words in parts:
                i = 0
                while i < len(words) and (words[i] == "sudo" or re.fullmatch(r"[A-Z_]+=\S*", words[i])):
                    i += 1 if words[i] != "sudo" or words[i + 1:i + 2] != ["-u"] else 3
                for j, word in enumerate(words):
                    if word == "$(command -v livedj)" or j == i and (word == "livedj" or word.endswith("/livedj")):
                        found.append((line, words[j + 1:]))
                        break
    return found


def test_readme_livedj_commands_are_accepted_by_the_parser():
    """systemd/README.md's command lines, as written, with the real parser. The system user's
    `livedj --config /etc/livedj/config.toml index /srv/music` stopped with "invalid choice":
    --config belongs after the command."""
    from livedj.cli import build_parser

    found = _readme_livedj_commands((ROOT / "systemd" / "README.md").read_text(encoding="utf-8"))
    assert len(found) >= 8 and any("--config" in argv for _, argv in found), found
    for line, argv in found:
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"systemd/README.md: not accepted: {line}")


# -- livedj service ... ---------------------------------------------------------------------------
def test_cli_service_unit_prints_the_real_executable():
    """Through the console script, as users run it: ExecStart names that very script."""
    script = Path(sys.executable).parent / "livedj"
    if not script.exists():
        pytest.skip("no livedj console script beside this interpreter (livedj not pip-installed here)")
    result = subprocess.run([str(script), "service", "unit"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    s = parse_unit(result.stdout)["Service"]
    assert s["Type"] == ["notify"]
    assert s["ExecStart"] == [f"{unit.quote_arg(str(script))} run --no-dashboard"]


def test_unit_passes_an_absolute_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run_service("unit", config="booth.toml")
    assert rc == 0
    assert parse_unit(out)["Service"]["ExecStart"][0].endswith(f"run --no-dashboard --config {tmp_path}/booth.toml")


def test_install_writes_atomically_and_prints_the_steps(xdg, no_systemctl):
    rc, out, _ = run_service("install")
    path = xdg / "systemd" / "user" / "livedj.service"
    assert rc == 0 and path.read_text() == unit.render_unit()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["livedj.service"]  # no temp file left
    assert "systemctl --user daemon-reload && systemctl --user enable --now livedj.service" in out
    assert "journalctl --user -u livedj -f" in out and "enable-linger" in out
    rc, out, _ = run_service("install")  # again: an update restarts instead
    assert rc == 0 and out.startswith("updated") and "systemctl --user restart livedj.service" in out


def test_install_enable_runs_systemctl(xdg, fake_systemctl):
    rc, out, _ = run_service("install", enable=True)
    assert rc == 0
    assert fake_systemctl.calls() == ["--user daemon-reload", "--user enable --now livedj.service"]
    assert "$ systemctl --user daemon-reload" in out


def test_install_enable_reports_systemctl_failure(xdg, fake_systemctl):
    fake_systemctl.exit_with(1)
    rc, _, err = run_service("install", enable=True)
    assert rc == 1 and "enable-linger" in err
    assert fake_systemctl.calls() == ["--user daemon-reload"]  # stopped at the first failure
    assert unit.unit_path().exists()


def test_install_enable_without_systemctl(xdg, no_systemctl):
    rc, _, err = run_service("install", enable=True)
    assert rc == 1 and "systemctl not found" in err and unit.unit_path().exists()


def test_install_with_sandbox_makes_the_folders_the_sandbox_lets_it_write(xdg, tmp_path, no_systemctl):
    """ReadWritePaths=-%h/.local/share/livedj -%h/.cache/livedj: "-" skips a folder that is not there, and
    ProtectSystem=strict left the home read-only; on a fresh account the sandboxed service could make
    neither its set log nor numba's cache (NUMBA_CACHE_DIR=%h/.cache/livedj/numba)."""
    run_service("install", sandbox=True)
    dropin = unit.dropin_path().read_text()
    for folder in unit.sandbox_folders():
        assert folder.is_dir() and folder.is_relative_to(tmp_path / "home")
    assert "-%h/.local/share/livedj " in dropin and "-%h/.cache/livedj " in dropin
    assert "NUMBA_CACHE_DIR=%h/.cache/livedj/numba" in dropin


def test_install_without_sandbox_removes_an_old_dropin(xdg, no_systemctl):
    run_service("install", sandbox=True)
    assert "ProtectSystem=strict" in unit.dropin_path().read_text()
    run_service("install")
    assert not unit.dropin_path().exists()


def test_uninstall_disables_and_removes_everything(xdg, fake_systemctl):
    run_service("install", sandbox=True)
    wants = xdg / "systemd" / "user" / "default.target.wants"
    wants.mkdir()
    (wants / "livedj.service").symlink_to(unit.unit_path())
    rc, out, _ = run_service("uninstall")
    assert rc == 0
    assert fake_systemctl.calls() == ["--user disable --now livedj.service", "--user daemon-reload"]
    assert list((xdg / "systemd" / "user").iterdir()) == []
    rc, out, _ = run_service("uninstall")
    assert rc == 0 and "nothing to remove" in out


def test_status_asks_systemctl(xdg, fake_systemctl):
    fake_systemctl.exit_with(3)  # systemctl's "not running"
    rc, out, err = run_service("status")
    assert rc == 3 and "not installed" in out and err == ""
    assert fake_systemctl.calls() == ["--user status --no-pager --lines=20 livedj.service"]


def test_status_notes_a_stale_unit(xdg, fake_systemctl):
    unit.install(unit.render_unit(["/old/venv/bin/livedj"]))
    rc, out, _ = run_service("status")
    assert rc == 0 and "/old/venv/bin/livedj" in out and "livedj service install" in out


def test_status_without_systemctl_explains(xdg, no_systemctl):
    rc, _, err = run_service("status")
    assert rc == 1 and "systemctl not found" in err


# -- the daemon's side (needs the lead's hook: LiveLoop(..., notifier=)) ----------------------------
def test_live_loop_sends_ready_after_the_first_update_then_watchdog_pings(tmp_path):
    import socket
    import numpy as np

    from livedj.audio.ringbuffer import RingBuffer
    from livedj.engine.daemon import LiveLoop
    from livedj.engine.update import Update
    from livedj.service.notify import Notifier

    class Engine:  # the loop's side of the notifier is under test, not the analysis: a fake engine
        def warm_up(self):
            pass

        def leave(self):
            self.left = True

        def go_live(self, hop_s):
            pass

        def update(self, audio, sr, *, t, seq, session):
            return Update(seq=seq, t=t, suggestions=())

    class Source:  # audio is already in the ring: a source that writes nothing
        overflows, error, can_be_lost = 0, None, False

        def start(self):
            pass

        def stop(self):
            pass

        def ended(self):
            return False

        def allow_until(self, sample_index):
            pass

        def seconds_since_callback(self):
            return 0.0

    sr = 1000
    ring = RingBuffer(20 * sr, sr)
    ring.write(np.zeros(8 * sr, dtype=np.float32))  # audio already flowing
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "n")
    if len(path) > 100:
        pytest.skip("temporary path too long for an AF_UNIX socket")
    sock.bind(path)
    sock.settimeout(2.0)
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"})
    loop = LiveLoop(Engine(), ring, Source(), window_s=5.0, hop_s=1.0, duration_s=6.0, fast=True,
                    notifier=notifier)
    loop.run()  # on this thread: three or four updates, then the duration ends it
    first = sock.recv(4096).decode().splitlines()
    second = sock.recv(4096).decode().splitlines()
    sock.close()
    assert loop.stats.updates >= 3
    assert first[0] == "READY=1"
    assert second == ["WATCHDOG=1"]
