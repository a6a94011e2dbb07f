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


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """Records A (FLAC), its MP3 copy, and B..E; indexed by `livedj index`, which finds the copy
    (library/copies.py). -> (root, {name: track id}, {name: path})."""
    import numpy as np

    from livedj.library.store import Store
    from livedj.synth import render_track
    from livedj.synth.audio_io import write_audio

    root = tmp_path_factory.mktemp("hostile_fit_copies")
    sr, audio = 22050, [render_track(spec, 24.0, 22050) for spec in DEMO_TRACKS[:5]]
    rng = np.random.default_rng(0)
    files = {"A": ("album/A.flac", audio[0]),
             "A mp3": ("usb/A.mp3", 0.84 * audio[0] + 0.002 * rng.standard_normal(len(audio[0]))),
             **{name: (f"album/{name}.flac", a) for name, a in zip("BCDE", audio[1:])}}
    for name, (path, a) in files.items():
        (root / "lib" / path).parent.mkdir(parents=True, exist_ok=True)
        write_audio(root / "lib" / path, np.asarray(a, np.float32), sr, title=name, artist="Synth")
    code, out, err = index_here(root, root / "lib")
    assert code == 0, err
    store = Store(root / "index", readonly=True)
    tracks = store.tracks()
    store.close()
    paths = {name: str(root / "lib" / path) for name, (path, _) in files.items()}
    ids = {name: next(t.id for t in tracks.values() if t.path == p) for name, p in paths.items()}
    assert tracks[ids["A mp3"]].recording == tracks[ids["A"]].recording == min(ids["A"], ids["A mp3"])
    return root, ids, paths


def test_the_context_model_hears_a_playlist_and_a_set_through_either_copy(copies, tmp_path):
    """The DJ's playlists name the FLAC of A (their collection); the booth plays the MP3 off a stick,
    and the set log names that. The model knew A and its copy as two unrelated records: with the MP3
    playing the playlists were unused (no context term at all), and with the FLAC playing the record
    played after the MP3 in the set was not known to follow it."""
    import time

    from livedj.encoders import encoder_id
    from livedj.engine.context_term import context_scores
    from livedj.library.context_update import load_context, update_context
    from livedj.library.history import History
    from livedj.library.importers.playlists import Sequence

    root, ids, paths = copies
    shutil.copytree(root / "index", tmp_path / "index")
    history = History(str(tmp_path / "history.sqlite"))
    night = history.start_session(at=time.time() - 3600)
    for name in ("D", "A mp3", "C"):  # tonight: the MP3 of A, then C
        history.log_play(night, paths[name], title=name)
    history.close()
    lists = [Sequence(f"crate {i}", "playlist", "m3u", (paths["A"], paths["B"], paths[x])) for i, x in enumerate("DE")]
    model, _ = update_context(tmp_path / "index", encoder_id("features"), lists=lists,
                              history_path=tmp_path / "history.sqlite")
    candidates = [ids[n] for n in "BCDE"]
    titles = {t: n for n, t in ids.items()}
    for playing in ("A", "A mp3"):
        got = context_scores(candidates, ids[playing], model, titles=titles)
        assert got is not None, f"{playing} playing: no context term"
        scores, reasons = got
        assert reasons[0] == f"you listed it after {playing} in 2 playlists", (playing, reasons)
        assert reasons[1] == f"you played it after {playing} once", (playing, reasons)
        assert scores[0] > scores[3] and scores[1] > scores[3], (playing, scores)
    # the cached model (the engine's start) answers the same
    cached, problem = load_context(tmp_path / "index", encoder_id("features"), tmp_path / "history.sqlite")
    assert problem is None
    assert context_scores(candidates, ids["A mp3"], cached, titles=titles)[1][0] == reasons[0]


def test_eval_on_a_folder_of_one_label_says_so_instead_of_a_perfect_score(library, tmp_path):
    """A DJ pointing `livedj eval` at one crate got P@10 1.000 for every encoder and for random
    neighbours alike, exit 0: a perfect-looking table that measured nothing."""
    root, lib, paths = library
    (tmp_path / "crate" / "house").mkdir(parents=True)
    for p in paths[:3]:
        shutil.copy(p, tmp_path / "crate" / "house")
    shutil.copy(paths[3], tmp_path / "crate")  # a loose file: no label
    config = quiet_config(tmp_path)
    for extra in ([], ["--protocol", "transductive"], ["--room"]):
        code, out, err = run_here(["eval", str(tmp_path / "crate"), "--encoders", "features", "--config", str(config),
                                   *extra])
        assert code == 1 and "1.000" not in out and not has_traceback(err), (extra, out, err)
        lines = one_line(err)
        # the loose file is named in a line of its own (eval says what it left out), then the label's one line
        assert len(lines) == 2 and "left out 1 audio file" in lines[0], (extra, err)
        assert "'house'" in lines[1] and "at least 2 sub-folders" in lines[1], (extra, err)
    shutil.copytree(tmp_path / "crate" / "house", tmp_path / "crate" / "techno")  # two labels: measured
    code, out, err = run_here(["eval", str(tmp_path / "crate"), "--encoders", "features", "--config", str(config)])
    assert code == 0 and "P@10" in out, err
