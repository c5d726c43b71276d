"""Photos dealt into folds for cross-validation: the head's (head/training.py) and the photo check's
out-of-fold probabilities (out_of_fold) deal them the same way."""

import numpy as np


def stratified_folds(truth: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """The fold (0 .. folds - 1) of each photo: each class's photos dealt
    round the folds in a seeded random order, so every fold holds about
    the same share of every class."""
    truth = np.asarray(truth)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(truth), np.int64)
    offset = 0
    for label in np.unique(truth):
        rows = np.flatnonzero(truth == label)
        rng.shuffle(rows)
        # Continue the deal where the last class stopped: small classes do not all start in fold 0.
        fold[rows] = (offset + np.arange(len(rows))) % folds
        offset += len(rows)
    return fold
