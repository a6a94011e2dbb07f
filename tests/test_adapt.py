"""The booth head: unit/deterministic output, a loss that falls, file round trip, the adapted encoder.

All audio is synthesised (livedj.synth) and short; musicnn runs on a few dozen 5-s windows only.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livedj.adapt.data import SR, FeatureCache, booth_window, build_cache  # noqa: E402
from livedj.adapt.head import HeadError, apply_head, head_hash, load_head, make_head, save_head  # noqa: E402


@pytest.fixture(scope="module")
def musicnn():
    from livedj.encoders.musicnn import load_musicnn

    torch.set_num_threads(1)
    return load_musicnn()[0]


@pytest.fixture(scope="module")
def cache(musicnn, tmp_path_factory):
    """Six synthetic tracks, two 5-s chunks each, clean + two booth views, through musicnn."""
    from livedj.synth import DEMO_TRACKS, LEAD_IN, render_track

    def source(spec):
        return lambda: render_track(spec, duration=LEAD_IN + 10.5, sample_rate=SR)

    tracks = [((f"synth/{i}", source(spec)), f"label{i % 2}") for i, spec in enumerate(DEMO_TRACKS[:6])]
    out = tmp_path_factory.mktemp("adapt") / "cache.npz"
    return build_cache(tracks, out, musicnn, views=2, max_chunks=2), out


def test_head_output_is_unit_and_deterministic():
    x = np.random.default_rng(0).standard_normal((5, 1506)).astype(np.float32)
    a, b = apply_head(make_head("pool", seed=3), x), apply_head(make_head("pool", seed=3), x)
    assert a.shape == (5, 128)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, b)
    assert head_hash(make_head("pool", seed=3)) == head_hash(make_head("pool", seed=3))
    assert head_hash(make_head("pool", seed=3)) != head_hash(make_head("pool", seed=4))


def test_booth_window_keeps_length_and_is_deterministic():
    from livedj.adapt.data import booth_params

    y = np.random.default_rng(1).standard_normal(SR * 8).astype(np.float32) * 0.1
    p1, p2 = booth_params(np.random.default_rng(5)), booth_params(np.random.default_rng(5))
    w1, w2 = booth_window(y, SR, p1), booth_window(y, SR, p2)
    assert w1.shape == (5 * SR,) and w1.dtype == np.float32
    np.testing.assert_array_equal(w1, w2)


def test_cache_is_complete_and_resumes(cache, musicnn):
    data, path = cache
    assert len(data.paths) == 6 and data.clean.shape == (12, 1506) and data.booth.shape == (12, 2, 1506)
    again = build_cache([((p, None), "x") for p in data.paths], path, musicnn, views=2, max_chunks=2)
    np.testing.assert_array_equal(again.clean, FeatureCache.load(path).clean)  # nothing recomputed


def test_infonce_loss_decreases_on_tiny_problem(cache, musicnn):
    from livedj.adapt.train import TrainConfig, prepare, train_head

    config = TrainConfig(base="pool", hidden=64, out_dim=16, epochs=15, batch=6, val_share=0.0, lr=3e-3,
                         distill=0.0)
    head, history = train_head(prepare(cache[0], "pool", musicnn), config)
    losses = [h["loss"] for h in history]
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])


def test_training_resumes_from_checkpoint(cache, musicnn, tmp_path):
    from livedj.adapt.train import TrainConfig, prepare, train_head

    feats = prepare(cache[0], "penultimate", musicnn)
    ckpt = str(tmp_path / "ckpt.pt")
    full, _ = train_head(feats, TrainConfig(base="penultimate", hidden=32, out_dim=8, epochs=4, batch=6))
    train_head(feats, TrainConfig(base="penultimate", hidden=32, out_dim=8, epochs=2, batch=6), checkpoint=ckpt)
    state = torch.load(ckpt, weights_only=False)
    state["config"]["epochs"] = 4  # pretend the 4-epoch run stopped after epoch 2
    torch.save(state, ckpt)
    resumed, history = train_head(feats, TrainConfig(base="penultimate", hidden=32, out_dim=8, epochs=4, batch=6),
                                  checkpoint=ckpt, resume=True)
    assert len(history) == 4 and head_hash(resumed) == head_hash(full)


def test_save_load_round_trip(tmp_path):
    head = make_head("penultimate", hidden=32, out_dim=8, seed=1)
    digest = save_head(head, tmp_path / "h.safetensors", info={"data": "test"})
    loaded, meta = load_head(tmp_path / "h.safetensors")
    assert meta["hash"] == digest and meta["base"] == "penultimate" and meta["info"] == {"data": "test"}
    x = np.random.default_rng(0).standard_normal((3, 200)).astype(np.float32)
    np.testing.assert_array_equal(apply_head(head, x), apply_head(loaded, x))


def test_wrong_dims_give_one_line_error(tmp_path):
    from safetensors.torch import save_file

    good = make_head("penultimate", hidden=32, out_dim=8)
    tensors = dict(good.state_dict())
    tensors["fc1.weight"] = torch.zeros(32, 100)  # not the 200-d penultimate layer
    meta = {"format": "livedj-booth-head-1", "base": "penultimate", "in_dim": 200, "hidden": 32, "out_dim": 8}
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={"livedj_head": json.dumps(meta)})
    with pytest.raises(HeadError) as err:
        load_head(tmp_path / "bad.safetensors")
    assert "\n" not in str(err.value) and "fc1.weight" in str(err.value) and "wrong dims" in str(err.value)
    meta["in_dim"] = 1506  # metadata that contradicts the layer
    save_file(dict(good.state_dict()), str(tmp_path / "bad2.safetensors"),
              metadata={"livedj_head": json.dumps(meta)})
    with pytest.raises(HeadError, match="penultimate"):
        load_head(tmp_path / "bad2.safetensors")
    with pytest.raises(HeadError, match="not found"):
        load_head(tmp_path / "missing.safetensors")


def test_adapted_encoder(tmp_path, monkeypatch):
    from livedj.encoders.adapted import AdaptedEncoder
    from livedj.synth import DEMO_TRACKS, render_track

    digest = save_head(make_head("pool", seed=2), tmp_path / "head.safetensors")
    monkeypatch.setenv("LIVEDJ_BOOTH_HEAD", str(tmp_path / "head.safetensors"))
    enc = AdaptedEncoder(threads=1)
    assert enc.dim == 128 and digest in enc.version and len(enc.tag_names) == 50
    assert AdaptedEncoder.describe() == (enc.version, enc.dim)
    audio = render_track(DEMO_TRACKS[0], duration=12.0, sample_rate=SR)
    one = enc.analyze(audio[SR * 6:SR * 11])
    assert one.vector.shape == (128,) and abs(float(np.linalg.norm(one.vector)) - 1) < 1e-5
    assert one.tags.shape == (50,)
    many = enc.analyze_many([audio[SR * 6:SR * 11], audio[SR * 2:SR * 7]])
    np.testing.assert_allclose(many[0].vector, one.vector, atol=1e-5)
    save_head(make_head("pool", seed=3), tmp_path / "other.safetensors")
    assert AdaptedEncoder.describe(tmp_path / "other.safetensors")[0] != enc.version  # another head, another id


class _Spectrum:
    """A cheap stand-in encoder (coarse log spectrum) so the room evaluation runs without musicnn."""

    name, version, dim, sample_rate, tag_names = "spectrum", "1", 64, SR, ()

    def analyze(self, audio):
        from livedj.encoders.base import Embedding, unit

        spec = np.abs(np.fft.rfft(audio, 4096))[:2048].reshape(64, 32).sum(axis=1)
        return Embedding(vector=unit(np.log1p(spec)))

    def analyze_many(self, windows):  # the batch call eval --room makes of every encoder
        return [self.analyze(w) for w in windows]


def test_room_embedders_share_one_musicnn_pass_and_match_each_encoder(tmp_path, monkeypatch):
    """eval --room runs musicnn once (batched by MusicnnEncoder.outputs_many) for musicnn and
    musicnn-booth; each encoder's vectors equal what the encoder itself computes."""
    from livedj.commands.eval_room import _Embedders
    from livedj.encoders.musicnn import MusicnnEncoder
    from livedj.synth import DEMO_TRACKS, render_track

    save_head(make_head("penultimate", seed=4), tmp_path / "head.safetensors")
    monkeypatch.setenv("LIVEDJ_BOOTH_HEAD", str(tmp_path / "head.safetensors"))
    audio = render_track(DEMO_TRACKS[1], duration=12.0, sample_rate=SR)
    windows = [audio[:SR * 5], audio[SR * 3:SR * 9], audio[SR * 6:SR * 11]]  # two lengths
    embed = _Embedders(["musicnn", "musicnn-booth", ("spectrum", _Spectrum())], threads=1)
    assert isinstance(embed.shared, MusicnnEncoder)
    passes = []  # batch sizes of musicnn's forward passes
    embed.shared.model.register_forward_hook(lambda module, inputs, output: passes.append(len(inputs[0])))
    vectors = embed(windows)
    assert sorted(passes) == [1, 2]  # one batch per window length, shared by both musicnn encoders
    for name in ("musicnn", "musicnn-booth", "spectrum"):
        own = np.stack([embed.models[name].analyze(w).vector for w in windows])
        np.testing.assert_allclose(vectors[name], own, atol=1e-5)


