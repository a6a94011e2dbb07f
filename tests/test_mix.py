"""livedj.mix: beat grids, beat-matched blends re-analysed from the rendered stems, bad input,
output formats, loudness. Generated music (livedj.synth) with known beats; real Rubber Band,
real encoders."""
from __future__ import annotations

import os
from dataclasses import replace

import av
import numpy as np
import pytest

from livedj.mix.blend import loudness, true_peak_db
from livedj.mix.check import blend_offsets
from livedj.mix.grid import beat_error, beat_grid
from livedj.mix.make import OutputError, make_mix, make_preview
from livedj.mix.render import MixOptions, render
from livedj.synth import LEAD_IN, TrackSpec, render_track, write_audio

SR = 44100
FAST = MixOptions(blend_bars=8, phrase_bars=8, ramp_bars=4)


def _write(tmp_path, spec: TrackSpec, seconds: float, gain: float = 1.0, ext: str = "flac") -> str:
    path = tmp_path / f"{spec.title}.{ext}"
    write_audio(path, gain * render_track(spec, seconds, SR), SR, spec.title, spec.artist)
    return str(path)


@pytest.mark.parametrize("style,bpm", [("house", 124), ("disco", 118), ("hiphop", 90), ("trance", 138)])
def test_grid_lands_on_the_known_beats(style, bpm):
    y = render_track(TrackSpec("t", "a", bpm, "A minor", style, 3), 40.0, 22050)
    grid = beat_grid(y, 22050)
    truth = LEAD_IN + 60.0 / bpm * np.arange(int((40.0 - LEAD_IN) * bpm / 60))
    err = beat_error(grid.beats(), truth)
    assert abs(grid.bpm - bpm) < 0.05
    assert np.median(np.abs(err)) < 0.005
    # the first downbeat is the first beat of bar 1 (bars start at LEAD_IN)
    assert abs(grid.first_beat - LEAD_IN) < 0.01


@pytest.fixture(scope="module")
def three_records(tmp_path_factory):
    d = tmp_path_factory.mktemp("records")
    specs = [TrackSpec("A", "one", 132.0, "A minor", "house", 1),
             TrackSpec("B", "two", 132.0 * 1.06, "C major", "disco", 2),   # 6 % apart
             TrackSpec("C", "three", 72.0, "A minor", "hiphop", 3)]       # half time of 140
    return [_write(d, s, 45.0) for s in specs]


def test_blends_are_beat_aligned_when_re_analysed(three_records):
    entries, stats = render(three_records, None, FAST)
    assert [e.start is not None for e in entries] == [True, True, True]
    assert "blend" in entries[1].transition and "blend" in entries[2].transition
    assert "half time" in entries[2].transition
    assert [t["ratio"] for t in stats["transitions"]] == [1.0, 0.5]
    assert abs(stats["transitions"][0]["speed"] - 1 / 1.06) < 0.002
    # stems: the same plan with one record audible; without the bass swap, which moves
    # nothing in time but hides a stem's kick for half the blend
    plain = replace(FAST, bass_swap=False)
    stems = [render(three_records, None, plain, solo=i)[1]["audio"] for i in (1, 2, 3)]
    for i, t in enumerate(stats["transitions"]):
        offsets = blend_offsets(stems[i], stems[i + 1], SR, t["start"], t["end"], t["out_bpm"],
                                t["in_bpm"] * t["speed"])
        assert len(offsets) >= 8 * 4 * t["ratio"] - 1
        assert abs(np.median(offsets)) <= 0.010, (i, offsets)
    # the blend is continuous: no record's music is lost, the mix is as long as planned
    assert stats["duration"] > 45 + 45 + 45 - 3 * 8 * 4 * 60 / 140 - 10


def test_bad_input_is_skipped_or_cut_and_said(tmp_path):
    ok1 = _write(tmp_path, TrackSpec("ok1", "a", 124.0, "A minor", "house", 1), 40.0)
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"\x00not audio at all" * 100)
    far = _write(tmp_path, TrackSpec("far", "b", 100.0, "A minor", "synthwave", 2), 40.0)  # -19 %
    short = _write(tmp_path, TrackSpec("short", "c", 100.0, "A minor", "synthwave", 4), 6.0)
    entries, stats = render([ok1, str(tmp_path / "missing.flac"), str(broken), far, short], None, FAST)
    by_path = {os.path.basename(e.path): e for e in entries}
    assert by_path["missing.flac"].start is None and "no such file" in by_path["missing.flac"].transition
    assert by_path["broken.mp3"].start is None and by_path["broken.mp3"].transition.startswith("skipped")
    assert by_path["far.flac"].transition.startswith("cut") and "16 %" in by_path["far.flac"].transition
    assert by_path["short.flac"].transition.startswith("cut") and "too short" in by_path["short.flac"].transition
    assert stats["duration"] > 40 + 30


