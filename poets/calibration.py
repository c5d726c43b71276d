"""Whether probabilities mean what they say: reliability diagrams and the
expected calibration error (ECE), as Guo, Pleiss, Sun and Weinberger
measure them ("On Calibration of Modern Neural Networks", ICML 2017).
"""

import numpy as np

# Guo et al.'s bins for the expected calibration error and the reliability diagrams.
BINS = 15


def reliability(probabilities: np.ndarray, truth: np.ndarray, bins: int = BINS) -> list[dict]:
    """Per confidence bin of equal width, the photos whose top probability falls
    in it: {"low", "high", "count", "confidence" (mean top probability),
    "accuracy"} (the last two None for an empty bin)."""
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == truth
    edges = np.linspace(0, 1, bins + 1)
    # A probability of exactly 1 belongs to the last bin, and 1/classes or less to the first.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    table = []
    for b in range(bins):
        mine = index == b
        table.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": int(mine.sum()),
                      "confidence": float(confidence[mine].mean()) if mine.any() else None,
                      "accuracy": float(right[mine].mean()) if mine.any() else None})
    return table


def expected_calibration_error(probabilities: np.ndarray, truth: np.ndarray, bins: int = BINS) -> float:
    """ECE: the photos' share in each bin times |accuracy - mean confidence| there, summed."""
    total = len(truth)
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"])
                     for b in reliability(probabilities, truth, bins) if b["count"])) if total else 0.0
