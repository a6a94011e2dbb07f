"""Time to name: from the moment a record becomes the louder one in the room to NOW PLAYING.

Mixes of library records are rendered with :mod:`livedj.mix` (hard cuts, and 16-bar beat-matched
blends) and played through the live loop of ``livedj run --input MIX --fast`` (the same
:class:`~livedj.engine.daemon.LiveLoop`, :class:`~livedj.audio.capture.FileSource` and
:func:`~livedj.engine.loader.load_engine`, in this process so that the updates can be read
directly). The render says when each record becomes the louder one: at a cut, the cut; in a
blend, the middle (the equal-power fades cross and the bass swaps there). Time to name is the
first update (``t`` = seconds heard) whose NOW PLAYING is the incoming record, minus that moment:
negative when the incoming record was named before it was the louder one.

Every record enters at a random position (an excerpt from anywhere in it). Every fourth record of
a mix is *absent*: not in the library. A name is *wrong* when the record it names was not audible
in the last ``identify_s + hold`` seconds (e.g. anything named while an absent record plays alone).

Default: a generated library (``livedj.synth``: 16 records, 4 of them absent), indexed with the
real indexer. ``--corpus DIR``: the audio files under DIR (every 4th held out as absent).
Run ``python -m benchmarks time_to_name`` (generated) or
``python -m benchmarks.time_to_name --corpus DIR [--records N]`` (real records; printed as the
same table). Targets (issue 16): <= 5 s median after a cut, <= 10 s p95 through a blend.

Blends stay within the pitch fader's reach, as the product assumes (the design card: +-8 %, half and
double time counting; livedj's ranking suggests only such records and the matcher hypothesises only
such speeds): a blend mix plays its records in an order where neighbours are within ``--max-stretch``
(0.08) of each other's tempo where the pool allows (:func:`~benchmarks._ttn_mix.blend_order`: what a
DJ following livedj's suggestions would play; tempos measured as the mixer measures them), and the
mixer stretches by at most that much (a pair beyond it is cut, and counted as a cut). Until
2026-11-30 (branch ``blend2``) the records came in random order and the mixer stretched up to 16 %:
2-3 blends per mix on real records, half to three quarters of them beyond +-8 % (main's check run),
which a DJ with a +-8 % fader cannot play. ``--max-stretch 0.16`` measures such wider blends again; they are reported
in rows of their own (``blend_wide``), never mixed into the target's rows.

``--room NAME`` plays each whole mix through one room before the live loop hears it (a booth preset of
:data:`livedj.dsp.room.BOOTHS`, or ``alt:bar|hall|basement`` of the other simulation, :mod:`benchmarks._booth_alt`):
time to name as a microphone in the booth gives it, where the booth rows of ``identify_window`` decide one window alone.

``--blend-mixes N`` renders more blend mixes than cut mixes. ``--matcher-only``
runs the same audio windows through the same ``hear``/``decide`` without the embedding and the
ranking (the names do not depend on them; identical updates, ~2-4x faster). ``--dump FILE``
writes every update's top-3 matches, what ``hear`` made of them and the decks: a change of the
confirmation rules (:class:`~livedj.engine.now_playing.DeckConfirm`) can then be replayed over the
same mixes exactly, since the matches do not depend on the rules. Each transition's line says
where its time went: first among the top three matches (aligned count, speed, ``k`` = key lock),
first on top with 10 aligned, first confirmed deck.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._ttn_listen import listen, listen_matcher_only  # noqa: F401 - listen: this module's API too
from benchmarks._ttn_mix import (MAX_STRETCH, Heard, blend_order, corpus_records, excerpt,  # noqa: F401 - API
                                 generated_records, index_records, record_tempos, render_mix, rooms, through_room)
from benchmarks.common import cache_dir, row
from livedj.config import defaults

IN_ALL = False  # minutes: run it by name

_IDS: dict = {}  #: path -> track id of the last library indexed (for the details' lines)


def _dumped(how: str, m: int, heard: list[Heard], updates: list, plays: list) -> dict:
    """One mix's entry of a ``--dump`` file."""
    return {"how": how, "mix": m, "heard": [dataclasses.asdict(h) for h in heard], "plays": plays, "updates": [
        {"t": u.t, "now": (u.now_playing or {}).get("track_id"), "decks": [d["track_id"] for d in u.decks],
         "raw": getattr(u, "raw", []), "found": getattr(u, "found", [])} for u in updates]}


