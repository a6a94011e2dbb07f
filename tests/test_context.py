"""The context model (Track2Vec + sound -> context) and its ranking term, on generated DJ habits."""
from __future__ import annotations

import os

import numpy as np
import pytest

from livedj.engine.context_eval import next_track_hits
from livedj.engine.context_term import NightFeedback, context_neighbours, context_scores, merge_candidates
from livedj.engine.ranker import Weights, rank
from livedj.library.context import ContextModel, build
from livedj.library.sequences import IdSequence
from livedj.library.store import Track
from livedj.synth.playlists import cold_probes, planted_habits


def as_sequences(lists):
    return [IdSequence(name, kind, "synth", tuple(ids)) for name, kind, ids in lists]


@pytest.fixture(scope="module")
def habits():
    return planted_habits(n_tracks=300, n_styles=6, group_size=10, n_sets=50, n_playlists=50, n_crates=15, seed=3)


def tracks_of(vectors):
    return {t: Track(t, f"/m/{t}.mp3", f"T{t}", "", "", None, None, None, None, None) for t in vectors}


def test_no_lists_is_neutral(habits):
    """With nothing imported the term is left out: every score and order is what it was."""
    ids = np.asarray(sorted(habits.vectors)[:30])
    sims = np.linspace(0.9, 0.3, 30).astype(np.float32)
    tracks = tracks_of(habits.vectors)
    for model in (None, build([], habits.vectors)):
        term = context_scores(ids, int(ids[0]), model)
        assert term is None
        assert rank(ids, sims, tracks, context=term) == rank(ids, sims, tracks)
        assert len(context_neighbours(int(ids[0]), model, 10)) == 0
    model = build(as_sequences(habits.lists), habits.vectors)
    assert context_scores(ids, None, model) is None  # nothing playing: neutral too


def test_planted_order_is_learned_and_explained(habits):
    seqs = as_sequences(habits.lists)
    model = build(seqs, habits.vectors)
    assert model.stats["lists"] == 115 and model.stats["by_kind"] == {"crate": 15, "playlist": 50, "set": 50}
    assert model.stats["learned"] == len({t for s in seqs for t in s.ids})
    # every track has a context vector: from the lists, or predicted from its sound (the cold ones)
    assert np.all(np.linalg.norm(model.vectors, axis=1) > 0.99)
    assert model.stats["predicted"] == 300 - model.stats["learned"] >= len(habits.cold)
    # the record played most often after another is that one's top context neighbour
    after = model.played_after.tocoo()
    best = np.argmax(after.data)
    a, b = int(model.ids[after.row[best]]), int(model.ids[after.col[best]])
    times = int(after.data[best])
    assert times >= 2
    assert int(context_neighbours(a, model, 5)[0]) == b
    scores, reasons = context_scores([b], a, model, titles={a: "Opener"})
    assert scores[0] > 0.8
    assert reasons[0] == f"you played it after Opener {'twice' if times == 2 else f'{times} times'}"
    # a crate neighbour that was never played after it is explained by the crates
    crate_mates = [t for t in model.ids[model.shared[model.row(a)].indices] if model.played_after[model.row(a), model.row(t)] == 0
                   and model.played_after[model.row(t), model.row(a)] == 0]
    if crate_mates:
        _, why = context_scores([int(crate_mates[0])], a, model)
        assert why[0].startswith("in ") and "crates/playlists with the playing record" in why[0]


def test_blend_beats_audio_alone_and_fails_without_the_context_term(habits):
    """Groups mix styles on purpose: sound alone cannot find the next record, the DJ's lists can."""
    seqs = as_sequences(habits.lists + cold_probes(habits, n=30))
    result = next_track_hits(seqs, habits.vectors)
    hist, cold = result["with_history"], result["without_history"]
    assert hist["n"] == 100 and cold["n"] == 30
    assert hist["blend"] >= 2 * max(hist["audio"], 0.05)  # the target: 2x audio alone
    assert hist["blend"] > hist["most_played"] and hist["blend"] > hist["random"]
    assert cold["blend"] >= cold["audio"]  # no history: sound decides, the context term must not spoil it
    ignored = next_track_hits(seqs, habits.vectors, weights=Weights(tempo=0.0, key=0.0, context=0.0))
    assert ignored["with_history"]["blend"] < hist["blend"] / 2  # the test fails if the term is ignored


