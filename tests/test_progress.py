"""Long work shows its progress in a log too, not only on a terminal (livedj.progress)."""
from __future__ import annotations

import io
import subprocess
import sys

from rich.console import Console

from livedj.progress import PREFIX, Progress


def _run(console: Console, every_s: float, steps: int = 6) -> None:
    with Progress(console=console, every_s=every_s) as bar:
        task = bar.add_task("analysing", total=steps, name="")
        for i in range(1, steps + 1):
            bar.update(task, completed=i, name=f"track{i}.mp3")


def test_off_a_terminal_a_task_prints_its_start_and_its_end_once():
    out = io.StringIO()
    _run(Console(file=out, force_terminal=False), every_s=3600.0)
    plain = [ln for ln in out.getvalue().splitlines() if ln.startswith(PREFIX)]
    assert plain[0] == f"{PREFIX}analysing 0/6 (0 %)"
    assert plain[1].startswith(f"{PREFIX}analysing 6/6 (100 %), done in ") and plain[1].endswith("  track6.mp3")
    assert len(plain) == 2  # nothing between: every_s not reached
    assert [ln for ln in out.getvalue().splitlines() if ln] == plain  # and no last frame of the bars ("analysing ━━━ 6/6") after them


def test_off_a_terminal_the_log_ends_with_the_last_line_not_an_empty_one():
    """rich's Progress.stop() printed an empty line off a terminal (room under its last frame, which is not
    drawn here): every `livedj index 2>> log` left a blank line in the log."""
    out = io.StringIO()
    _run(Console(file=out, force_terminal=False), every_s=3600.0)
    assert out.getvalue().endswith("  track6.mp3\n"), repr(out.getvalue()[-40:])


def test_off_a_terminal_lines_come_every_every_s():
    out = io.StringIO()
    _run(Console(file=out, force_terminal=False), every_s=0.0)
    plain = [ln for ln in out.getvalue().splitlines() if ln.startswith(PREFIX)]
    assert [ln.split(" (")[0] for ln in plain] == [f"{PREFIX}analysing {i}/6" for i in range(7)]


def test_on_a_terminal_only_the_bars_are_drawn():
    out = io.StringIO()
    _run(Console(file=out, force_terminal=True, width=100), every_s=0.0)
    assert PREFIX not in out.getvalue() and "━" in out.getvalue()


def test_livedj_index_into_a_log_says_how_far_it_is(tmp_path):
    """``livedj index DIR 2> log``: rich alone printed nothing until the end (an hour of silence)."""
    from livedj.synth import DEMO_TRACKS, build_demo_library

    build_demo_library(tmp_path / "music", DEMO_TRACKS[:3], duration=8.0, formats=("wav",))
    config = tmp_path / "config.toml"  # the features encoder: what is embedded does not matter here
    config.write_text(f'[index]\npath = "{tmp_path / "index"}"\n[analysis]\nencoder = "features"\n')
    run = subprocess.run([sys.executable, "-m", "livedj", "index", str(tmp_path / "music"), "--config", str(config)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    plain = [ln for ln in run.stderr.splitlines() if ln.startswith(PREFIX)]
    assert plain[0] == f"{PREFIX}analysing 0/3 (0 %)"
    assert any(ln.startswith(f"{PREFIX}analysing 3/3 (100 %), done in ") for ln in plain), plain
    assert "━" not in run.stderr, run.stderr  # the lines, not also rich's last frame of the bars
