"""The benchmark suite still runs: ``python -m benchmarks all --quick`` yields rows for every suite.

No timing is asserted (the machine may be shared); only that each benchmark runs end to end and
reports well-formed rows. Generated data goes to a temporary folder (``LIVEDJ_BENCH_DIR``).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_all_quick_runs_and_reports_rows(tmp_path):
    out = tmp_path / "rows.json"
    env = {**os.environ, "LIVEDJ_BENCH_DIR": str(tmp_path / "bench")}
    result = subprocess.run([sys.executable, "-m", "benchmarks", "all", "--quick", "--json", str(out)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "livedj benchmarks" in result.stdout  # the table was printed
    data = json.loads(out.read_text())
    assert data["meta"]["failed"] == []
    rows = data["rows"]
    suites = {r["benchmark"].split(".")[0] for r in rows}
    assert {"query", "live", "indexing", "startup", "identify"} <= suites
    assert any(r["benchmark"].startswith("musicnn.") for r in rows)  # benchmarks.encoders' rows
    for r in rows:
        assert {"benchmark", "figure", "value", "unit", "baseline", "ratio", "target", "ok"} <= set(r)
        assert isinstance(r["value"], (int, float))
        assert r["ok"] in (True, False, None)


def test_row_ratio_and_target():
    sys.path.insert(0, str(REPO))
    from benchmarks.common import row

    r = row("x.y", "a figure", 40.0, "ms", baseline=80.0, target=50.0)
    assert r["ratio"] == 0.5 and r["ok"] is True
    r = row("x.z", "a rate", 1.5, "files/s", target=2.0, higher_is_better=True)
    assert r["ratio"] is None and r["ok"] is False
    assert row("x.w", "no target", 1.0, "")["ok"] is None


def test_unknown_suite_is_refused():
    result = subprocess.run([sys.executable, "-m", "benchmarks", "nope"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2


def test_key_benchmark_reads_the_key_sounding_in_a_window():
    # benchmarks._keylocal: music21's key of the notes sounding between t0 and t1 (the key benchmark's local
    # reference). C major for 12 s, then E major: each window sees only its own notes, weighted by duration.
    pretty_midi = pytest.importorskip("pretty_midi")
    pytest.importorskip("music21")
    from benchmarks._keylocal import window_key

    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    for start, tonic in ((0.0, 60), (12.0, 64)):  # 12 s each: the scale, then tonic triads
        scale = [0, 2, 4, 5, 7, 9, 11, 12, 7, 4, 0, 7]
        for i, step in enumerate(scale):
            piano.notes.append(pretty_midi.Note(80, tonic + step, start + 0.5 * i, start + 0.5 * i + 0.5))
        for i in range(6):
            for step in (0, 4, 7):
                piano.notes.append(pretty_midi.Note(80, tonic - 12 + step, start + 6 + i, start + 7 + i))
    pm.instruments.append(piano)
    assert window_key(pm, 0.0, 12.0) == 0  # C major
    assert window_key(pm, 12.0, 24.0) == 4  # E major
    assert window_key(pm, 30.0, 42.0) is None  # nothing sounds


def test_time_to_name_blend_order_keeps_neighbours_within_the_pitch_fader():
    # benchmarks._ttn_mix.blend_order: a blend mix's records in an order a DJ with a +-8 % fader could blend,
    # absent records every 4th. A pool that can be chained (58 BPM counting as 116 in double time): every
    # neighbour pair within 8 %; two tempo clusters 30 % apart: one pair beyond, no more.
    sys.path.insert(0, str(REPO))
    import numpy as np

    from benchmarks._ttn_mix import blend_order
    from livedj.mix.render import tempo_match

    def beyond(order, tempos):
        return sum(abs(tempo_match(tempos[p], tempos[q])[0] - 1) > 0.08 for p, q in zip(order, order[1:]))

    chain = {"a": 100.0, "b": 104.0, "c": 108.0, "d": 113.0, "e": 58.0, "f": 121.0, "g": 125.0, "x": 110.0,
             "y": 118.0}
    clusters = {"a": 88.0, "b": 91.0, "c": 124.0, "d": 126.0, "e": 60.0, "f": 130.0, "g": 93.0, "x": 122.0,
                "y": 89.0}
    present, absent = ["a", "b", "c", "d", "e", "f", "g"], ["x", "y"]
    for tempos, allowed in ((chain, 0), (clusters, 1)):
        for seed in range(4):
            order = blend_order(present, absent, tempos, 8, 4, np.random.default_rng(seed))
            assert len(order) == 8 and order[3] in absent and order[7] in absent
            assert set(order[:3] + order[4:7]) <= set(present) and len(set(order)) == 8
            assert beyond(order, tempos) == allowed


@pytest.mark.parametrize("room", ["standard", "alt:hall"])
def test_time_to_name_room_replaces_the_mix_by_what_the_microphone_hears(tmp_path, room):
    # benchmarks._ttn_mix.through_room (time_to_name --room): the whole mix through one room, mono at 16 kHz, the
    # same length (the mix's record times still hold), reverberant and noisy: not the line out
    sys.path.insert(0, str(REPO))
    import numpy as np
    import soundfile as sf

    from benchmarks._ttn_mix import rooms, through_room
    from livedj.synth import DEMO_TRACKS, render_track

    assert room in rooms() and "issue16" in rooms()
    line = render_track(DEMO_TRACKS[0], duration=6.0, sample_rate=16000)
    path = tmp_path / "mix.wav"
    sf.write(path, np.stack([line, line], axis=1), 16000)
    through_room(str(path), room, seed=3)
    heard, sr = sf.read(path, dtype="float32")
    assert sr == 16000 and heard.ndim == 1 and len(heard) == len(line)
    assert np.all(np.isfinite(heard)) and np.std(heard) > 0.01
    assert abs(np.corrcoef(heard, line)[0, 1]) < 0.9  # the room and its noise are there
    through_room(str(path), room, seed=3)  # a second room on top: deterministic and still the same length
    assert len(sf.read(path)[0]) == len(line)


@pytest.mark.parametrize("module", ["_keydata", "_keylocal", "_keywindows", "_tempotrust"])
def test_key_helpers_take_help_and_say_in_one_line_what_they_lack(module, tmp_path):
    """`python -m benchmarks._keydata --help` stopped with "ValueError: invalid literal for int()" (its
    argument was read as a number of renders), and the others ignored --help and began their work; without
    the fluidsynth CLI each ended in a RuntimeError traceback. Now: a usage line, and one line saying what
    is missing (exit 1)."""
    env = {**os.environ, "LIVEDJ_BENCH_DIR": str(tmp_path / "bench"), "PATH": str(tmp_path)}  # no fluidsynth
    result = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", "--help"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith(f"usage: python -m benchmarks.{module}"), result
    result = subprocess.run([sys.executable, "-m", f"benchmarks.{module}"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"python -m benchmarks.{module}: ") and "fluidsynth" in lines[0], lines