def test_unwritable_output_fails_before_rendering(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        make_mix([], tmp_path / "nope" / "mix.mp3", FAST, show_progress=False)
    with pytest.raises(OutputError, match="unsupported format"):
        make_mix([], tmp_path / "mix.xyz", FAST, show_progress=False)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: a read-only folder is still writable")
        with pytest.raises(OutputError, match="not writable"):
            make_mix([str(tmp_path / "never-decoded.flac")], folder / "mix.mp3", FAST, show_progress=False)
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("option,value,allowed", [("--blend-bars", "0", "1..128"), ("--blend-bars", "-4", "1..128"),
                                                  ("--blend-bars", "1000000000", "1..128"),
                                                  ("--ramp-bars", "-1", "0..128"), ("--ramp-bars", "1000000000", "0..128")])
def test_bar_counts_out_of_range_are_usage_errors(tmp_path, option, value, allowed):
    """`--blend-bars 0` silently meant the default (16), 10^9 rendered a mix of cuts; each is a usage
    error naming the option, before anything is decoded or written."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "livedj", "mix", str(tmp_path / "a.flac"), str(tmp_path / "b.flac"),
                          "-o", str(tmp_path / "mix.wav"), option, value], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.splitlines()[-1] == f"livedj mix: error: argument {option}: must be {allowed}, got {value}"
    assert list(tmp_path.iterdir()) == []


def _decode(path) -> np.ndarray:
    """The file as (channels, n) float32, whatever its sample format."""
    resampler = av.AudioResampler(format="fltp", rate=SR)
    with av.open(str(path)) as c:
        frames = [g.to_ndarray() for f in c.decode(audio=0) for g in resampler.resample(f)]
    return np.concatenate(frames, axis=1)


@pytest.mark.parametrize("ext", ["mp3", "flac", "ogg", "wav"])
def test_mix_file_with_cue_and_tracklist(tmp_path, ext):
    quiet = _write(tmp_path, TrackSpec("quiet", "q", 126.0, "A minor", "house", 5), 30.0, gain=0.1)
    loud = _write(tmp_path, TrackSpec("loud", "l", 128.0, "A minor", "techno", 6), 30.0)
    out = tmp_path / f"mix.{ext}"
    entries, stats = make_mix([quiet, loud], out, FAST, show_progress=False)
    audio = _decode(out)
    assert audio.shape[0] == 2
    assert abs(audio.shape[1] / SR - stats["duration"]) < 0.2
    cue = (tmp_path / "mix.cue").read_text()
    assert cue.count("TRACK ") == 2 and "INDEX 01 00:00:00" in cue and f'FILE "mix.{ext}"' in cue
    listing = (tmp_path / "mix.txt").read_text().splitlines()
    assert listing[0].startswith("00:00") and "quiet" in listing[0] and "blend 8 bars" in listing[1]
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
    if ext in ("flac", "wav"):
        assert true_peak_db(audio) <= -1.0


def test_records_are_loudness_matched(tmp_path):
    quiet = _write(tmp_path, TrackSpec("quiet", "q", 126.0, "A minor", "house", 5), 45.0, gain=0.15)
    loud = _write(tmp_path, TrackSpec("loud", "l", 126.0, "A minor", "disco", 6), 45.0)
    assert loudness(_decode(loud), SR) - loudness(_decode(quiet), SR) > 12
    _, stats = render([quiet, loud], None, FAST)
    blend = stats["transitions"][0]
    a = stats["audio"][:, int(1 * SR): int(blend["start"] * SR)]
    b = stats["audio"][:, int(blend["end"] * SR):]
    assert abs(loudness(a, SR) - loudness(b, SR)) < 2.5
    assert abs(loudness(a, SR) - FAST.target_lufs) < 2.5


def test_preview_is_about_thirty_seconds_around_the_blend(tmp_path):
    a = _write(tmp_path, TrackSpec("now", "n", 126.0, "A minor", "house", 7), 60.0)
    b = _write(tmp_path, TrackSpec("next", "x", 124.0, "A minor", "disco", 8), 40.0)
    entries, stats = make_preview(a, b, tmp_path / "preview.wav")
    audio = _decode(tmp_path / "preview.wav")
    assert 25 < audio.shape[1] / SR < 36
    assert entries[1].start == pytest.approx(8.0, abs=0.05)
