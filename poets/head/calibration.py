"""Probabilities that mean what they say: temperature scaling after Guo, Pleiss, Sun
and Weinberger ("On Calibration of Modern Neural Networks", ICML 2017), and the
camera app's "not sure" threshold; what they are measured by (reliability, ECE)
is poets/core/metrics.py's.

Temperature scaling divides the logits by one scalar T fitted on held-out
photos to minimize their cross-entropy. It keeps every photo's top label
and, folded into the softmax layer's weights and biases, costs nothing at
inference: the graph, every TFLite variant and MediaPipe's scores carry it.
"""

import numpy as np

from poets.core.contract import cross_entropy, softmax

# Temperatures searched: the fit only ever softens. On the flower photos, at
# 10 to 200 photos a class and on the whole set, every fitted temperature was
# 1.1 to 3.7 (benchmarks/README.md); one below 1 comes from validation photos that are all
# right, whose cross-entropy keeps falling as the temperature does: sharpening
# then would make the model sure of everything, what calibration is to prevent.
BOUNDS = (1.0, 20.0)


def fit_temperature(logits: np.ndarray, truth: np.ndarray) -> float:
    """The T minimizing the cross-entropy of softmax(logits / T) on these photos;
    1.0 where there are none."""
    from scipy.optimize import minimize_scalar

    if not len(truth):
        return 1.0
    logits = np.asarray(logits, np.float64)
    result = minimize_scalar(lambda t: cross_entropy(softmax(logits / t), truth), bounds=BOUNDS, method="bounded",
                             options={"xatol": 1e-4})
    return float(result.x)


def scaled(layers: list[tuple[np.ndarray, np.ndarray]], temperature: float) -> list:
    """The head `layers` with its softmax layer divided by `temperature`:
    softmax((h W + b) / T) = softmax(h (W / T) + b / T)."""
    weights, biases = layers[-1]
    return layers[:-1] + [((weights / temperature).astype(weights.dtype), (biases / temperature).astype(biases.dtype))]


# The precision a camera app's answer must have on held-out photos before it is
# given without a "not sure" (issue 29: the app's default threshold).
SURE_PRECISION = 0.9


def sure_above(probabilities: np.ndarray, truth: np.ndarray, precision: float = SURE_PRECISION) -> dict:
    """The lowest top probability t at which the photos scoring t or more have
    their top label right at least `precision` of the time.

    Returns {"threshold", "precision" (of the photos at or above it),
    "coverage" (their share), "photos", "aimed_precision"}; threshold None
    where no t reaches `precision` (or there is no photo).
    """
    confidence = np.asarray(probabilities).max(axis=1)
    right = np.asarray(probabilities).argmax(axis=1) == np.asarray(truth)
    order = np.argsort(-confidence, kind="stable")
    # Precision of the k most confident photos, for every k; ties in confidence
    # count only at the last of them (a threshold keeps all or none of a tie).
    kept = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
    last_of_tie = np.append(confidence[order][1:] != confidence[order][:-1], True) if len(order) else order
    reaching = np.flatnonzero((kept >= precision) & last_of_tie)
    record = {"threshold": None, "precision": None, "coverage": 0.0, "photos": int(len(order)),
              "aimed_precision": precision}
    if len(reaching):
        k = reaching[-1]
        record.update(threshold=float(confidence[order][k]), precision=float(kept[k]),
                      coverage=float((k + 1) / len(order)))
    return record
