"""Rough edges a DJ meets with ordinary commands: a report that floods, a wrong word for what is wrong, a
command that stops short or goes on without saying why. Each once misled the DJ at the booth.

Real parts: rekordbox XML and Traktor NML written to disk, generated records (livedj.synth) written as real
files, the command line's own code run in this process (the `features` encoder where an index is needed).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from faults_common import has_traceback, run_here

pytestmark = pytest.mark.faults

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    for kind in ("CONFIG", "DATA", "CACHE"):  # nothing of the user's is read or written
        monkeypatch.setenv(f"XDG_{kind}_HOME", str(tmp_path / kind.lower()))


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text('[analysis]\nencoder = "features"\n[osc]\ntargets = []\n'
                      f'[history]\npath = "{tmp_path / "history.sqlite"}"\n')
    return config


def _index(tmp_path: Path, *args) -> tuple[int, str, str]:
    return run_here(["index", *map(str, args), "--config", str(_config(tmp_path)), "--index", str(tmp_path / "index"),
                     "--jobs", "1"])


def _skipped(out: str) -> list[str]:
    return [ln.removeprefix("  skipped ") for ln in out.splitlines() if ln.startswith("  skipped ")]


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
    assert "skipped 139 " in out  # 30 + 25 missing files, 60 + 24 fields: the count is of every one

    code, out, err = _index(tmp_path, "--from-rekordbox", xml, "--from-traktor", nml, "--all-problems")
    assert code == 0 and not has_traceback(err), err
    lines = _skipped(out)
    assert len(lines) == 139 and not any(ln.startswith("...") for ln in lines)
