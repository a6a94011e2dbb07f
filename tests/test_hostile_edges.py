"""Rough edges a DJ meets with ordinary commands: a report that floods, a wrong word for what is wrong, a
command that stops short or goes on without saying why. Each once misled the DJ at the booth.

Real parts: rekordbox XML and Traktor NML written to disk, generated records (livedj.synth) written as real
files, the command line's own code run in this process (the `features` encoder where an index is needed).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from faults_common import XML_HEAD, has_traceback, run_here
from faults_common import index_here as _index
from faults_common import quiet_config as _config
from faults_common import skipped_lines as _skipped
from faults_common import own_home_fixture  # noqa: F401 (the fixture `own_home`)

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("own_home")]  # own_home: XDG homes of its own



# -- livedj index --from-…: the DJ software's own entries -----------------------------------------------
def test_bad_fields_of_a_collection_are_capped_like_missing_files(tmp_path):
    """A BPM of "fast" or a key of "H#" printed one line each, uncapped: a collection with 50,000 bad BPMs
    printed 50,000 lines. Now 20 per collection, then one line counting the rest by what was skipped;
    --all-problems lists every one."""
    xml = tmp_path / "rekordbox.xml"
    tracks = "".join(f'<TRACK TrackID="{i}" Name="t{i}" AverageBpm="fast" Tonality="H#" '
                     f'Location="file://localhost/nowhere/{i}.mp3"/>' for i in range(1, 31))
    xml.write_text(XML_HEAD + f'<DJ_PLAYLISTS Version="1.0.0"><COLLECTION>{tracks}</COLLECTION></DJ_PLAYLISTS>')
    nml = tmp_path / "collection.nml"
    entries = "".join(f'<ENTRY TITLE="e{i}"><LOCATION VOLUME="" DIR="/:elsewhere/:" FILE="{i}.mp3"/>'
                      f'<TEMPO BPM="{i * 1000}"/></ENTRY>' for i in range(25))
    nml.write_text(XML_HEAD + f'<NML VERSION="19"><COLLECTION>{entries}</COLLECTION></NML>')
    code, out, err = _index(tmp_path, "--from-rekordbox", xml, "--from-traktor", nml)
    assert code == 0 and not has_traceback(err), err
    lines = _skipped(out)
    rekordbox = [ln for ln in lines if ln.startswith(f"{xml}: ")]
    assert len(rekordbox) == 20 and rekordbox[:2] == [
        f"{xml}: TRACK 1: AverageBpm='fast' is not a number; BPM skipped",
        f"{xml}: TRACK 1: Tonality='H#' is not a key; key skipped"]
    traktor = [ln for ln in lines if ln.startswith(f"{nml}: ")]
    assert len(traktor) == 20  # ENTRY #0: a BPM of 0 is "not analysed", no problem; 1000 and up are
    assert [ln for ln in lines if ln.startswith("... and") and " more problems in " in ln] == [
        f"... and 40 more problems in {xml} (20 BPM skipped, 20 key skipped); --all-problems lists every one",
        f"... and 4 more problems in {nml} (4 BPM skipped); --all-problems lists every one"]
    assert "skipped 55 · 84 entries or fields of the DJ's software unused · " in out  # 30 + 25 missing files; 60 + 24 fields apart

    code, out, err = _index(tmp_path, "--from-rekordbox", xml, "--from-traktor", nml, "--all-problems")
    assert code == 0 and not has_traceback(err), err
    lines = _skipped(out)
    assert len(lines) == 139 and not any(ln.startswith("...") for ln in lines)


def test_a_listed_folder_is_named_a_folder_not_a_missing_file(tmp_path):
    """A path the DJ's software lists that is a folder ("Album.mp3/") was reported "in the rekordbox library,
    but the file is missing": the DJ went looking for a drive. Now: what it is."""
    (tmp_path / "Album.mp3").mkdir()
    xml = tmp_path / "rekordbox.xml"
    xml.write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION>'
                   f'<TRACK TrackID="1" Name="a" Location="file://localhost{tmp_path}/Album.mp3"/>'
                   f'<TRACK TrackID="2" Name="b" Location="file://localhost{tmp_path}/gone.mp3"/>'
                   '</COLLECTION></DJ_PLAYLISTS>')
    code, out, err = _index(tmp_path, "--from-rekordbox", xml)
    assert code == 0 and not has_traceback(err), err
    assert _skipped(out) == [f"{tmp_path}/Album.mp3: in the rekordbox library: a folder, not an audio file",
                             f"{tmp_path}/gone.mp3: in the rekordbox library, but the file is missing"]