# -- figures ------------------------------------------------------------------------------------
def measure(heard: list[Heard], updates: list, window_s: float) -> dict:
    """Per transition: seconds from louder to NOW PLAYING (None: never named while audible); wrong names."""
    out = {"cut": [], "blend": [], "blend_wide": [], "deck_blend": [], "wrong_now": 0, "wrong_deck": 0,
           "updates": len(updates)}

    def now_id(u):
        return (u.now_playing or {}).get("track_id")

    def deck_ids(u):
        return [d["track_id"] for d in getattr(u, "decks", ()) or ()] or ([now_id(u)] if now_id(u) is not None else [])

    for h in heard:
        if h.track_id is None or h.how == "start":
            continue
        during = [u for u in updates if h.audible_from < u.t <= h.audible_to + 0.5]
        named = next((u.t for u in during if now_id(u) == h.track_id), None)
        wide = h.how == "blend" and abs(stretch_of(h.transition)) > REACH
        out["blend_wide" if wide else h.how].append(None if named is None else named - h.louder_at)
        out.setdefault("details", []).append((h.how, Path(h.path).name, f"{h.transition:32s} {_trace(h, during)}",
                                              None if named is None else round(named - h.louder_at, 1)))
        if h.how == "blend" and not wide:
            on = next((u.t for u in during if h.track_id in deck_ids(u)), None)
            out["deck_blend"].append(None if on is None else on - h.louder_at)
    for u in updates:
        recent = {h.track_id for h in heard if h.track_id is not None
                  and h.audible_from < u.t and h.audible_to > u.t - window_s}
        out["wrong_now"] += now_id(u) is not None and now_id(u) not in recent
        if any(t not in recent for t in deck_ids(u)):  # what was named, and what was playing
            playing = [Path(h.path).name for h in heard if h.audible_from < u.t <= h.audible_to]
            out.setdefault("details", []).append(("wrong", f"t={u.t:.0f} s, heard {playing}", f"named {deck_ids(u)}",
                                                  None))
        out["wrong_deck"] += any(t not in recent for t in deck_ids(u))
    return out


def _trace(h: Heard, during: list) -> str:
    """Where the time went, seconds from the louder moment: the record first among the top three
    matches (its aligned count, speed, k = key lock), first top with 10 aligned, first confirmed deck."""
    def first(pred):
        u = next((u for u in during if pred(u)), None)
        return "-" if u is None else f"{u.t - h.louder_at:+.0f}"

    raw = [(u, m) for u in during for m in getattr(u, "raw", ()) if m[0] == h.track_id]
    seen = "-" if not raw else f"{raw[0][0].t - h.louder_at:+.0f} ({raw[0][1][1]:.0f} at {raw[0][1][2]:.3f}" \
        f"{'k' if raw[0][1][3] else ''})"
    top = first(lambda u: bool(getattr(u, "raw", ())) and u.raw[0][0] == h.track_id and u.raw[0][1] >= 10)
    deck = first(lambda u: any(d["track_id"] == h.track_id for d in u.decks))
    return f"in top-3 {seen}, top {top}, deck {deck}"


REACH = 100 * MAX_STRETCH  #: the pitch fader's reach, % (the ranking's ``pitch_range``; the matcher's hypotheses)


def stretch_of(transition: str) -> float:
    """The stretch of a blend, %, from its tracklist words ("blend 16 bars at +3.3 %"); 0 for a cut."""
    import re

    found = re.search(r"at ([+-]?[0-9.]+) %", transition)
    return 0.0 if found is None else float(found.group(1))


