"""The full MobileModel pipeline on the real flower photos, beside the codelab's figures.

    .venv/bin/python benchmarks/pipeline.py [--data ../shared/data] [--architecture mobilenet_0.75_224]

Runs `luigi --module workflows MobileModel` in a fresh data dir with file://
URLs (cold), then the identical command again (which must run nothing),
prints a table and writes it as JSON to benchmarks/results/pipeline.json.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = {"mobilenet_0.75_224": "mobilenet_7_5_224_tf_no_top.h5"}
# The codelab's published figures (TensorFlow for Poets 2).
CODELAB = {"optimized_accuracy": 0.909, "optimized_cross_entropy": 0.270,
           "gzip_saving_float": 0.08, "gzip_saving_weights_rounded": 0.70}


def run(command):
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-3000:]}")
    return time.monotonic() - started, result.stderr


def records(data_dir, stage):
    return [json.loads(p.read_text()) for p in Path(data_dir, stage).glob("*/params.json")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--architecture", default="mobilenet_0.75_224")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    args = parser.parse_args()

    data = Path(args.data).resolve()
    data_dir = Path(tempfile.mkdtemp(prefix="poets-bench-"))
    command = [
        str(Path(sys.executable).parent / "luigi"), "--module", "workflows", "MobileModel", "--local-scheduler",
        "--data-dir", str(data_dir), "--architecture", args.architecture,
        "--dataset-url", (data / "flower_photos.tgz").as_uri(),
        "--base-model-url", (data / "models" / WEIGHTS[args.architecture]).as_uri(),
    ]
    cold, _ = run(command)
    rerun, log = run(command)
    assert "already done" in log or "complete ones were encountered" in log, log[-2000:]

    summary = json.loads(next(data_dir.glob("mobile_model/*/summary.json")).read_text())
    [bottlenecks] = records(data_dir, "bottlenecks")
    photos = len(json.loads(next(data_dir.glob("bottlenecks/*/skipped.json")).read_text()))
    import numpy as np

    with np.load(next(data_dir.glob("bottlenecks/*/bottlenecks.npz"))) as npz:
        photos += len(npz["paths"])
    stage_seconds = {stage: round(sum(r["seconds"] for r in records(data_dir, stage)), 2)
                     for stage in ("dataset", "base_model", "bottlenecks", "retrain", "optimize", "quantize",
                                   "compress", "evaluate", "export", "mobile_model")}
    result = {
        "architecture": args.architecture,
        "variants": summary["variants"],
        "gzip_saving": {name: 1 - v["gzip_bytes"] / v["size_bytes"] for name, v in summary["variants"].items()},
        "bottleneck_photos": photos,
        "bottleneck_images_per_s": photos / bottlenecks["seconds"],
        "stage_seconds": stage_seconds,
        "cold_seconds": cold,
        "rerun_seconds": rerun,
        "codelab": CODELAB,
    }

    print(f"\nMobileModel on {photos} flower photos, {args.architecture}\n")
    print(f"{'variant':<17}{'accuracy':>9}{'x-entropy':>10}{'size':>11}{'gzip':>11}{'saved':>7}")
    for name, v in summary["variants"].items():
        print(f"{name:<17}{v['accuracy']:>9.3f}{v['cross_entropy']:>10.3f}{v['size_bytes']:>11}"
              f"{v['gzip_bytes']:>11}{result['gzip_saving'][name]:>7.1%}")
    print(f"{'codelab optimized':<17}{CODELAB['optimized_accuracy']:>9.3f}{CODELAB['optimized_cross_entropy']:>10.3f}"
          f"{'':>22}{CODELAB['gzip_saving_float']:>7.0%}")
    print(f"{'codelab rounded':<17}{'':>41}{CODELAB['gzip_saving_weights_rounded']:>7.0%}")
    print(f"\nbottlenecks: {result['bottleneck_images_per_s']:.0f} images/s")
    print("stage seconds: " + ", ".join(f"{k} {v}" for k, v in stage_seconds.items()))
    print(f"cold run {cold:.1f} s; identical rerun {rerun:.1f} s ({rerun / cold:.1%} of cold)")

    out = ROOT / "benchmarks" / "results" / "pipeline.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}")
    if not args.keep:
        shutil.rmtree(data_dir)


if __name__ == "__main__":
    main()