def test_many_listed_folders_are_not_counted_as_missing_files(tmp_path):
    """The count line of a long list said "more files ... are missing (a drive not plugged in?)" of folders too."""
    for i in range(25):
        (tmp_path / f"{i}.mp3").mkdir()
    xml = tmp_path / "rekordbox.xml"
    xml.write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION>' + "".join(
        f'<TRACK TrackID="{i}" Name="a" Location="file://localhost{tmp_path}/{i}.mp3"/>' for i in range(25))
        + '</COLLECTION></DJ_PLAYLISTS>')
    code, out, err = _index(tmp_path, "--from-rekordbox", xml)
    assert code == 0 and not has_traceback(err), err
    assert [ln for ln in _skipped(out) if ln.startswith("...")] == [
        "... and 5 more listed by rekordbox are folders or cannot be read; --all-problems lists every one"]


def _without_root_powers() -> list[str] | None:
    """A command prefix that runs a process as root without the powers to read any file (setpriv drops
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), or [] when not root; None when root cannot drop them."""
    if os.geteuid() != 0:
        return []
    import shutil

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search"
    prefix = [setpriv, "--bounding-set", caps, "--inh-caps", caps]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    return prefix if probe.returncode == 0 else None


def test_a_listed_file_that_cannot_be_read_says_so(tmp_path):
    """A listed file behind a folder without permission was reported "but the file is missing", and one
    without read permission "Permission denied" as if a decoder said it. Now "cannot be read: Permission denied".
    Root reads everything: run as root, the command runs without the powers that let it (setpriv)."""
    prefix = _without_root_powers()
    if prefix is None:
        pytest.skip("running as root without setpriv (or not allowed to drop capabilities): root reads every file")
    import soundfile as sf

    from livedj.synth import DEMO_TRACKS, render_track

    locked, lib = tmp_path / "locked", tmp_path / "lib"
    locked.mkdir()
    lib.mkdir()
    audio = render_track(DEMO_TRACKS[0], duration=3.0, sample_rate=22050)
    sf.write(locked / "a.wav", audio, 22050)
    sf.write(lib / "b.wav", audio, 22050)
    xml = tmp_path / "rekordbox.xml"
    xml.write_text(XML_HEAD + '<DJ_PLAYLISTS Version="1.0.0"><COLLECTION>'
                   f'<TRACK TrackID="1" Name="a" Location="file://localhost{locked}/a.wav"/>'
                   f'<TRACK TrackID="2" Name="b" Location="file://localhost{lib}/b.wav"/>'
                   '</COLLECTION></DJ_PLAYLISTS>')
    locked.chmod(0)
    (lib / "b.wav").chmod(0)
    try:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        run = subprocess.run([*prefix, sys.executable, "-m", "livedj", "index", "--from-rekordbox", str(xml),
                              "--config", str(_config(tmp_path)), "--index", str(tmp_path / "index"), "--jobs", "1"],
                             capture_output=True, text=True, timeout=180, env=env)
    finally:
        locked.chmod(0o755)
        (lib / "b.wav").chmod(0o644)
    assert not has_traceback(run.stderr), run.stderr
    assert sorted(_skipped(run.stdout)) == [
        f"{lib}/b.wav: cannot be read: Permission denied",
        f"{locked}/a.wav: in the rekordbox library: cannot be read: Permission denied"]


