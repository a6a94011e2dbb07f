"""The systemd user unit: its text, the ``ExecStart`` of this installation, install and removal.

The unit text lives here (not only in ``systemd/livedj.service``) so that an installed wheel,
which has no ``systemd/`` folder, can still write it; a test keeps the repository's copy equal
to :func:`render_unit` with the placeholder command. No function here runs ``systemctl``:
:mod:`livedj.commands.service` decides that.
"""
from __future__ import annotations

from livedj import fsutil

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

UNIT_NAME = "livedj.service"

#: ``ExecStart`` of the repository's copy: where ``pipx install`` / ``pip install --user`` put it.
PLACEHOLDER_COMMAND = ["%h/.local/bin/livedj"]

# Why each setting is there is said in the unit itself, for whoever reads it on their machine.
# Hardening: only settings built on seccomp and no_new_privs, which a *user* manager applies
# everywhere. Mount-namespace settings (ProtectSystem=, PrivateTmp=, ReadWritePaths=) make a
# user manager create an unprivileged user namespace, which Ubuntu >= 23.10 (AppArmor) and some
# kernels refuse: the unit would then fail with 218/CAPABILITIES or 226/NAMESPACE. They are in
# SANDBOX_DROPIN instead (`livedj service install --sandbox`).
UNIT_TEMPLATE = """\
# livedj: listens at the DJ booth and publishes next-record suggestions (OSC, JSON lines).
# A systemd *user* unit, written by `livedj service install`; see systemd/README.md.
#   systemctl --user status livedj     journalctl --user -u livedj -f
#   systemctl --user reload livedj     (SIGHUP: re-read the config and the index)

[Unit]
Description=livedj - live next-record suggestions
# start after the sound server when the session has one (ordering only; ALSA needs none)
After=pipewire.service pipewire-pulse.service pulseaudio.service
# keep retrying: the audio interface may be plugged in long after login
StartLimitIntervalSec=0

[Service]
# READY=1 comes once the index is loaded and audio flows (sd_notify, livedj.service.notify)
Type=notify
NotifyAccess=main
ExecStart={exec_start}
ExecReload=/bin/kill -HUP $MAINPID
# the analysis thread pings every hop: a hung analysis or a stalled input is restarted
WatchdogSec=30
Restart=on-failure
RestartSec=5
# exit status 2 is a usage or config error: restarting cannot fix it
RestartPreventExitStatus=2
# first start imports torch and loads the index; SIGTERM stops within 2 s (10 s is the bound)
TimeoutStartSec=120
TimeoutStopSec=10
Environment=PYTHONUNBUFFERED=1
SyslogIdentifier=livedj
UMask=0077

# Hardening that keeps audio working (PulseAudio/PipeWire socket in $XDG_RUNTIME_DIR, ALSA
# /dev/snd) and works in a user manager. Deliberately absent:
#   MemoryDenyWriteExecute= breaks numba (librosa), torch's oneDNN kernels and the cffi
#     callback sounddevice hands to PortAudio: all need writable+executable memory;
#   PrivateDevices= hides /dev/snd; RestrictRealtime= would refuse realtime audio threads;
#   ProtectSystem=, PrivateTmp= need user namespaces here: see `livedj service install --sandbox`.
NoNewPrivileges=yes
LockPersonality=yes
RestrictNamespaces=yes
RestrictSUIDSGID=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
# AF_UNIX: the sound server and sd_notify; AF_INET/6: OSC over UDP; AF_NETLINK: device discovery
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=default.target
"""

#: Optional drop-in (``livedj.service.d/sandbox.conf``): filesystem sandboxing for user managers
#: that may create unprivileged user namespaces (check: ``unshare --user --map-root-user true``).
SANDBOX_DROPIN = """\
# Written by `livedj service install --sandbox`. Needs unprivileged user namespaces: if
# livedj then fails with 218/CAPABILITIES or 226/NAMESPACE, delete this file and run
# `systemctl --user daemon-reload && systemctl --user restart livedj`.
[Service]
ProtectSystem=strict
# what livedj and its libraries write; "-": fine if absent. The index is only read.
ReadWritePaths=-%h/.local/share/livedj -%h/.cache/livedj -%t/pulse -%h/.config/pulse
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
# numba caches compiled librosa code beside its sources, read-only now: keep it here instead
Environment=NUMBA_CACHE_DIR=%h/.cache/livedj/numba
"""


