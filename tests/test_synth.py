"""Tests of the synthetic music generator (livedj.synth)."""
from __future__ import annotations

import os

import av
import librosa
import mutagen
import numpy as np
import pytest

from livedj.synth import (DEMO_TRACKS, FORMATS, LEAD_IN, STYLES, TrackSpec, build_demo_library,
                          parse_key, render_track, write_audio)

SR = 22050
_PC = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
# Krumhansl-Kessler key profiles
_MAJ = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MIN = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _by_style(style: str) -> TrackSpec:
    return next(s for s in DEMO_TRACKS if s.style == style)


@pytest.fixture(scope="module")
def demo_audio() -> dict[str, np.ndarray]:
    """16 s of every demo track, rendered once for the whole module."""
    return {s.style: render_track(s, duration=16.0) for s in DEMO_TRACKS}


def _estimate_key(y: np.ndarray) -> tuple[int, str, np.ndarray]:
    chroma = librosa.feature.chroma_cqt(y=y, sr=SR).mean(axis=1)
    scores = [(np.corrcoef(np.roll(prof, k), chroma)[0, 1], k, mode)
              for k in range(12) for prof, mode in ((_MAJ, "major"), (_MIN, "minor"))]
    _, k, mode = max(scores)
    return k, mode, chroma


def _mfcc_stats(y: np.ndarray) -> np.ndarray:
    m = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20)
    return np.concatenate([m.mean(axis=1), m.std(axis=1)])


# --- the catalogue ------------------------------------------------------------------------

def test_demo_tracks_are_varied_and_valid():
    assert 10 <= len(DEMO_TRACKS) <= 14
    assert len({s.style for s in DEMO_TRACKS}) == len(DEMO_TRACKS)
    assert len({(s.artist, s.title) for s in DEMO_TRACKS}) == len(DEMO_TRACKS)
    bpms = [s.bpm for s in DEMO_TRACKS]
    assert min(bpms) <= 90 and max(bpms) >= 170
    assert {parse_key(s.key)[1] for s in DEMO_TRACKS} == {"major", "minor"}
    assert len({parse_key(s.key)[0] for s in DEMO_TRACKS}) >= 8
    assert all(s.style in STYLES for s in DEMO_TRACKS)


@pytest.mark.parametrize("text, expected", [
    ("A minor", (9, "minor")), ("C major", (0, "major")), ("F# minor", (6, "minor")),
    ("Bb major", (10, "major")), ("Ebm", (3, "minor")), ("db maj", (1, "major")),
])
def test_parse_key(text, expected):
    assert parse_key(text) == expected


def test_parse_key_rejects_garbage():
    with pytest.raises(ValueError):
        parse_key("H minor")
    with pytest.raises(ValueError):
        parse_key("C lydian-ish")


# --- rendering ----------------------------------------------------------------------------

def test_render_is_deterministic_and_seeded():
    spec = _by_style("techno")
    a = render_track(spec, duration=4.0)
    b = render_track(spec, duration=4.0)
    assert a.dtype == np.float32 and a.shape == (4 * SR,)
    np.testing.assert_array_equal(a, b)
    other = render_track(TrackSpec(spec.title, spec.artist, spec.bpm, spec.key, spec.style,
                                   spec.seed + 1), duration=4.0)
    assert not np.array_equal(a, other)


def test_short_render_is_the_beginning_of_a_long_one():
    spec = _by_style("dub")
    short = render_track(spec, duration=5.0)
    long = render_track(spec, duration=30.0)
    n = len(short) - int(0.06 * SR)     # the short one fades out over its last 50 ms
    np.testing.assert_allclose(short[:n], long[:n], atol=1e-6)


@pytest.mark.parametrize("spec", DEMO_TRACKS, ids=lambda s: s.style)
def test_render_level_and_leading_silence(spec):
    y = render_track(spec, duration=3.0)
    lead = int(LEAD_IN * SR)
    assert np.all(y[:lead] == 0.0)
    body = y[lead:]
    assert np.max(np.abs(body)) <= 1.0
    assert 0.05 < np.sqrt(np.mean(body ** 2)) < 0.5
    assert np.all(np.isfinite(y))


def test_tracks_are_distinct_and_excerpts_find_their_track(demo_audio):
    """An excerpt from later in a track is nearest (MFCC statistics) to its own beginning."""
    tracks = list(demo_audio.values())
    begin = np.array([_mfcc_stats(y[int(LEAD_IN * SR): int((LEAD_IN + 8) * SR)])
                      for y in tracks])
    mu, sd = begin.mean(axis=0), begin.std(axis=0) + 1e-9
    z = (begin - mu) / sd
    hits = 0
    for i, y in enumerate(tracks):
        excerpt = (_mfcc_stats(y[10 * SR: 15 * SR]) - mu) / sd
        hits += int(np.argmin(np.linalg.norm(z - excerpt, axis=1)) == i)
    assert hits >= len(tracks) - 1
    # raw MFCC means: different tracks far apart compared with two halves of one track
    within = [np.linalg.norm(_mfcc_stats(y[SR: 8 * SR])[:20] - _mfcc_stats(y[8 * SR:])[:20])
              for y in tracks]
    between = [np.linalg.norm(begin[i, :20] - begin[j, :20])
               for i in range(len(tracks)) for j in range(i)]
    assert np.median(between) > 3 * np.median(within)


