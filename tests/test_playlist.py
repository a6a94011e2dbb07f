"""livedj playlist (a chain from a seed, ranked as live) and the livedj mix / playlist commands,
on a real index of generated records built in this process."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from livedj.cli import main as cli_main
from livedj.commands.playlist import NEAR_DUPLICATE, chain
from livedj.config import defaults
from livedj.engine.loader import load_engine
from livedj.engine.ranker import rank
from livedj.library.indexer import Settings, index_library
from livedj.library.store import Store
from livedj.synth import DEMO_TRACKS, build_demo_library

N_TRACKS = 8


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("playlist")
    paths = build_demo_library(root / "library", DEMO_TRACKS[:N_TRACKS], duration=20.0, formats=("flac",))
    # the same record under another name: a near-duplicate the chain must not take twice
    shutil.copy(paths[1], root / "library" / "copy of the second.flac")
    index_library([root / "library"], str(root / "index"), Settings(), jobs=1)
    config = defaults()
    config["index"]["path"] = str(root / "index")
    engine = load_engine(config)
    store = Store(str(root / "index"), readonly=True)
    vectors = dict(store.vectors(engine.index.manifest["encoder"]))
    store.close()
    return root, [str(p) for p in paths], engine, vectors


def _id(engine, path):
    return next(t.id for t in engine.tracks.values() if t.path == path)


def test_chain_follows_the_live_ranking_without_repeats_or_duplicates(library):
    root, paths, engine, vectors = library
    seed = _id(engine, paths[0])
    t = engine.tracks[seed]
    ids = chain(vectors[seed], t.bpm, t.key, engine.index, engine.tracks, vectors, 20, lookback=1,
                drunk=0.0, ranking=engine.ranking, seed_id=seed)
    assert seed not in ids and len(ids) == len(set(ids))
    # 9 records, one a copy of another: at most 7 besides the seed
    assert len(ids) == N_TRACKS - 1
    for a in [seed, *ids]:
        for b in [seed, *ids]:
            if a != b:
                assert float(vectors[a] @ vectors[b]) <= NEAR_DUPLICATE
    # the first step is the live loop's first suggestion for the seed
    got, sims = engine.index.query(vectors[seed], 50)
    live = rank(got, sims, engine.tracks, top=1, live_bpm=t.bpm, live_key=t.key, exclude={seed},
                weights=engine.ranking.weights, rules=engine.ranking.rules)
    assert ids[0] == live[0].track_id
    # drunk: another chain (same length) for another random seed, and the same for the same
    a = chain(vectors[seed], t.bpm, t.key, engine.index, engine.tracks, vectors, 5, drunk=1.0,
              ranking=engine.ranking, seed_id=seed, rng=np.random.default_rng(1))
    b = chain(vectors[seed], t.bpm, t.key, engine.index, engine.tracks, vectors, 5, drunk=1.0,
              ranking=engine.ranking, seed_id=seed, rng=np.random.default_rng(1))
    assert a == b and len(a) == 5


def test_playlist_command_writes_m3u_csv_and_xml(library, tmp_path, capsys):
    root, paths, engine, _ = library
    index = str(root / "index")
    assert cli_main(["playlist", paths[2], "--n", "4", "--drunk", "0", "-o", str(tmp_path / "set.m3u"),
                     "--relative", "--index", index]) == 0
    lines = [x for x in (tmp_path / "set.m3u").read_text().splitlines() if x and not x.startswith("#")]
    assert len(lines) == 5 and all(not x.startswith("/") for x in lines)
    assert cli_main(["playlist", paths[2], "--n", "3", "-o", str(tmp_path / "set.csv"), "--index", index]) == 0
    assert len((tmp_path / "set.csv").read_text(encoding="utf-8-sig").splitlines()) == 1 + 4
    assert cli_main(["playlist", paths[2], "--n", "3", "-o", str(tmp_path / "set.xml"), "--index", index]) == 0
    assert "<DJ_PLAYLISTS" in (tmp_path / "set.xml").read_text()
    # a seed outside the library: analysed like a live window
    outside = tmp_path / "outside.flac"
    build_demo_library(tmp_path / "out", DEMO_TRACKS[N_TRACKS: N_TRACKS + 1], duration=20.0, formats=("flac",))
    outside = next((tmp_path / "out").rglob("*.flac"))
    assert cli_main(["playlist", str(outside), "--n", "3", "--at", "5", "--index", index]) == 0
    assert cli_main(["playlist", str(tmp_path / "nothing.flac"), "--index", index]) == 1
    assert "matches 0 tracks" in capsys.readouterr().err


def test_mix_command_skips_a_missing_file_and_writes_cue(library, tmp_path, capsys):
    root, paths, _, _ = library
    out = tmp_path / "mix.wav"
    rc = cli_main(["mix", paths[0], str(tmp_path / "gone.flac"), paths[3], "-o", str(out), "--blend-bars", "4",
                   "--phrase-bars", "8", "--ramp-bars", "2", "--no-progress", "--index", str(root / "index")])
    captured = capsys.readouterr()
    assert rc == 0 and out.exists() and (tmp_path / "mix.cue").exists()
    assert "gone.flac: skipped: no such file" in captured.err
    assert (tmp_path / "mix.txt").read_text().count("\n") >= 3
    rc = cli_main(["mix", paths[0], paths[3], "-o", str(tmp_path / "no" / "mix.mp3"), "--index", str(root / "index")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "does not exist" in err[0]
