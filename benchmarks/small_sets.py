"""Small photo sets: how sure the shipped model is, and whether it should be.

    .venv/bin/python benchmarks/small_sets.py [--data ../shared/data] [--architecture mobilenet_0.75_224]
        [--sizes 10,20,50] [--choices validation,auto] [--seeds 0,1,2,3,4]

From the flower photos' own split, every test photo kept, draws of 10, 20
and 50 training photos a class (validation a quarter of that, at least 2;
three draws each) are laid out as photo folders and run through the whole
MobileModel pipeline (int8) twice: with the head's step and temperature
chosen on the validation photos (`--choose-step-by validation`, the only way
before it had a choice) and as `auto` chooses for so few photos (by 5-fold
cross-validation, the head then trained on the training and validation
photos). One data dir for all, so the features are computed once and reused
by content hash. Per draw: accuracy, cross-entropy and ECE of the optimized
graph and of int8 on the test split, after the temperature (as shipped) and
before it (the same probabilities with the temperature taken out: exact for
the optimized graph, a close approximation for int8); beside them, on the
same cached features, two recipes: a softmax layer with its L2 penalty
chosen on the validation photos, and Teachable Machine's (a dense layer of
100 ReLU units, softmax, Adam at 0.001, 50 epochs in batches of 16). Then
the whole flower set, seeds 0-4 (where `auto` chooses on validation). Prints
a table and writes benchmarks/results/small_sets.json (small_sets-<architecture>.json for
another --architecture). --sizes, --choices and --seeds (empty: no whole-set
runs) measure a part: a pair's run takes minutes, where a MobileNet's takes one;
the JSON keeps the draws and seeds a run did not measure.
"""

import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from poets.core.contract import cross_entropy, softmax
from poets.core.images import find_photos, split_of
from poets.core.metrics import expected_calibration_error
from poets.features import bottlenecks
from poets.photos import out_of_fold
from runs import ARCHITECTURE, archive, base_model_url, dataset_url, luigi, mobile_model, parser
from tasks.bottlenecks import Bottlenecks
from tasks.retrain import Retrain

ROOT = Path(__file__).resolve().parents[1]
SIZES = (10, 20, 50)
DRAWS = range(3)
SEEDS = range(5)
# Before the choice (on validation, as all versions did) and after it (what auto chooses for a small set).
CHOICES = ("validation", "auto")


def figures(probabilities, truth):
    return {"accuracy": float((probabilities.argmax(axis=1) == truth).mean()),
            "cross_entropy": cross_entropy(probabilities, truth),
            "ece": expected_calibration_error(probabilities, truth)}


def shipped_figures(workflow, variant):
    """After and before the temperature, of `variant` on the test split."""
    from tasks.evaluate import Evaluate

    evaluate = workflow.clone(Evaluate, variant=variant)
    labels = evaluate.requires()["retrain"].read_labels()
    truth = np.array([labels.index(label) for _, label in evaluate.photos()])
    after = evaluate.probabilities()
    temperature = evaluate.requires()["retrain"].training()["calibration"]["temperature"]
    before = softmax(np.log(np.maximum(after, 1e-12)) * temperature)
    return {"after": figures(after, truth), "before": figures(before, truth), "temperature": temperature}