@pytest.mark.parametrize("style", ["house", "techno", "electro", "hiphop", "dnb", "dub"])
def test_drum_styles_have_their_tempo(style, demo_audio):
    spec = _by_style(style)
    tempo, _ = librosa.beat.beat_track(y=demo_audio[style], sr=SR)
    tempo = float(np.atleast_1d(tempo)[0])
    ratios = [tempo / spec.bpm * f for f in (0.5, 1.0, 2.0)]
    assert min(abs(r - 1.0) for r in ratios) < 0.04, (tempo, spec.bpm)


@pytest.mark.parametrize("style", ["house", "techno", "synthwave", "footwork"])
def test_demo_track_chroma_peaks_on_tonic(style, demo_audio):
    spec = _by_style(style)
    tonic, mode = parse_key(spec.key)
    k, est_mode, chroma = _estimate_key(demo_audio[style][: 12 * SR])
    assert int(np.argmax(chroma)) == tonic
    assert (k, est_mode) == (tonic, mode)


def test_speed_is_a_pitch_fader():
    spec = _by_style("house")
    base = render_track(spec, duration=12.0)
    fast = render_track(spec, duration=12.0, speed=1.06)
    assert abs(len(fast) - len(base) / 1.06) <= 2
    # onsets arrive 6 % earlier: fast onset times * 1.06 land on the original ones
    on_b = librosa.onset.onset_detect(y=base, sr=SR, units="time")
    on_f = librosa.onset.onset_detect(y=fast, sr=SR, units="time") * 1.06
    err = np.array([np.min(np.abs(on_b - t)) for t in on_f])
    assert np.mean(err < 0.03) > 0.8
    # ... and NOT on the onsets of an unscaled timeline
    err_unscaled = np.array([np.min(np.abs(on_b - t / 1.06)) for t in on_f[on_f > 6]])
    assert np.mean(err_unscaled < 0.03) < 0.5
    # pitch moves up by 12 * log2(1.06) = 1.01 semitones: 3 bins of a 36-per-octave CQT
    kw = dict(sr=SR, fmin=40.0, n_bins=36 * 5, bins_per_octave=36)
    qb = np.log1p(np.abs(librosa.cqt(base[SR: 7 * SR], **kw)).mean(axis=1))
    qf = np.log1p(np.abs(librosa.cqt(fast[SR: 7 * SR], **kw)).mean(axis=1))
    shifts = range(-6, 7)
    corr = [np.dot(qb[6:-6], np.roll(qf, -s)[6:-6]) for s in shifts]
    assert list(shifts)[int(np.argmax(corr))] == 3


# --- files --------------------------------------------------------------------------------

def _tag(path, name: str) -> str | None:
    f = mutagen.File(str(path), easy=True)
    tags = f.tags
    if name in (tags or {}):
        return tags[name][0]
    frame = {"title": "TIT2", "artist": "TPE1"}[name]   # WAV/AIFF: plain ID3 frames
    return str(tags[frame].text[0]) if tags is not None and frame in tags else None


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_write_audio_round_trip(tmp_path, ext):
    y = render_track(_by_style("disco"), duration=3.0)
    path = tmp_path / f"song.{ext}"
    write_audio(path, y, SR, title="Mirror Bäll", artist="Studio ✓")
    assert path.exists() and os.listdir(tmp_path) == [path.name]
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        rate = stream.rate
        frames = [f.to_ndarray() for f in c.decode(stream)]
        meta = {k.lower(): v for k, v in {**c.metadata, **stream.metadata}.items()}
    x = np.concatenate([f.reshape(-1) if f.shape[0] == 1 else f[0] for f in frames])
    assert abs(len(x) / rate - 3.0) < 0.1
    assert _tag(path, "title") == "Mirror Bäll" and _tag(path, "artist") == "Studio ✓"
    assert meta.get("title") == "Mirror Bäll" and meta.get("artist") == "Studio ✓"
    if rate == SR:
        n = min(len(x), len(y))
        if ext in ("flac", "wav", "aiff"):
            if np.issubdtype(x.dtype, np.integer):
                x = x / 32768.0
            assert np.max(np.abs(x[:n] - y[:n])) < 1e-3
        else:   # lossy: same loudness; allow the codec's delay
            assert 0.7 < np.sqrt(np.mean(x.astype(float) ** 2)) / np.sqrt(np.mean(y ** 2)) < 1.3


def test_write_audio_rejects_unknown_extension(tmp_path):
    with pytest.raises(ValueError):
        write_audio(tmp_path / "x.xyz", np.zeros(100, np.float32), SR)


def test_build_demo_library_writes_once(tmp_path):
    tracks = DEMO_TRACKS[:4]
    calls = []
    paths = build_demo_library(tmp_path, tracks, duration=2.0, formats=("mp3", "flac", "ogg"),
                               callback=lambda i, n, p: calls.append((i, n, p)))
    assert [p.suffix for p in paths] == [".mp3", ".flac", ".ogg", ".mp3"]
    assert all(p.is_file() and p.parent.name == s.artist and p.stem == s.title
               for p, s in zip(paths, tracks))
    assert [(i, n) for i, n, _ in calls] == [(i, 4) for i in range(4)]
    stamps = [p.stat().st_mtime_ns for p in paths]
    again = build_demo_library(tmp_path, tracks, duration=2.0, formats=("mp3", "flac", "ogg"))
    assert again == paths
    assert [p.stat().st_mtime_ns for p in paths] == stamps
    assert not list(tmp_path.rglob(".*.partial"))
