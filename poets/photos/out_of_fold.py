"""Out-of-fold class probabilities on the cached features.

A photo's out-of-fold probabilities come from a model that never saw its
label: the photos are dealt into k folds (stratified by class), and each
fold is scored by a softmax regression fitted on the other k - 1. Photos
outside the pool (the test split) are scored by the mean of the k models,
none of which saw a test label either. This is what confident learning
needs to find label issues, and what cross-validated estimates of a head
are made of; it reads only features, never runs the base model.

The model is multinomial logistic regression with an L2 penalty on
standardized features, fitted to convergence by scipy's L-BFGS: on a few
thousand photos a fold costs a fraction of a second, and unlike the
project's head (dropout, a moving average, a kept step) it has no training
schedule whose randomness would leak into the flags.
"""

import numpy as np

from poets.core.contract import softmax
from poets.core.folds import stratified_folds

# cleanlab's default: each fold model sees 80% of the photos, at half the cost of ten folds.
FOLDS = 5
# The penalty per photo on the weights of standardized features; chosen
# among L2_GRID by the folds' cross-entropy when none is given.
L2_GRID = (1e-3, 1e-2, 1e-1, 1.0)
MAX_ITERATIONS = 300


def _fit(x: np.ndarray, onehot: np.ndarray, l2: float, start: np.ndarray | None = None) -> np.ndarray:
    """The parameters [W.ravel(), b] of softmax(x W + b) minimizing the mean
    cross-entropy on `x` plus l2 / 2 * |W|^2, from `start` (a convex problem:
    the start changes the iterations, not the optimum)."""
    from scipy.optimize import minimize

    count, dims = x.shape
    classes = onehot.shape[1]

    def loss(theta):
        weights, biases = theta[:-classes].reshape(dims, classes), theta[-classes:]
        logits = x @ weights + biases
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        value = -(onehot * log_p).sum() / count + 0.5 * l2 * (weights**2).sum()
        residual = (np.exp(log_p) - onehot) / count
        return value, np.concatenate([(x.T @ residual + l2 * weights).ravel(), residual.sum(axis=0)])

    start = np.zeros(dims * classes + classes) if start is None else start
    return minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": MAX_ITERATIONS, "ftol": 1e-7}).x


def _standardizer(features, columns: int = 64):
    """(mean, spread + 1e-6) of each feature, in float64, a few columns at a time: no float64 copy of
    every photo's features is held (each column's figures are the same bytes as from a whole copy)."""
    means, spreads = [], []
    for start in range(0, features.shape[1], columns):
        x = np.asarray(features[:, start:start + columns], np.float64)
        means.append(x.mean(axis=0))
        spreads.append(x.std(axis=0))
    return np.concatenate(means), np.concatenate(spreads) + 1e-6


def _standardized(features: np.ndarray, rows: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The features of `rows` standardized, in float64, a fit's input: only the rows a fit takes,
    as it takes them, and no float32 copy of them all on the way. A float64 copy of every photo's
    features, beside a fit's copy of its rows, held about four times the features themselves."""
    x = np.empty((len(rows), features.shape[1]))
    for start in range(0, len(rows), 4096):
        x[start:start + 4096] = features[rows[start:start + 4096]]
    x -= mean
    x /= scale
    return x


def _model(theta, classes, mean, scale):
    """(W, b) for raw features from parameters fitted on standardized ones."""
    weights = theta[:-classes].reshape(-1, classes) / scale[:, None]
    return weights.astype(np.float32), (theta[-classes:] - mean @ weights).astype(np.float32)


def fit(features: np.ndarray, truth: np.ndarray, classes: int, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """(weights [D, classes], biases [classes]) of softmax(x W + b) minimizing the
    mean cross-entropy plus l2 / 2 * |W|^2 on the standardized features; the
    standardization is folded into W and b, so they apply to raw features."""
    mean, scale = _standardizer(features)
    theta = _fit(_standardized(features, np.arange(len(features)), mean, scale), np.eye(classes)[truth], l2)
    return _model(theta, classes, mean, scale)


def predict(model: tuple[np.ndarray, np.ndarray], features: np.ndarray) -> np.ndarray:
    weights, biases = model
    return softmax(np.asarray(features, np.float32) @ weights + biases)


def out_of_fold(features: np.ndarray, truth: np.ndarray, classes: int, pool: np.ndarray | None = None,
                folds: int = FOLDS, seed: int = 0, l2: float | None = None) -> tuple[np.ndarray, float]:
    """(probabilities [photos, classes], the l2 used) where each photo of `pool`
    (a boolean mask, default all) is scored by a model fitted without its
    fold, and each photo outside it by the mean of the fold models.

    `l2` None: chosen from L2_GRID by the out-of-fold cross-entropy on the pool.
    A class with fewer photos than folds is simply absent from some folds.
    """
    truth = np.asarray(truth)
    pool = np.ones(len(truth), bool) if pool is None else np.asarray(pool, bool)
    rows = np.flatnonzero(pool)
    folds = max(2, min(folds, len(rows)))
    fold = stratified_folds(truth[rows], folds, seed)
    # Standardized by every photo's mean and spread: they use no label, so nothing leaks between folds.
    mean, scale = _standardizer(features)
    onehot = np.eye(classes)[truth]
    best = None
    for penalty in (L2_GRID if l2 is None else (l2,)):
        # Each fold starts from the whole pool's fit: a few iterations instead of a hundred.
        whole = _fit(_standardized(features, rows, mean, scale), onehot[rows], penalty)
        probabilities = np.zeros((len(truth), classes), np.float32)
        for k in range(folds):
            held, fitted = rows[fold == k], rows[fold != k]
            # Not kept under a name: the next fold's rows would be made while these are still held.
            model = _model(_fit(_standardized(features, fitted, mean, scale), onehot[fitted], penalty, whole),
                           classes, mean, scale)
            probabilities[held] = predict(model, features[held])
            if (~pool).any():
                probabilities[~pool] += predict(model, features[~pool]) / folds
        picked = probabilities[rows, truth[rows]]
        loss = float(-np.log(np.maximum(picked, 1e-12)).mean())
        if best is None or loss < best[0]:
            best = (loss, probabilities, penalty)
    return best[1], best[2]
