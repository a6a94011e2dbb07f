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
