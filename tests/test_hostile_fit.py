"""Hostile use of what learns from the DJ's own library: the booth head file, the lists behind the
context model (`livedj index --playlists`), a recording held twice, and `livedj eval`'s labels.

Real parts throughout: generated records (livedj.synth) indexed by a real `livedj index` (the cheap
`features` encoder) run in this process by the command line, real files damaged on disk.
"""
from __future__ import annotations

import json
import shutil

import pytest

from faults_common import has_traceback, index_here, one_line, quiet_config, run_here
from livedj.synth import DEMO_TRACKS, build_demo_library


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """6 generated records, indexed once (features encoder): (root, library folder, paths)."""
    root = tmp_path_factory.mktemp("hostile_fit")
    paths = build_demo_library(root / "lib", DEMO_TRACKS[:6], duration=12.0, formats=("wav", "flac"))
    code, out, err = index_here(root, root / "lib")
    assert code == 0, err
    return root, root / "lib", [str(p) for p in paths]


def _copy(library, tmp_path):
    root, lib, paths = library
    shutil.copytree(root / "index", tmp_path / "index")
    return lib, paths


def test_a_damaged_booth_head_is_one_line_not_a_traceback(library, tmp_path):
    """`livedj train --booth-head` writes <index dir>/head.safetensors, which musicnn-booth then uses.
    Cut short on disk (a full disk, a copy interrupted), `livedj suggest` printed a HeadError traceback."""
    from livedj.encoders.adapted import DEFAULT_HEAD

    lib, paths = _copy(library, tmp_path)
    (tmp_path / "index" / "head.safetensors").write_bytes(DEFAULT_HEAD.read_bytes()[:1000])
    config = quiet_config(tmp_path)
    config.write_text(config.read_text().replace('encoder = "features"', 'encoder = "musicnn-booth"'))
    code, out, err = run_here(["suggest", paths[0], "--config", str(config), "--index", str(tmp_path / "index")])
    assert code == 1 and not has_traceback(err), err
    lines = one_line(err)
    assert len(lines) == 1 and "head.safetensors" in lines[0] and "not a safetensors head file" in lines[0], err


def _saved_lists(index_dir) -> list:
    return json.loads((index_dir / "sequences.json").read_text())["sequences"]


def test_playlists_from_an_empty_folder_keep_the_lists_learned_before(library, tmp_path):
    """A --playlists folder with no playlist in it (a USB stick not mounted, a typo'd folder that
    exists) replaced the saved lists with none, silently: the context model forgot every playlist."""
    lib, paths = _copy(library, tmp_path)
    (tmp_path / "pl").mkdir()
    (tmp_path / "pl" / "set.m3u").write_text("\n".join(paths[:4]) + "\n")
    code, out, err = index_here(tmp_path, lib, "--playlists", tmp_path / "pl")
    assert code == 0, err
    assert len(_saved_lists(tmp_path / "index")) == 1
    (tmp_path / "empty").mkdir()
    code, out, err = index_here(tmp_path, lib, "--playlists", tmp_path / "empty")
    assert code == 0 and not has_traceback(err), err
    assert len(_saved_lists(tmp_path / "index")) == 1, "the lists learned before were thrown away"
    said = [ln for ln in (out + err).splitlines() if "no playlists" in ln]
    assert len(said) == 1 and str(tmp_path / "empty") in said[0] and "kept" in said[0], out + err
