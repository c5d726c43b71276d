"""Heads of several seeds averaged: what the head's seed costs the default, and what averaging wins back.

    .venv/bin/python benchmarks/head_ensembles.py --data-dir DIR [--architecture NAME] [--seeds 6] [--together 2,3]

DIR holds the architecture's Bottlenecks on the flower photos (a MobileModel run there). Heads are
trained as Retrain trains them with its defaults (poets.head.training.train_by_validation: 3,000
steps, the best step on the validation photos, the temperature fitted there), one per seed 0 to
--seeds - 1. Heads of consecutive seeds are then averaged, --together at a time, as one wider head:
their hidden units side by side and their softmax layers' weights averaged, which averages their
logits, so the graph, the TFLite models and the clients would run it unchanged; its temperature is
fitted again on the validation photos. Two scores for each: the 359 test photos, and 5-fold over
all 3,670 photos (each fold's heads trained on the other folds' training photos, their step and
temperature chosen on the other folds' validation photos; steadier, as the architectures table's
5-fold column, though that one is a softmax regression). Prints a table and writes
benchmarks/results/head_ensembles.json. Each head takes half a minute on the pair's 2,560 features
here: the default run, six seeds, trains 36 of them.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from feature_combinations import bottleneck_files  # noqa: E402  (this folder, as small_sets imports runs)

from poets.backbones.architectures import DEFAULT  # noqa: E402
from poets.core.contract import cross_entropy  # noqa: E402
from poets.core.folds import stratified_folds  # noqa: E402
from poets.core.images import split_of  # noqa: E402
from poets.features import bottlenecks  # noqa: E402
from poets.head.layers import predict, train_head  # noqa: E402
from poets.head.settings import TrainingSettings  # noqa: E402
from poets.head.training import FOLDS, calibrate, train_by_validation  # noqa: E402


def features_of(data_dir: Path, architecture: str):
    found = bottleneck_files(data_dir)
    if architecture not in found:
        raise SystemExit(f"no Bottlenecks of {architecture} in {data_dir}: run MobileModel there first")
    return bottlenecks.load(found[architecture])


def wider(heads: list) -> list:
    """One head whose logits are the mean of `heads`' (each [(W1, b1), (W2, b2)], uncalibrated or
    calibrated alike): the hidden layers side by side, the softmax layers stacked and averaged."""
    return [(np.concatenate([h[0][0] for h in heads], axis=1), np.concatenate([h[0][1] for h in heads])),
            (np.concatenate([h[1][0] for h in heads], axis=0) / len(heads), np.mean([h[1][1] for h in heads], axis=0))]


def figures(probabilities, truth) -> dict:
    return {"accuracy": float((probabilities.argmax(axis=1) == truth).mean()),
            "cross_entropy": cross_entropy(probabilities, truth)}


def groups(seeds: int, together: int) -> list:
    return [list(range(start, start + together)) for start in range(0, seeds - together + 1, together)]


def on_test_photos(features, truth, sets, classes, seeds, together) -> dict:
    """{"single": [per seed], "N": [per group of N seeds]} on the test photos."""
    test, validation = sets == "testing", sets == "validation"
    heads = [train_by_validation(features, truth, sets, classes, TrainingSettings(seed=seed))[0]
             for seed in range(seeds)]
    found = {"single": [figures(predict(head, features[test]), truth[test]) for head in heads]}
    for n in together:
        found[str(n)] = []
        for group in groups(seeds, n):
            head, _ = calibrate(wider([heads[seed] for seed in group]), features[validation], truth[validation])
            found[str(n)].append({"seeds": group, **figures(predict(head, features[test]), truth[test])})
    return found


def by_folds(features, truth, sets, classes, seeds, together) -> dict:
    """The same, scored 5-fold over every photo."""
    validation = sets == "validation"
    fold = stratified_folds(truth, FOLDS, 0)
    kinds = {"single": [[seed] for seed in range(seeds)],
             **{str(n): groups(seeds, n) for n in together}}
    probabilities = {kind: np.zeros((len(members), len(truth), classes), np.float32) for kind, members in kinds.items()}
    for k in range(FOLDS):
        held = fold == k
        fitted, checked = ~held & ~validation, ~held & validation
        heads = [train_head((features[fitted], truth[fitted]), (features[checked], truth[checked]), classes,
                            TrainingSettings(seed=seed))[0] for seed in range(seeds)]
        for kind, members in kinds.items():
            for row, group in enumerate(members):
                head, _ = calibrate(wider([heads[seed] for seed in group]), features[checked], truth[checked])
                probabilities[kind][row, held] = predict(head, features[held])
        print(f"fold {k + 1} of {FOLDS}", flush=True)
    return {kind: [{"seeds": group, **figures(probabilities[kind][row], truth)} for row, group in enumerate(members)]
            for kind, members in kinds.items()}


def main():
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--data-dir", required=True, type=Path)
    arguments.add_argument("--architecture", default=DEFAULT)
    arguments.add_argument("--seeds", type=int, default=6)
    arguments.add_argument("--together", default="2,3", help="how many heads each average joins")
    args = arguments.parse_args()
    together = [int(n) for n in args.together.split(",")]
    features, paths, labels = features_of(args.data_dir, args.architecture)
    classes = sorted(set(labels))
    truth = np.array([classes.index(label) for label in labels])
    sets = np.array([split_of(path, 10, 10) for path in paths])
    results = {"architecture": args.architecture, "photos": len(paths),
               "test": on_test_photos(features, truth, sets, len(classes), args.seeds, together),
               "five_fold": by_folds(features, truth, sets, len(classes), args.seeds, together)}
    print("| heads averaged | test acc / xent (each) | mean | 5-fold acc / xent (each) | mean |\n|---|---|---|---|---|")
    for kind in results["test"]:
        row = [f"{kind if kind != 'single' else 1}"]
        for where in ("test", "five_fold"):
            found = results[where][kind]
            row.append(", ".join(f"{f['accuracy']:.3f} / {f['cross_entropy']:.3f}" for f in found))
            mean = {what: np.mean([f[what] for f in found]) for what in ("accuracy", "cross_entropy")}
            row.append(f"{mean['accuracy']:.3f} / {mean['cross_entropy']:.3f}")
        print("| " + " | ".join(row) + " |")
    out = ROOT / "benchmarks" / "results" / "head_ensembles.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
