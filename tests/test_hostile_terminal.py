"""What a DJ's terminal or a script's pipes do to livedj: closed pipes, a closed stdout, an ASCII-only
stdout, the dashboard's last frame. Each case once ended in a traceback, a wrong exit status, a run
that outlived its reader, or a stale screen.

Real parts: a generated library with non-ASCII tags indexed with the `features` encoder, `livedj` as a
subprocess on real pipes and POSIX pseudo-terminals, the set log on disk.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

import pytest

from faults_common import has_traceback, on_a_pty

pytestmark = [pytest.mark.faults,
              pytest.mark.skipif(not hasattr(os, "openpty"), reason="POSIX pipes and pseudo-terminals")]

#: artist, title: accents, a dash and a block the dashboard also draws, wide characters
NAMES = (("Björk Ünïcode", "Café – Señor █"), ("坂本龍一", "戦場のメリークリスマス"), ("Plain", "Ascii"))


@pytest.fixture(scope="module", name="booth")
def booth_fixture(tmp_path_factory):
    """(argv, set log, input): ``argv(*args)`` is ``livedj *args`` with a config, an index of three
    records with non-ASCII tags (``index=False``: not named), and a set log of its own; the input is
    20 s not in the library."""
    import soundfile as sf

    from livedj.synth import DEMO_TRACKS, build_demo_library, render_track

    root = tmp_path_factory.mktemp("terminal")
    specs = [dataclasses.replace(s, artist=a, title=t) for s, (a, t) in zip(DEMO_TRACKS, NAMES)]
    build_demo_library(root / "lib", specs, duration=8.0, formats=("wav", "flac"))
    heard = root / "heard.wav"
    sf.write(heard, render_track(DEMO_TRACKS[5], duration=20.0, sample_rate=16000), 16000)
    setlog = root / "history.sqlite"
    config = root / "config.toml"
    config.write_text(f'[analysis]\nencoder = "features"\n[osc]\ntargets = []\n[osc_in]\nenabled = false\n'
                      f'[history]\npath = "{setlog}"\n')

    def argv(*args, index=True):
        return [sys.executable, "-m", "livedj", *map(str, args), "--config", str(config),
                *(("--index", str(root / "index")) if index else ())]

    index = subprocess.run(argv("index", root / "lib", "--jobs", 1), capture_output=True, timeout=300)
    assert index.returncode == 0, index.stderr
    return argv, setlog, heard


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return {**env, "TERM": "xterm-256color", **extra}


def _last_session_ended(setlog) -> bool:
    with sqlite3.connect(setlog) as db:
        return db.execute("SELECT ended_at FROM sessions ORDER BY id DESC LIMIT 1").fetchone()[0] is not None


def test_a_json_lines_reader_that_leaves_ends_the_run_with_its_set_log(booth):
    """`livedj run --json-lines | head -1` kept running after head left: to the end of the file, and with
    a microphone for ever. Now the first line nobody reads ends it, cleanly, as SIGPIPE would."""
    argv, setlog, heard = booth
    run = subprocess.Popen(argv("run", "--input", heard, "--json-lines", "--no-dashboard"),  # real time: 20 s
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = run.stdout.readline()
    run.stdout.close()  # the reader leaves, as `head -1` does
    left = time.monotonic()
    err = run.communicate(timeout=60)[1].decode()
    assert json.loads(first)["seq"] == 0
    assert time.monotonic() - left < 8, "still running long after its reader left"
    assert run.returncode == 0 and not has_traceback(err), err
    assert "JSON lines reader went away" in err and "plays written" in err and _last_session_ended(setlog)


@pytest.mark.parametrize("args", [("history", "--all"), ("suggest", "{heard}", "--at", "3"),
                                  ("suggest", "{heard}", "--at", "3", "--json"), ("run", "--help")])
def test_output_into_a_pipe_nobody_reads_ends_quietly_with_status_0(booth, args):
    """`livedj history | head`: rich's tables met the closed pipe with exit status 1 (the JSON form: 0)."""
    argv, _, heard = booth
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte
    try:
        run = subprocess.run(argv(*(str(a).format(heard=heard) for a in args), index=args[0] == "suggest"),
                             stdout=write, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write)
    assert run.returncode == 0 and run.stderr == b"", run.stderr.decode()


