"""The mixes of :mod:`benchmarks.time_to_name`: its records, their index, and the mixes rendered from them.

A blend mix plays its records in an order a DJ with a +-8 % pitch fader could blend (``blend_order``):
each record's neighbours are, where the pool allows, within ``max_stretch`` of its tempo (half and
double time count), as livedj's ranking suggests them. The renderer (:mod:`livedj.mix`) stretches
the incoming record to the outgoing one's tempo only within ``max_stretch`` and cuts the other pairs.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

#: generated records: every style once (records of one style share drum patterns: a match by accident
#: that real records rarely give), at tempos a DJ could blend (116-134 BPM: most pairs within +-8 %)
STYLES = [("house", 124.0), ("techno", 128.0), ("disco", 120.0), ("electro", 126.0), ("trance", 132.0),
          ("synthwave", 118.0), ("breakbeat", 130.0), ("dub", 122.0), ("hiphop", 116.0), ("ambient", 120.0),
          ("dnb", 134.0), ("footwork", 128.0)]
KEYS = ["A minor", "C major", "F# minor", "Eb major", "D minor", "G major", "B minor", "E major"]
MIX_RATE = 44100
AUDIO_EXT = (".mp3", ".flac", ".ogg", ".wav", ".m4a", ".opus", ".aiff")
MAX_STRETCH = 0.08  #: the pitch fader's reach (the ranking's ``pitch_range``, the matcher's hypotheses)
TEMPO_S = 90.0  #: seconds from the middle of a record its tempo is estimated on (an excerpt's length)


@dataclass
class Heard:
    """One record in a rendered mix: when it is audible and when it becomes the louder one (s)."""

    path: str  #: the library file (or the absent record's file)
    track_id: int | None  #: None: not in the library
    audible_from: float
    louder_at: float
    audible_to: float
    how: str  #: "cut" or "blend"
    blend_end: float = 0.0  #: the end of its blend (where the outgoing record is gone)
    transition: str = ""  #: the tracklist's words, e.g. "blend 16 bars at +3.3 %"


# -- records ------------------------------------------------------------------------------------
def generated_records(folder: Path, n: int, seconds: float) -> list[str]:
    """``n`` (at most 12) generated records of ``seconds`` (cached): distinct styles, tempos, keys and seeds."""
    from livedj.synth import TrackSpec, render_track, write_audio

    paths = []
    for i in range(n):
        style, bpm = STYLES[i % len(STYLES)]
        path = folder / f"gen{i:02d}-{style}.flac"
        if not path.exists():
            spec = TrackSpec(f"Record {i:02d}", f"Generated {style}", bpm, KEYS[(3 * i) % len(KEYS)], style, 100 + i)
            write_audio(path, render_track(spec, seconds, 22050), 22050, spec.title, spec.artist)
        paths.append(str(path))
    return paths


def corpus_records(corpus: str, n: int | None, seed: int) -> list[str]:
    """Audio files under ``corpus`` at least 60 s long, ``n`` of them at random (None: all). Hidden folders are
    skipped: a corpus build's ``.work`` holds copies of its tracks, which would enter the library twice."""
    from livedj.audio.decode import probe_duration

    root = Path(corpus)
    files = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXT
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    rng = np.random.default_rng(seed)
    rng.shuffle(files)
    out = []
    for path in files:
        if (probe_duration(path) or 0.0) >= 60.0:
            out.append(path)
        if n is not None and len(out) >= n:
            break
    return out


def index_records(paths: list[str], index_dir: Path) -> dict[str, int]:
    """Index ``paths`` with the real indexer (linked into one folder); return path -> track id."""
    from rich.progress import Progress

    from livedj.library.indexer import Settings, index_library
    from livedj.library.store import Store

    folder = index_dir / "library"
    folder.mkdir(parents=True, exist_ok=True)
    links = {}
    for i, path in enumerate(paths):
        link = folder / f"{i:04d}{Path(path).suffix}"
        if not link.exists():
            link.symlink_to(os.path.abspath(path))
        links[str(link)] = links[os.path.realpath(path)] = path
    with Progress(transient=True) as bar:
        task = bar.add_task("indexing the library", total=len(paths))
        index_library([folder], str(index_dir / "index"), Settings(), jobs=1,
                      progress=lambda event, done, total, path: bar.update(task, completed=done))
    store = Store(str(index_dir / "index"), readonly=True)
    try:
        return {links[t.path]: t.id for t in store.tracks().values() if t.path in links}
    finally:
        store.close()


def record_tempos(paths: list[str], cache: Path) -> dict[str, float]:
    """Each record's tempo (BPM) as the mixer measures it (:func:`livedj.mix.grid.beat_grid`), on
    ``TEMPO_S`` from its middle; cached in ``cache`` (JSON, by path, size and mtime)."""
    from rich.progress import track

    from livedj.audio.decode import decode, probe_duration
    from livedj.mix.grid import beat_grid
    from livedj.mix.render import ANALYSIS_RATE

    known = json.loads(cache.read_text()) if cache.exists() else {}
    out = {}
    for path in track(paths, description="tempo of each record", transient=True):
        st = os.stat(path)
        key = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
        if key not in known:
            start = max(0.0, ((probe_duration(path) or 0.0) - TEMPO_S) / 2)
            known[key] = beat_grid(decode(path, ANALYSIS_RATE, offset=start, duration=TEMPO_S), ANALYSIS_RATE).bpm
            cache.write_text(json.dumps(known, indent=0))
        out[path] = float(known[key])
    return out


