"""The context half of the recommendation: what the DJ's own lists say belongs together.

Track2Vec (after Deej-AI): tracks are words, playlists/crates/sets are sentences. Instead of
word2vec's SGD we factorise the positive pointwise mutual information (PPMI) matrix of the
weighted co-occurrences (its largest eigenpairs, scipy's ARPACK), which is what skip-gram with
negative sampling implicitly factorises (Levy & Goldberg, "Neural word embedding as implicit matrix
factorization", NIPS 2014): deterministic, no extra dependency, and ~1 s for 10,000 tracks.

Evidence and its weight (a pair counted once per list it shares):

========================== =================================== ======================
evidence                   where                               weight
========================== =================================== ======================
in one list                crate, playlist or set (chunks of   ``w_member / (n - 1)``
                           ``CHUNK`` entries for long lists)
next to each other         playlist order                      ``w_adjacent``
played one after the other set (livedj's log, Mixxx/Traktor    ``w_played``
                           history)
========================== =================================== ======================

MP3ToVec: a ridge regression from the song-beginning (audio) vector to the context vector,
fitted on the tracks that have one, gives every other track (in no list, or new) a context
vector from its sound. :func:`build` reports its cosine proximity on held-out tracks.

The model also keeps the raw counts (lists shared, times played after) for ``why``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from livedj.library.copies import recordings, track_pairs

CHUNK = 64  #: long lists (a 50,000-play history) count co-membership within chunks of this many entries


@dataclass(frozen=True)
class Params:
    dim: int = 48  #: context vector size
    w_member: float = 1.0  #: a list's co-membership weight, spread over its pairs
    w_adjacent: float = 1.0  #: consecutive in a playlist
    w_played: float = 4.0  #: played one after the other in a set: the strongest evidence
    smoothing: float = 0.75  #: context-distribution smoothing of PPMI (word2vec's unigram^0.75)
    ridge: float = 1.0  #: L2 penalty of the sound -> context map
    holdout: float = 0.2  #: share of tracks held out to measure the sound -> context map
    #: ARPACK tolerance: vectors are compared by cosine; scipy's default (0, machine precision) costs more CPU
    svd_tol: float = 1e-4


@dataclass
class ContextModel:
    """Context vectors for every library track, and the counts behind them.

    Attributes
    ----------
    ids : ndarray of int64 (n,)
        Track ids, sorted; row ``i`` of every matrix is ``ids[i]``.
    vectors : ndarray of float32 (n, dim)
        Unit context vectors (learned where ``learned``, predicted from sound elsewhere;
        zero when neither was possible).
    learned : ndarray of bool (n,)
        The track is in at least one list.
    shared : scipy.sparse.csr_matrix (n, n)
        Lists two tracks share (symmetric, diagonal 0).
    played_after : scipy.sparse.csr_matrix (n, n)
        ``[a, b]``: times b was played right after a in a set.
    banned : ndarray of bool (n,)
        Banned in the set log: no context affinity at all.
    listed_after : scipy.sparse.csr_matrix (n, n)
        ``[a, b]``: playlists listing b right after a.
    stats : dict
        What was learned: lists by kind, tracks covered, the sound map's held-out cosine, seconds.
    copies : dict
        Track id -> the track id whose row it shares: a recording the library holds more than once
        (``Track.recording``) is one record here, whichever copy a list or the set log names.
    """

    ids: np.ndarray
    vectors: np.ndarray
    learned: np.ndarray
    shared: sp.csr_matrix
    played_after: sp.csr_matrix
    banned: np.ndarray
    stats: dict = field(default_factory=dict)
    listed_after: sp.csr_matrix | None = None
    copies: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.listed_after is None:
            self.listed_after = sp.csr_matrix((len(self.ids), len(self.ids)), dtype=np.float32)
        self._row = {int(t): i for i, t in enumerate(self.ids.tolist())}
        self.played_before = self.played_after.T.tocsr()  #: ``[b, a]``: times b was played right after a
        for m in self._matrices():
            m.sort_indices()

    def _matrices(self):
        return self.played_after, self.played_before, self.shared, self.listed_after

    def counts(self, p: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """At ``rows``: times played after ``p``, played before it, lists shared, listed after it.

        Read straight from the CSR arrays (sorted indices): scipy's row indexing cost ~0.4 ms a
        call, a dense row per update grows with the library; this grows with the candidates.
        """
        out = []
        for m in self._matrices():
            lo, hi = m.indptr[p], m.indptr[p + 1]
            cols, vals = m.indices[lo:hi], m.data[lo:hi]
            got = np.zeros(len(rows), np.float32)
            if len(cols):
                at = np.minimum(np.searchsorted(cols, rows), len(cols) - 1)
                hit = cols[at] == rows
                got[hit] = vals[at[hit]]
            out.append(got)
        return out[0], out[1], out[2], out[3]

    def evidence(self, p: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows with direct evidence about ``p`` and its weight ``e`` (see :mod:`livedj.engine.context_term`)."""
        weights = (1.0, 0.5, 0.5, 0.5)  # played after, played before, lists shared, listed after
        rows, values = [], []
        for w, m in zip(weights, self._matrices()):
            lo, hi = m.indptr[p], m.indptr[p + 1]
            rows.append(m.indices[lo:hi])
            values.append(w * m.data[lo:hi])
        rows, values = np.concatenate(rows), np.concatenate(values)
        unique, inverse = np.unique(rows, return_inverse=True)
        return unique, np.bincount(inverse, weights=values, minlength=len(unique)).astype(np.float32)

    def row(self, track_id: int) -> int | None:
        track_id = int(track_id)
        return self._row.get(self.copies.get(track_id, track_id))

    @property
    def empty(self) -> bool:
        """No list was imported: the context term is neutral."""
        return not bool(self.learned.any())

    # -- persistence (an .npz in the index directory, written atomically) -------------------
    def save(self, path) -> None:
        import io
        import json

        from livedj.fsutil import atomic_write

        buf = io.BytesIO()
        np.savez(buf, ids=self.ids, vectors=self.vectors, learned=self.learned, banned=self.banned,
                 shared_data=self.shared.data, shared_indices=self.shared.indices, shared_indptr=self.shared.indptr,
                 after_data=self.played_after.data, after_indices=self.played_after.indices,
                 after_indptr=self.played_after.indptr, listed_data=self.listed_after.data,
                 listed_indices=self.listed_after.indices, listed_indptr=self.listed_after.indptr,
                 copies=np.asarray(sorted(self.copies.items()), np.int64).reshape(-1, 2), stats=np.frombuffer(json.dumps(self.stats).encode(), np.uint8))
        atomic_write(path, lambda f: f.write(buf.getvalue()))

    @classmethod
    def load(cls, path) -> "ContextModel":
        import json

        with np.load(path) as z:
            n = len(z["ids"])
            shared = sp.csr_matrix((z["shared_data"], z["shared_indices"], z["shared_indptr"]), shape=(n, n))
            after = sp.csr_matrix((z["after_data"], z["after_indices"], z["after_indptr"]), shape=(n, n))
            listed = sp.csr_matrix((z["listed_data"], z["listed_indices"], z["listed_indptr"]), shape=(n, n))
            copies = {int(a): int(b) for a, b in z["copies"]} if "copies" in z.files else {}
            ids, vectors, learned, banned = z["ids"], z["vectors"], z["learned"], z["banned"]
            for m in (shared, after, listed):
                m.check_format(full_check=True)  # ValueError: indices out of range, pointers out of order
            if (ids.shape != (n,) or ids.dtype.kind not in "iu" or vectors.ndim != 2 or len(vectors) != n
                    or learned.shape != (n,) or banned.shape != (n,) or {learned.dtype.kind, banned.dtype.kind} != {"b"}):
                raise ValueError(f"{path}: arrays of inconsistent shapes (another livedj's, or damaged)")
            return cls(ids, vectors, learned, shared, after, banned,
                       json.loads(bytes(z["stats"]).decode()), listed, copies)