def _stats(values: list) -> tuple[float, float, float]:
    """(median, p95, named fraction); a record never named counts as infinitely late."""
    if not values:
        return float("nan"), float("nan"), float("nan")
    x = np.array([np.inf if v is None else v for v in values], float)
    return float(np.median(x)), float(np.percentile(x, 95, method="higher")), float(np.mean(np.isfinite(x)))


def run_benchmark(records: list[str], absent_every: int = 4, *, per_mix: int = 6, mixes: int = 2,
                  blend_mixes: int | None = None, seed: int = 0, label: str = "generated", confirm=None, hold=None, identify_s=None,
                  hop_s: float = 1.0, work: Path | None = None, cut_s: float = 75.0,
                  blend_s: float = 150.0, details: list | None = None, dump: list | None = None,
                  matcher_only: bool = False, stream: bool = True, other: list | None = None,
                  max_stretch: float = MAX_STRETCH, room: str | None = None) -> list[dict]:
    """Index the present records, render ``mixes`` cut mixes and ``blend_mixes`` (default ``mixes``)
    blend mixes of ``per_mix`` records each, listen to each and return the rows. A blend mix's records
    are ordered by :func:`blend_order` and stretched by at most ``max_stretch``. ``other``: the other
    matcher (live when ``stream`` is False, else stateless) listens to the same mixes too, its dump
    appended there (the rows are ``stream``'s). ``room``: each mix is heard through that room (:func:`through_room`;
    None: from the mixer's line out)."""
    from rich.progress import Progress

    rng = np.random.default_rng(seed)
    blend_mixes = mixes if blend_mixes is None else blend_mixes
    absent = [p for i, p in enumerate(records) if i % absent_every == absent_every - 1]
    present = [p for p in records if p not in absent]
    if work is None:
        with tempfile.TemporaryDirectory(prefix="ttn-") as tmp:  # mixes are ~150 MB each: never kept
            return run_benchmark(records, absent_every, per_mix=per_mix, mixes=mixes, blend_mixes=blend_mixes,
                                 seed=seed, label=label,
                                 confirm=confirm, hold=hold, identify_s=identify_s, hop_s=hop_s, work=Path(tmp),
                                 cut_s=cut_s, blend_s=blend_s, details=details, dump=dump, matcher_only=matcher_only,
                                 stream=stream, other=other, max_stretch=max_stretch, room=room)
    import hashlib

    key = f"{label}-{len(present)}-{hashlib.sha1(chr(0).join(present).encode()).hexdigest()[:10]}"
    index_dir = cache_dir("time_to_name", key)
    ids = index_records(present, index_dir)
    _IDS.update(ids)
    tempos = record_tempos(present + absent, cache_dir("time_to_name") / "tempos.json") if blend_mixes else {}
    window_s = (identify_s or defaults()["analysis"]["identify_s"]) + hop_s * ((hold or 3) + 1)
    figures = {"cut": [], "blend": [], "blend_wide": [], "deck_blend": [], "wrong_now": 0, "wrong_deck": 0, "updates": 0,
               "details": []}
    logged_ok, logged_n = 0, 0
    listen_s = 0.0
    with Progress() as bar:
        task = bar.add_task(f"time to name ({label})", total=mixes + blend_mixes)
        for how in ("cut", "blend"):
            for m in range(mixes if how == "cut" else blend_mixes):
                if how == "cut":
                    order = list(rng.permutation(present))[: per_mix]
                    for k in range(absent_every - 1, len(order), absent_every):  # an absent record every 4th
                        order[k] = absent[(m * per_mix + k) % len(absent)] if absent else order[k]
                else:  # neighbours within the pitch fader's reach where the records allow
                    order = blend_order(present, absent, tempos, per_mix, absent_every, rng, max_stretch)
                seconds = cut_s if how == "cut" else blend_s
                parts = [excerpt(p, seconds, work / f"{how}{m}-{j}.flac", rng) for j, p in enumerate(order)]
                heard, _ = render_mix(parts, order, ids, str(work / f"{how}{m}.wav"), how, max_stretch)
                if room is not None:
                    through_room(str(work / f"{how}{m}.wav"), room, seed=1000 * seed + 10 * m + (how == "blend"))
                began = time.perf_counter()
                updates, plays = (listen_matcher_only if matcher_only else listen)(
                    str(work / f"{how}{m}.wav"), str(index_dir / "index"), confirm=confirm,
                                        hold=hold, identify_s=identify_s, hop_s=hop_s, stream=stream)
                listen_s += time.perf_counter() - began
                got = measure(heard, updates, window_s)
                if dump is not None:  # everything a replay of the confirmation rules needs
                    dump.append(_dumped(how, m, heard, updates, plays))
                if other is not None:  # the other matcher over the very same mix
                    o_updates, o_plays = (listen_matcher_only if matcher_only else listen)(
                        str(work / f"{how}{m}.wav"), str(index_dir / "index"), confirm=confirm, hold=hold,
                        identify_s=identify_s, hop_s=hop_s, stream=not stream)
                    other.append(_dumped(how, m, heard, o_updates, o_plays))
                for name in figures:
                    figures[name] += got.get(name, [])
                expected = [h.track_id for h in heard if h.track_id is not None]
                expected = [t for i, t in enumerate(expected) if t not in expected[:i]]
                logged_n += 1
                logged_ok += plays == expected  # each record once, in the order played
                bar.advance(task)
    if details is not None:
        details += figures["details"]
    cut, blend, deck = _stats(figures["cut"]), _stats(figures["blend"]), _stats(figures["deck_blend"])
    wide = _stats(figures["blend_wide"])
    note = f"{label}{'' if room is None else ' through room ' + room}: {len(present)} records indexed, {len(absent)} absent; {len(figures['cut'])} cuts, " \
           f"{len(figures['blend'])} blends within +-{REACH:g} %, {len(figures['blend_wide'])} beyond; " \
           f"{figures['updates']} updates"
    return [
        row("time_to_name.cut.p50", "after a cut: seconds from the cut to NOW PLAYING (median)", cut[0], "s",
            target=5.0, note=note),
        row("time_to_name.cut.p95", "after a cut: 95th percentile", cut[1], "s"),
        row("time_to_name.cut.named", "cuts whose record was named while audible", cut[2], "",
            target=1.0, higher_is_better=True),
        row("time_to_name.blend.p50", f"through a 16-bar blend stretched within the pitch fader's +-{REACH:g} %: "
            "seconds from the crossover (middle) to NOW PLAYING (median; negative: named before it was the louder "
            "one)", blend[0], "s"),
        row("time_to_name.blend.p95", "through a blend within the fader's reach: 95th percentile", blend[1], "s",
            target=10.0),
        row("time_to_name.blend.named", "blends within reach whose record was named", blend[2], "", target=1.0,
            higher_is_better=True),
        row("time_to_name.blend_wide.p50", f"through a blend stretched beyond +-{REACH:g} % (--max-stretch; "
            f"{len(figures['blend_wide'])} blends): median", wide[0], "s"),
        row("time_to_name.blend_wide.p95", "through a blend beyond the fader's reach: 95th percentile", wide[1], "s"),
        row("time_to_name.blend.deck_p50", "through a blend: seconds from the crossover to the record on a deck "
            "(median)", deck[0], "s"),
        row("time_to_name.wrong_now", "updates whose NOW PLAYING was not audible in the last identify_s + hold",
            figures["wrong_now"] / max(1, figures["updates"]), "", target=0.0),
        row("time_to_name.wrong_deck", "updates with a deck that was not audible in the last identify_s + hold",
            figures["wrong_deck"] / max(1, figures["updates"]), "", target=0.0),
        row("time_to_name.log_in_order", "mixes whose set log holds each present record once, in order",
            logged_ok / max(1, logged_n), "", target=1.0, higher_is_better=True),
        row("time_to_name.listen_s", "seconds of analysis per mix (the whole live loop, fast mode)",
            listen_s / max(1, mixes + blend_mixes), "s"),
    ]


