"""Learn the key profiles of :mod:`livedj.dsp.keyfind` on the *training half* of the key benchmark.

``python -m benchmarks._keytrain`` writes ``livedj/data/key_model.npz``. Only rendered scores of the
training half (split by piece, see :attr:`benchmarks._keydata.Excerpt.split`) are used - their whole
excerpt and its last 12 s as two examples; the generated tracks and the test half are never seen,
so ``python -m benchmarks key`` measures the model on music it did not learn from.

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

L2 = 0.02


def _design(chroma: np.ndarray) -> np.ndarray:
    """(n, 24 keys, 50): each key's feature in its mode's block, plus the mode's bias."""
    r = rotations(chroma)  # (n, 12, 24)
    n = len(chroma)
    x = np.zeros((n, 24, 50))
    x[:, :12, :24], x[:, 12:, 24:48] = r, r
    x[:, :12, 48], x[:, 12:, 49] = 1.0, 1.0
    return x


def fit(chroma: np.ndarray, keys: np.ndarray, l2: float = L2) -> KeyModel:
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


def train(chroma: np.ndarray, keys: np.ndarray, groups: np.ndarray, folds: int = 5) -> KeyModel:
    """Fit on everything given, with a temperature from ``folds``-fold out-of-fold logits (folds by ``groups``)."""
    uniq = np.unique(groups)
    fold_of = {g: i % folds for i, g in enumerate(np.random.default_rng(0).permutation(uniq))}
    fold = np.array([fold_of[g] for g in groups])
    oof = np.zeros((len(keys), 24))
    for f in range(folds):
        m = fit(chroma[fold != f], keys[fold != f])
        oof[fold == f] = key_logits(chroma[fold == f], m)
    temperature = fit_temperature(oof, keys)
    model = fit(chroma, keys)
    return KeyModel(model.weights, model.bias, temperature)


def main() -> int:
    from benchmarks.key import features

    table = features()
    sel = (table["kind"] == "score") & (table["split"] == "train")
    chroma = np.concatenate([table["whole"][sel], table["live"][sel]])
    keys = np.concatenate([table["key"][sel], table["key"][sel]])
    groups = np.concatenate([table["piece"][sel], table["piece"][sel]])
    model = train(chroma, keys, groups)
    acc = float(np.mean(np.argmax(key_logits(chroma, model), axis=1) == keys))
    np.savez(MODEL_PATH, weights=model.weights, bias=model.bias, temperature=np.float64(model.temperature))
    print(f"trained on {sel.sum()} excerpts ({len(keys)} windows) of the training half: training accuracy "
          f"{acc:.3f}, temperature {model.temperature:.3f} -> {MODEL_PATH}", file=sys.stderr)
    np.set_printoptions(precision=2, suppress=True)
    for mode, w in zip(("major", "minor"), model.weights):
        print(f"{mode} bass   {w[:12]}\n{mode} treble {w[12:]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
