"""The figures every stage reports of a classifier's answers: accuracy's interval, the confusion
matrix and each class's precision, recall and F1, the classes lagging behind, and calibration
(reliability bins, ECE). Plain numpy on probabilities and labels: the head's training, the
variants' evaluation and the reports all measure with these.
"""

import numpy as np


def wilson_interval(accuracy: float, count: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's score interval (95% for z = 1.96) of an accuracy measured on
    `count` photos: unlike the normal approximation it stays inside [0, 1] and
    is honest on a few dozen photos (0.90 on 40 gives 0.77-0.96)."""
    if not count:
        return 0.0, 1.0
    centre = (accuracy + z * z / (2 * count)) / (1 + z * z / count)
    half = z / (1 + z * z / count) * np.sqrt(accuracy * (1 - accuracy) / count + z * z / (4 * count * count))
    # At 0 or 1 the bound on that side is the accuracy itself; rounding must not leave it outside.
    return float(max(0.0, min(accuracy, centre - half))), float(min(1.0, max(accuracy, centre + half)))


def confusion(predicted: np.ndarray, truth: np.ndarray, classes: int) -> np.ndarray:
    """[true class, predicted class] counts."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def per_class(probabilities: np.ndarray, truth: np.ndarray, labels: list[str]) -> dict:
    """{label: {"count", "precision", "recall", "f1"}} of the top labels of `probabilities`.

    A figure with nothing to divide by is None: recall and F1 of a class
    with no test photo, precision of a class never predicted.
    """
    matrix = confusion(probabilities.argmax(axis=1), truth, len(labels))
    figures = {}
    for i, label in enumerate(labels):
        right, count, predicted = int(matrix[i, i]), int(matrix[i].sum()), int(matrix[:, i].sum())
        precision = right / predicted if predicted else None
        recall = right / count if count else None
        f1 = 2 * right / (count + predicted) if count else None
        figures[label] = {"count": count, "precision": precision, "recall": recall, "f1": f1}
    return figures


# A class this far below the median recall of the classes is named in the report.
LAGGING_RECALL = 0.2


def lagging_classes(figures: dict) -> list[tuple[str, float, float]]:
    """[(label, recall, the median recall of all classes)] of the classes in
    per_class's `figures` whose recall is more than LAGGING_RECALL below the median."""
    recalls = {label: f["recall"] for label, f in figures.items() if f["recall"] is not None}
    if len(recalls) < 2:
        return []
    median = float(np.median(list(recalls.values())))
    return [(label, recall, median) for label, recall in recalls.items() if recall < median - LAGGING_RECALL]


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