@pytest.mark.parametrize("mode", [("--json-lines", "--no-dashboard"), ("--no-dashboard",), ()])
def test_run_with_stdout_closed_keeps_going_and_writes_its_set_log(booth, mode):
    """`livedj run >&-` (a launcher that closes stdout): Python gives sys.stdout = None, and every mode ended
    in an AttributeError traceback (the dashboard's before it started; the others at exit)."""
    argv, setlog, heard = booth
    run = subprocess.run(argv("run", "--input", heard, "--fast", "--duration", 5, *mode), stdin=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, timeout=120, preexec_fn=lambda: os.close(1))
    assert run.returncode == 0 and not has_traceback(run.stderr), run.stderr
    assert "3 updates" in run.stderr and "plays written" in run.stderr and _last_session_ended(setlog)


def test_an_ascii_only_stdout_gets_plain_text_and_exact_json(booth):
    """PYTHONIOENCODING=ascii (or a Latin-1 locale): every table with a non-ASCII title, the dashboard's own
    bars and dots, and `--json` ended in a UnicodeEncodeError traceback."""
    argv, _, heard = booth
    env = _env(PYTHONIOENCODING="ascii")
    table = subprocess.run(argv("suggest", heard, "--at", "3"), capture_output=True, timeout=120, env=env)
    assert table.returncode == 0 and not has_traceback(table.stderr.decode()), table.stderr.decode()
    text = table.stdout.decode("ascii")
    assert "Cafe - Senor #" in text and "Bjork Unicode" in text and "??????" in text  # wide: two cells, two ?
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert len({len(ln) for ln in lines}) == 1, text  # the columns still line up
    raw = subprocess.run(argv("suggest", heard, "--at", "3", "--json"), capture_output=True, timeout=120, env=env)
    assert raw.returncode == 0, raw.stderr.decode()
    titles = {s["title"] for s in json.loads(raw.stdout.decode("ascii"))["suggestions"]}
    assert titles == {t for _, t in NAMES}  # escaped, not transliterated: a script gets the tags exactly
    status, screen, err = on_a_pty(argv("run", "--input", heard, "--fast", "--duration", 6), PYTHONIOENCODING="ascii")
    assert status == 0 and not has_traceback(err) and not has_traceback(screen), err + screen
    assert "Cafe - Senor #" in screen and re.search(r"rms +#{5,}", screen), screen[-3000:]
    assert "hop 1 s" in screen and "hop_s" not in screen, screen[:3000]  # the header's key as the dashboard knows it


def test_the_dashboard_left_on_screen_shows_the_last_update(booth):
    """The live view redraws at 8 fps and stopped without a last redraw: the screen left after a run showed
    an update older than the last (with --fast, update #4 of 10), on a small terminal as on a large one."""
    argv, setlog, heard = booth
    status, screen, err = on_a_pty(argv("run", "--input", heard, "--fast", "--duration", 12), columns=40, lines=10)
    assert status == 0 and not has_traceback(err), err
    updates = int(re.search(r"livedj: (\d+) updates", err)[1])
    assert updates == 10 and re.findall(r"update #(\d+)", screen)[-1] == "10", screen[-2000:]
    assert _last_session_ended(setlog)


@pytest.mark.parametrize("columns", [60, 80, 120, 200])
def test_the_suggestion_table_fits_the_terminal_with_its_figures_whole(booth, columns):
    """`livedj suggest` on an 80-column terminal cut its figures ("0.5…" for a score, "125…" for a BPM) and,
    with long artist names, drew past the edge, where the key was lost: artist and title give way now."""
    argv, _, heard = booth
    out = subprocess.run(argv("suggest", heard, "--at", "3"), capture_output=True, timeout=120,
                         env=_env(COLUMNS=str(columns)))
    assert out.returncode == 0, out.stderr.decode()
    rows = [ln for ln in out.stdout.decode().splitlines() if ln.startswith("│")]
    assert rows and all(len(ln) <= columns for ln in out.stdout.decode().splitlines()), out.stdout.decode()
    for row in rows:
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert re.fullmatch(r"\d\.\d{3}", cells[3]) and re.fullmatch(r"-?\d\.\d{3}", cells[4]), row  # score, sim
        assert re.fullmatch(r"(\d+\.\d)?", cells[5]) and re.fullmatch(r"(\d{1,2}[AB])?", cells[6]), row  # BPM, key