# -- livedj playlist ------------------------------------------------------------------------------------
@pytest.fixture(scope="module", name="library")
def library_fixture(tmp_path_factory):
    """Five generated records and a copy of one (a near-duplicate), indexed with the `features` encoder; the
    ranking fetches one candidate at a time (ranking.candidates = 1), where the copy hid every other record."""
    import shutil

    import soundfile as sf

    from livedj.synth import DEMO_TRACKS, render_track

    root = tmp_path_factory.mktemp("edges")
    (root / "lib").mkdir()
    for i in range(5):
        sf.write(root / "lib" / f"t{i}.wav", render_track(DEMO_TRACKS[i], duration=6.0, sample_rate=22050), 22050)
    shutil.copy(root / "lib" / "t1.wav", root / "lib" / "copy of t1.wav")
    config = _config(root)
    config.write_text(config.read_text() + f'[index]\npath = "{root / "index"}"\n[ranking]\ncandidates = 1\n')
    code, _, err = run_here(["index", str(root / "lib"), "--config", str(config), "--jobs", "1"])
    assert code == 0, err
    return root, config


def test_a_playlist_longer_than_the_library_says_how_many_and_why(library):
    """`livedj playlist SEED --n 100000` stopped short without a word; with the seed's copy nearest (the one
    candidate fetched) it stopped at the seed, though four more records fitted. Now the chain looks further
    when every candidate repeats a record on it, and says how many it gave and why it stopped."""
    root, config = library
    code, out, err = run_here(["playlist", str(root / "lib" / "t1.wav"), "--n", "100000", "--drunk", "0",
                               "--config", str(config)])
    assert code == 0 and not has_traceback(err), err
    # "  1* t1  [120.0 BPM, 8A]": an untagged record is listed by its title alone (no " - " before it)
    listed = [m.group(1) for ln in out.splitlines() if (m := re.match(r"\s*\d+[* ] (.+?)  \[", ln))]
    assert sorted(listed) == ["t0", "t1", "t2", "t3", "t4"] and listed[0] == "t1"
    assert err.strip().splitlines() == [
        "livedj playlist: 4 records after the seed, not 100000: the library has no more that fit: the rest "
        "(1 record) repeat records on it (the same recording, or the same artist and title)"]

    code, out, err = run_here(["playlist", str(root / "lib" / "t0.wav"), "--n", "2", "--config", str(config)])
    assert code == 0 and err.strip() == "" and len(out.splitlines()) == 3  # as many as asked: nothing to say


@pytest.mark.parametrize("dbfs", [None, -75.0], ids=["digital silence", "too quiet"])
def test_a_silent_seed_is_refused_in_one_line(library, tmp_path, dbfs):
    """A seed of digital silence (or a hum at -75 dBFS) still gave a playlist, exit 0: a chain "like" nothing,
    ranked by noise. A record the indexer would skip as silent is no seed: one line naming it, exit 1."""
    import numpy as np
    import soundfile as sf

    root, config = library
    seed = tmp_path / "seed.wav"
    t = np.arange(40 * 22050) / 22050
    sf.write(seed, np.zeros_like(t) if dbfs is None else 10 ** (dbfs / 20) * np.sin(2 * np.pi * 50 * t), 22050)
    code, out, err = run_here(["playlist", str(seed), "--n", "3", "--config", str(config)])
    assert code == 1 and not has_traceback(err) and out == "", err
    level = "-120" if dbfs is None else "-78"
    assert err.strip().splitlines() == [
        f"livedj playlist: {seed}: silent or too quiet to analyse ({level} dBFS where it was analysed, 30 s in; a "
        "seed needs -50 dBFS or louder, as an indexed record): give a record, or --at where it plays"]


