"""The full MobileModel pipeline on the real flower photos, beside the codelab's figures.

    .venv/bin/python benchmarks/pipeline.py [--data ../shared/data] [--architecture mobilenet_0.75_224]

In a fresh data dir, with file:// URLs: a cold run of
`luigi --module workflows MobileModel` (weights_rounded), the identical
command again (which must run nothing), then one run per other quantization
mode (which must not rerun the downloads, bottlenecks, retraining or
optimization). Then a cold run with the other --fine-tune-blocks (1 beside
the default 0) in a data dir of its own, a --learning-rate change in each
(which must not recompute the features), and seeds 0-4 of each with the int8
mode, side by side. Then label_image on one photo, and, as the yardstick for
the cold run, decoding every photo once and running the base model once on it
(converted, in LiteRT, as the features are computed; and in TensorFlow).
Prints a table and writes it as JSON to benchmarks/results/pipeline.json.
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from poets.backbones import architectures
from poets.variants import quantize
from runs import base_model_url, dataset_url, parser
from stores import complete_folders, read_record
from tasks.bottlenecks import FINE_TUNE_BLOCKS

FINE_TUNED = 1  # the --fine-tune-blocks measured beside the default

ROOT = Path(__file__).resolve().parents[1]
# The codelab's published figures (TensorFlow for Poets 2).
CODELAB = {"optimized_accuracy": 0.909, "optimized_cross_entropy": 0.270, "gzip_saving_float": 0.08,
           "gzip_saving_weights_rounded": 0.701, "label_image_s": 0.140}
UPSTREAM = ("dataset", "base_model", "lite_base_model", "bottlenecks", "activations", "retrain", "optimize")
FEATURES = ("bottleneck_shards", "bottlenecks", "activation_shards", "activations")
SEEDS = range(5)
MODES = quantize.MODES


def luigi(command):
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-3000:]}")
    return time.monotonic() - started, result.stderr


def folders(data_dir):
    return set(complete_folders(data_dir))


def seed_runs(command):
    """The optimized and int8 graphs' test figures of `command` for seeds 0-4: {"runs": [...], "mean": {...}}."""
    from workflows import MobileModel

    runs = []
    for seed in SEEDS:
        flags = command + ["--random-seed", str(seed), "--quantization-mode", "int8"]
        seconds, _ = luigi(flags)
        # The last value of each flag, as luigi reads them.
        params = {flag[2:].replace("-", "_"): value for flag, value in zip(flags, flags[1:])
                  if flag.startswith("--") and flag not in ("--local-scheduler", "--module")}
        summary = json.loads(MobileModel.from_str_params(params).summary.read_text())
        figures = {f"{variant}_{what}": summary["variants"][variant][what]
                   for variant in ("optimized", "int8") for what in ("accuracy", "cross_entropy")}
        runs.append({"seed": seed, "seconds": seconds, **figures})
    mean = {key: sum(run[key] for run in runs) / len(runs) for key in runs[0] if key != "seed"}
    return {"runs": runs, "mean": mean}


def yardstick(photos, architecture, weights, lite_model):
    """({"litert": s, "tensorflow": s}, photos): seconds to decode every photo once and run the base
    model once on it, batched, converted in LiteRT on every core (the floor: the faster) and in
    TensorFlow from the Keras weights."""
    import os

    import numpy as np

    from poets.core.images import find_photos, load_batches
    from poets.models.tflite import batch_runner

    arch = architectures.get(architecture)
    keras = arch.feature_extractor(weights)
    runs = {"litert": batch_runner(lite_model, threads=os.cpu_count()), "tensorflow": lambda x: keras(x).numpy()}
    items, seconds = find_photos(photos), {}
    for name, run in runs.items():
        started = time.monotonic()
        for batch in load_batches(photos, items, arch.size):
            run(np.stack([pixels for _, pixels in batch]))
        seconds[name] = time.monotonic() - started
    return seconds, len(items)