def test_sound_map_predicts_held_out_context():
    """When context follows sound (crates of one style), the sound -> context map predicts it."""
    h = planted_habits(n_tracks=300, n_styles=6, seed=5)
    by_style = {}
    for t, s in h.style.items():
        by_style.setdefault(s, []).append(t)
    rng = np.random.default_rng(0)
    lists = [(f"c{i}", "crate", list(rng.choice(by_style[i % 6], 12, replace=False))) for i in range(120)]
    model = build(as_sequences(lists), h.vectors)
    assert model.stats["sound_map_cosine"] > 0.5
    # a crate of mixed styles carries no sound -> context relation
    mixed = build(as_sequences(h.lists), h.vectors)
    assert mixed.stats["sound_map_cosine"] < model.stats["sound_map_cosine"] - 0.3


def test_skip_and_ban_tonight(habits):
    model = build(as_sequences(habits.lists), habits.vectors)
    playing = int(model.ids[np.flatnonzero(model.learned)[0]])
    near = context_neighbours(playing, model, 6)
    base, _ = context_scores(near, playing, model)
    night = NightFeedback()
    night.skip(int(near[0]), playing)
    night.ban(int(near[1]))
    after, why = context_scores(near, playing, model, feedback=night)
    assert after[0] == 0 and why[0] == "skipped tonight with this record"
    assert after[1] == 0 and why[1] == "banned tonight"
    assert np.all(after[2:] <= base[2:]) and np.any(after[2:] < base[2:])  # its context neighbours lowered
    assert int(near[1]) not in context_neighbours(playing, model, 6, feedback=night).tolist()
    other = int(model.ids[np.flatnonzero(model.learned)[-1]])
    untouched, _ = context_scores(near, other, model, feedback=NightFeedback(skipped={playing: {int(near[0])}}))
    again, _ = context_scores(near, other, model)
    assert np.allclose(untouched, again)  # a skip is about what was playing, not about the track forever


def test_set_log_remembers_tonight_and_bans(habits):
    """Tonight's set log, rebuilt at the next `livedj index`, makes the pair next week's suggestion."""
    seqs = as_sequences(habits.lists)
    a, b = habits.groups[0][0], habits.groups[-1][-1]  # two records no list put together
    before = build(seqs, habits.vectors)
    rank_before = context_neighbours(a, before, 300).tolist().index(b) if b in context_neighbours(
        a, before, 300).tolist() else 300
    night = IdSequence("tonight", "set", "livedj", (a, b, a, b), banned=(habits.groups[0][1],))
    after = build(seqs + [night], habits.vectors)
    assert context_neighbours(a, after, 3).tolist()[0] == b and rank_before > 0
    banned = after.row(habits.groups[0][1])
    assert after.banned[banned] and not after.vectors[banned].any()
    assert habits.groups[0][1] not in context_neighbours(a, after, 300).tolist()


def test_merge_candidates_adds_context_neighbours():
    ids, sims = np.asarray([1, 2]), np.asarray([0.9, 0.8], np.float32)
    vec = {3: np.asarray([0.0, 1.0]), 4: None}
    out_ids, out_sims = merge_candidates(ids, sims, np.asarray([2, 3, 4]), np.asarray([0.0, 2.0]), vec.get)
    assert out_ids.tolist() == [1, 2, 3, 4] and np.allclose(out_sims, [0.9, 0.8, 1.0, 0.0])