# -- livedj mix -----------------------------------------------------------------------------------------
def test_a_record_without_a_beat_is_crossfaded_not_beat_matched(tmp_path):
    """An organ drone was given a beat grid (146.7 BPM) and time-stretched by -15 % to "match" the record
    before it. Now a record with no beat to hear crosses with a plain crossfade, unstretched, and the
    tracklist says so (no tempo shown for it); records with a beat still blend beat-matched."""
    import numpy as np
    import soundfile as sf

    from livedj.mix.grid import beat_grid
    from livedj.synth import TrackSpec, render_track, write_audio

    sr = 44100
    beat = tmp_path / "beat.flac"
    spec = TrackSpec("beat", "edges", 124.0, "A minor", "house", 1)
    write_audio(beat, render_track(spec, 24.0, sr), sr, spec.title, spec.artist)
    t = np.arange(24 * sr) / sr
    organ = 0.25 * (np.sin(2 * np.pi * 110 * t) + 0.5 * np.sin(2 * np.pi * 220 * t) + 0.3 * np.sin(2 * np.pi * 330 * t))
    drone = tmp_path / "drone.flac"
    sf.write(drone, np.stack([organ, organ], axis=1).astype(np.float32), sr)

    code, out, err = run_here(["mix", str(beat), str(drone), str(beat), "-o", str(tmp_path / "m.wav"), "--blend-bars",
                               "4", "--phrase-bars", "8", "--no-progress"])
    assert code == 0 and not has_traceback(err), err
    lines = out.splitlines()
    assert lines[0].endswith("edges - beat  [124.0 BPM]  start")
    assert lines[1].endswith("  drone  crossfade 8 s, not beat-matched: no beat in drone")  # 4 bars at 124 BPM
    assert lines[2].endswith("edges - beat  [124.0 BPM]  crossfade 8 s, not beat-matched: no beat in drone")
    assert "%" not in out  # nothing stretched
    assert not beat_grid(organ[::2].astype(np.float32), sr // 2).has_beat
    assert beat_grid(sf.read(beat, always_2d=True)[0].mean(axis=1).astype(np.float32)[::2], sr // 2).has_beat


# -- counts in summaries --------------------------------------------------------------------------------
def test_a_count_of_one_is_singular(library, tmp_path):
    """Summaries said "1 tracks", "1 lists, 1 entries", "1 records": one word helper (livedj.words.plural)."""
    root, config = library
    code, out, err = _index(tmp_path, root / "lib" / "t0.wav")
    assert code == 0 and not has_traceback(err), err
    assert " · 1 track in " in out
    code, out, err = run_here(["playlist", str(root / "lib" / "t0.wav"), "--n", "1", "-o", str(tmp_path / "one.m3u"),
                               "--config", str(config)])
    assert code == 0 and "wrote 2 tracks to" in out, err
    code, out, err = run_here(["mix", str(root / "lib" / "t0.wav"), "-o", str(tmp_path / "m.wav"), "--no-progress"])
    assert code == 0 and f"wrote {tmp_path / 'm.wav'} (1 record, " in out, err

    from livedj.words import plural

    assert [plural(1, "track"), plural(0, "track"), plural(2, "entry", "entries")] == ["1 track", "0 tracks",
                                                                                          "2 entries"]


def test_suggest_and_analyze_on_silence_say_so(library, tmp_path):
    """`livedj suggest` on a silent stretch printed ten records ranked by noise (exit 0), and `analyze` said
    the silence "sounds like rock 0.21"."""
    import numpy as np
    import soundfile as sf

    _root, config = library
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(16000 * 20, np.float32), 16000)
    code, out, err = run_here(["suggest", str(quiet), "--config", str(config)])
    assert code == 1 and "silent at 0 s" in err and "no suggestions" in err and not has_traceback(err), err
    code, out, err = run_here(["analyze", str(quiet), "--config", str(config)])
    assert code == 0 and "silence: -120 dBFS" in out and "rock" not in out, out


def test_numbers_take_the_article_they_are_said_with():
    """The mix said "too short for a 8-bar blend"."""
    from livedj.words import a_or_an

    assert [a_or_an(n) for n in ("8", "16", "11", "18", "80", "4", "110")] == [
        "an 8", "a 16", "an 11", "an 18", "an 80", "a 4", "a 110"]
