"""What `livedj index --from-…` prints about the DJ's collection: one clear line per problem, once, and a
count instead of a flood. Found by a hostile sweep: a collection made on Windows was reported under the
current folder ("/home/dj/C:/Music/x.mp3"), a drive not plugged in printed a line per track (100,000 for
100,000 tracks), and every playlist problem of rekordbox and Traktor was printed twice.

Real files on disk (rekordbox XML, Traktor NML, Mixxx's database, generated audio) and the command line's
own code run in this process (the `features` encoder: these concern the report, not the embedding).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile as sf

from faults_common import XML_HEAD, has_traceback
from faults_common import index_here as _index
from faults_common import skipped_lines as _skipped

pytestmark = pytest.mark.faults

SR = 22050


def _rekordbox(path: Path, locations, playlist_keys=()) -> Path:
    tracks = "".join(f'<TRACK TrackID="{i}" Name="t{i}" Location="{loc}"/>' for i, loc in enumerate(locations, 1))
    keys = "".join(f'<TRACK Key="{k}"/>' for k in playlist_keys)
    path.write_text(XML_HEAD + f'<DJ_PLAYLISTS Version="1.0.0"><COLLECTION>{tracks}</COLLECTION><PLAYLISTS>'
                    f'<NODE Type="0" Name="ROOT"><NODE Type="1" Name="Friday" KeyType="0">{keys}</NODE></NODE>'
                    '</PLAYLISTS></DJ_PLAYLISTS>')
    return path


def _traktor(path: Path, locations, playlist_keys=()) -> Path:
    """``locations``: (VOLUME, DIR, FILE) of each ENTRY; ``playlist_keys``: PRIMARYKEYs of a playlist "Sat"."""
    entries = "".join(f'<ENTRY TITLE="e{i}"><LOCATION VOLUME="{v}" DIR="{d}" FILE="{f}"/></ENTRY>'
                      for i, (v, d, f) in enumerate(locations))
    keys = "".join(f'<ENTRY><PRIMARYKEY TYPE="TRACK" KEY="{k}"/></ENTRY>' for k in playlist_keys)
    path.write_text(XML_HEAD + f'<NML VERSION="19"><COLLECTION>{entries}</COLLECTION><PLAYLISTS><NODE TYPE="FOLDER" '
                    f'NAME="$ROOT"><SUBNODES><NODE TYPE="PLAYLIST" NAME="Sat"><PLAYLIST TYPE="LIST">{keys}</PLAYLIST>'
                    '</NODE></SUBNODES></NODE></PLAYLISTS></NML>')
    return path


def _stored(index_dir: Path) -> list[str]:
    from livedj.library.store import Store

    store = Store(index_dir, readonly=True)
    try:
        return sorted(t.path for t in store.tracks().values())
    finally:
        store.close()


def test_windows_paths_are_named_as_written_and_never_looked_for_in_the_current_folder(tmp_path, monkeypatch):
    """A collection made on Windows, read on Linux: "C:/Music/x.mp3" was taken relative to the current folder,
    reported as "<cwd>/C:/Music/x.mp3: ... but the file is missing", and a file of that name under the current
    folder was indexed as the DJ's track; a relative Mixxx location the same."""
    from livedj.synth import DEMO_TRACKS, render_track
    from test_mixxx import add_track, make_mixxx_db

    here = tmp_path / "here"  # the current folder happens to hold C:/Music/t0.wav and Music/t2.wav
    (here / "C:" / "Music").mkdir(parents=True)
    (here / "Music").mkdir()
    sf.write(here / "C:" / "Music" / "t0.wav", render_track(DEMO_TRACKS[0], duration=5.0, sample_rate=SR), SR)
    shutil.copy(here / "C:" / "Music" / "t0.wav", here / "Music" / "t2.wav")
    xml = _rekordbox(tmp_path / "rekordbox.xml", ["file://localhost/C:/Music/t0.wav",
                                                  "file://localhost/D:/Sets/gone.mp3", "file://nas/music/x.mp3"])
    nml = _traktor(tmp_path / "collection.nml", [("C:", "/:Music/:", "t1.wav")])
    db = make_mixxx_db(tmp_path / "mixxxdb.sqlite")
    add_track(db, "Music/t2.wav", title="t2")
    db.close()
    monkeypatch.chdir(here)
    code, out, err = _index(tmp_path, "--from-rekordbox", xml, "--from-traktor", nml, "--from-mixxx",
                            tmp_path / "mixxxdb.sqlite")
    assert code == 0 and not has_traceback(err), err
    windows = "(the collection comes from a Windows computer), not found here"
    assert _skipped(out) == [
        f"C:/Music/t0.wav: in the rekordbox library: a Windows path {windows}",
        f"D:/Sets/gone.mp3: in the rekordbox library: a Windows path {windows}",
        f"//nas/music/x.mp3: in the rekordbox library: a Windows network path {windows}",
        f"C:/Music/t1.wav: in the traktor library: a Windows path {windows}",
        "Music/t2.wav: in the mixxx library: a relative path (it names no folder to look in), not looked for"]
    assert "skipped 5 " in out and str(here) not in out + err
    assert _stored(tmp_path / "index") == []  # nothing of the current folder indexed