def _chunks(ids: list[int], size: int = CHUNK):
    """Consecutive chunks of at most ``size`` (the last one overlaps so no list is a tiny tail)."""
    if len(ids) <= size:
        yield ids
        return
    for start in range(0, len(ids) - size // 2, size // 2):
        yield ids[start:start + size]


def cooccurrence(sequences, row: dict[int, int], n: int, params: Params = Params()
                 ) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """Weighted co-occurrence ``A`` (symmetric), lists shared, played-after and listed-after counts.

    Parameters
    ----------
    sequences : iterable of IdSequence
    row : dict
        Track id -> row.
    n : int
        Rows.
    """
    memb_rows, memb_cols, memb_w = [], [], []  # incidence: chunk x track, with the chunk's weight
    list_rows, list_cols = [], []  # incidence: list x track (for "lists shared")
    pair_a, pair_b, pair_w = [], [], []
    after_a, after_b = [], []
    listed_a, listed_b = [], []
    chunk_no = 0
    for k, seq in enumerate(sequences):
        rows = [row[t] for t in seq.ids if t in row]
        unique = list(dict.fromkeys(rows))
        list_rows += [k] * len(unique)
        list_cols += unique
        for chunk in _chunks(unique):
            if len(chunk) < 2:
                continue
            memb_rows += [chunk_no] * len(chunk)
            memb_cols += chunk
            memb_w.append(params.w_member / (len(chunk) - 1))
            chunk_no += 1
        if seq.kind in ("playlist", "set"):
            w = params.w_played if seq.kind == "set" else params.w_adjacent
            for a, b in zip(rows[:-1], rows[1:]):
                if a != b:
                    pair_a.append(a)
                    pair_b.append(b)
                    pair_w.append(w)
                    if seq.kind == "set":
                        after_a.append(a)
                        after_b.append(b)
                    else:
                        listed_a.append(a)
                        listed_b.append(b)
    n_lists = len(set(list_rows)) and (max(list_rows) + 1)
    incidence = sp.csr_matrix((np.ones(len(list_rows), np.float32), (list_rows, list_cols)), shape=(n_lists, n))
    shared = (incidence.T @ incidence).tocsr()
    shared.setdiag(0)
    shared.eliminate_zeros()
    chunks = sp.csr_matrix((np.ones(len(memb_rows), np.float32), (memb_rows, memb_cols)), shape=(chunk_no, n))
    weighted = (chunks.T @ sp.diags(np.asarray(memb_w, np.float32)) @ chunks).tocsr()
    weighted.setdiag(0)
    pairs = sp.csr_matrix((np.asarray(pair_w, np.float32), (pair_a, pair_b)), shape=(n, n))
    a = (weighted + pairs + pairs.T).tocsr()
    a.eliminate_zeros()
    after = sp.csr_matrix((np.ones(len(after_a), np.float32), (after_a, after_b)), shape=(n, n))
    after.sum_duplicates()
    listed = sp.csr_matrix((np.ones(len(listed_a), np.float32), (listed_a, listed_b)), shape=(n, n))
    listed.sum_duplicates()
    return a, shared, after, listed


def ppmi(a: sp.csr_matrix, smoothing: float = 0.75) -> sp.csr_matrix:
    """Positive PMI of a symmetric co-occurrence matrix, with context-distribution smoothing."""
    a = a.tocoo()
    row_sum = np.asarray(a.sum(axis=1)).ravel()
    ctx = row_sum ** smoothing
    total, ctx_total = row_sum.sum(), ctx.sum()
    if total <= 0:
        return sp.csr_matrix(a.shape, dtype=np.float32)
    pmi = np.log(a.data * ctx_total / (row_sum[a.row] * ctx[a.col]) + 1e-12)
    keep = pmi > 0
    return sp.csr_matrix((pmi[keep].astype(np.float32), (a.row[keep], a.col[keep])), shape=a.shape)


def embed(m: sp.csr_matrix, dim: int, seed: int = 0, tol: float = 1e-4) -> np.ndarray:
    """Unit vectors ``U sqrt(L)`` from the ``dim`` largest positive eigenpairs of the symmetric ``m``.

    The symmetric form of the truncated SVD that factorises PPMI (``v_a . v_b ~ PPMI[a, b]``):
    an SVD would also keep large *negative* eigenvalues, whose left vectors make linked records
    point apart. Rows with no co-occurrence stay zero.
    """
    n = m.shape[0]
    active = np.flatnonzero(np.asarray(abs(m).sum(axis=1)).ravel() > 0)
    out = np.zeros((n, dim), np.float32)
    if len(active) < 2:
        return out
    sub = m[active][:, active].astype(np.float64)
    k = min(dim, len(active) - 1)
    if len(active) <= 4 * dim + 8:  # small: a dense eigendecomposition is exact and quicker than ARPACK
        lam, u = np.linalg.eigh(sub.toarray())
        lam, u = lam[::-1][:k], u[:, ::-1][:, :k]
    else:
        from scipy.sparse.linalg import eigsh

        v0 = np.random.default_rng(seed).uniform(-1, 1, len(active))
        lam, u = eigsh(sub, k=k, which="LA", tol=tol, v0=v0)
    vec = (u * np.sqrt(np.maximum(lam, 0.0))).astype(np.float32)
    norm = np.linalg.norm(vec, axis=1, keepdims=True)
    out[active, :k] = np.divide(vec, norm, out=np.zeros_like(vec), where=norm > 0)
    return out


def fit_sound_map(audio: np.ndarray, context: np.ndarray, ridge: float = 1.0) -> np.ndarray:
    """Ridge regression weights ``W`` (d_audio + 1, d_context): ``[audio, 1] @ W`` ~ context."""
    x = np.hstack([audio, np.ones((len(audio), 1), audio.dtype)]).astype(np.float64)
    reg = ridge * np.eye(x.shape[1])
    reg[-1, -1] = 0.0  # the intercept is not shrunk
    return np.linalg.solve(x.T @ x + reg, x.T @ context.astype(np.float64))


def apply_sound_map(w: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """Unit context vectors predicted from audio vectors by :func:`fit_sound_map`'s ``W``."""
    y = np.hstack([audio, np.ones((len(audio), 1), audio.dtype)]) @ w
    norm = np.linalg.norm(y, axis=1, keepdims=True)
    return np.divide(y, norm, out=np.zeros_like(y), where=norm > 0).astype(np.float32)


def fold_copies(sequences, copies: dict[int, int]) -> list:
    """``sequences`` with every copy of a recording named by one id (``copies``: track id -> that id)."""
    from dataclasses import replace

    if not copies:
        return list(sequences)
    one = lambda t: copies.get(t, t)  # noqa: E731
    return [replace(s, ids=tuple(map(one, s.ids)), banned=tuple(map(one, s.banned)),
                    skipped=tuple((p if p == -1 else one(p), one(t)) for p, t in s.skipped)) for s in sequences]


def copies_of(tracks) -> dict[int, int]:
    """Track id -> its recording, for the copies that are not the recording's own id (``Store.tracks()``;
    the groups: :func:`livedj.library.copies.recordings`)."""
    return {t: r for r, ids in recordings(track_pairs(tracks)).items() for t in ids if t != r}


def build(sequences, audio: dict[int, np.ndarray] | None = None, *, track_ids=None,
          params: Params = Params(), copies: dict[int, int] | None = None) -> ContextModel:
    """Learn the context model from the DJ's lists (and map sound -> context for the rest).

    Parameters
    ----------
    sequences : list of IdSequence
    audio : dict, optional
        Track id -> song-beginning vector (``Store.vectors``); without it tracks in no list get
        no context vector.
    track_ids : iterable of int, optional
        Every library track; default: those in ``audio`` and in the lists.
    params : Params
    copies : dict, optional
        Track id -> its recording (:func:`copies_of`): every copy is that one record, in the lists,
        the set log and the model's rows (:meth:`ContextModel.row`).
    """
    began = time.perf_counter()
    audio = audio or {}
    copies = {int(t): int(r) for t, r in (copies or {}).items() if int(t) != int(r)}
    sequences = fold_copies(sequences, copies)
    banned_ids = {b for s in sequences for b in s.banned}
    ids = set(track_ids) if track_ids is not None else set(audio)
    ids |= {t for s in sequences for t in s.ids}
    ids = np.asarray(sorted(ids - set(copies)), dtype=np.int64)
    row = {int(t): i for i, t in enumerate(ids.tolist())}
    n = len(ids)
    usable = [s for s in sequences if s.ids]
    a, shared, after, listed = cooccurrence(usable, row, n, params)
    # a ban removes the track from the context model altogether
    banned = np.zeros(n, bool)
    banned[[row[b] for b in banned_ids if b in row]] = True
    if banned.any():
        keep = sp.diags((~banned).astype(np.float32))
        a = (keep @ a @ keep).tocsr()
        a.eliminate_zeros()
    vectors = embed(ppmi(a, params.smoothing), params.dim, tol=params.svd_tol)
    learned = np.linalg.norm(vectors, axis=1) > 0
    stats = {"lists": len(usable), "by_kind": {k: sum(s.kind == k for s in usable) for k in ("crate", "playlist", "set")},
             "tracks": n, "learned": int(learned.sum()), "transitions": int(after.sum()),
             "sound_map_cosine": None, "sound_map_mean_cosine": None, "sound_map_train": 0, "predicted": 0}
    with_audio = np.asarray([t in audio for t in ids.tolist()], dtype=bool)  # bool also when empty
    train = np.flatnonzero(learned & with_audio)
    if len(train) >= 8 and audio:
        x = np.stack([np.asarray(audio[int(t)], np.float32) for t in ids[train]])
        y = vectors[train]
        order = np.random.default_rng(0).permutation(len(train))
        n_test = max(1, int(round(params.holdout * len(train))))
        test, fit = order[:n_test], order[n_test:]
        w = fit_sound_map(x[fit], y[fit], params.ridge)
        pred = apply_sound_map(w, x[test])
        stats["sound_map_cosine"] = round(float(np.mean(np.sum(pred * y[test], axis=1))), 4)
        # what predicting every held-out track as the mean context vector scores: the part of the
        # cosine that a shared direction gives for free (random crates score well above 0 on it)
        mean = y[fit].mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        stats["sound_map_mean_cosine"] = round(float(np.mean(y[test] @ mean)), 4)
        w = fit_sound_map(x, y, params.ridge)  # the map in use sees every learned track
        stats["sound_map_train"] = int(len(train))
        missing = np.flatnonzero(~learned & with_audio & ~banned)
        if len(missing):
            vectors[missing] = apply_sound_map(w, np.stack([np.asarray(audio[int(t)], np.float32)
                                                            for t in ids[missing]]))
            stats["predicted"] = int(len(missing))
    stats["seconds"] = round(time.perf_counter() - began, 3)
    return ContextModel(ids, vectors, learned, shared, after, banned, stats, listed, copies)