def clients(workflow, variant, model_path, facts):
    """The TFLite model at `model_path` (the `variant` of `workflow`) in the
    clients: MediaPipe's ImageClassifier and the codelab Android app's
    preprocessing, on the test split, beside the project's own evaluation."""
    import numpy as np

    from poets.models.clients import android_pixels, mediapipe_probabilities, top_label_agreement
    from poets.models.metadata import read_metadata
    from poets.models.tflite import TFLiteClassifier
    from poets.reports.report import Evaluation
    from tasks.evaluate import Evaluate

    evaluate = workflow.clone(Evaluate, variant=variant)
    labels = evaluate.requires()["retrain"].read_labels()
    photos_dir = evaluate.requires()["dataset"].photos
    photos, ours = evaluate.photos(), evaluate.probabilities()
    truth = Evaluation(photos, ours).truth(labels)
    started = time.monotonic()
    mediapipe = mediapipe_probabilities(model_path, [photos_dir / path for path, _ in photos], labels)
    mediapipe_s = (time.monotonic() - started) / len(photos)
    model = TFLiteClassifier(model_path)
    android = model(np.stack([android_pixels(photos_dir / path, model.size) for path, _ in photos]))
    return {
        "model": str(model_path), "test_photos": len(photos),
        "project_accuracy": float((ours.argmax(axis=1) == truth).mean()),
        "mediapipe_accuracy": float((mediapipe.argmax(axis=1) == truth).mean()),
        "mediapipe_agreement": top_label_agreement(mediapipe, ours),
        "mediapipe_s_per_photo": mediapipe_s,
        "android_accuracy": float((android.argmax(axis=1) == truth).mean()),
        "android_agreement": top_label_agreement(android, ours),
        "metadata_version": read_metadata(Path(model_path).read_bytes())["version"],
        **facts,
    }