def test_a_windows_path_in_a_playlist_is_no_file_of_the_current_folder(tmp_path, monkeypatch):
    """The playlists resolved "C:/Music/t0.wav" against the current folder too: to the track indexed as
    <cwd>/C:/Music/t0.wav (a folder scanned by its name), which the DJ's Windows playlist never meant."""
    from livedj.library.importers.playlists import Sequence
    from livedj.library.sequences import path_key, resolve

    (tmp_path / "C:" / "Music").mkdir(parents=True)
    (tmp_path / "C:" / "Music" / "t0.wav").write_bytes(b"RIFF")
    monkeypatch.chdir(tmp_path)
    ids = {path_key(str(tmp_path / "C:" / "Music" / "t0.wav")): 1, path_key("/m/a.wav"): 2}
    lists, report = resolve([Sequence("Friday", "playlist", "rekordbox", ("C:/Music/t0.wav", "/m/a.wav"))], ids)
    assert [s.ids for s in lists] == [(2,)] and report.unresolved == 1


def test_a_collection_on_a_drive_not_plugged_in_prints_twenty_lines_and_a_count(tmp_path):
    """Every track of the collection missing printed one line per track: 100,000 lines for 100,000 tracks.
    Now the first 20 of each source, then one line counting the rest with what they share; a real file that
    does not decode keeps its own line; --all-problems lists every one."""
    usb = tmp_path / "media" / "DJ USB" / "Music"  # not there: the drive is not plugged in
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all" * 40)
    xml = _rekordbox(tmp_path / "rekordbox.xml", [f"file://localhost{usb}/{i:03d}.mp3" for i in range(150)]
                     + [f"file://localhost{tmp_path}/lib/broken.wav"])
    nml = _traktor(tmp_path / "collection.nml", [("E:", "/:Sets/:", f"{i}.mp3") for i in range(25)])
    code, out, err = _index(tmp_path, "--from-rekordbox", xml, "--from-traktor", nml)
    assert code == 0 and not has_traceback(err), err
    lines = _skipped(out)
    assert [ln for ln in lines if ln.startswith(str(usb))] == [
        f"{usb}/{i:03d}.mp3: in the rekordbox library, but the file is missing" for i in range(20)]
    assert [ln for ln in lines if ln.startswith("E:")] == [
        f"E:/Sets/{i}.mp3: in the traktor library: a Windows path (the collection comes from a Windows computer), "
        "not found here" for i in range(20)]
    assert [ln for ln in lines if ln.startswith("...")] == [
        f"... and 130 more files listed by rekordbox are missing, all under {usb} (a drive not plugged in?); "
        "--all-problems lists every one",
        "... and 5 more files listed by traktor are missing, all under E:/Sets (the collection comes from a Windows "
        "computer); --all-problems lists every one"]
    (broken,) = [ln for ln in lines if ln.startswith(f"{tmp_path}/lib/broken.wav: ")]  # not a missing file
    assert "missing" not in broken
    assert len(lines) == 20 + 20 + 2 + 1 and "skipped 176 " in out  # the count is of every file

    code, out, err = _index(tmp_path, "--from-rekordbox", xml, "--from-traktor", nml, "--all-problems")
    assert code == 0 and not has_traceback(err), err
    lines = _skipped(out)
    assert len(lines) == 150 + 25 + 1 and not any(ln.startswith("...") for ln in lines)


def test_playlist_problems_of_rekordbox_and_traktor_are_printed_once(tmp_path):
    """A playlist entry that names no track was printed by the track reader ("skipped ...") and again by the
    playlist reader ("playlists: ..."); for Traktor the two even disagreed on why."""
    xml = _rekordbox(tmp_path / "rekordbox.xml", ["file://localhost/m/a.mp3"], playlist_keys=("1", "99"))
    nml = _traktor(tmp_path / "collection.nml", [("", "/:m/:", "b.mp3")], playlist_keys=("/:m/:b.mp3", "nowhere"))
    code, out, err = _index(tmp_path, "--from-rekordbox", xml, "--from-traktor", nml)
    assert code == 0 and not has_traceback(err), err
    printed = (out + err).splitlines()
    assert [ln for ln in printed if "Key='99'" in ln] == [
        f"  playlists: {xml}: playlist 'Friday': TRACK Key='99' is not in the COLLECTION; skipped"]
    assert [ln for ln in printed if "'nowhere'" in ln] == [
        f"  playlists: {nml}: playlist 'Sat': PRIMARYKEY 'nowhere' is not a track location; skipped"]