def test_model_round_trips_through_its_file(habits, tmp_path):
    model = build(as_sequences(habits.lists), habits.vectors)
    model.save(tmp_path / "context.npz")
    back = ContextModel.load(tmp_path / "context.npz")
    assert np.array_equal(back.ids, model.ids) and np.allclose(back.vectors, model.vectors)
    assert (back.shared != model.shared).nnz == 0 and (back.played_after != model.played_after).nnz == 0
    assert back.stats == model.stats


def test_index_directory_keeps_lists_and_model(habits, tmp_path):
    """Lists resolved against a real store, the set log added, the model cached until its sources change."""
    from livedj.library.context_update import MODEL_FILE, load_context, read_lists, update_context
    from livedj.library.history import History
    from livedj.library.store import Store

    store = Store(tmp_path / "index")
    for t, v in habits.vectors.items():
        store.put(str(tmp_path / "m" / f"{t}.mp3"), 1, 1, status="ok", encoder="synth/1", vector=v)
    store.close()
    reader = Store(tmp_path / "index", readonly=True)
    ids = reader.tracks()
    reader.close()
    path_of = {int(t.path.rsplit("/", 1)[1][:-4]): t.path for t in ids.values()}
    (tmp_path / "lists").mkdir()
    for name, kind, members in habits.lists[:40]:
        (tmp_path / "lists" / f"{name}.m3u8").write_text(
            "\n".join(["../m/" + os.path.basename(path_of[t]) for t in members] + ["../m/missing.mp3"]))
    history = tmp_path / "history.sqlite"
    assert load_context(tmp_path / "index", "synth/1", history) == (None, None)  # nothing yet: neutral
    lists, problems = read_lists(m3u=[tmp_path / "lists"])
    model, report = update_context(tmp_path / "index", "synth/1", lists=lists, history_path=history)
    assert report.imported.unresolved == 40 and report.imported.sequences == 40 and not problems
    assert model.stats["lists"] == 40 and (tmp_path / "index" / MODEL_FILE).exists()
    a, b = path_of[habits.groups[0][0]], path_of[habits.groups[-1][-1]]
    cached, problem = load_context(tmp_path / "index", "synth/1", history)
    assert problem is None and cached.stats["key"] == model.stats["key"]
    # tonight: b after a, twice; the next load rebuilds from the set log and remembers it
    h = History(history)
    s = h.start_session("tonight")
    for p in (a, b, a, b):
        h.log_play(s, p)
    h.close()
    again, problem = load_context(tmp_path / "index", "synth/1", history)
    ta, tb = (next(i for i, t in ids.items() if t.path == p) for p in (a, b))
    assert problem is None and again.stats["key"] != model.stats["key"]
    assert again.played_after[again.row(ta), again.row(tb)] == 2
    assert int(context_neighbours(ta, again, 1)[0]) == tb


def test_context_command_summary_and_neighbours(habits, tmp_path, capsys):
    import argparse
    import json

    from livedj.commands import context as command
    from livedj.config import defaults
    from livedj.library.context_update import read_lists, update_context
    from livedj.library.store import Store

    store = Store(tmp_path / "index")
    for t, v in habits.vectors.items():
        store.put(f"/m/{t}.mp3", 1, 1, status="ok", encoder="musicnn/1", vector=v, tags={"title": f"T{t}"})
    store.close()
    (tmp_path / "set.m3u").write_text("\n".join(f"/m/{t}.mp3" for t in habits.groups[0]))
    config = defaults()
    config["index"]["path"], config["history"]["path"] = str(tmp_path / "index"), str(tmp_path / "h.sqlite")
    args = argparse.Namespace(track=None, top=3, rebuild=False, json=True)
    assert command.main(args, config) == 0
    assert "no playlists, crates or sets learned yet" in capsys.readouterr().out
    from livedj.encoders import encoder_id

    lists, _ = read_lists(m3u=[tmp_path / "set.m3u"])
    update_context(tmp_path / "index", encoder_id("musicnn"), lists=lists, history_path=tmp_path / "h.sqlite")
    assert command.main(args, config) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["lists"] == 1 and figures["in_lists"] == len(habits.groups[0]) and figures["tracks"] == 300
    args.track = f"/m/{habits.groups[0][0]}.mp3"
    assert command.main(args, config) == 0
    shown = json.loads(capsys.readouterr().out)
    first, second = habits.groups[0][:2]
    assert shown["neighbours"][0]["title"] == f"T{second}"  # listed right after it
    assert shown["neighbours"][0]["why"] == f"you listed it after T{first} in 1 playlist"
    assert shown["neighbours"][1]["why"] == f"in 1 of your crates/playlists with T{first}"


