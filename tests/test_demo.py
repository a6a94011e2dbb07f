"""`livedj demo` end to end (what the README's first command runs): its input is a mix of two records
that are *not* in its library, so nothing may be named NOW PLAYING, and the DJ's own set log is never
touched (the demo keeps its own)."""
import json
import os
import subprocess
import sys


def test_the_demo_names_no_record_and_keeps_its_own_set_log(tmp_path):
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    run = subprocess.run([sys.executable, "-m", "livedj", "demo", "--fast", "--no-dashboard", "--dir",
                          str(tmp_path / "demo")], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    updates = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(updates) >= 15 and all(u["suggestions"] for u in updates[2:])
    # the demo's first record shares the library's techno drum kit: at a tempo within the pitch fader's
    # reach its key-lock hypotheses found that record's drum pattern and named it (before the fix: 7 updates)
    named = [(u["t"], u["now_playing"]["title"]) for u in updates if u["now_playing"]]
    assert not named and not any(u["decks"] for u in updates), named
    assert (tmp_path / "demo" / "history.sqlite").exists()
    assert not (tmp_path / "data" / "livedj" / "history.sqlite").exists()