def main():
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--keep", action="store_true", help="keep the data dir")
    args = arguments.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="poets-bench-"))
    command = [
        str(Path(sys.executable).parent / "luigi"), "--module", "workflows", "MobileModel", "--local-scheduler",
        "--data-dir", str(data_dir), "--architecture", args.architecture,
        "--dataset-url", dataset_url(args),
        "--base-model-url", base_model_url(args),
    ]
    cold, _ = luigi(command)
    before = made_cold = folders(data_dir)
    rerun, _ = luigi(command)
    assert folders(data_dir) == before, "the identical rerun ran something"

    summaries, mode_runs = {}, {}
    summaries["weights_rounded"] = json.loads(next(data_dir.glob("mobile_model/*/summary.json")).read_text())
    for mode in MODES[1:]:
        before = folders(data_dir)
        seconds, _ = luigi(command + ["--quantization-mode", mode])
        new = folders(data_dir) - before
        rerun_upstream = sorted(f.parent.name for f in new if f.parent.name in UPSTREAM)
        mode_runs[mode] = {"seconds": seconds, "new_artifacts": sorted(f.parent.name for f in new),
                           "reran_upstream": rerun_upstream}
        [summary_folder] = [f for f in new if f.parent.name == "mobile_model"]
        summaries[mode] = json.loads((summary_folder / "summary.json").read_text())

    # The other --fine-tune-blocks, cold in a data dir of its own, then a training parameter
    # changed for both: retraining and what follows run again, never the features.
    other = FINE_TUNED if FINE_TUNE_BLOCKS == 0 else 0
    other_dir = Path(tempfile.mkdtemp(prefix="poets-bench-"))
    other_command = [str(other_dir) if part == str(data_dir) else part for part in command]
    other_command += ["--fine-tune-blocks", str(other)]
    other_cold, _ = luigi(other_command)
    learning_rate_runs = {}
    for blocks, (directory, base) in {FINE_TUNE_BLOCKS: (data_dir, command), other: (other_dir, other_command)}.items():
        before = folders(directory)
        seconds, _ = luigi(base + ["--learning-rate", "0.002"])
        new = folders(directory) - before
        learning_rate_runs[blocks] = {
            "seconds": seconds, "new_artifacts": sorted(f.parent.name for f in new),
            "recomputed_features": sorted(f.parent.name for f in new if f.parent.name in FEATURES)}
    # Five seeds of each, side by side.
    seeds = {FINE_TUNE_BLOCKS: seed_runs(command), other: seed_runs(other_command)}

    variants = dict(summaries["weights_rounded"]["variants"])
    for mode in MODES[1:]:
        variants[mode] = summaries[mode]["variants"][mode]
    # The features are computed by the shards, one after the other on this one worker.
    bottleneck_seconds = sum(read_record(f)["seconds"] for f in complete_folders(
        data_dir, "activation_shards" if FINE_TUNE_BLOCKS else "bottleneck_shards"))
    [optimize] = [f for f in made_cold if f.parent.name == "optimize"]
    optimize_record = json.loads((optimize / "optimize.json").read_text())
    float_lite = Path(summaries["weights_rounded"]["android"]["model"])

    from poets.codelab.label_image import label_image

    photos = next(data_dir.glob("dataset/*/photos"))
    daisy = sorted((photos / "daisy").glob("*.jpg"))[0]
    labels = summaries["weights_rounded"]["labels_path"]
    label_times = {name: label_image(variants[name]["path"], labels, daisy)[0] for name in ("optimized", "int8")}
    from workflows import MobileModel

    def workflow(mode):
        return MobileModel(data_dir=str(data_dir), architecture=args.architecture, quantization_mode=mode,
                           dataset_url=command[command.index("--dataset-url") + 1],
                           base_model_url=command[command.index("--base-model-url") + 1])

    android = summaries["weights_rounded"]["android"]
    client_runs = {mode: clients(workflow(mode), mode, variants[mode]["path"], variants[mode]["tflite"])
                   for mode in MODES[2:]}
    client_runs[f"graph.lite ({android['variant']})"] = clients(
        workflow("weights_rounded"), android["variant"], android["model"], android["tflite"])
    yards, photo_count = yardstick(photos, args.architecture, next(data_dir.glob("base_model/*/*.h5")),
                                   next(data_dir.glob("lite_base_model/*/base_model.tflite")))
    yard_seconds = yards["litert"]

    result = {
        "architecture": args.architecture,
        "photos": photo_count,
        "variants": variants,
        "gzip_saving": {name: 1 - v["gzip_bytes"] / v["size_bytes"] for name, v in variants.items()},
        "float_tflite_bytes": float_lite.stat().st_size,
        "int8_share_of_float_tflite": variants["int8"]["size_bytes"] / float_lite.stat().st_size,
        "android_variant": {mode: summaries[mode]["android"]["variant"] for mode in MODES},
        "optimize": optimize_record,
        "bottleneck_images_per_s": photo_count / bottleneck_seconds,
        "label_image_s": label_times,
        "cold_seconds": cold,
        "rerun_seconds": rerun,
        "yardstick_seconds": yard_seconds,
        "yardstick_tensorflow_seconds": yards["tensorflow"],
        "mode_runs": mode_runs,
        "fine_tune_blocks": FINE_TUNE_BLOCKS,
        "other_fine_tune_blocks": {"blocks": other, "cold_seconds": other_cold},
        "learning_rate_runs": {f"fine_tune_blocks={blocks}": run for blocks, run in learning_rate_runs.items()},
        "seeds": {f"fine_tune_blocks={blocks}": runs for blocks, runs in seeds.items()},
        "clients": client_runs,
        "codelab": CODELAB,
    }

    print(f"\nMobileModel on {photo_count} flower photos, {args.architecture}\n")
    print(f"{'variant':<17}{'accuracy':>9}{'x-entropy':>10}{'size':>11}{'gzip':>11}{'saved':>7}{'ms/photo':>9}"
          f"{'agrees':>8}")
    for name, v in variants.items():
        print(f"{name:<17}{v['accuracy']:>9.3f}{v['cross_entropy']:>10.3f}{v['size_bytes']:>11}"
              f"{v['gzip_bytes']:>11}{result['gzip_saving'][name]:>7.1%}{1000 * v['latency_s']:>9.1f}"
              f"{v['agreement']:>8.1%}")
    print(f"{'codelab optimized':<17}{CODELAB['optimized_accuracy']:>9.3f}{CODELAB['optimized_cross_entropy']:>10.3f}"
          f"{'':>22}{CODELAB['gzip_saving_float']:>7.1%}")
    print(f"{'codelab rounded':<17}{'':>41}{CODELAB['gzip_saving_weights_rounded']:>7.1%}")
    print(f"\noptimize: {optimize_record['nodes_before']} -> {optimize_record['nodes_after']} nodes, "
          f"max |difference| {optimize_record['max_difference']:.2g}")
    print(f"float graph.lite {result['float_tflite_bytes']} bytes; "
          f"int8 is {result['int8_share_of_float_tflite']:.1%} of it")
    print(f"label_image (1 photo): optimized .pb {label_times['optimized']:.4f}s, int8 .tflite "
          f"{label_times['int8']:.4f}s (codelab {CODELAB['label_image_s']}s)")
    print(f"bottlenecks: {result['bottleneck_images_per_s']:.0f} images/s")
    print(f"cold run {cold:.1f}s = {cold / yard_seconds:.2f}x the yardstick (decode every photo + base model "
          f"once in LiteRT: {yard_seconds:.1f}s; in TensorFlow {yards['tensorflow']:.1f}s, "
          f"{cold / yards['tensorflow']:.2f}x); identical rerun {rerun:.2f}s")
    for mode, run in mode_runs.items():
        print(f"--quantization-mode {mode}: {run['seconds']:.1f}s, new artifacts {', '.join(run['new_artifacts'])}; "
              f"reran upstream: {run['reran_upstream'] or 'nothing'}")
    print(f"cold run with --fine-tune-blocks {other}: {other_cold:.1f}s = {other_cold / yard_seconds:.2f}x the "
          f"yardstick")
    for blocks, run in learning_rate_runs.items():
        print(f"--fine-tune-blocks {blocks} --learning-rate 0.002: {run['seconds']:.1f}s, new artifacts "
              f"{', '.join(run['new_artifacts'])}; features recomputed: {run['recomputed_features'] or 'none'}")
    print(f"Android variant chosen: {result['android_variant']}")
    print(f"\nSeeds 0-4, test split: {'seed':>4}{'optimized':>10}{'x-entropy':>10}{'int8':>8}{'x-entropy':>10}"
          f"{'seconds':>9}")
    for blocks, runs in seeds.items():
        for run in runs["runs"] + [{"seed": "mean", **runs["mean"]}]:
            print(f"{'--fine-tune-blocks ' + str(blocks):<22}{run['seed']:>4}{run['optimized_accuracy']:>10.4f}"
                  f"{run['optimized_cross_entropy']:>10.4f}{run['int8_accuracy']:>8.4f}"
                  f"{run['int8_cross_entropy']:>10.4f}{run['seconds']:>9.1f}")
    print(f"\nTFLite models in the clients, test split ({client_runs['int8']['test_photos']} photos): accuracy as the "
          f"project measures it, as MediaPipe's ImageClassifier does (from the file alone), as the codelab's "
          f"Android app prepares photos; agreement: same top label as the project\n")
    print(f"{'model':<26}{'project':>8}{'mediapipe':>10}{'agrees':>8}{'android':>8}{'agrees':>8}{'size':>10}"
          f"{'no metadata':>12}{'min runtime':>12}")
    for name, c in client_runs.items():
        print(f"{name:<26}{c['project_accuracy']:>8.3f}{c['mediapipe_accuracy']:>10.3f}{c['mediapipe_agreement']:>8.1%}"
              f"{c['android_accuracy']:>8.3f}{c['android_agreement']:>8.1%}{c['size_bytes']:>10}"
              f"{c['size_without_metadata']:>12}{c['min_runtime_version']:>12}")

    out = ROOT / "benchmarks" / "results" / "pipeline.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    # MobileModel's reports, for every variant at once.
    from poets.reports.report import Evaluation, write_html, write_report
    from poets.variants.shipping import choose
    from tasks.artifact import read_json
    from tasks.bottlenecks import features_of
    from tasks.check_photos import CheckPhotos
    from tasks.download import DownloadDataset
    from tasks.evaluate import Evaluate
    from tasks.retrain import Retrain

    best = choose(variants)
    every = {**summaries["weights_rounded"], "variants": variants,
             "android": {"variant": best, "model": "graph.lite",
                         "tflite": variants[best].get("tflite", android["tflite"])}}
    write_report(every, out.parent)
    any_mode = workflow("weights_rounded")
    evaluations = {name: Evaluation(task.photos(), task.probabilities())
                   for name, task in ((name, any_mode.clone(Evaluate, variant=name)) for name in variants)}
    shutil.rmtree(out.parent / "thumbnails", ignore_errors=True)
    write_html(every, out.parent, evaluations, any_mode.clone(DownloadDataset).photos,
               any_mode.clone(Retrain).training(), read_json(features_of(any_mode).skipped),
               any_mode.clone(CheckPhotos).for_report())
    print(f"written {out.relative_to(ROOT)}, report.md, report.html and their figures beside it")
    if not args.keep:
        shutil.rmtree(data_dir)
        shutil.rmtree(other_dir)


if __name__ == "__main__":
    main()
