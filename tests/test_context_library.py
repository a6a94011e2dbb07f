"""End to end on real parts: generated records (livedj.synth) indexed with a real encoder into a real
Annoy index, the DJ's M3U playlists planting pairs that sound alone cannot find (ambient -> drum &
bass), the context model built beside the index, and the rank stage with and without it."""
from __future__ import annotations

import numpy as np
import pytest

from livedj.encoders import encoder_dim, encoder_id
from livedj.engine.context_term import with_context
from livedj.engine.ranker import rank
from livedj.library import index as annoy_index
from livedj.library.context_update import load_context, read_lists, update_context
from livedj.library.indexer import Settings, index_library
from livedj.library.store import Store
from livedj.synth import DEMO_TRACKS, build_demo_library

PAIRS = [("Slow Orbit", "Amen Horizon"), ("Dusty Crates", "Skyward"), ("Mirror Ball", "Juke Jam")]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = tmp_path_factory.mktemp("ctxlib")
    paths = build_demo_library(root / "library", DEMO_TRACKS, duration=12.0, formats=("flac",))
    # the base vectors, no library fit: this module measures the context term, not the fit (a 12-track
    # library is only centred, which spreads the similarities the planted pairs are weighed against)
    settings = Settings(encoder="features", beginning_s=10.0, segment_hop_s=0.0, fit="none")
    index_library([root / "library"], root / "index", settings, jobs=1, n_trees=8)
    return root, {spec.title: str(p) for spec, p in zip(DEMO_TRACKS, paths)}


def suggestions(index_dir, playing_path, model):
    enc = encoder_id("features")
    index = annoy_index.load(index_dir, encoder=enc, dim=encoder_dim("features"))
    store = Store(index_dir, readonly=True)
    tracks = store.tracks()
    vectors = dict(store.vectors(enc))
    store.close()
    playing = next(t.id for t in tracks.values() if t.path == playing_path)
    query = vectors[playing]
    ids, sims = index.query(query, 50)
    ids, sims, term = with_context(ids, sims, index.project(query), playing, model, index.annoy.get_item_vector,
                                   exclude=frozenset({playing}), titles={t.id: t.title for t in tracks.values()})
    return [s.title for s in rank(ids, sims, tracks, top=3, exclude={playing}, context=term)]


def test_the_djs_playlists_change_what_comes_next(indexed, tmp_path):
    import shutil

    root, path_of = indexed
    index_dir = tmp_path / "index"
    shutil.copytree(root / "index", index_dir)
    # without playlists: the nearest sound; the planted partner is not what sound suggests
    for a, b in PAIRS:
        assert suggestions(index_dir, path_of[a], None)[0] != b
    assert load_context(index_dir, encoder_id("features")) == (None, None)
    # three nights' playlists, each playing the pairs one after the other
    (tmp_path / "nights").mkdir()
    for night in range(3):
        order = [path_of[t] for pair in PAIRS[night:] + PAIRS[:night] for t in pair]
        (tmp_path / "nights" / f"night{night}.m3u8").write_text("#EXTM3U\n" + "\n".join(order) + "\n/gone.flac\n")
    lists, problems = read_lists(m3u=[tmp_path / "nights"])
    model, report = update_context(index_dir, encoder_id("features"), lists=lists)
    assert report.imported.unresolved == 3 and not problems and model.stats["learned"] == 6
    for a, b in PAIRS:
        assert suggestions(index_dir, path_of[a], model)[0] == b, (a, b)



