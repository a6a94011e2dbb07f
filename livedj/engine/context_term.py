"""The context term of the ranking: how well a candidate follows the playing record, by the DJ's lists.

Pure functions over (candidate ids, playing id, :class:`~livedj.library.context.ContextModel`),
so the rank stage only calls :func:`context_scores` (and :func:`context_neighbours` to add
candidates the audio query cannot find). The term is ``None`` -- neutral, left out of the score
altogether -- when no list was imported or nothing known is playing.

score(p, c) = (cos⁺(p, c) + direct(p, c)) / 2,  direct = 1 - exp(-e),
e = played_after[p, c] + 0.5 * played_after[c, p] + 0.5 * listed_after[p, c] + 0.5 * lists shared(p, c)

so a close context vector (the company a record keeps in the DJ's lists) and direct evidence
(played after it, in the same crates) each count, and the record played after it most often
comes first among records of one crowd (their context vectors are all close). Tonight's feedback then applies: a banned
track scores 0; a track skipped while ``p`` played scores 0 with ``p``, and its context
neighbours are lowered with ``p`` for the rest of the night. When ``p`` itself is in no list its
context vector was predicted from its sound, and the scores are scaled by how well that map
predicted held-out tracks (its cosine proximity).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: context neighbours added to the audio candidates each update: 20 keep hit@10 (generated habits:
#: 0.58 with 50) at a third of the ranking cost of 50
CONTEXT_CANDIDATES = 20
SKIP_DAMPING = 0.6  #: how much a skip lowers the skipped track's context neighbours (x cos), with that record


@dataclass
class NightFeedback:
    """Tonight's skips and bans, as the context term sees them (owned by the analysis thread)."""

    skipped: dict[int, set[int]] = field(default_factory=dict)  #: playing id -> skipped ids
    banned: set[int] = field(default_factory=set)
    _seen: set[int] = field(default_factory=set, repr=False)

    def skip(self, track_id: int, playing: int | None) -> None:
        self.skipped.setdefault(-1 if playing is None else int(playing), set()).add(int(track_id))

    def ban(self, track_id: int) -> None:
        self.banned.add(int(track_id))

    def sync(self, skipped, banned, playing: int | None) -> list[tuple[str, int]]:
        """Take the session's skip/ban sets; a skip new since the last call is one with ``playing``.

        Returns the new ``(kind, track id)`` pairs (for the set log). Called once per update by the
        rank stage, so a skip is paired with the record identified when it came in.
        """
        new = [("skip", int(t)) for t in skipped if int(t) not in self._seen]
        new += [("ban", int(t)) for t in banned if int(t) not in self.banned]
        for kind, t in new:
            if kind == "skip":
                self._seen.add(t)
                self.skip(t, playing)
            else:
                self.ban(t)
        return new


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def context_scores(candidates, playing: int | None, model, *, feedback: NightFeedback | None = None,
                   titles: dict[int, str] | None = None) -> tuple[np.ndarray, list[str | None]] | None:
    """Context scores 0..1 of ``candidates`` after the ``playing`` record, and a reason for each.

    Parameters
    ----------
    candidates : array-like of int
        Track ids.
    playing : int or None
        The record playing now (the engine's now playing).
    model : ContextModel or None
    feedback : NightFeedback, optional
    titles : dict, optional
        Track id -> title, for the reasons.

    Returns
    -------
    (scores, reasons) or None
        ``None`` when the term is neutral (no model, no list imported, nothing known playing).
    """
    if model is None or model.empty or playing is None:
        return None
    p = model.row(playing)
    if p is None or not model.vectors[p].any() or model.banned[p]:
        return None
    ids = np.asarray(candidates, dtype=np.int64)
    scores = np.zeros(len(ids), np.float32)
    reasons: list[str | None] = [None] * len(ids)
    rows = np.asarray([-1 if (r := model.row(t)) is None else r for t in ids.tolist()], dtype=np.int64)
    known = rows >= 0
    if not known.any():
        return scores, reasons
    kr = rows[known]
    cos = np.clip(model.vectors[kr] @ model.vectors[p], 0.0, 1.0)
    after, before, shared, listed = model.counts(p, kr)
    direct = 1.0 - np.exp(-(after + 0.5 * before + 0.5 * listed + 0.5 * shared))
    s = 0.5 * (cos + direct)
    s[model.banned[kr]] = 0.0
    if not model.learned[p]:
        # the playing record is in no list: its context vector is a guess from its sound, worth
        # what the sound -> context map scored on held-out tracks (noise is not allowed to reorder sound)
        s *= max(0.0, float(model.stats.get("sound_map_cosine") or 0.0))
    scores[known] = s
    name = (titles or {}).get(int(playing), "the playing record")
    for j, i in enumerate(np.flatnonzero(known)):
        if after[j] >= 1:
            reasons[i] = f"you played it after {name} {_times(int(after[j]))}"
        elif listed[j] >= 1:
            n = int(listed[j])
            reasons[i] = f"you listed it after {name} in {n} playlist{'s' if n > 1 else ''}"
        elif shared[j] >= 1:
            n = int(shared[j])
            reasons[i] = f"in {n} of your crates/playlists with {name}"
        elif before[j] >= 1:
            reasons[i] = f"you played {name} after it {_times(int(before[j]))}"
        elif cos[j] >= 0.5 and model.learned[kr[j]] and model.learned[p]:
            reasons[i] = "close to it in your crates/playlists"
        elif cos[j] >= 0.5:
            reasons[i] = "sounds like records in your crates/playlists beside it"
    if feedback is not None:
        _apply_feedback(scores, reasons, ids, rows, int(playing), model, feedback)
    return scores, reasons