def test_evaluate_room_on_synthetic_folder(tmp_path):
    from livedj.commands.eval_room import evaluate_room, print_room_table
    from livedj.synth import DEMO_TRACKS, render_track, write_audio

    for i, spec in enumerate(DEMO_TRACKS[:3]):
        (tmp_path / f"l{i % 2}").mkdir(exist_ok=True)
        write_audio(str(tmp_path / f"l{i % 2}" / f"t{i}.wav"), render_track(spec, duration=16.0, sample_rate=SR), SR)
    phases = []
    result = evaluate_room(str(tmp_path), [("spectrum", _Spectrum())], queries=1, votes=2, max_track_s=16.0,
                           progress=lambda i, n, what: phases.append((what, i, n)))
    assert phases[0] == ("fingerprinting the clean tracks", 1, 3) and phases[-1] == ("through the booth", 3, 3)
    r = result["results"]["spectrum"]
    assert result["tracks"] == 3 and set(r["id_top1"]) == {"straight", "+6%", "-6%"}
    assert all(0.0 <= v <= 1.0 for v in [*r["id_top1"].values(), *r["id_voted"].values(), r["booth_p"]])
    assert 0.0 <= r["booth_p_blend"] <= 1.0 and 0.0 <= r["clean_p_blend"] <= 1.0
    fpr = result["fingerprints"]  # landmark fingerprints on the same booth queries
    assert fpr["absent_runs"] == 3 * 3  # every track is also heard against an index without it
    assert fpr["id_top1"]["straight"] >= 0.5 and fpr["false_now_playing"] == 0.0
    print(fpr)
    print_room_table(result)
