"""Replay :mod:`benchmarks.time_to_name` dumps (``--dump FILE``) through the confirmation rules.

``hear`` keeps no state, so every update's matches (what ``hear`` returned) in a dump are what the
live loop would hear again; only :class:`~livedj.engine.now_playing.DeckConfirm` and the log rule
are run again, over the very same mixes, in seconds. With today's rules a replay gives the figures
of the run that wrote the dump (``blend_*``: the blends within the pitch fader's +-8 %; ``wide_*``:
those stretched further, in runs with a wider ``--max-stretch`` or dumps written before 2026-11-30's
``blend2``). ``--set NAME=VALUE`` changes one of ``DeckConfirm``'s fields.
``--hear`` makes each update's decks again from its top three matches, as today's ``hear`` does (dumps
written since 2026-11-30 keep them whole, with the live matcher's counts in the newest 2, 3, 4 and 5 s):
``--recent-s S`` takes the counts of the newest S seconds as each match's ``recent`` (None: none, as the
stateless matcher), ``--recent-deck R`` :func:`~livedj.engine.now_playing.recent_deck` at ratio R
(None: off); both default to the tracker's. ``--hear`` takes each match's level from its dumped ``share``, the
whole window's: since the twelfth session the tracker's level is its share of the newest
``NowPlayingTracker.level_s`` seconds, so ``--hear`` no longer reproduces a run of today's tracker. Without
``--hear`` each update's decks are replayed as the run made them (``Match`` whole: levels, newest-seconds
counts, aligned counts and tempos as the tracker had them), which reproduces the run.

``python -m benchmarks._ttn_replay F.json [G.json ...] [--set prompt=0.4] [--blends] [--hear --recent-deck 0.5]``;
``--letting-go``: how long *now* keeps naming a record after the mix goes on to one not in the library
(:func:`letting_go`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass

from benchmarks import time_to_name as ttn
from benchmarks._ttn_listen import RECENT_S
from livedj.engine.now_playing import (DeckConfirm, Match, NowPlayingTracker, both_halves, heard_tempo, plays_to_log,
                                      recent_deck)
from livedj.library import fingerprints as fpi


@dataclass
class _Update:
    t: float
    now_playing: dict | None
    decks: tuple
    raw: list
    found: list


def heard_again(raw: list, recent_s: float | None = NowPlayingTracker.recent_s,
                ratio: float | None = NowPlayingTracker.recent_deck, bpms: dict | None = None) -> tuple:
    """What ``NowPlayingTracker.hear`` makes of one update's top matches (as dumped by ``_ttn_listen``), with
    the live matcher's counts in the newest ``recent_s`` seconds (dumps of the live matcher only) and
    :func:`recent_deck` at ``ratio`` (None: off). ``bpms``: track id -> the library's tempo (as the tracker's
    ``bpms``), for each match's tempo heard."""
    matches = [fpi.Match(t, aligned, offset, speed, share=share, pitch_locked=locked, same=tuple(same))
               for t, aligned, speed, locked, offset, share, same, _ in raw]
    recent = {}
    if recent_s is not None:
        recent = {m[0]: m[7][RECENT_S.index(recent_s)] for m in raw if m[7]}
    found = fpi.decks(matches) or both_halves(matches)
    if ratio is not None and recent:
        found = recent_deck(matches, found, recent, ratio)
    bpms = bpms or {}
    return tuple(Match(m.track_id, m.confidence, m.speed, m.offset_s, level=m.share, pitch_locked=m.pitch_locked,
                       same=m.same, recent=recent.get(m.track_id), aligned=float(m.aligned),
                       tempo=heard_tempo(bpms.get(m.track_id), m.speed)) for m in found)


def library_tempos(index: str | None) -> dict:
    """Track id -> the library's tempo, BPM, of the index at ``index`` (None: {})."""
    if index is None:
        return {}
    from livedj.engine.now_playing import library_bpms
    from livedj.library.store import Store

    store = Store(index, readonly=True)
    try:
        return library_bpms(store.tracks())
    finally:
        store.close()


def _replay_mix(mix: dict, rule: dict | None = None, hear: dict | None = None,
                log_after: int = NowPlayingTracker.log_after) -> tuple[DeckConfirm, list, list]:
    """One dumped mix through ``DeckConfirm(**rule)``: the rule's final state, the plays logged (in order) and one
    :class:`_Update` per update (``hear``: as :func:`replay`)."""
    decks, plays, updates = DeckConfirm(**(rule or {})), [], []
    for u in mix["updates"]:
        found = heard_again(u["raw"], **hear) if hear is not None else tuple(Match(*f) for f in u["found"])
        on = decks.update(found)
        plays += [deck.match.track_id for deck in plays_to_log(on, log_after)]  # NowPlayingTracker's log rule
        now = on[0].match.track_id if on else None
        updates.append(_Update(u["t"], None if now is None else {"track_id": now},
                               tuple({"track_id": d.match.track_id} for d in on), u["raw"], u["found"]))
    return decks, plays, updates