def test_context_of_a_record_in_no_list_without_a_sound_map_says_so(habits, tmp_path, capsys):
    """A record in none of the DJ's lists, with too few listed tracks for a sound map: `livedj context X`
    printed an empty table. Now one sentence: in no list, and what to run."""
    import argparse

    from livedj.commands import context as command
    from livedj.config import defaults
    from livedj.encoders import encoder_id
    from livedj.library.context_update import read_lists, update_context
    from livedj.library.store import Store

    store = Store(tmp_path / "index")
    for t, v in habits.vectors.items():
        store.put(f"/m/{t}.mp3", 1, 1, status="ok", encoder="musicnn/1", vector=v, tags={"title": f"T{t}"})
    store.close()
    listed = habits.groups[0][:4]  # under the sound map's 8 tracks: nothing placed by its sound
    (tmp_path / "set.m3u").write_text("\n".join(f"/m/{t}.mp3" for t in listed))
    lists, _ = read_lists(m3u=[tmp_path / "set.m3u"])
    update_context(tmp_path / "index", encoder_id("musicnn"), lists=lists, history_path=tmp_path / "h.sqlite")
    config = defaults()
    config["index"]["path"], config["history"]["path"] = str(tmp_path / "index"), str(tmp_path / "h.sqlite")
    outsider = next(t for t in habits.vectors if t not in listed)
    args = argparse.Namespace(track=f"/m/{outsider}.mp3", top=3, rebuild=False, json=False)
    assert command.main(args, config) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"T{outsider} is in none of your playlists, crates or sets"), out
    assert "livedj index --from-rekordbox" in lines[0] and "context neighbours" not in out, out
    args.track = f"/m/{listed[0]}.mp3"  # a listed record still gets its table
    assert command.main(args, config) == 0
    assert "context neighbours of" in capsys.readouterr().out


def test_with_context_is_the_rank_stage_in_one_call(habits):
    from livedj.engine.context_term import with_context

    model = build(as_sequences(habits.lists), habits.vectors)
    ids, sims = np.asarray([1, 2, 3]), np.asarray([0.9, 0.8, 0.7], np.float32)
    same = with_context(ids, sims, habits.vectors[1], None, model, habits.vectors.get)
    assert same[0] is ids and same[2] is None
    a = habits.lists[0][2][0]  # the first record of a set: in the lists
    out_ids, out_sims, term = with_context(ids, sims, habits.vectors[a], a, model, habits.vectors.get,
                                           exclude=frozenset({a}))
    assert len(out_ids) > 3 and len(term[0]) == len(out_ids) and a not in out_ids.tolist()
    top = rank(out_ids, out_sims, tracks_of(habits.vectors), context=term, exclude={a})
    assert top[0].why["context"] > 0.5 and "context_why" in top[0].why


def test_night_feedback_follows_the_session():
    night = NightFeedback()
    assert night.sync({5}, set(), playing=1) == [("skip", 5)]
    assert night.sync({5, 6}, {7}, playing=2) == [("skip", 6), ("ban", 7)]
    assert night.sync({5, 6}, {7}, playing=3) == []
    assert night.skipped == {1: {5}, 2: {6}} and night.banned == {7}
