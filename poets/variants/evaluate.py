"""evaluate.py: accuracy and cross-entropy of a model on the test photos.

    python -m poets.variants.evaluate GRAPH --image_dir flower_photos --labels retrained_labels.txt

GRAPH is a frozen graph (.pb) or a TFLite model (.tflite, .lite); the test
photos are those the codelab's split puts in the test set.
"""

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from poets.core.contract import cross_entropy
from poets.core.failures import BadInput
from poets.core.images import find_photos, split_of
from poets.core.metrics import expected_calibration_error, wilson_interval
from poets.features.kept_features import scored_batches
from poets.models.graphs import open_model

log = logging.getLogger(__name__)


def evaluate(graph_path: Path, dataset_dir: Path, photos: list[tuple[str, str]], labels: list[str],
             size: int | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
    """Score the model at `graph_path` on `photos`, (relative path, label) pairs.

    `labels` is the model's output order. Returns accuracy, mean
    cross-entropy, the number of photos scored, the probabilities
    [count, classes] ("probabilities") and the (path, label) pairs scored,
    in the same order ("photos"; photos that cannot be decoded are left out).
    """
    if not photos:
        raise BadInput("no test photos to evaluate on: raise --testing-percentage or add photos")
    index = {label: i for i, label in enumerate(labels)}
    probabilities, truth, scored = [], [], []
    # Every core, as TensorFlow's session takes for a .pb: with LiteRT's default, one thread, float16
    # took 1.5 times as long over the flower test photos. The probabilities are the same bytes.
    with open_model(graph_path, threads=os.cpu_count()) as classify:
        done = 0
        for count, items, batch in scored_batches(classify, dataset_dir, photos, size or classify.size):
            if items:
                probabilities.append(batch)
                truth.extend(index[label] for _, label in items)
                scored.extend(items)
            done += count
            if progress:
                progress(done, len(photos))
    probabilities, truth = np.concatenate(probabilities), np.array(truth)
    return {
        "accuracy": float((probabilities.argmax(axis=1) == truth).mean()),
        "cross_entropy": cross_entropy(probabilities, truth),
        "count": int(len(truth)),
        "probabilities": probabilities,
        "photos": scored,
    }


def variant_figures(path: str, metrics: dict, sizes: dict, probabilities: np.ndarray, truth) -> dict:
    """A variant's test figures as summary.json and compare.json give them: its `path`, the
    accuracy with its 95% interval, cross-entropy and ECE (of Evaluate's `metrics` and
    `probabilities` against `truth`), its size and gzip size (Compress's `sizes`) and its
    latency a photo."""
    return {"path": path, "accuracy": metrics["accuracy"],
            "accuracy_interval": list(wilson_interval(metrics["accuracy"], metrics["count"])),
            "cross_entropy": metrics["cross_entropy"],
            "ece": expected_calibration_error(probabilities, np.asarray(truth)),
            "size_bytes": sizes["uncompressed"], "gzip_bytes": sizes["compressed"], "latency_s": metrics["latency_s"]}


def latency(graph_path: Path, pixels: np.ndarray, runs: int = 20) -> float:
    """Median seconds the model takes for one photo (batch 1), after a warm-up run."""
    import time

    with open_model(graph_path) as classify:
        classify(pixels[:1])
        times = []
        for i in range(runs):
            image = pixels[i % len(pixels)][None]
            started = time.perf_counter()
            classify(image)
            times.append(time.perf_counter() - started)
    return float(np.median(times))


def test_photos(dataset_dir: Path, validation_percentage: int = 10,
                testing_percentage: int = 10) -> list[tuple[str, str]]:
    return [(path, label) for path, label in find_photos(dataset_dir)
            if split_of(path, validation_percentage, testing_percentage) == "testing"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Accuracy and cross-entropy of a model on the test split.")
    parser.add_argument("graph", help="frozen graph (.pb) or TFLite model (.tflite, .lite)")
    parser.add_argument("--image_dir", required=True, help="folder of class folders of photos")
    parser.add_argument("--labels", help="one label a line in output order (default: "
                                         "retrained_labels.txt or labels.txt beside the graph)")
    parser.add_argument("--validation_percentage", type=int, default=10)
    parser.add_argument("--testing_percentage", type=int, default=10)
    parser.add_argument("--input_size", type=int, help="default: from the graph's input shape")
    args = parser.parse_args(argv)
    graph = Path(args.graph)
    beside = (graph.with_name("retrained_labels.txt"), graph.with_name("labels.txt"))
    labels = args.labels or next((str(p) for p in beside if p.is_file()), None)
    if not graph.is_file():
        parser.error(f"no such file: {graph}")
    if not labels or not Path(labels).is_file():
        parser.error("--labels: no labels file given or found beside the graph")
    photos = test_photos(args.image_dir, args.validation_percentage, args.testing_percentage)
    metrics = evaluate(graph, args.image_dir, photos, Path(labels).read_text(encoding="utf-8").splitlines(),
                       args.input_size)
    low, high = wilson_interval(metrics["accuracy"], metrics["count"])
    print(f"Accuracy: {metrics['accuracy']:.4f} ({metrics['count']} test photos; 95% interval {low:.4f}-{high:.4f})")
    print(f"Cross entropy: {metrics['cross_entropy']:.4f}")


if __name__ == "__main__":
    sys.exit(main())
