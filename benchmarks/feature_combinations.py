"""Which backbones to join: every combination of the features cached in one data dir, scored as
CheckPhotos scores them, before any of it is built as an architecture.

    .venv/bin/python benchmarks/feature_combinations.py --data-dir DIR [--parts 3]

DIR holds the Bottlenecks of several architectures on the same photos (a run of each there, or
`luigi --module workflows Bottlenecks --architecture NAME --data-dir DIR ...`; a pair's run adds its
branches, such as efficientnet_lite0_224@240, the smaller backbone through the pair's input size).
For every combination of up to --parts of them (joined pairs left out: they are their branches),
their features side by side go through CheckPhotos' 5-fold softmax regression (L2 0.01) over every
training and validation photo, each test photo scored by the mean of the fold models; accuracy and
cross-entropy over all photos (the architectures table's 5-fold column) and on the test photos.
Prints a table and writes benchmarks/results/feature_combinations.json (or --out). Each combination takes
seconds to a minute; the features are what costs, and the data dir keeps them.
"""

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from poets.core.images import split_of  # noqa: E402
from poets.features import bottlenecks  # noqa: E402
from poets.photos import out_of_fold  # noqa: E402
from tasks.check_photos import L2  # noqa: E402


def bottleneck_files(data_dir: Path) -> dict:
    """{architecture: its bottlenecks.npz} of every Bottlenecks artifact in `data_dir`, by its record."""
    return {json.loads((path.parent / "params.json").read_text())["all_params"]["architecture"]: path
            for path in sorted(data_dir.glob("bottlenecks/*/bottlenecks.npz"))}


def cached(data_dir: Path) -> dict:
    """{architecture: (features, paths, labels)} of every Bottlenecks artifact in `data_dir` but the pairs'."""
    return {architecture: bottlenecks.load(path) for architecture, path in bottleneck_files(data_dir).items()
            if "+" not in architecture}


def scored(features: np.ndarray, truth: np.ndarray, classes: int, testing: np.ndarray) -> dict:
    probabilities, _ = out_of_fold.out_of_fold(features, truth, classes, ~testing, l2=L2)
    right = -np.log(np.clip(probabilities[np.arange(len(truth)), truth], 1e-12, 1))
    hit = probabilities.argmax(axis=1) == truth
    return {"accuracy": float(hit.mean()), "cross_entropy": float(right.mean()),
            "test_accuracy": float(hit[testing].mean()), "test_cross_entropy": float(right[testing].mean())}


def table(combinations: dict, truth: np.ndarray, classes: int, testing: np.ndarray) -> list[dict]:
    """Each of `combinations` ({a name, or a tuple of names: [features, ...]}) joined side by side and
    scored, a row of the table printed as each is done; returns the rows."""
    rows = []
    print("| features joined | 5-fold acc / xent, all photos | test photos acc / xent |\n|---|---|---|")
    for name, parts in combinations.items():
        figures = scored(np.concatenate(parts, axis=1), truth, classes, testing)
        joined = isinstance(name, tuple)
        rows.append({"features": list(name) if joined else name, "photos": len(truth), **figures})
        print(f"| {' + '.join(name) if joined else name} | {figures['accuracy']:.3f} / {figures['cross_entropy']:.3f}"
              f" | {figures['test_accuracy']:.3f} / {figures['test_cross_entropy']:.3f} |", flush=True)
    return rows


def main():
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--data-dir", required=True, type=Path)
    arguments.add_argument("--parts", type=int, default=3, help="join at most this many backbones")
    arguments.add_argument("--validation-percentage", type=int, default=10)
    arguments.add_argument("--testing-percentage", type=int, default=10)
    arguments.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "feature_combinations.json")
    args = arguments.parse_args()
    found = cached(args.data_dir)
    if not found:
        raise SystemExit(f"no Bottlenecks in {args.data_dir}: run an architecture there first")
    # Every architecture's features of the same photos, in the first one's order.
    _, paths, labels = next(iter(found.values()))
    for name, (_, others, _) in found.items():
        if sorted(others) != sorted(paths):
            raise SystemExit(f"{name}'s features are of other photos than {next(iter(found))}'s")
    aligned = {}
    for name, (features, others, _) in found.items():
        row = {path: i for i, path in enumerate(others)}
        aligned[name] = features[[row[path] for path in paths]]
    classes = sorted(set(labels))
    truth = np.array([classes.index(label) for label in labels])
    testing = np.array([split_of(path, args.validation_percentage, args.testing_percentage) == "testing"
                        for path in paths])
    rows = table({names: [aligned[name] for name in names] for count in range(1, args.parts + 1)
                  for names in itertools.combinations(sorted(found), count)}, truth, len(classes), testing)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
