"""An index whose stored vectors hold a NaN or an infinity (an older livedj could store one): the next
`livedj index` analyses those files again, as if changed, and keeps them; a silent segment (an all-NaN
row, stored so on purpose) is no damage.

Real parts: 4 generated records, the indexer with the cheap "features" encoders and its library fit,
the store's SQLite file and the window cache written in their own formats.
"""
from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from livedj.commands.index import print_report
from livedj.encoders import encoder_dim, encoder_id
from livedj.library import vectors as vector_fit
from livedj.library.indexer import Settings, index_library
from livedj.library.store import Store
from livedj.synth import DEMO_TRACKS, build_demo_library

SETTINGS = Settings(encoder="features", segment_encoder="features", beginning_s=10.0, segment_hop_s=5.0)
ENC = encoder_id(SETTINGS.encoder)
SEG_DIM = encoder_dim(SETTINGS.segment_encoder)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A library and its index, built once; each test works on a copy of the index."""
    root = tmp_path_factory.mktemp("damaged")
    build_demo_library(root / "library", DEMO_TRACKS[:4], duration=20.0, formats=("flac",))
    index_library([root / "library"], root / "index", SETTINGS, jobs=1, n_trees=4)
    return root


def _rows(index_dir):
    store = Store(index_dir, readonly=True)
    rows = store.db.execute("SELECT id, path, vector, segments, indexed_at FROM tracks ORDER BY path").fetchall()
    store.close()
    return [(tid, bytes(p), np.frombuffer(v, np.float32), np.frombuffer(s, np.float32).reshape(-1, SEG_DIM), at)
            for tid, p, v, s, at in rows]


def _damage(index_dir, raw, how):
    """Write one kind of damage into the stored vectors of the file ``raw``, in the store's own format."""
    (_, _, vector, segments, _), = [r for r in _rows(index_dir) if r[1] == raw]
    vector, segments = vector.copy(), segments.copy()
    if how == "windows":  # the fit's input, in the window cache: the same NaN an older livedj's vector came from
        cache = vector_fit.load_windows(index_dir, ENC, SETTINGS.beginning_s)
        cache[raw] = cache[raw].copy()
        cache[raw][0, 3] = np.nan
        vector_fit.save_windows(index_dir, cache, ENC, SETTINGS.beginning_s)
        return
    if how == "beginning NaN":
        vector[5] = np.nan
    elif how == "beginning inf":
        vector[0] = np.inf
    elif how == "segment partly NaN":
        segments[1, :4] = np.nan
    elif how == "segment inf":
        segments[2, 7] = -np.inf
    elif how == "silent segment":
        segments[1, :] = np.nan  # what segment_vectors stores for a silent stretch: not damage
    store = Store(index_dir)
    store.db.execute("UPDATE tracks SET vector = ?, segments = ? WHERE path = ?",
                     (vector.tobytes(), segments.tobytes(), raw))
    store.db.commit()
    store.close()


@pytest.mark.parametrize("how", ["beginning NaN", "beginning inf", "segment partly NaN", "segment inf", "windows"])
def test_damaged_vectors_are_analysed_again_and_the_track_kept(built, tmp_path, how):
    import shutil

    index_dir = tmp_path / "index"
    shutil.copytree(built / "index", index_dir)
    before = _rows(index_dir)
    victim = before[1][1]
    _damage(index_dir, victim, how)

    report = index_library([built / "library"], index_dir, SETTINGS, jobs=1, n_trees=4)
    assert (report.damaged, report.indexed, report.unchanged, report.removed) == (1, 1, 3, 0)
    after = _rows(index_dir)
    assert [r[:2] for r in after] == [r[:2] for r in before]  # every track kept, under its id
    for (tid, raw, vector, segments, at), old in zip(after, before):
        assert np.isfinite(vector).all() and np.array_equal(np.isnan(segments), np.isnan(old[3]))
        assert np.allclose(vector, old[2]) and np.allclose(segments, old[3], equal_nan=True)  # what analysis gives
        assert (at != old[4]) == (raw == victim)  # only the damaged file was analysed again
    windows = vector_fit.load_windows(index_dir, ENC, SETTINGS.beginning_s)
    assert all(np.isfinite(w).all() for w in windows.values()) and len(windows) == 4
    out = Console(record=True, width=200)
    print_report(report, out)
    assert "1 track with damaged vectors (NaN or infinite, from an older livedj) analysed again" in out.export_text()

    again = index_library([built / "library"], index_dir, SETTINGS, jobs=1, n_trees=4)
    assert (again.damaged, again.indexed, again.unchanged) == (0, 0, 4)  # repaired once


def test_a_silent_segment_is_no_damage(built, tmp_path):
    import shutil

    index_dir = tmp_path / "index"
    shutil.copytree(built / "index", index_dir)
    _damage(index_dir, _rows(index_dir)[0][1], "silent segment")
    report = index_library([built / "library"], index_dir, SETTINGS, jobs=1, n_trees=4)
    assert (report.damaged, report.indexed, report.unchanged) == (0, 0, 4)
