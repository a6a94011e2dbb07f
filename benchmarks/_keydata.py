"""The key benchmark's data: scores with known keys rendered with FluidSynth, and an independent generator.

Scores come from music21's offline corpus. The ground truth is taken from the score itself, not from
any key-finding algorithm: the first key signature names a major key and its relative minor; the
lowest part's *last* note (pieces of this repertoire end on the tonic) says which of the two it is,
or a Dorian minor when it sits a whole tone above the major tonic (chorales often carry one flat
fewer than a modern minor signature). Pieces ending on anything else (half cadences, Phrygian or
Mixolydian endings), pieces whose lowest part does not *start* on the tonic or the dominant, and
pieces whose opening's third contradicts the mode (more minor than major third in a "major" piece
or the reverse) are left out. Each piece is rendered from its beginning (the first ``EXCERPT_S``
seconds), transposed by a random interval (the key moves with it), at a random tempo, with one of
several General MIDI instrumentations and soundfonts.

The generated tracks (:func:`generated_tracks`) are written with pretty_midi here, not with
``livedj.synth`` (the tests' generator): drums, a bass line on the chord roots, a pad and an
arpeggio over diatonic progressions in a known key, 90-171 BPM, rendered with FluidSynth too.

Everything is cached under ``.bench/key/`` (``manifest.json`` + one 16-kHz mono int16 ``.npy`` per
excerpt); delete the folder to rebuild. Needs ``music21``, ``pretty_midi`` and the Debian packages
``fluidsynth`` and ``fluid-soundfont-gm`` (``timgm6mb-soundfont`` adds a second soundfont).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SR = 16000
EXCERPT_S = 30.0
GENERATED_S = 60.0
SOUNDFONTS = [p for p in ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")
              if os.path.exists(p)]
#: General MIDI programs, top part first (the last entry repeats for further parts)
INSTRUMENTATIONS = {
    "piano": [0],
    "strings": [48],
    "organ": [19],
    "guitar": [24],
    "string quartet": [40, 40, 41, 42],
    "woodwinds": [73, 68, 71, 70],
    "brass": [56, 60, 57, 58],
    "choir+organ": [52, 52, 52, 19],
    "e-piano": [4],
    "harpsichord": [6],
}
MAX_SCORE_BYTES = 40_000
COMPOSERS = ("bach", "beethoven", "mozart", "haydn", "schumann_robert", "schumann_clara", "handel", "corelli",
             "chopin", "schubert", "joplin", "cpebach", "weber", "verdi", "beach", "johnson_j_r")


@dataclass
class Excerpt:
    name: str  #: unique, also the cache file's stem
    piece: str  #: the source (train/test split is by piece, never by render)
    kind: str  #: "score" or "generated"
    key: int  #: ground truth, livedj key index (pc + 12 * minor)
    instrumentation: str
    soundfont: str
    transpose: int = 0
    bpm: float = 0.0

    @property
    def split(self) -> str:
        """``"train"`` or ``"test"``: a stable half of the pieces by hash."""
        return "train" if int(hashlib.sha1(self.piece.encode()).hexdigest(), 16) % 2 == 0 else "test"


def _stable_rng(*parts) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:12], 16))


# -- scores -------------------------------------------------------------------------------------------
def score_key(score) -> int | None:
    """The key a score declares (see the module docstring), or None when it is not reliable."""
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else None
    if not parts:
        return None
    sigs = parts[0].flatten().getElementsByClass("KeySignature")
    if not sigs:
        return None
    sig = sigs[0]
    major_pc, minor_pc = sig.asKey("major").tonic.pitchClass, sig.asKey("minor").tonic.pitchClass
    bass = parts[-1].flatten().notes
    if len(bass) < 8:
        return None

    def low(n):
        return min(p.pitchClass for p in n.pitches) if n.isChord else n.pitch.pitchClass

    last, first = low(bass[-1]), low(bass[0])
    if last == major_pc:
        key = major_pc
    elif last == minor_pc or last == (major_pc + 2) % 12:  # Aeolian or Dorian signature
        key = last + 12
    else:
        return None
    tonic = key % 12
    if first not in (tonic, (tonic + 7) % 12):
        return None
    # The opening's third must agree with the mode.
    weight = np.zeros(12)
    for n in score.flatten().notes:
        if n.offset > 32:
            break
        for p in n.pitches:
            weight[p.pitchClass] += float(n.duration.quarterLength)
    minor3, major3 = weight[(tonic + 3) % 12], weight[(tonic + 4) % 12]
    if (key >= 12) != (minor3 > major3):
        return None
    return key


def _score_candidates() -> list[str]:
    from music21 import corpus

    out = []
    for p in corpus.getPaths():
        rel = str(p).split("/corpus/", 1)[-1]
        # Multi-movement works (quartets) take minutes each to parse and add few excerpts: skipped;
        # so are the chorale *analyses* (Roman numerals, not scores).
        if (rel.split("/")[0] in COMPOSERS and not rel.endswith((".abc", ".pdf", ".rntxt"))
                and "/movement" not in rel and (rel.startswith("bach/") or os.path.getsize(p) < MAX_SCORE_BYTES)):
            out.append(str(p))
    return sorted(out)


def _parse_score(path: str) -> tuple[str, int | None, bytes | None]:
    """(piece id, key, MIDI bytes of the whole piece) - run in a worker process."""
    import io
    import warnings

    warnings.filterwarnings("ignore")
    from music21 import converter, midi, stream

    piece = str(path).split("/corpus/", 1)[-1]
    try:
        s = converter.parse(path)
        if isinstance(s, stream.Opus):
            return piece, None, None
        key = score_key(s)
        if key is None:
            return piece, None, None
        mf = midi.translate.streamToMidiFile(s)
        buf = io.BytesIO()
        buf.write(mf.writestr())
        return piece, key, buf.getvalue()
    except Exception:
        return piece, None, None


def render_midi(pm, soundfont: str, seconds: float) -> np.ndarray:
    """A pretty_midi.PrettyMIDI rendered by the fluidsynth CLI: 16-kHz mono float32, ``seconds`` long at most."""
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = os.path.join(tmp, "x.mid"), os.path.join(tmp, "x.wav")
        pm.write(mid)
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(SR), "-F", wav, soundfont, mid],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from scipy.io import wavfile

        sr, data = wavfile.read(wav)
    y = data.astype(np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if data.dtype == np.int16:
        y /= 32768.0
    y = y[: int(seconds * sr)]
    if sr != SR:
        raise RuntimeError(f"fluidsynth rendered at {sr} Hz, asked {SR}")
    return y


def _trim(pm, seconds: float) -> None:
    for inst in pm.instruments:
        inst.notes = [n for n in inst.notes if n.start < seconds]
        for n in inst.notes:
            n.end = min(n.end, seconds + 1.0)
        inst.control_changes = [c for c in inst.control_changes if c.time < seconds]
        inst.pitch_bends = []


def _score_excerpt(piece: str, key: int, midi_bytes: bytes, render: int) -> tuple[Excerpt, object]:
    """The ``render``-th rendering of one piece: instrumentation, soundfont, transposition, tempo."""
    import io

    import pretty_midi

    rng = _stable_rng(piece, render)
    names = sorted(INSTRUMENTATIONS)
    inst_name = names[int(rng.integers(len(names)))]
    soundfont = SOUNDFONTS[int(rng.integers(len(SOUNDFONTS)))]
    transpose = int(rng.integers(-5, 7))
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes))
    # music21 writes quarter = 120 unless the score says otherwise: stretch to a random 66-108.
    bpm = float(rng.uniform(66, 108))
    stretch = 120.0 / bpm
    programs = INSTRUMENTATIONS[inst_name]
    pm.instruments = [i for i in pm.instruments if not i.is_drum and i.notes]
    for i, inst in enumerate(pm.instruments):
        inst.program = programs[min(i, len(programs) - 1)]
        for n in inst.notes:
            n.start, n.end, n.pitch = n.start * stretch, n.end * stretch, int(np.clip(n.pitch + transpose, 21, 108))
            n.velocity = int(np.clip(n.velocity * rng.uniform(0.8, 1.1), 30, 120))
        for c in inst.control_changes:
            c.time *= stretch
    _trim(pm, EXCERPT_S)
    tkey = (key % 12 + transpose) % 12 + (12 if key >= 12 else 0)
    ex = Excerpt(name=f"score-{piece.replace('/', '_').rsplit('.', 1)[0]}-{render}", piece=piece, kind="score",
                 key=tkey, instrumentation=inst_name, soundfont=Path(soundfont).stem, transpose=transpose,
                 bpm=round(bpm, 1))
    return ex, pm


# -- the independent generator ------------------------------------------------------------------------
MAJOR_PROGRESSIONS = ([0, 4, 5, 3], [0, 3, 4, 0], [5, 3, 0, 4], [0, 5, 3, 4], [0, 3, 0, 4], [3, 4, 0, 0])
MINOR_PROGRESSIONS = ([0, 5, 2, 6], [0, 3, 4, 0], [0, 6, 5, 6], [0, 3, 6, 2], [0, 5, 3, 4], [0, 0, 3, 4])
MAJOR_SCALE, MINOR_SCALE = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
PAD_PROGRAMS, BASS_PROGRAMS, LEAD_PROGRAMS = (89, 90, 48, 4, 16, 50), (38, 39, 33, 34, 87), (80, 81, 11, 8, 98, 0)


def _triad(scale, degree: int, harmonic_minor: bool) -> list[int]:
    notes = [scale[(degree + 2 * k) % 7] + 12 * ((degree + 2 * k) // 7) for k in range(3)]
    if harmonic_minor and degree == 4:  # the raised leading tone: V is major in minor
        notes[1] += 1
    return notes


def generated_track(i: int):
    """The ``i``-th generated track: (Excerpt, PrettyMIDI)."""
    import pretty_midi

    rng = _stable_rng("generated", i)
    minor = i % 2 == 1
    tonic = int(rng.integers(12))
    bpm = float(rng.uniform(90, 171))
    beat = 60.0 / bpm
    scale = MINOR_SCALE if minor else MAJOR_SCALE
    prog = list((MINOR_PROGRESSIONS if minor else MAJOR_PROGRESSIONS)[int(rng.integers(6))])
    harmonic = bool(minor and rng.random() < 0.5)
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    pad = pretty_midi.Instrument(int(rng.choice(PAD_PROGRAMS)))
    bass = pretty_midi.Instrument(int(rng.choice(BASS_PROGRAMS)))
    lead = pretty_midi.Instrument(int(rng.choice(LEAD_PROGRAMS)))
    drums = pretty_midi.Instrument(0, is_drum=True)
    base = 48 + tonic if tonic < 7 else 36 + tonic  # pad root register C3..B3 region
    bars = int(GENERATED_S / (4 * beat)) + 1
    bass_pattern = [(0, 1.5), (1.5, 0.5), (2, 1.5), (3.5, 0.5)] if rng.random() < 0.5 else [(k * 0.5, 0.4) for k in range(8)]
    arp_rate = int(rng.choice([2, 4]))
    for bar in range(bars):
        t0 = bar * 4 * beat
        degree = prog[bar % len(prog)]
        triad = _triad(scale, degree, harmonic)
        for p in triad:
            pad.notes.append(pretty_midi.Note(int(rng.integers(55, 80)), base + p, t0, t0 + 4 * beat))
        root = base - 12 + triad[0]
        for start, dur in bass_pattern:
            octave = 12 if (rng.random() < 0.15) else 0
            bass.notes.append(pretty_midi.Note(int(rng.integers(80, 110)), root + octave, t0 + start * beat,
                                               t0 + (start + dur) * beat))
        if bar % 8 >= 2:  # the arpeggio enters after two bars, like a build
            for step in range(4 * arp_rate):
                tone = triad[step % 3] if rng.random() < 0.75 else scale[int(rng.integers(7))]
                st = t0 + step * beat / arp_rate
                lead.notes.append(pretty_midi.Note(int(rng.integers(60, 95)), base + 12 + tone, st,
                                                   st + 0.9 * beat / arp_rate))
        for b in range(4):
            st = t0 + b * beat
            drums.notes.append(pretty_midi.Note(110, 36, st, st + 0.1))
            if b % 2 == 1:
                drums.notes.append(pretty_midi.Note(100, 38, st, st + 0.1))
            drums.notes.append(pretty_midi.Note(70, 42, st + beat / 2, st + beat / 2 + 0.05))
    pm.instruments = [pad, bass, lead, drums]
    _trim(pm, GENERATED_S)
    soundfont = SOUNDFONTS[i % len(SOUNDFONTS)]
    ex = Excerpt(name=f"generated-{i:03d}", piece=f"generated-{i:03d}", kind="generated",
                 key=tonic + (12 if minor else 0), instrumentation="edm", soundfont=Path(soundfont).stem,
                 bpm=round(bpm, 1))
    return ex, pm, soundfont


# -- the cache ----------------------------------------------------------------------------------------
def build(root: Path, *, per_mode: int = 200, renders: int = 2, generated: int = 60, progress=None,
          workers: int = 3, max_scores: int | None = None) -> list[Excerpt]:
    """Build (or complete) the cache under ``root``; return every excerpt in it."""
    from concurrent.futures import ProcessPoolExecutor

    if shutil.which("fluidsynth") is None or not SOUNDFONTS:
        raise RuntimeError("the key benchmark needs the fluidsynth CLI and fluid-soundfont-gm (apt-get install "
                           "fluidsynth fluid-soundfont-gm)")
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / "manifest.json"
    if manifest.exists():
        return [Excerpt(**e) for e in json.loads(manifest.read_text())]
    progress = progress or (lambda *a: None)
    scores_dir = root / "midi"
    scores_dir.mkdir(exist_ok=True)
    keys_file = root / "score_keys.json"
    if keys_file.exists():
        keys = json.loads(keys_file.read_text())
    else:
        # Parsed pieces are remembered one line each, so an interrupted build resumes.
        partial = root / "score_keys.partial.jsonl"
        seen = {}
        if partial.exists():
            for line in partial.read_text().splitlines():
                piece, key = json.loads(line)
                seen[piece] = key
        paths = [p for p in _score_candidates()[:max_scores] if p.split("/corpus/", 1)[-1] not in seen]
        with ProcessPoolExecutor(2) as pool, partial.open("a") as log:
            for n, (piece, key, data) in enumerate(pool.map(_parse_score, paths, chunksize=2), 1):
                progress("parse", n, len(paths))
                if key is not None:
                    (scores_dir / (piece.replace("/", "_") + ".mid")).write_bytes(data)
                seen[piece] = key
                log.write(json.dumps([piece, key]) + "\n")
                log.flush()
        keys = {p: k for p, k in seen.items() if k is not None}
        keys_file.write_text(json.dumps(keys, indent=0, sort_keys=True))
    # One version of a piece only (the corpus has e.g. bwv112.5 and bwv112.5-sc).
    unique = {}
    for p in sorted(keys):
        unique.setdefault(p.rsplit(".", 1)[0].split("-")[0], p)
    major = sorted(p for p in unique.values() if keys[p] < 12)
    minor = sorted(p for p in unique.values() if keys[p] >= 12)
    rng = np.random.default_rng(17)
    n = min(per_mode, len(major), len(minor))
    chosen = list(rng.choice(major, n, replace=False)) + list(rng.choice(minor, n, replace=False))
    jobs = [(str(root), p, keys[p], r) for r in range(renders) for p in chosen]
    jobs += [(str(root), None, None, i) for i in range(generated)]
    excerpts: list[Excerpt] = []
    with ProcessPoolExecutor(workers) as pool:  # mostly waiting on fluidsynth loading its soundfont
        for done, ex in enumerate(pool.map(_render_job, jobs, chunksize=4), 1):
            excerpts.append(ex)
            progress("render", done, len(jobs))
    manifest.write_text(json.dumps([asdict(e) for e in excerpts], indent=0))
    return excerpts


def build_generated(root: Path, indices, progress=None) -> list[Excerpt]:
    """Render (or find cached under ``root``) the generated tracks ``indices`` of :func:`generated_track` alone,
    without the scores: a fresh held-out set (``python -m benchmarks.key --generated-seed-base``)."""
    if shutil.which("fluidsynth") is None or not SOUNDFONTS:
        raise RuntimeError("the key benchmark needs the fluidsynth CLI and fluid-soundfont-gm")
    root.mkdir(parents=True, exist_ok=True)
    indices = list(indices)
    out = []
    for done, i in enumerate(indices, 1):
        out.append(_render_job((str(root), None, None, int(i))))
        if progress:
            progress("render", done, len(indices))
    return out


def _render_job(job) -> Excerpt:
    root, piece, key, n = job
    root = Path(root)
    if piece is None:
        ex, pm, soundfont = generated_track(n)
        seconds = GENERATED_S
    else:
        data = (root / "midi" / (piece.replace("/", "_") + ".mid")).read_bytes()
        ex, pm = _score_excerpt(piece, key, data, n)
        soundfont = next(s for s in SOUNDFONTS if Path(s).stem == ex.soundfont)
        seconds = EXCERPT_S
    if not (root / f"{ex.name}.npy").exists():
        _save(root, ex, render_midi(pm, soundfont, seconds))
    return ex


def _save(root: Path, ex: Excerpt, y: np.ndarray) -> None:
    peak = float(np.max(np.abs(y))) or 1.0
    np.save(root / f"{ex.name}.npy", np.round(y / peak * 0.7 * 32767).astype(np.int16))


def load(root: Path, ex: Excerpt) -> np.ndarray:
    """One excerpt's audio, float32 mono at :data:`SR`."""
    return np.load(root / f"{ex.name}.npy").astype(np.float32) / 32768.0


def _main(args) -> None:
    import sys

    from benchmarks.common import cache_dir

    last = {}

    def show(phase, done, total):
        if done == total or done - last.get(phase, 0) >= 25:
            last[phase] = done
            print(f"{phase} {done}/{total}", file=sys.stderr, flush=True)

    out = build(cache_dir("key"), progress=show, renders=args.renders)
    print(len(out), "excerpts")


if __name__ == "__main__":
    import sys

    from benchmarks.common import script

    sys.exit(script("_keydata", "Build (or complete) the key benchmark's rendered excerpts under .bench/key/.", _main,
                    arguments=[("renders", dict(nargs="?", type=int, default=2,
                                                help="renders of each chosen score (default 2)"))]))
