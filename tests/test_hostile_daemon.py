"""`livedj run` attacked as a daemon: reloads, OSC both ways, the set log -- defects the earlier
hostile suites (test_hostile_live.py, test_hostile_live2.py, test_faults_live.py) did not reach.

Real parts: the reload `livedj run` does on SIGHUP (:func:`livedj.commands.run.reload`) on a real
config file and index, SQLite on disk, OSC over UDP on 127.0.0.1 with python-osc peers.
"""
from __future__ import annotations

import io
from types import SimpleNamespace

from faults_common import base_fixture  # noqa: F401 (the fixture `base`: a library indexed with `features`)


def test_a_reload_names_the_settings_it_leaves_until_the_next_start(base, tmp_path):
    """`systemctl reload livedj` after moving the set log, the microphone's rate and OSC in's port:
    livedj said "reloaded config.toml and the index", and went on with the old ones -- the DJ read the
    new set log, found nothing of tonight and believed the plays lost. The reload's one line now names
    what waits for the next start."""
    from livedj.commands.run import reload
    from livedj.config import load
    from livedj.service.notify import Notifier

    root, _ = base
    config = tmp_path / "config.toml"
    first = ('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n'
             f'[history]\npath = "{tmp_path / "a.sqlite"}"\n')
    config.write_text(first)
    running = load(config)
    config.write_text(first.replace("a.sqlite", "b.sqlite")
                      + '[audio]\nsamplerate = 44100\ndevice = "pulse"\n[osc_in]\nport = 9100\n')
    err = io.StringIO()
    loop = SimpleNamespace(engine=None, pending_engine=None)
    reload(loop, str(config), str(root / "index"), Notifier({}), err, running=running)
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "reloaded" in lines[0] and loop.pending_engine is not None, lines
    for key in ("audio.samplerate", "audio.device", "history.path", "osc_in.port"):
        assert key in lines[0], lines
    assert "next start" in lines[0], lines
    err = io.StringIO()
    reload(loop, str(config), str(root / "index"), Notifier({}), err, running=load(config))  # nothing waits
    assert "next start" not in err.getvalue() and "reloaded" in err.getvalue(), err.getvalue()
