"""The head's settings on a joined pair's features: whether a wider, less or more dropped, longer trained
or label-smoothed head gains what the head's defaults (chosen on one MobileNet's 1,001 features) leave.

    .venv/bin/python benchmarks/head_settings.py --data-dir DIR [--architecture NAME] [--join NAME ...]
        [--seeds 3] [--variants "hidden_units=512" "dropout=0.3" ...] [--out FILE]

DIR holds the architecture's Bottlenecks on the flower photos (a MobileModel run there). Each variant is
Retrain's defaults (poets.head.settings.TrainingSettings) with the fields it names changed, and the
defaults themselves come first. Each is trained as Retrain trains it (train_by_validation: the best step
on the validation photos, the temperature fitted there), seeds 0 to --seeds - 1, and scored twice, as
head_ensembles.py scores a head: on the 359 test photos, and 5-fold over all 3,670 photos (steadier: a
seed moves it by about a point, the test figure by more). Prints a table and writes
benchmarks/results/head_settings.json (or --out). A head takes about half a minute on a pair's 2,560
features here, twice that at 512 hidden units; a variant, six heads a seed. --join adds the cached
features of other architectures in DIR beside the architecture's (a third backbone, say, before it is
built as one: feature_combinations.py scores such joins by a softmax regression, this by the head).
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from head_ensembles import features_of, figures  # noqa: E402  (this folder)

from poets.backbones.architectures import DEFAULT  # noqa: E402
from poets.core.folds import stratified_folds  # noqa: E402
from poets.core.images import split_of  # noqa: E402
from poets.head.layers import Split, predict  # noqa: E402
from poets.head.settings import TrainingSettings  # noqa: E402
from poets.head.training import FOLDS, held_out_probabilities, train_by_validation  # noqa: E402


def settings_of(variant: str) -> TrainingSettings:
    """Retrain's defaults with the fields `variant` ("name=value,name=value"; "" for none) names changed."""
    changes = {}
    for change in filter(None, variant.split(",")):
        name, value = change.split("=")
        kind = type(getattr(TrainingSettings(), name))
        changes[name] = kind(value)
    return dataclasses.replace(TrainingSettings(), **changes)


def scored(features, truth, sets, classes, settings: TrainingSettings) -> dict:
    """{"test": figures on the test photos, "five_fold": over all photos}, for the head of `settings`."""
    test, validation = sets == "testing", sets == "validation"
    head = train_by_validation(features, truth, sets, classes, settings)[0]
    # poets.head.training.cross_validate's, but with head_ensembles' folds, the same for every seed and
    # variant, so that only the head moves between rows; its own folds follow the head's seed.
    probabilities = held_out_probabilities(Split(features, truth), validation, stratified_folds(truth, FOLDS, 0),
                                           FOLDS, classes, settings)
    return {"test": figures(predict(head, features[test]), truth[test]), "five_fold": figures(probabilities, truth)}


def main():
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--data-dir", required=True, type=Path)
    arguments.add_argument("--architecture", default=DEFAULT)
    arguments.add_argument("--join", nargs="*", default=[], help="other architectures' features to add")
    arguments.add_argument("--seeds", type=int, default=3)
    arguments.add_argument("--variants", nargs="*", default=["hidden_units=512", "dropout=0.3", "dropout=0.7",
                                                            "label_smoothing=0.1", "steps=6000,learning_rate=0.0005"])
    arguments.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "head_settings.json")
    args = arguments.parse_args()
    features, paths, labels = features_of(args.data_dir, args.architecture)
    for other in args.join:
        more, more_paths, _ = features_of(args.data_dir, other)
        order = {path: row for row, path in enumerate(more_paths)}
        features = np.concatenate([features, more[[order[path] for path in paths]]], axis=1)
    classes = sorted(set(labels))
    truth = np.array([classes.index(label) for label in labels])
    sets = np.array([split_of(path, 10, 10) for path in paths])
    results = {"architecture": args.architecture, "joined": args.join, "features": features.shape[1],
               "photos": len(paths), "variants": {}}
    print("| head | test acc / xent, mean (each seed) | 5-fold acc / xent, mean (each seed) |\n|---|---|---|")
    for variant in ["", *args.variants]:
        found = [scored(features, truth, sets, len(classes), dataclasses.replace(settings_of(variant), seed=seed))
                 for seed in range(args.seeds)]
        results["variants"][variant or "defaults"] = found
        args.out.write_text(json.dumps(results, indent=1) + "\n")  # each variant as it ends: hours in all
        row = [variant or "defaults"]
        for where in ("test", "five_fold"):
            each = [f[where] for f in found]
            mean = [np.mean([f[what] for f in each]) for what in ("accuracy", "cross_entropy")]
            row.append(f"{mean[0]:.3f} / {mean[1]:.3f} (" + ", ".join(f"{f['accuracy']:.3f}" for f in each) + ")")
        print("| " + " | ".join(row) + " |", flush=True)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