def run(quick: bool = False) -> list[dict]:
    """The generated library (``--quick``: one short mix of each kind)."""
    folder = cache_dir("time_to_name", "generated")
    records = generated_records(folder, 8 if quick else 12, 160.0)
    return run_benchmark(records, per_mix=4 if quick else 8, mixes=1 if quick else 2, label="generated")


def main(argv: list[str] | None = None) -> int:
    from benchmarks.__main__ import print_rows

    parser = argparse.ArgumentParser(prog="python -m benchmarks.time_to_name", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="a folder of real records (default: a generated library)")
    parser.add_argument("--records", type=int, default=32, help="records taken from the corpus (every 4th absent)")
    parser.add_argument("--mixes", type=int, default=2, help="mixes of each kind (cuts, blends)")
    parser.add_argument("--blend-mixes", type=int, help="blend mixes (default: --mixes)")
    parser.add_argument("--blend-s", type=float, default=150.0, help="seconds of each record in a blend mix")
    parser.add_argument("--matcher-only", action="store_true",
                        help="hear and decide only (no embedding, no ranking): the same names, ~4x faster")
    parser.add_argument("--stream", action="store_true",
                        help="the live matcher (analysis.stream_match true, the default since 2026-11-30)")
    parser.add_argument("--stateless", action="store_true",
                        help="the whole window matched every update (analysis.stream_match false)")
    parser.add_argument("--dump", help="write every update's matches and decks here (JSON), for replays")
    parser.add_argument("--per-mix", type=int, default=8, help="records per mix")
    parser.add_argument("--seed", type=int, default=0, help="picks the corpus records (and the mixes)")
    parser.add_argument("--mix-seed", type=int,
                        help="picks the mixes (excerpts, orders) alone: fresh mixes of the same indexed records")
    parser.add_argument("--dump-other", help="the other matcher (stateless, or live with --stateless) listens to the "
                        "same mixes too; its updates written here (JSON, as --dump)")
    parser.add_argument("--confirm", type=int, help="updates in a row before a deck is confirmed (tuning)")
    parser.add_argument("--hold", type=int, help="updates without it before a deck leaves (tuning)")
    parser.add_argument("--identify-s", type=float, help="seconds the fingerprint match hears (tuning)")
    parser.add_argument("--hop", type=float, default=1.0, help="seconds between updates")
    parser.add_argument("--max-stretch", type=float, default=MAX_STRETCH,
                        help="the most a blend stretches the incoming record (0.08: the pitch fader's +-8 %%; "
                        "wider blends are reported in rows of their own)")
    parser.add_argument("--room", choices=rooms(), help="hear each mix through this room (a booth preset, or alt:VARIANT "
                        "of the other simulation) instead of the mixer's line out")
    args = parser.parse_args(argv)
    if args.corpus:
        records = corpus_records(args.corpus, args.records, args.seed)
        label = Path(args.corpus.rstrip("/")).parent.name or "corpus"
    else:
        records = generated_records(cache_dir("time_to_name", "generated"), 12, 160.0)
        label = "generated"
    details: list = []
    dump: list | None = [] if args.dump else None
    other: list | None = [] if args.dump_other else None
    rows = run_benchmark(records, per_mix=args.per_mix, mixes=args.mixes, blend_mixes=args.blend_mixes,
                         blend_s=args.blend_s, seed=args.seed if args.mix_seed is None else args.mix_seed, label=label,
                         confirm=args.confirm, hold=args.hold, identify_s=args.identify_s, hop_s=args.hop,
                         details=details, dump=dump, matcher_only=args.matcher_only,
                         stream=not args.stateless, other=other, max_stretch=args.max_stretch, room=args.room)
    for path, mixes in ((args.dump, dump), (args.dump_other, other)):
        if path:
            Path(path).write_text(json.dumps({"ids": {v: k for k, v in _IDS.items()}, "mixes": mixes}))
    print_rows(rows, title=f"time to name ({label}{'' if args.room is None else ', room ' + args.room})")
    for how, name, transition, seconds in details:  # one line per transition: what made a slow one slow
        if how == "wrong":
            print(f"wrong: {transition} at {name}")
        else:
            print(f"{how:5s} {seconds if seconds is not None else 'never':>6} s  {transition}  ({name})")
    print("ids:", {v: Path(k).name for k, v in _IDS.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