def _apply_feedback(scores, reasons, ids, rows, playing: int, model, feedback: NightFeedback) -> None:
    for i, t in enumerate(ids.tolist()):
        if t in feedback.banned:
            scores[i], reasons[i] = 0.0, "banned tonight"
    skipped = [model.row(x) for x in feedback.skipped.get(playing, ())]
    skipped = [r for r in skipped if r is not None]
    if not skipped:
        return
    sk = model.vectors[skipped]
    for i, (t, r) in enumerate(zip(ids.tolist(), rows.tolist())):
        if t in feedback.skipped.get(playing, ()):
            scores[i], reasons[i] = 0.0, "skipped tonight with this record"
        elif r >= 0 and scores[i] > 0:
            near = float(np.clip(sk @ model.vectors[r], 0.0, 1.0).max())
            scores[i] *= 1.0 - SKIP_DAMPING * near


def context_neighbours(playing: int | None, model, k: int, *, exclude=frozenset(),
                       feedback: NightFeedback | None = None) -> np.ndarray:
    """The ``k`` tracks with the highest context score after ``playing`` (ids; empty when neutral)."""
    if model is None or model.empty or playing is None or (p := model.row(playing)) is None:
        return np.zeros(0, np.int64)
    rough = 0.5 * np.clip(model.vectors @ model.vectors[p], 0.0, 1.0)
    rows, e = model.evidence(p)
    rough[rows] += 0.5 * (1.0 - np.exp(-e))
    rough[p] = -1.0
    rough[model.banned] = -1.0
    banned = feedback.banned if feedback is not None else set()
    want = min(len(rough), k + len(exclude) + len(banned) + 1)
    top = np.argpartition(-rough, want - 1)[:want] if want < len(rough) else np.arange(len(rough))
    out = []
    for i in top[np.argsort(-rough[top], kind="stable")]:
        t = int(model.ids[i])
        if rough[i] <= 0 or t in exclude or t in banned:
            continue
        out.append(t)
        if len(out) == k:
            break
    return np.asarray(out, dtype=np.int64)


def merge_candidates(ids: np.ndarray, sims: np.ndarray, extra: np.ndarray, query: np.ndarray,
                     vector_of) -> tuple[np.ndarray, np.ndarray]:
    """Add ``extra`` ids (context neighbours) to the audio candidates, with their cosine to ``query``.

    ``vector_of(track_id)`` returns a track's song-beginning vector (e.g. Annoy's
    ``get_item_vector``), or ``None`` when unknown (such ids get similarity 0).
    """
    have = set(ids.tolist())
    new = [int(t) for t in extra.tolist() if int(t) not in have]
    if not new:
        return ids, sims
    q = np.asarray(query, np.float32)
    qn = float(np.linalg.norm(q)) or 1.0
    extra_sims = []
    for t in new:
        v = vector_of(t)
        if v is None:
            extra_sims.append(0.0)
            continue
        v = np.asarray(v, np.float32)
        extra_sims.append(float(v @ q) / (qn * (float(np.linalg.norm(v)) or 1.0)))
    return (np.concatenate([ids, np.asarray(new, np.int64)]),
            np.concatenate([sims, np.asarray(extra_sims, np.float32)]))


def with_context(ids: np.ndarray, sims: np.ndarray, query: np.ndarray, playing: int | None, model, vector_of, *,
                 exclude=frozenset(), feedback: NightFeedback | None = None, titles: dict[int, str] | None = None,
                 k: int = CONTEXT_CANDIDATES):
    """The rank stage's one call: audio candidates plus context neighbours, and their context term.

    Returns ``(ids, sims, context)`` for :func:`livedj.engine.ranker.rank` (``context`` is ``None``
    -- the term left out, nothing changed -- when no list was imported or nothing known plays).
    """
    if model is None or playing is None:
        return ids, sims, None
    extra = context_neighbours(playing, model, k, exclude=exclude, feedback=feedback)
    ids, sims = merge_candidates(ids, sims, extra, query, vector_of)
    return ids, sims, context_scores(ids, playing, model, feedback=feedback, titles=titles)