def executable_command(argv0: str | None = None, which=shutil.which, python: str | None = None) -> list[str]:
    """The command that starts this installation of livedj, as absolute paths.

    Parameters
    ----------
    argv0 : str, optional
        How this process was started (default ``sys.argv[0]``): used when it is the ``livedj``
        console script itself, so the unit runs exactly the livedj (and venv) in use now.
    which : callable
        ``shutil.which``, replaceable in tests.
    python : str, optional
        The interpreter for the fallback ``python -m livedj`` (default ``sys.executable``).

    Returns
    -------
    list[str]
        E.g. ``["/home/dj/.venv/bin/livedj"]``, or ``["/home/dj/.venv/bin/python", "-m", "livedj"]``
        when no ``livedj`` executable is found (``python -m livedj``).

    Notes
    -----
    Paths are made absolute but symlinks are *not* resolved: a venv's ``bin/python`` is a
    symlink to the system interpreter, and resolving it would lose the venv.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    if argv0 and Path(argv0).name == "livedj" and os.path.isfile(argv0) and os.access(argv0, os.X_OK):
        return [os.path.abspath(argv0)]
    found = which("livedj")
    if found:
        return [os.path.abspath(found)]
    return [os.path.abspath(python or sys.executable), "-m", "livedj"]


def quote_arg(arg: str) -> str:
    """One ``ExecStart`` word: ``%`` and ``$`` escaped (specifiers, variables), quoted if needed."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if escaped and not any(c in escaped for c in ' \t"\'\\;'):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_start(command: Sequence[str], config: str | None = None) -> str:
    """The ``ExecStart=`` value: ``COMMAND run --no-dashboard [--config ABS]``.

    ``%h`` in the placeholder command is left as a specifier; every other word is escaped.
    """
    words = list(command) + ["run", "--no-dashboard"]
    if config:
        words += ["--config", os.path.abspath(os.path.expanduser(config))]
    return " ".join(w if w.startswith("%h/") else quote_arg(w) for w in words)


def render_unit(command: Sequence[str] | None = None, config: str | None = None) -> str:
    """The unit text for ``command`` (default: :func:`executable_command`)."""
    return UNIT_TEMPLATE.format(exec_start=exec_start(command or executable_command(), config))


def user_unit_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CONFIG_HOME/systemd/user`` (default ``~/.config/systemd/user``)."""
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME") or str(Path.home()), ".config")
    return Path(base) / "systemd" / "user"


def unit_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the user unit is installed."""
    return user_unit_dir(environ) / UNIT_NAME


def dropin_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the optional sandbox drop-in is installed."""
    return user_unit_dir(environ) / f"{UNIT_NAME}.d" / "sandbox.conf"


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    fsutil.atomic_write(path, lambda f: f.write(text), binary=False, file_mode=mode)


def sandbox_folders(environ: Mapping[str, str] = os.environ) -> list[Path]:
    """The folders the sandbox drop-in lets livedj write (its ReadWritePaths= under ``%h``): made at install.

    ``ProtectSystem=strict`` makes the home read-only and ReadWritePaths= skips a folder that is not there
    ("-"): on a fresh account the service could create neither its set log (~/.local/share/livedj) nor
    numba's cache ($NUMBA_CACHE_DIR=~/.cache/livedj/numba; "cannot cache function" at import)."""
    home = Path(environ.get("HOME") or Path.home())
    return [home / ".local" / "share" / "livedj", home / ".cache" / "livedj" / "numba"]


def install(text: str, sandbox: bool = False, environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Write the unit (and, with ``sandbox``, the drop-in; without, remove an old one).

    Returns
    -------
    list[Path]
        The files written.
    """
    written = [unit_path(environ)]
    atomic_write(written[0], text)
    dropin = dropin_path(environ)
    if sandbox:
        atomic_write(dropin, SANDBOX_DROPIN)
        written.append(dropin)
        for folder in sandbox_folders(environ):  # "-" in ReadWritePaths: a folder not there stays read-only
            folder.mkdir(parents=True, exist_ok=True)
    else:
        _remove(dropin)
    return written


def uninstall(environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Remove the unit, its drop-in and a left-over ``default.target.wants`` link; the removed paths."""
    unit_dir = user_unit_dir(environ)
    candidates = [dropin_path(environ), unit_path(environ), unit_dir / "default.target.wants" / UNIT_NAME]
    removed = [p for p in candidates if _remove(p)]
    for folder in (dropin_path(environ).parent, unit_dir / "default.target.wants"):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
    return removed


def _remove(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def exec_start_of(text: str) -> str | None:
    """The ``ExecStart=`` value of a unit text, or None."""
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            return line[len("ExecStart="):]
    return None


def sandbox_numba_cache(environ: Mapping[str, str] = os.environ) -> Path:
    """The sandbox drop-in's ``NUMBA_CACHE_DIR`` (``%h/.cache/livedj/numba``) for this user."""
    return Path(environ.get("HOME") or str(Path.home())) / ".cache" / "livedj" / "numba"


def warm_numba_cache(folder: Path, python: str = sys.executable, timeout: float = 600) -> tuple[bool, str]:
    """Compile livedj's numba loops into ``folder`` (``python -m livedj.library.warm`` with
    ``NUMBA_CACHE_DIR=folder``), the cache the sandboxed service reads: its first start then loads them
    (~2 s) instead of compiling them (~12 s, 35 s on a busy 2-core machine) while the input already plays.

    Returns
    -------
    (bool, str)
        Whether every loop is ready, and the warm's last line (or why it could not run), one line.
    """
    import subprocess

    env = {**os.environ, "NUMBA_CACHE_DIR": str(folder)}
    try:
        done = subprocess.run([python, "-m", "livedj.library.warm"], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, " ".join(str(exc).split())
    lines = [line for line in (done.stderr or "").splitlines() if line.strip()]
    return done.returncode == 0, lines[-1] if lines else f"exit status {done.returncode}"
