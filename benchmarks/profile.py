"""A cold MobileModel run on the real flower photos, stage by stage, against its floor.

    .venv/bin/python benchmarks/profile.py [--data ../shared/data] [--architecture mobilenet_0.75_224]

In a fresh data dir, with file:// URLs: a cold run of `luigi --module
workflows MobileModel` (default flags), timed from outside; then each
stage's seconds as its artifacts' records say (`seconds`: its whole run(),
summed over the stage's artifacts); what no record holds (starting Python,
luigi's scheduling, importing TensorFlow, between the tasks) is the cold
run less their sum. The floor, in the same process as the measurement
runs: decoding every photo once and running the base model once on it,
batched, in LiteRT as the features are computed (benchmarks/pipeline.py's
yardstick; its TensorFlow pass is given beside it). Prints a table, each stage's
seconds, its share of the cold run and its multiple of the floor, and writes
benchmarks/results/profile[_ARCHITECTURE].json.
"""

import json
import sys
import tempfile
from pathlib import Path

from pipeline import yardstick

from runs import base_model_url, dataset_url, luigi, parser, results_path, stages


def main():
    args = parser(__doc__.split("\n\n")[0]).parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="profile-")) / "data"
    command = [str(Path(sys.executable).parent / "luigi"), "--module", "workflows", "MobileModel",
               "--local-scheduler", "--data-dir", str(data_dir), "--architecture", args.architecture,
               "--base-model-url", base_model_url(args), "--dataset-url", dataset_url(args)]
    cold = luigi(command)
    found = stages(data_dir)
    outside = cold - sum(stage["seconds"] for stage in found.values())
    floors, photos = yardstick(next(data_dir.glob("dataset/*/photos")), args.architecture,
                               next(data_dir.glob("base_model/*/*.h5")),
                               next(data_dir.glob("lite_base_model/*/base_model.tflite")))
    floor = floors["litert"]
    rows = {**found, "(no record: start-up, scheduling, imports)": {"seconds": outside, "artifacts": 0}}
    print(f"{args.architecture}, {photos} photos: cold run {cold:.1f} s, floor {floor:.1f} s "
          f"(decode every photo + one base-model pass in LiteRT), {cold / floor:.2f}x the floor; in TensorFlow "
          f"the pass takes {floors['tensorflow']:.1f} s, {cold / floors['tensorflow']:.2f}x\n")
    print("| stage | artifacts | seconds | share of the cold run | x the floor |\n|---|---|---|---|---|")
    for name, stage in rows.items():
        print(f"| {name} | {stage['artifacts'] or ''} | {stage['seconds']:.1f} | {stage['seconds'] / cold:.1%} | "
              f"{stage['seconds'] / floor:.2f} |")
    result = {"architecture": args.architecture, "photos": photos, "cold_run_s": cold, "floor_s": floor,
              "cold_over_floor": cold / floor, "floor_tensorflow_s": floors["tensorflow"],
              "cold_over_tensorflow_floor": cold / floors["tensorflow"], "stages": rows}
    out = results_path("profile", args.architecture)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
