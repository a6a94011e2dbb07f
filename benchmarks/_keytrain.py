"""Learn the key profiles of :mod:`livedj.dsp.keyfind` on the *training half* of the key benchmark.

``python -m benchmarks._keytrain`` writes ``livedj/data/key_model.npz``. Only the *training half*
(split by piece, see :attr:`benchmarks._keydata.Excerpt.split`) of the rendered scores and of the
generated tracks is used: each excerpt whole, plus every 12-s window of it (hop 6 s); the test half
is never seen, so ``python -m benchmarks key`` measures the model on music it did not learn from.
(Profiles learned on the scores alone reached 74 % exact on the scores' test half but only 40 % on
the generated tracks, whose pop progressions put the relative minor and the fifth in the bass: the
generator's training half is therefore in the training set too.)

The model is a multinomial logistic regression over the 24 keys with weights tied across
transpositions: the logit of a key with tonic ``t`` and mode ``m`` is ``w_m . rot_t(x) + b_m`` where
``rot_t(x)`` is the standardised (bass, treble) chroma rotated to ``t``. An L2 penalty keeps the
profiles smooth. The softmax temperature is then fitted on out-of-fold predictions (5 folds of the
training half, by piece) so that the posterior is calibrated on music the fold did not learn from.
"""
from __future__ import annotations

import sys

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from livedj.dsp.keyfind import MODEL_PATH, KeyModel, key_logits, rotations

L2_GRID = (0.02, 0.005, 0.001, 0.0002, 0.00005)  #: chosen by cross-validation on the training half


def _design(chroma: np.ndarray) -> np.ndarray:
    """(n, 24 keys, 50): each key's feature in its mode's block, plus the mode's bias."""
    r = rotations(chroma)  # (n, 12, 24)
    n = len(chroma)
    x = np.zeros((n, 24, 50))
    x[:, :12, :24], x[:, 12:, 24:48] = r, r
    x[:, :12, 48], x[:, 12:, 49] = 1.0, 1.0
    return x


def fit(chroma: np.ndarray, keys: np.ndarray, l2: float) -> KeyModel:
    """Fit weights and biases (temperature 1) on ``chroma`` (n, 2, 12) with true ``keys`` (n,)."""
    x = _design(chroma)
    n = len(keys)
    onehot = np.zeros((n, 24))
    onehot[np.arange(n), keys] = 1.0

    def loss(theta):
        z = x @ theta
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        nll = -np.sum(onehot * np.log(p + 1e-300)) / n
        grad = np.einsum("nk,nkd->d", p - onehot, x) / n
        reg = l2 * np.sum(theta[:48] ** 2)
        grad[:48] += 2 * l2 * theta[:48]
        return nll + reg, grad

    theta0 = np.zeros(50)
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    theta = res.x
    return KeyModel(weights=np.stack([theta[:24], theta[24:48]]), bias=theta[48:50].copy(), temperature=1.0)


def fit_temperature(logits: np.ndarray, keys: np.ndarray) -> float:
    """The softmax temperature minimising the negative log-likelihood of ``keys`` under ``logits``."""
    def nll(log_t):
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -np.mean(logp[np.arange(len(keys)), keys])

    return float(np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


def train(chroma: np.ndarray, keys: np.ndarray, groups: np.ndarray, folds: int = 5) -> tuple[KeyModel, float, dict]:
    """Fit on everything given; the L2 weight and the temperature come from ``folds``-fold out-of-fold
    predictions (folds by ``groups``, i.e. by piece). Returns (model, l2, {l2: out-of-fold accuracy})."""
    uniq = np.unique(groups)
    fold_of = {g: i % folds for i, g in enumerate(np.random.default_rng(0).permutation(uniq))}
    fold = np.array([fold_of[g] for g in groups])
    best, cv = None, {}
    for l2 in L2_GRID:
        oof = np.zeros((len(keys), 24))
        for f in range(folds):
            m = fit(chroma[fold != f], keys[fold != f], l2)
            oof[fold == f] = key_logits(chroma[fold == f], m)
        cv[l2] = float(np.mean(oof.argmax(axis=1) == keys))
        if best is None or cv[l2] > cv[best[0]]:
            best = (l2, oof)
    l2, oof = best
    temperature = fit_temperature(oof, keys)
    model = fit(chroma, keys, l2)
    return KeyModel(model.weights, model.bias, temperature), l2, cv


def main() -> int:
    from benchmarks.key import features

    from benchmarks._keydata import build, load
    from benchmarks.common import cache_dir
    from livedj.dsp.keyfind import chroma_features

    root = cache_dir("key")
    windows = root / "train-windows-v1.npz"
    if not windows.exists():
        rows = []
        for ex in build(root):
            if ex.split != "train":
                continue
            y = load(root, ex)
            _, tuning = chroma_features(y, 16000)
            parts = [y] + [y[i:i + 12 * 16000] for i in range(0, len(y) - 12 * 16000 + 1, 6 * 16000)]
            rows += [(chroma_features(part, 16000, tuning=tuning)[0], ex.key, ex.piece) for part in parts]
        np.savez(windows, chroma=np.array([r[0] for r in rows]), key=np.array([r[1] for r in rows]),
                 piece=np.array([r[2] for r in rows]))
    with np.load(windows) as f:
        chroma, keys, groups = f["chroma"], f["key"], f["piece"]
    sel = np.ones(len(keys), bool)
    model, l2, cv = train(chroma, keys, groups)
    acc = float(np.mean(np.argmax(key_logits(chroma, model), axis=1) == keys))
    np.savez(MODEL_PATH, weights=model.weights, bias=model.bias, temperature=np.float64(model.temperature))
    print(f"trained on {len(np.unique(groups))} pieces ({len(keys)} windows) of the training half: out-of-fold "
          f"accuracy by L2 {cv}; chose L2 {l2}; training accuracy {acc:.3f}, temperature "
          f"{model.temperature:.3f} -> {MODEL_PATH}", file=sys.stderr)
    np.set_printoptions(precision=2, suppress=True)
    for mode, w in zip(("major", "minor"), model.weights):
        print(f"{mode} bass   {w[:12]}\n{mode} treble {w[12:]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