def test_index_playlists_and_context_commands(indexed, tmp_path):
    """`livedj index --playlists` learns from M3U files; `livedj context` shows what was learned."""
    import json
    import shutil
    import subprocess
    import sys

    root, path_of = indexed
    shutil.copytree(root / "index", tmp_path / "index")
    config = tmp_path / "config.toml"
    config.write_text(f'[analysis]\nencoder = "features"\n[index]\npath = "{tmp_path / "index"}"\n'
                      f'segment_hop_s = 0.0\n[history]\npath = "{tmp_path / "history.sqlite"}"\n')
    (tmp_path / "friday.m3u").write_text("\n".join(path_of[t] for pair in PAIRS for t in pair) + "\nmissing.mp3\n")

    def livedj(*args):
        return subprocess.run([sys.executable, "-m", "livedj", *map(str, args), "--config", str(config)],
                              capture_output=True, text=True, timeout=300)

    empty = livedj("context")
    assert empty.returncode == 0 and "no playlists, crates or sets learned yet" in empty.stdout
    done = livedj("index", "--playlists", tmp_path / "friday.m3u")
    assert done.returncode == 0, done.stderr
    assert "1 list, 7 entries, 6 in the library" in done.stderr and "1 entry not in the library" in done.stderr
    summary = json.loads(livedj("context", "--json").stdout)
    assert summary["lists"] == 1 and summary["in_lists"] == 6 and summary["tracks"] == len(DEMO_TRACKS)
    near = json.loads(livedj("context", path_of["Slow Orbit"], "--json", "--top", "3").stdout)
    assert near["neighbours"][0]["path"] == path_of["Amen Horizon"]
    assert near["neighbours"][0]["why"].startswith("you listed it after")
    shown = livedj("context", path_of["Slow Orbit"])
    assert shown.returncode == 0 and "Amen Horizon" in shown.stdout
    bad = livedj("index", "--playlists", tmp_path / "nope.m3u")
    assert bad.returncode == 1 and "nope.m3u: no such file" in bad.stderr


def test_engine_rank_stage_uses_the_context_and_tonights_skips(indexed, tmp_path):
    """The engine as loaded for `livedj run`: the context term in the rank stage, a skip logged with
    what was playing, and weight_context = 0 leaving the engine as it was."""
    import shutil

    from livedj.config import defaults
    from livedj.encoders.base import Embedding
    from livedj.engine.loader import load_engine
    from livedj.engine.now_playing import NowPlaying
    from livedj.engine.session import Session, Skip

    root, path_of = indexed
    shutil.copytree(root / "index", tmp_path / "index")
    (tmp_path / "friday.m3u").write_text("\n".join(path_of[t] for pair in PAIRS for t in pair))
    update_context(tmp_path / "index", encoder_id("features"), lists=read_lists(m3u=[tmp_path / "friday.m3u"])[0])
    config = defaults()
    config["analysis"]["encoder"], config["index"]["path"] = "features", str(tmp_path / "index")
    config["history"]["path"] = str(tmp_path / "history.sqlite")
    engine = load_engine(config)
    assert engine.context is not None and engine.ranking.weights.context == 1.5
    store = Store(tmp_path / "index", readonly=True)
    vectors = dict(store.vectors(encoder_id("features")))
    store.close()
    by_path = {t.path: t.id for t in engine.tracks.values()}
    playing, partner = by_path[path_of["Slow Orbit"]], by_path[path_of["Amen Horizon"]]
    session, logged = Session(), []
    session.on_feedback.append(lambda *a: logged.append(a))
    now = NowPlaying(track_id=playing, confidence=1.0)

    def top():
        embedding = Embedding(vectors[playing], np.zeros(0, np.float32))
        exclude = session.excluded(now.on_deck)
        ids, sims = engine.query(embedding, session, exclude)
        return engine.rank(ids, sims, session, exclude, now)

    first = top()[0]
    assert first.track_id == partner and first.why["context_why"].startswith("you listed it after Slow Orbit")
    session.send(Skip(partner))
    session.apply_pending()
    assert partner not in [s.track_id for s in top()]
    assert logged == [("skip", partner, playing)] and engine.night.skipped == {playing: {partner}}
    config["ranking"]["weight_context"] = 0.0
    plain = load_engine(config)
    assert plain.context is None
    exclude = Session().excluded(now.on_deck)
    ids, sims = plain.query(Embedding(vectors[playing], np.zeros(0, np.float32)), Session(), exclude)
    assert "context" not in plain.rank(ids, sims, Session(), exclude, now)[0].why
