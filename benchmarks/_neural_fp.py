"""A lead for issue 16's hardest rooms: a learned, room-robust fingerprint (a prototype, not in the product).

Landmark fingerprints lose the records whose peaks a reverberant, noisy room buries (docs/fingerprints-log.md,
"The misses after, by stage": the true record keeps 3-6 landmarks at its offset). This measures the other
kind of fingerprint the log names as the next step: a small CNN maps 1-s log-mel patches to unit vectors,
trained contrastively so that a patch and the same patch through a simulated booth land together (after
Chang et al., "Neural audio fingerprint for high-specific audio retrieval based on contrastive learning",
ICASSP 2021; written here from the idea, not from their code).

Protocol (no tuning on what is judged):
- trained on **c1** only, through the presets of :data:`livedj.dsp.room.BOOTHS` (never the other simulation);
- judged on **c2** (never trained on): every record's clean audio is the database (a vector every 0.256 s);
  the queries are `identify_window`'s cached 15-s renders (`--library c2 --records 0 --lengths 15` first);
- a query's vectors (every 0.128 s) vote for (track, offset) with their nearest database vectors; the best
  (track, offset)'s score is compared with a threshold set on records *not* in the database (c1's renders:
  the threshold names <= 1 % of them), against the landmark matcher on the same queries.

    LIVEDJ_BENCH_DIR=.bench python -m benchmarks._neural_fp [--steps 3000] [--minutes 20]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

SR = 16000
N_FFT, HOP, N_MELS, PATCH = 1024, 256, 64, 64  #: a patch: 64 frames of 16 ms (1.02 s) x 64 mel bands
DB_HOP, Q_HOP = 16, 8  #: frames between database vectors (0.256 s) and query vectors (0.128 s)


def log_mel(y: np.ndarray) -> np.ndarray:
    """(frames, N_MELS) float32 log-mel power, 100 Hz - 6 kHz."""
    import librosa

    m = librosa.feature.melspectrogram(y=np.asarray(y, np.float32), sr=SR, n_fft=N_FFT, hop_length=HOP,
                                       n_mels=N_MELS, fmin=100.0, fmax=6000.0, center=False)
    return np.log10(m.T + 1e-7).astype(np.float32)


def patches(mel: np.ndarray, hop: int) -> np.ndarray:
    """(n, PATCH, N_MELS) patches every ``hop`` frames, each standardised (a room's gain and tilt move its mean)."""
    if len(mel) < PATCH:
        return np.zeros((0, PATCH, N_MELS), np.float32)
    p = np.lib.stride_tricks.sliding_window_view(mel, (PATCH, N_MELS))[::hop, 0]
    return _standardise(p)


def _standardise(p: np.ndarray) -> np.ndarray:
    mu = p.mean(axis=(1, 2), keepdims=True)
    sd = p.std(axis=(1, 2), keepdims=True) + 1e-3
    return ((p - mu) / sd).astype(np.float32)


def model():
    import torch.nn as nn

    def block(a, b):
        return nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.BatchNorm2d(b), nn.ReLU())

    return nn.Sequential(block(1, 16), block(16, 32), block(32, 64), block(64, 128), block(128, 256),
                         nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(1024, 128))


def embed(net, p: np.ndarray, batch: int = 512) -> np.ndarray:
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for a in range(0, len(p), batch):
            z = net(torch.from_numpy(p[a:a + batch])[:, None])
            out.append(torch.nn.functional.normalize(z, dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 128), np.float32)


def training_pairs(chunks_per_track: int = 6, chunk_s: float = 12.0, seed: int = 1, speed_range: float = 0.0):
    """c1's clean chunks and the same chunks through a random preset: two log-mel lists, and each room
    chunk's playback speed (uniform in 1 +- ``speed_range``: the pitch fader, tempo and pitch together;
    0: every chunk at speed 1)."""
    from benchmarks.identify_window import _audio, _files
    from livedj.dsp.room import BOOTHS, booth_preset

    rng = np.random.default_rng(seed)
    clean, room, speeds = [], [], []
    for k, path in enumerate(_files("c1")):
        y = _audio("c1", k, path)
        for _ in range(chunks_per_track):
            if len(y) < chunk_s * SR + SR:
                break
            s = int(rng.uniform(0, len(y) - chunk_s * SR))
            x = y[s:s + int(chunk_s * SR)]
            speed = float(rng.uniform(1 - speed_range, 1 + speed_range)) if speed_range else 1.0
            r = booth_preset(x, SR, str(rng.choice(list(BOOTHS))), speed=speed, seed=int(rng.integers(1 << 30)))
            clean.append(log_mel(x))
            room.append(log_mel(r[:int(len(x) / speed)]))
            speeds.append(speed)
    return clean, room, speeds


