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
