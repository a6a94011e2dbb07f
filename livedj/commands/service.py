"""`livedj service unit|install|uninstall|status`: run livedj as a systemd user service.

``unit`` prints the unit with this installation's ``ExecStart``; ``install`` writes it to
``$XDG_CONFIG_HOME/systemd/user/livedj.service`` and prints the ``systemctl`` steps, running
them only with ``--enable``; ``uninstall`` stops, disables and removes it; ``status`` asks
``systemctl --user status``. Commands are echoed before they run, so the user learns them.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

from livedj.service import unit

SYSTEMCTL = ["systemctl", "--user"]


def _run(argv: list[str], out) -> int:
    """Echo and run one command; its output goes straight to the terminal."""
    print(f"$ {shlex.join(argv)}", file=out, flush=True)
    try:
        return subprocess.run(argv, check=False).returncode
    except OSError as exc:
        print(f"livedj service: cannot run {argv[0]}: {exc}", file=sys.stderr)
        return 127


def _no_systemctl(err) -> None:
    print("livedj service: systemctl not found: this system does not run systemd (or it is not on PATH).\n"
          "  The unit needs a systemd user manager; elsewhere run `livedj run --no-dashboard` under your\n"
          "  own supervisor.", file=err)


def _hint_no_manager(err) -> None:
    print("livedj service: systemctl failed. Without a login session (ssh, cron, a container) there may\n"
          "  be no user manager: log in on the machine, or run `sudo loginctl enable-linger $USER`\n"
          "  so that it starts at boot (see systemd/README.md).", file=err)


def _command_unit(args, out) -> int:
    out.write(unit.render_unit(config=args.config))
    return 0


def _command_install(args, out, err) -> int:
    text = unit.render_unit(config=args.config)
    path = unit.unit_path()
    existed = path.exists()
    written = unit.install(text, sandbox=getattr(args, "sandbox", False))
    print(f"{'updated' if existed else 'wrote'} {path}", file=out)
    print(f"  ExecStart={unit.exec_start_of(text)}", file=out)
    for extra in written[1:]:
        print(f"wrote {extra}", file=out)
    if getattr(args, "sandbox", False):  # its own numba cache: fill it now, not at the service's first start
        _warm_sandbox_cache(out, err)
    steps = [SYSTEMCTL + ["daemon-reload"],
             SYSTEMCTL + (["restart", unit.UNIT_NAME] if existed else ["enable", "--now", unit.UNIT_NAME])]
    if existed:  # an update: enable is already done, restart picks up the new unit
        steps.insert(1, SYSTEMCTL + ["enable", unit.UNIT_NAME])
    if not getattr(args, "enable", False):
        print("\nTo start it now and at every login:", file=out)
        print("  " + " && ".join(shlex.join(s) for s in steps), file=out)
        print("To keep it running without a login session (at boot):\n  sudo loginctl enable-linger $USER",
              file=out)
        print("Logs: journalctl --user -u livedj -f", file=out)
        return 0
    if shutil.which("systemctl") is None:
        _no_systemctl(err)
        return 1
    for step in steps:
        if _run(step, out) != 0:
            _hint_no_manager(err)
            return 1
    print("livedj is running; logs: journalctl --user -u livedj -f", file=out)
    return 0


def _warm_sandbox_cache(out, err) -> None:
    """The drop-in gives the service a numba cache of its own (its sources' folder is read-only there):
    compile livedj's loops into it now, as scripts/setup does for the user's runs. Not fatal."""
    folder = unit.sandbox_numba_cache()
    print(f"compiling livedj's numba loops into the service's cache {folder} (~15 s once)...", file=out, flush=True)
    ok, line = unit.warm_numba_cache(folder)
    if ok:
        print(f"  {line.removeprefix('livedj: ')}", file=out)
    else:
        print(f"livedj service: compiling the service's numba loops ahead failed ({line}); its first start "
              "compiles them (~12 s)", file=err)


def _command_uninstall(args, out, err) -> int:
    path = unit.unit_path()
    have_systemctl = shutil.which("systemctl") is not None
    if have_systemctl and path.exists():
        # stop it before its unit disappears; failure (no user manager) does not prevent removal
        if _run(SYSTEMCTL + ["disable", "--now", unit.UNIT_NAME], out) != 0:
            print("livedj service: could not stop/disable through systemctl; removing the files anyway",
                  file=err)
    removed = unit.uninstall()
    for p in removed:
        print(f"removed {p}", file=out)
    if not removed:
        print(f"livedj service: nothing to remove ({path} is not installed)", file=out)
        return 0
    if have_systemctl:
        _run(SYSTEMCTL + ["daemon-reload"], out)
    else:
        print("then, on a systemd machine: systemctl --user daemon-reload", file=out)
    return 0


def _command_status(args, out, err) -> int:
    path = unit.unit_path()
    if path.exists():
        installed = unit.exec_start_of(path.read_text(encoding="utf-8")) or ""
        current = unit.exec_start(unit.executable_command()).removesuffix(" run --no-dashboard")
        print(f"unit: {path}", file=out)
        if not installed.startswith(current + " "):
            # e.g. the venv moved, or it was installed from another checkout
            print(f"  note: it runs {installed}\n  but this livedj is {current}\n"
                  "  (`livedj service install` rewrites it)", file=out)
    else:
        print(f"unit: not installed ({path}); `livedj service install` writes it", file=out)
    if shutil.which("systemctl") is None:
        _no_systemctl(err)
        return 1
    out.flush()
    rc = _run(SYSTEMCTL + ["status", "--no-pager", "--lines=20", unit.UNIT_NAME], out)
    # systemctl status: 3 = not running, 4 = no such unit; anything else is a failure to ask
    if rc not in (0, 3, 4):
        _hint_no_manager(err)
    return rc


HELP = "run livedj as a systemd user service"
DESCRIPTION = (
    "unit: print the systemd user unit for this installation; install: write it to "
    "$XDG_CONFIG_HOME/systemd/user/livedj.service; uninstall: stop, disable and remove it; "
    "status: systemctl --user status livedj. See systemd/README.md.")
TAKES_INDEX = False  #: no --index option: the command does not read the index


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=("unit", "install", "uninstall", "status"))
    parser.add_argument("--enable", action="store_true",
                        help="install: also run systemctl --user daemon-reload and enable --now")
    parser.add_argument("--sandbox", action="store_true",
                        help="install: also write the filesystem-sandbox drop-in (needs unprivileged user namespaces)")


def main(args, config, out=None, err=None) -> int:
    """Dispatch ``args.action`` (unit, install, uninstall, status); the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    action = args.action
    if action == "unit":
        return _command_unit(args, out)
    if action == "install":
        return _command_install(args, out, err)
    if action == "uninstall":
        return _command_uninstall(args, out, err)
    if action == "status":
        return _command_status(args, out, err)
    print(f"livedj service: unknown action {action!r}", file=err)
    return 2
