"""evaluate.py: accuracy and cross-entropy of a graph on the test photos."""

import logging

import numpy as np

from poets import graphs
from poets.images import UnusablePhoto, load_batches
from poets.retrain import cross_entropy

log = logging.getLogger(__name__)


def evaluate(graph_path, dataset_dir, photos, labels, size, progress=None):
    """Score the frozen graph at `graph_path` on `photos`, (relative path, label) pairs.

    `labels` is the graph's output order. Returns accuracy, mean
    cross-entropy and the number of photos scored.
    """
    if not photos:
        raise ValueError("no test photos to evaluate on: raise --testing-percentage or add photos")
    index = {label: i for i, label in enumerate(labels)}
    probabilities, truth = [], []
    with graphs.Classifier(graphs.load(graph_path)) as classify:
        done = 0
        for batch in load_batches(dataset_dir, photos, size):
            good = [(item, pixels) for item, pixels in batch if not isinstance(pixels, UnusablePhoto)]
            if good:
                probabilities.append(classify(np.stack([pixels for _, pixels in good])))
                truth.extend(index[label] for (_, label), _ in good)
            done += len(batch)
            if progress:
                progress(done, len(photos))
    probabilities, truth = np.concatenate(probabilities), np.array(truth)
    return {
        "accuracy": float((probabilities.argmax(axis=1) == truth).mean()),
        "cross_entropy": cross_entropy(probabilities, truth),
        "count": int(len(truth)),
    }