def train(clean, room, steps: int, minutes: float, batch: int = 192, tau: float = 0.1, seed: int = 2, speeds=None):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = model()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0 = time.time()
    for step in range(steps):
        a, b = [], []
        for c in rng.integers(len(clean), size=batch):
            n = min(len(clean[c]), len(room[c]))
            s = int(rng.integers(8, n - PATCH - 16))
            j = int(rng.integers(-8, 9))  # the query's patches fall between the database's
            a.append(clean[c][s:s + PATCH])
            if rng.random() < 0.8:  # the room's chunk plays at its speed: clean frame f is heard at f / speed
                r0 = int(round((s + j) / (speeds[c] if speeds else 1.0)))
                b.append(room[c][r0:r0 + PATCH])
            else:
                b.append(clean[c][s + j:s + j + PATCH])
        xa = torch.from_numpy(_standardise(np.stack(a)))[:, None]
        xb = torch.from_numpy(_standardise(np.stack(b)))[:, None]
        net.train()
        z = torch.nn.functional.normalize(net(torch.cat([xa, xb])), dim=1)
        sim = z @ z.T / tau
        sim.fill_diagonal_(-1e9)
        target = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)])
        loss = torch.nn.functional.cross_entropy(sim, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0:
            print(f"step {step:5d}  loss {loss.item():.3f}  {time.time() - t0:.0f} s", flush=True)
        if time.time() - t0 > minutes * 60:
            print(f"stopped at step {step} ({minutes} min)")
            break
    return net


def database(net):
    from benchmarks.identify_window import _audio, _files

    vecs, track, frame = [], [], []
    for k, path in enumerate(_files("c2")):
        p = patches(log_mel(_audio("c2", k, path)), DB_HOP)
        vecs.append(embed(net, p))
        track.append(np.full(len(p), k + 1))
        frame.append(np.arange(len(p)) * DB_HOP)
    return np.concatenate(vecs), np.concatenate(track), np.concatenate(frame)


SPEEDS = (0.925, 0.95, 0.975, 1.0, 1.025, 1.05, 1.075)  #: pitch-fader hypotheses (renders at +-6 % fall between)


def score(net, db, y: np.ndarray, speeds=SPEEDS) -> tuple[int, float, float]:
    """:func:`score_at` under every speed hypothesis (the query resampled back to speed 1): the best."""
    from livedj.dsp.room import speed_change

    return max((score_at(net, db, y if s == 1.0 else speed_change(y, 1.0 / s, SR)) for s in speeds),
               key=lambda r: r[1])


def score_at(net, db, y: np.ndarray, k: int = 5) -> tuple[int, float, float]:
    """(best track, its score, the best other track's score): votes of the query's patches at one offset."""
    import torch

    vecs, track, frame = db
    q = embed(net, patches(log_mel(y), Q_HOP))
    if not len(q):
        return 0, 0.0, 0.0
    s_t, top_t = torch.topk(torch.from_numpy(q) @ torch.from_numpy(vecs).T, k, dim=1)
    top, top_s = top_t.numpy(), s_t.numpy()
    sims = {(qi, int(d)): float(top_s[qi, c]) for qi in range(len(q)) for c, d in enumerate(top[qi])}
    votes: dict = {}
    for qi in range(len(q)):
        seen = set()
        for d in top[qi]:
            key = (int(track[d]), int(round((frame[d] - qi * Q_HOP) / DB_HOP)))
            if key in seen:
                continue
            seen.add(key)
            votes[key] = votes.get(key, 0.0) + max(0.0, sims[qi, int(d)] - 0.5)
    if not votes:
        return 0, 0.0, 0.0
    # neighbouring offsets are one alignment split by the patch grid
    merged: dict = {}
    for (t, o), v in votes.items():
        merged[(t, o)] = v + votes.get((t, o + 1), 0.0)
    (best_t, _), best = max(merged.items(), key=lambda kv: kv[1])
    other = max((v for (t, _), v in merged.items() if t != best_t), default=0.0)
    return best_t, best, other


def model_name(steps: int, speed_range: float = 0.0) -> str:
    """The cached model's file name."""
    return f"model-{steps}.pt" if not speed_range else f"model-{steps}-speed{speed_range:g}.pt"


def main(argv=None) -> int:
    import torch

    from benchmarks.identify_window import library, queries
    from livedj.library.fingerprints import decide, match_audio

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--conds", default="alt@1,preset@1,alt@1.06,alt@0.94")
    ap.add_argument("--every", type=int, default=1, help="every n-th query of the database's corpus")
    ap.add_argument("--absent-every", type=int, default=3, help="every n-th query of records not in it")
    ap.add_argument("--speed-range", type=float, default=0.0,
                    help="train on room chunks played at 1 +- this speed (the pitch fader); 0: speed 1")
    ap.add_argument("--train-only", action="store_true", help="train (or find) the model and stop")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    t0 = time.time()
    clean = room = None
    from benchmarks.common import cache_dir

    saved = cache_dir("neural-fp") / model_name(args.steps, args.speed_range)
    if saved.exists():
        net = model()
        net.load_state_dict(torch.load(saved))
    else:
        clean, room, speeds = training_pairs(speed_range=args.speed_range)
        print(f"training pairs: {len(clean)} chunks of c1 ({time.time() - t0:.0f} s)")
        net = train(clean, room, args.steps, args.minutes, speeds=speeds)
        torch.save(net.state_dict(), saved)
    if args.train_only:
        return 0
    db = database(net)
    print(f"database: {len(db[0])} vectors of c2 ({time.time() - t0:.0f} s)")
    index = library("c2")
    conds = args.conds.split(",")
    mine = [q for q in queries("c2", 76, 15.0) if q[0] in conds][::args.every]
    theirs = [q for q in queries("c1", 134, 15.0) if q[0] in conds][::args.absent_every]
    absent = [score(net, db, y)[1] for _, _, y in theirs]
    absent_fp = sum(decide(match_audio(y, SR, index)) is not None for _, _, y in theirs)
    dump = {"absent": np.array(absent), "absent_cond": np.array([c for c, _, _ in theirs])}
    thr = float(np.quantile(absent, 0.99))
    print(f"records not in the database (c1's renders, {len(absent)}): score p50 {np.median(absent):.2f}, "
          f"p99 {thr:.2f}, max {max(absent):.2f}; landmarks named {absent_fp}")
    for cond in conds:
        rows = [(t, *score(net, db, y), decide(match_audio(y, SR, index))) for c, t, y in mine if c == cond]
        n = len(rows)
        dump[cond] = np.array([(t, b, s_, o, -1 if m is None else m.track_id) for t, b, s_, o, m in rows])
        nn_right = sum(b == t and s > thr for t, b, s, _, _ in rows)
        nn_wrong = sum(b != t and s > thr for t, b, s, _, _ in rows)
        lm = sum(m is not None and (m.track_id == t or t in m.same) for t, _, _, _, m in rows)
        either = sum((b == t and s > thr) or (m is not None and (m.track_id == t or t in m.same))
                     for t, b, s, _, m in rows)
        top1 = sum(b == t for t, b, _, _, _ in rows)
        print(f"c2 {cond:10s} {n:4d} queries: landmarks {lm} ({100 * lm / n:.1f} %), learned {nn_right} "
              f"({100 * nn_right / n:.1f} %, wrong {nn_wrong}; top-1 without threshold {top1}), "
              f"either {either} ({100 * either / n:.1f} %)", flush=True)
    np.savez(cache_dir("neural-fp") / "scores.npz", **dump)
    print(f"total {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