def draw(photos, out, per_class, seed):
    """Hard links of `per_class` training photos a class, a quarter of that (at least 2) of validation
    photos, and every test photo, under `out`; returns the (path, label) of the training and validation ones."""
    rng = np.random.default_rng(seed)
    listed = find_photos(photos)
    chosen = [item for item in listed if split_of(item[0], 10, 10) == "testing"]
    for split, count in (("training", per_class), ("validation", max(2, per_class // 4))):
        for label in sorted({label for _, label in listed}):
            mine = [item for item in listed if item[1] == label and split_of(item[0], 10, 10) == split]
            chosen += [mine[i] for i in rng.choice(len(mine), count, replace=False)]
    for path, _ in chosen:
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        os.link(photos / path, out / path)
    return chosen


def recipes(features_path, per_split):
    """Test figures of the two recipes on the cached features of one draw."""
    import keras

    features, paths, labels = bottlenecks.load(features_path)
    classes = sorted(set(labels))
    truth = np.array([classes.index(label) for label in labels])
    sets = np.array([split_of(path, 10, 10) for path in paths])
    train, validation, test = (sets == name for name in ("training", "validation", "testing"))
    # A softmax layer, its L2 penalty the one of out_of_fold.L2_GRID best on validation.
    best = None
    for l2 in out_of_fold.L2_GRID:
        model = out_of_fold.fit(features[train], truth[train], len(classes), l2)
        loss = cross_entropy(out_of_fold.predict(model, features[validation]), truth[validation])
        if best is None or loss < best[0]:
            best = (loss, model)
    softmax_layer = figures(out_of_fold.predict(best[1], features[test]), truth[test])
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((features.shape[1],)), keras.layers.Dense(100, activation="relu"),
                              keras.layers.Dense(len(classes), activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy")
    model.fit(features[train], truth[train], epochs=50, batch_size=16, verbose=0)
    teachable = figures(model.predict(features[test], verbose=0), truth[test])
    return {"softmax_l2_on_validation": softmax_layer, "teachable_machine": teachable}


def row_of(cells):
    return "| " + " | ".join(map(str, cells)) + " |"


def numbers(text):
    """A comma-separated list of integers; empty: none."""
    return tuple(int(item) for item in text.split(",") if item.strip())


def mean(rows, *keys):
    values = []
    for row in rows:
        for key in keys:
            row = row[key]
        values.append(row)
    return float(np.mean(values))


def main():
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--work", help="a folder to keep the runs in (default: a new temporary one)")
    arguments.add_argument("--sizes", type=numbers, default=SIZES, help="photos a class of the small sets")
    arguments.add_argument("--choices", type=lambda text: tuple(text.split(",")), default=CHOICES,
                           help="--choose-step-by values to run each small set with")
    arguments.add_argument("--seeds", type=numbers, default=SEEDS, help="seeds of the whole-set runs; empty: none")
    args = arguments.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="small-sets-"))
    work.mkdir(parents=True, exist_ok=True)
    base = [str(Path(sys.executable).parent / "luigi"), "--module", "workflows", "MobileModel", "--local-scheduler",
            "--data-dir", str(work / "data"), "--architecture", args.architecture, "--quantization-mode", "int8",
            "--base-model-url", base_model_url(args)]
    full = base + ["--dataset-url", dataset_url(args)]
    whole = []
    for seed in args.seeds:
        flags = full + ["--random-seed", str(seed)]
        luigi(flags)
        workflow = mobile_model(flags)
        whole.append({"seed": seed, **{v: shipped_figures(workflow, v) for v in ("optimized", "int8")}})
    photos = work / "photos"
    if not photos.exists():
        with tarfile.open(archive(args)) as tar:
            tar.extractall(work / "extracted", filter="data")
        (work / "extracted").rename(photos)
    photos = next(p for p in photos.iterdir() if p.is_dir())
    small = []
    for per_class in args.sizes:
        for seed in DRAWS:
            folder = work / "draws" / f"{per_class}-{seed}"
            if not folder.exists():
                draw(photos, folder, per_class, seed)
            row = {"per_class": per_class, "draw": seed}
            for choice in args.choices:
                flags = base + ["--dataset-dir", str(folder), "--choose-step-by", choice]
                seconds = luigi(flags)
                workflow = mobile_model(flags)
                row[choice] = {"seconds": seconds, "best_step": workflow.clone(Retrain).training()["best_step"],
                               **{v: shipped_figures(workflow, v) for v in ("optimized", "int8")}}
            small.append({**row, **recipes(workflow.clone(Bottlenecks).features, per_class)})
    suffix = "" if args.architecture == ARCHITECTURE else f"-{args.architecture}"
    out = ROOT / "benchmarks" / "results" / f"small_sets{suffix}.json"
    # The draws measured now replace those of the same size and draw, and seeds run now the whole-set runs;
    # what this run did not measure stays (a part measured on another day: --sizes, --seeds).
    earlier = json.loads(out.read_text()) if out.exists() else {"full_set": [], "small_sets": []}
    measured = {(row["per_class"], row["draw"]) for row in small}
    kept = [row for row in earlier["small_sets"] if (row["per_class"], row["draw"]) not in measured]
    result = {"architecture": args.architecture, "full_set": whole or earlier["full_set"],
              "small_sets": sorted(kept + small, key=lambda row: (row["per_class"], row["draw"]))}
    out.write_text(json.dumps(result, indent=2) + "\n")
    named = {"validation": "on validation", "auto": "by folds (auto)"}
    shipped = ("optimized acc / CE / ECE", "int8")
    header = ["photos a class"] + [f"{named[c]}: {v}" for c in args.choices for v in shipped]
    header += ["softmax layer, L2 on validation", "Teachable Machine's", f"temperature ({', '.join(args.choices)})"]
    print(row_of(header) + "\n" + "|---" * len(header) + "|")

    def cell(rows, *keys):
        return " / ".join(f"{mean(rows, *keys, what):.3f}" for what in ("accuracy", "cross_entropy", "ece"))

    for per_class in args.sizes:
        rows = [row for row in small if row["per_class"] == per_class]
        print(row_of([per_class] + [cell(rows, c, v, "after") for c in args.choices for v in ("optimized", "int8")]
                     + [cell(rows, "softmax_l2_on_validation"), cell(rows, "teachable_machine"),
                        ", ".join(f"{mean(rows, c, 'optimized', 'temperature'):.2f}" for c in args.choices)]))
    if whole:
        blank = [""] * (len(header) - 4)
        seeds = ",".join(map(str, args.seeds))
        print(row_of([f"all (seeds {seeds}; auto is validation)", cell(whole, "optimized", "after"),
                      cell(whole, "int8", "after")] + blank + [f"{mean(whole, 'optimized', 'temperature'):.2f}"]))
        print(row_of(["all, before the temperature", cell(whole, "optimized", "before"), cell(whole, "int8", "before")]
                     + blank + [""]))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