def blend_order(present: list[str], absent: list[str], tempos: dict[str, float], n: int, absent_every: int,
                rng: np.random.Generator, max_stretch: float = MAX_STRETCH, tries: int = 200) -> list[str]:
    """``n`` records for a blend mix, every ``absent_every``-th from ``absent``, ordered so that neighbours
    are within ``max_stretch`` of each other's tempo where the pool allows (half/double time counts):
    the order a DJ following livedj's suggestions (records within the pitch fader's reach) would play.

    Randomised greedy: each next record is drawn among the unused ones within reach of the last one
    (none: the nearest in tempo, which the mixer will cut to); of ``tries`` such orders the first with
    the most neighbours within reach is kept.
    """
    from livedj.mix.render import tempo_match

    def stretch(a: str, b: str) -> float:  # as the renderer reckons it: |speed - 1|
        return abs(tempo_match(tempos[a], tempos[b])[0] - 1.0)

    best, best_score = None, -1
    for _ in range(tries):
        order: list[str] = []
        score = 0
        for k in range(n):
            pool = absent if absent and k % absent_every == absent_every - 1 else present
            left = [p for p in pool if p not in order]
            if not left:
                left = list(pool)
            if not order:
                order.append(left[int(rng.integers(len(left)))])
                continue
            near = [p for p in left if stretch(order[-1], p) <= max_stretch]
            if near:
                order.append(near[int(rng.integers(len(near)))])
                score += 1
            else:
                order.append(min(left, key=lambda p: stretch(order[-1], p)))
        if score > best_score:
            best, best_score = order, score
        if best_score == n - 1:
            break
    return best or []


def excerpt(path: str, seconds: float, out: Path, rng: np.random.Generator) -> str:
    """``seconds`` of ``path`` from a random position, as a 44.1-kHz FLAC (what the mixer plays)."""
    from livedj.mix.io import load_stereo
    from livedj.synth import write_audio

    audio = load_stereo(path, MIX_RATE)
    n = int(seconds * MIX_RATE)
    start = int(rng.integers(0, max(1, audio.shape[1] - n)))
    write_audio(out, audio[:, start: start + n].T, MIX_RATE)
    return str(out)


# -- mixes --------------------------------------------------------------------------------------
def render_mix(excerpts: list[str], sources: list[str], ids: dict[str, int], out: str, how: str,
               max_stretch: float = MAX_STRETCH) -> tuple[list[Heard], float]:
    """Render ``excerpts`` as one mix (``how``: "cut" or "blend"; a blend stretches the incoming record
    by at most ``max_stretch``, other pairs are cut); the records as heard, and its length."""
    from livedj.mix.make import make_mix
    from livedj.mix.render import MixOptions

    options = MixOptions(blend_bars=16, phrase_bars=16, ramp_bars=8, max_stretch=max_stretch)
    if how == "cut":
        options = replace(options, max_stretch=-1.0)  # every transition a cut, on a phrase boundary
    entries, stats = make_mix(excerpts, out, options, show_progress=False)
    played = [e for e in entries if e.start is not None]
    blends = iter(stats["transitions"])
    heard = []
    for e in played:
        source = sources[excerpts.index(e.path)]
        if e.transition.startswith("blend"):
            blend = next(blends)
            heard.append(Heard(source, ids.get(source), blend["start"], blend["swap"], 0.0, "blend", blend["end"],
                               e.transition))
        else:
            why = e.transition.split(": ", 1)[-1] if how == "blend" and ": " in e.transition else ""
            heard.append(Heard(source, ids.get(source), e.start, e.start, 0.0, "cut" if e.position > 1 else "start",
                               transition=f"cut ({why})" if why else "cut"))
    for k, h in enumerate(heard):
        nxt = heard[k + 1] if k + 1 < len(heard) else None
        h.audible_to = stats["duration"] if nxt is None else nxt.blend_end if nxt.how == "blend" else nxt.audible_from
    return heard, float(stats["duration"])


def rooms() -> list[str]:
    """The rooms a mix can be played through (``--room``): the booth presets of :data:`livedj.dsp.room.BOOTHS`
    and, as ``alt:<variant>``, the other simulation's rooms (:data:`benchmarks._booth_alt.VARIANTS`)."""
    from benchmarks._booth_alt import VARIANTS
    from livedj.dsp.room import BOOTHS

    return [*BOOTHS, *(f"alt:{v}" for v in VARIANTS)]


def through_room(path: str, room: str, seed: int, sample_rate: int = 16000) -> None:
    """Replace the mix at ``path`` by what a microphone in ``room`` (:func:`rooms`) hears of it, mono at
    ``sample_rate``: the whole mix through one room (one IR, one noise at the room's SNR against the whole
    mix), so the record times of :func:`render_mix` still hold (the pitch fader is the mix's own)."""
    import soundfile as sf

    from livedj.audio.decode import decode

    y = decode(path, sample_rate)
    if room.startswith("alt:"):
        from benchmarks._booth_alt import alt_booth

        heard = alt_booth(y, sample_rate, room[4:], seed=seed)
    else:
        from livedj.dsp.room import booth_preset

        heard = booth_preset(y, sample_rate, room, seed=seed)
    sf.write(path, heard, sample_rate, subtype="FLOAT")