def replay(path: str, rule: dict | None = None, details: list | None = None, hear: dict | None = None) -> dict:
    """The figures of the dump at ``path`` with ``DeckConfirm(**rule)`` (``hear``: :func:`heard_again`'s
    options, the decks made again from the top matches)."""
    dump = json.loads(open(path, encoding="utf-8").read())
    ttn._IDS.clear()
    ttn._IDS.update({v: int(k) for k, v in dump["ids"].items()})
    log_after = NowPlayingTracker.log_after
    figures = {"cut": [], "blend": [], "blend_wide": [], "deck_blend": [], "wrong_now": 0, "wrong_deck": 0, "updates": 0,
               "details": []}
    in_order = 0
    for mix in dump["mixes"]:
        heard = [ttn.Heard(**h) for h in mix["heard"]]
        decks, plays, updates = _replay_mix(mix, rule, hear, log_after)
        got = ttn.measure(heard, updates, 10.0 + 1.0 * (decks.hold + 1))
        for name in figures:
            figures[name] += got.get(name, [])
        expected = [h.track_id for h in heard if h.track_id is not None]
        in_order += plays == [t for i, t in enumerate(expected) if t not in expected[:i]]
    if details is not None:
        details += figures["details"]
    cut, blend, deck = ttn._stats(figures["cut"]), ttn._stats(figures["blend"]), ttn._stats(figures["deck_blend"])
    wide = ttn._stats(figures["blend_wide"])
    return {"cuts": len(figures["cut"]), "cut_p50": round(cut[0], 2), "cut_p95": round(cut[1], 2),
            "blends": len(figures["blend"]), "blend_p50": round(blend[0], 2), "blend_p95": round(blend[1], 2),
            "blends_wide": len(figures["blend_wide"]), "wide_p50": round(wide[0], 2), "wide_p95": round(wide[1], 2),
            "deck_p50": round(deck[0], 2),
            "named": (cut[2], blend[2]), "wrong_now": figures["wrong_now"], "wrong_deck": figures["wrong_deck"],
            "log_in_order": f"{in_order}/{len(dump['mixes'])}", "updates": figures["updates"]}


def letting_go(paths: list[str], rule: dict | None = None) -> dict:
    """How long *now* keeps naming a library record after the mix goes on to a record not in the library (the
    runs' every fourth record is absent): seconds from the moment the absent record is the louder one to the first
    update naming something else, after cuts and after blends (transitions whose outgoing record was *now* just
    before); and how well a library record that plays is named, from 10 s after it became the louder one until
    the next one does: the share of those updates naming it, and how often it was lost in between."""
    import numpy as np

    cut, blend, covered, total, lost = [], [], 0, 0, 0
    for path in paths:
        dump = json.loads(open(path, encoding="utf-8").read())
        for mix in dump["mixes"]:
            nows = [(u.t, u.now_playing and u.now_playing["track_id"]) for u in _replay_mix(mix, rule)[2]]
            heard = mix["heard"]
            for h, after in zip(heard, [*heard[1:], None]):
                if h.get("track_id") is not None:
                    run = [n for t, n in nows if h["louder_at"] + 10 <= t <= (after["louder_at"] if after
                                                                              else h["audible_to"])]
                    total, covered = total + len(run), covered + sum(n == h["track_id"] for n in run)
                    lost += sum(x == h["track_id"] != y for x, y in zip(run, run[1:]))
                if after is None or after.get("track_id") is not None or h.get("track_id") is None:
                    continue
                t0 = after["louder_at"]
                if any(n == h["track_id"] for t, n in nows if t0 - 3 <= t < t0):
                    delay = next((t - t0 for t, n in nows if t >= t0 and n != h["track_id"]), float("inf"))
                    (cut if after["how"] == "cut" else blend).append(delay)
    return {"cut_n": len(cut), "cut_p50": round(float(np.median(cut)), 1),
            "cut_p90": round(float(np.percentile(cut, 90, method="higher")), 1),
            "blend_n": len(blend), "blend_p50": round(float(np.median(blend)), 1),
            "blend_p90": round(float(np.percentile(blend, 90, method="higher")), 1),
            "named_while_playing": round(covered / max(1, total), 4), "lost_while_playing": lost}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks._ttn_replay", description=__doc__.splitlines()[0])
    ap.add_argument("dumps", nargs="+")
    ap.add_argument("--set", action="append", default=[], help="NAME=VALUE: a DeckConfirm field (None allowed)")
    ap.add_argument("--blends", action="store_true", help="one line per blend (and per wrong name)")
    ap.add_argument("--hear", action="store_true", help="make the decks again from each update's top matches")
    ap.add_argument("--recent-deck", default=str(NowPlayingTracker.recent_deck),
                    help="with --hear: recent_deck at this ratio (None: off; default: the tracker's)")
    ap.add_argument("--recent-s", default=str(NowPlayingTracker.recent_s),
                    help="with --hear: the live matcher's count in the newest S s as recent (None: no counts)")
    ap.add_argument("--letting-go", action="store_true", help="instead: how long *now* keeps a record after the "
                    "mix goes on to one not in the library, over all the dumps")
    ap.add_argument("--index", help="with --hear: the index the dumps' mixes were matched against (its tempos: each "
                    "match's tempo heard); default: none known")
    a = ap.parse_args(argv)
    types = {f.name: f.type for f in dataclasses.fields(DeckConfirm)}
    rule = {}
    for item in a.set:
        name, value = item.split("=", 1)
        if name not in types:
            raise SystemExit(f"--set {item}: DeckConfirm has no field {name!r}")
        kind = str(types[name]).split("|")[0].strip()
        rule[name] = (None if value == "None" else value in ("1", "true", "True") if kind == "bool"
                      else int(value) if kind == "int" else value if kind == "str" else float(value))
    if a.letting_go:
        print(letting_go(a.dumps, rule))
        return 0
    for path in a.dumps:
        details: list = []
        number = lambda text: None if text == "None" else float(text)  # noqa: E731
        hear = (dict(recent_s=number(a.recent_s), ratio=number(a.recent_deck), bpms=library_tempos(a.index))
                if a.hear else None)
        print(path, replay(path, rule, details, hear))
        for how, name, transition, seconds in details:
            if a.blends and how in ("blend", "wrong"):
                print(f"  {how:5s} {seconds!s:>6}  {transition}  ({name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
