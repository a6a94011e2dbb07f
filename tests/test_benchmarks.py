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
