"""The real MobileModel DAG on generated photos served over loopback HTTP."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import BROKEN, FAST_TRAINING, build, families, fresh, linked_copy, summary_of
from workflows import MobileModel


def test_complete_run_runs_every_stage_once(completed):
    _, ran = completed
    assert families(ran) == sorted(
        ["DownloadDataset", "DownloadBaseModel", "LiteBaseModel", "Bottlenecks", "CheckPhotos", "Retrain", "Optimize",
         "Quantize"] + ["BottleneckShard"] * 8
        # The export of the variant that ships, and of the other one the camera app offers beside it.
        + ["Compress", "Evaluate"] * 3 + ["Export"] * 2 + ["CameraApp", "MobileModel"]
    )


def test_summary_has_the_documented_shape(completed):
    params, _ = completed
    summary = summary_of(params)
    assert set(summary) == {"architecture", "labels", "labels_path", "variants", "android", "skipped",
                            "photos_to_check", "calibration", "cross_validated", "camera_app",
                            "test_labels_edited"}
    # The generated test split is a dozen photos: the head is cross-validated beside it.
    estimate = summary["cross_validated"]
    assert estimate["folds"] == 5 and estimate["photos"] > 30
    assert estimate["accuracy_interval"][0] <= estimate["accuracy"] <= estimate["accuracy_interval"][1]
    assert estimate["accuracy"] > 0.8 and 0 < estimate["cross_entropy"] < 1
    report = Path(summary["android"]["model"]).parents[3] / "mobile_model"
    assert any("Cross-validated (5 folds)" in page.read_text() for page in report.glob("*/report.html"))
    # The camera app: the shipped variant first, the run's threshold, and the reports say how to open it.
    app = summary["camera_app"]
    config = json.loads(Path(app["path"], "app.json").read_text())
    assert app["variants"][0] == config["shipped"] == summary["android"]["variant"]
    assert [v["name"] for v in config["variants"]] == app["variants"] and "optimized" in app["variants"]
    assert all(Path(app["path"], v["model"]).stat().st_size == v["size_bytes"] for v in config["variants"])
    assert config["sure_above"] == app["sure_above"] == summary["calibration"]["sure_above"]
    for page in ("report.html", "report.md"):
        assert any(f"poets-app {app['path']}" in p.read_text() for p in report.glob(f"*/{page}")), page
    assert summary["calibration"]["temperature"] >= 1 and summary["calibration"]["photos"] > 0
    check = summary["photos_to_check"]
    assert set(check) == {"path", "count", "by_reason"} and Path(check["path"]).name == "photos_to_check.csv"
    assert set(check["by_reason"]) == {"label", "duplicate", "off_topic"}
    assert sum(check["by_reason"].values()) == check["count"] == len(Path(check["path"]).read_text().splitlines()) - 1
    assert set(summary["android"]) == {"variant", "model", "labels", "tflite"}
    assert set(summary["android"]["tflite"]) == {"size_bytes", "size_without_metadata", "min_runtime_version",
                                                 "builtin_ops", "metadata_max_difference"}
    assert summary["architecture"] == params["architecture"]
    assert summary["labels"] == ["bluebells", "roses", "sunflowers"]
    assert Path(summary["labels_path"]).read_text().splitlines() == summary["labels"]
    assert set(summary["variants"]) == {"retrained", "optimized", "weights_rounded"}
    for name, variant in summary["variants"].items():
        assert set(variant) == {"path", "accuracy", "cross_entropy", "size_bytes", "gzip_bytes", "latency_s",
                                "agreement", "per_class", "accuracy_interval", "ece"}
        assert 0 <= variant["ece"] <= 1
        low, high = variant["accuracy_interval"]
        assert 0 <= low <= variant["accuracy"] <= high <= 1
        assert set(variant["per_class"]) == set(summary["labels"])
        assert 0 < variant["latency_s"] < 1 and 0.8 <= variant["agreement"] <= 1
        assert Path(variant["path"]).is_absolute() and Path(variant["path"]).stat().st_size == variant["size_bytes"]
        assert 0 < variant["gzip_bytes"] < variant["size_bytes"]
        # The colours are easy to tell apart: a working retrain nails them.
        assert variant["accuracy"] >= 0.8, (name, variant)
        assert 0 < variant["cross_entropy"] < 1.0
    assert Path(summary["variants"]["optimized"]["path"]).name == "optimized_graph.pb"
    assert Path(summary["variants"]["weights_rounded"]["path"]).name == "rounded_graph.pb"
    # weights_rounded leaves 256 values per tensor: gzip finds them.
    rounded, optimized = summary["variants"]["weights_rounded"], summary["variants"]["optimized"]
    assert rounded["gzip_bytes"] < 0.5 * optimized["gzip_bytes"]
    assert abs(rounded["accuracy"] - optimized["accuracy"]) <= 0.1
    assert summary["variants"]["optimized"]["agreement"] == 1.0
    android = summary["android"]
    # The quantized .pb variants ship as float TFLite, no smaller: the optimized graph wins the tie.
    assert android["variant"] == "optimized"
    assert Path(android["model"]).name == "graph.lite" and Path(android["model"]).stat().st_size > 0
    assert Path(android["model"]).parent.name == "assets"
    assert Path(android["labels"]).read_text().splitlines() == summary["labels"]


def test_retrained_graph_honours_the_codelab_contract(completed, flowers):
    from poets.core.images import load_photo
    from poets.models import graphs

    params, _ = completed
    summary = summary_of(params)
    photos = [load_photo(p, 128) for p in sorted(Path(flowers["photos"], "sunflowers").glob("*.jpg"))[:4]]
    for variant in summary["variants"].values():
        graph_def = graphs.load(variant["path"])
        placeholder = next(n for n in graph_def.node if n.name == "input")
        assert placeholder.op == "Placeholder"
        assert [d.size for d in placeholder.attr["shape"].shape.dim] == [-1, 128, 128, 3]
        with graphs.Classifier(graph_def) as classify:
            probabilities = classify(np.stack(photos))
        assert probabilities.shape == (4, 3)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
        assert (probabilities.argmax(axis=1) == summary["labels"].index("sunflowers")).all()


def test_every_artifact_folder_records_its_parameters(completed):
    params, ran = completed
    folders = [Path(task.output().path) for task in ran]
    assert len(set(folders)) == len(ran) == 26
    for task, folder in zip(ran, folders):
        record = json.loads((folder / "params.json").read_text())
        assert record["id"] == folder.name and record["task"] == task.task_family
        assert "data_dir" not in record["params"]
        assert record["params"] == {k: str(v) for k, v in record["params"].items()}
        assert record["seconds"] >= 0
    retrain = json.loads(next(f for f in folders if f.parent.name == "retrain").joinpath("params.json").read_text())
    assert retrain["params"]["training_steps"] == "300"
    assert not list(Path(params["data_dir"]).glob("*/*-luigi-tmp-*"))


def test_undecodable_photo_is_skipped_and_named(completed):
    params, _ = completed
    summary = summary_of(params)
    skipped = json.loads(Path(summary["skipped"]["report"]).read_text())
    assert summary["skipped"]["count"] == 1 and [entry["photo"] for entry in skipped] == [f"roses/{BROKEN}"]
    assert BROKEN in skipped[0]["reason"] or "truncated" in skipped[0]["reason"].lower()


def test_identical_run_runs_nothing(completed):
    params, _ = completed
    assert build(MobileModel(**params)) == []


def test_quantization_mode_change_reruns_only_what_depends_on_it(changeable):
    params = changeable
    ran = build(MobileModel(**params, quantization_mode="weights"))
    # The camera app offers the quantized model beside the float one: it and its export follow the mode.
    assert families(ran) == ["CameraApp", "Compress", "Evaluate", "Export", "MobileModel", "Quantize"]
    assert {task.variant for task in ran if hasattr(task, "variant")} == {"weights"}
    summary = summary_of({**params, "quantization_mode": "weights"})
    assert Path(summary["variants"]["weights"]["path"]).name == "quantized_graph.pb"
    # 8-bit storage: about a quarter of the float graph.
    assert summary["variants"]["weights"]["size_bytes"] < 0.4 * summary["variants"]["optimized"]["size_bytes"]
    assert build(MobileModel(**params)) == []


def test_training_parameter_change_reruns_retrain_and_after_only(changeable):
    params = changeable
    ran = build(MobileModel(**{**params, "learning_rate": 0.02}))
    assert families(ran) == sorted(
        ["Retrain", "Optimize", "Quantize"] + ["Compress", "Evaluate"] * 3 + ["Export"] * 2
        + ["CameraApp", "MobileModel"]
    )


def built_in_a_fresh_process(module: str, task: str, params: dict) -> list[str]:
    """[whether luigi built `module`.`task`(**params), whether tensorflow, whether keras was imported]
    as printed by a fresh Python process that builds it."""
    script = (
        f"import sys, luigi\nfrom {module} import {task}\n"
        f"ok = luigi.build([{task}(**{params!r})], local_scheduler=True, log_level='WARNING')\n"
        "print(ok, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1],
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    return out.stdout.split()


def test_complete_run_does_not_import_tensorflow(completed):
    params, _ = completed
    assert built_in_a_fresh_process("workflows", "MobileModel", params) == ["True", "False", "False"]


@pytest.mark.slow
def test_mobilenet_v2_runs_end_to_end(flowers, server, tmp_path):
    from poets.backbones import architectures
    from tests.helpers import make_base_model

    folder, url = server
    name = "mobilenet_v2_0.35_96"
    make_base_model(folder / architectures.get(name).weights_file, name)
    params = {**FAST_TRAINING, "data_dir": str(tmp_path), "dataset_url": flowers["dataset_url"], "architecture": name,
              "base_model_url": f"{url}/{architectures.get(name).weights_file}"}
    build(MobileModel(**params))
    summary = summary_of(params)
    assert summary["architecture"] == name
    for variant in summary["variants"].values():
        assert variant["accuracy"] > 0.6


def test_bottlenecks_equal_the_keras_models_features(completed):
    """With --fine-tune-blocks 0, the codelab's bottlenecks: the pooled features."""
    from poets.backbones import architectures
    from poets.core.images import load_photo
    from poets.features import bottlenecks
    from tasks.bottlenecks import Bottlenecks

    params, _ = completed
    task = Bottlenecks(**{k: v for k, v in params.items() if k in Bottlenecks.get_param_names()})
    features, paths, labels = bottlenecks.load(task.features)
    assert len(paths) == len(features) == 72 and set(labels) == {"bluebells", "roses", "sunflowers"}
    arch = architectures.get(params["architecture"])
    # Computed by LiteRT from the converted model (LiteBaseModel), against Keras's own pass.
    model = arch.base_model(task.requires()["base_model"].requires().weights)
    photos = task.requires()["dataset"].photos
    picked = list(range(0, 72, 9))
    expected = model.predict(np.stack([load_photo(photos / paths[i], arch.size) for i in picked]), verbose=0)
    # LiteRT's kernels are not TensorFlow's: 2e-5 apart on these photos, 7e-5 on the flower photos.
    np.testing.assert_allclose(features[picked], expected, atol=1e-4)


def test_the_features_are_computed_again_the_same_without_tensorflow(completed, tmp_path):
    """The shards run the converted base model in LiteRT: a worker that only computes features never
    pays TensorFlow's import (seconds), and recomputing them gives the same bytes."""
    from tasks.bottlenecks import Bottlenecks

    made, _ = completed
    data_dir = linked_copy(made["data_dir"], tmp_path / "data", without=("bottleneck_shards", "bottlenecks"))
    params = {k: v for k, v in {**made, "data_dir": str(data_dir)}.items() if k in Bottlenecks.get_param_names()}
    assert built_in_a_fresh_process("tasks.bottlenecks", "Bottlenecks", params) == ["True", "False", "False"]
    fresh()
    assert Bottlenecks(**params).features.read_bytes() == \
        Bottlenecks(**{**params, "data_dir": made["data_dir"]}).features.read_bytes()


@pytest.fixture(scope="module")
def fine_tuned(completed, tmp_path_factory):
    """The completed run's parameters with --fine-tune-blocks 1, in a data dir of their own (its
    artifacts hard-linked), and the tasks that ran for it."""
    made, _ = completed
    data_dir = linked_copy(made["data_dir"], tmp_path_factory.mktemp("fine_tuned") / "data")
    # A learning rate for the tiny model's few photos and steps.
    params = {**made, "data_dir": str(data_dir), "fine_tune_blocks": 1, "fine_tune_learning_rate": 0.001}
    fresh()
    return params, build(MobileModel(**params))


@pytest.mark.slow
def test_fine_tuning_reruns_from_the_activations_and_keeps_the_graph_contract(fine_tuned, flowers):
    from poets.core.images import load_photo
    from poets.models import graphs
    from poets.variants import optimize
    from tasks.optimize import Optimize
    from tasks.retrain import Retrain

    params, ran = fine_tuned
    # The downloads are reused; the activations take the place of the bottlenecks.
    assert families(ran) == sorted(["ActivationShard"] * 8 + ["Activations", "Retrain", "Optimize", "Quantize"]
                                   + ["Compress", "Evaluate"] * 3 + ["Export"] * 2 + ["CameraApp", "MobileModel"])
    retrain = Retrain(**{k: v for k, v in params.items() if k in Retrain.get_param_names()})
    assert json.loads(retrain.path("training.json").read_text())["fine_tune_epoch"] > 0
    graph_def = graphs.load(retrain.graph)
    assert {"input", "final_result"} <= {node.name for node in graph_def.node}
    photos = retrain.requires()["dataset"].photos
    pixels = np.stack([load_photo(photos / path, 128) for path, _ in retrain.split_photos("testing")[:8]])
    optimized = graphs.load(Optimize(**{k: v for k, v in params.items() if k in Optimize.get_param_names()}).graph)
    assert optimize.max_difference(graph_def, optimized, pixels) <= 1e-5
    with graphs.Classifier(graph_def) as classify:
        np.testing.assert_allclose(classify(pixels).sum(axis=1), 1, atol=1e-5)
    summary = summary_of(params)
    for variant in summary["variants"].values():
        assert variant["accuracy"] > 0.6


@pytest.mark.slow
def test_a_learning_rate_change_retrains_without_recomputing_the_activations(fine_tuned):
    params, _ = fine_tuned
    ran = build(MobileModel(**{**params, "learning_rate": 0.02}))
    assert families(ran) == sorted(
        ["Retrain", "Optimize", "Quantize"] + ["Compress", "Evaluate"] * 3 + ["Export"] * 2
        + ["CameraApp", "MobileModel"])
    from tasks.retrain import Retrain

    own = {k: v for k, v in params.items() if k in Retrain.get_param_names()}
    assert families(build(Retrain(**{**own, "fine_tune_learning_rate": 0.002}))) == ["Retrain"]


@pytest.mark.slow
def test_activations_equal_the_base_models_output_before_its_last_block(fine_tuned):
    import keras

    from poets.backbones import architectures
    from poets.core.images import load_photo
    from poets.features import bottlenecks
    from tasks.bottlenecks import Activations

    params, _ = fine_tuned
    task = Activations(**{k: v for k, v in params.items() if k in Activations.get_param_names()})
    activations, paths, labels = bottlenecks.load(task.features)
    assert activations.dtype == np.float16 and activations.shape == (72, 4, 4, 256)
    arch = architectures.get(params["architecture"])
    model = arch.base_model(task.requires()["base_model"].weights)
    # MobileNet v1's last block starts after conv_pw_12_relu.
    before_last = keras.Model(model.input, model.get_layer("conv_pw_12_relu").output)
    photos = task.requires()["dataset"].photos
    picked = list(range(0, 72, 9))
    expected = before_last.predict(np.stack([load_photo(photos / paths[i], arch.size) for i in picked]), verbose=0)
    # float16: 11 significant bits; two float32 sums in another order may round to neighbours: 2 ulps.
    np.testing.assert_allclose(activations[picked].astype(np.float32), expected, rtol=2**-9, atol=1e-7)


def test_progress_reaches_the_scheduler(completed, monkeypatch):
    from tasks.retrain import Retrain

    params, _ = completed
    task = Retrain(**{k: v for k, v in params.items() if k in Retrain.get_param_names()})
    seen = []
    monkeypatch.setattr(task, "set_progress_percentage", seen.append)
    monkeypatch.setattr(task, "set_status_message", seen.append)
    task.progress(50, 200, "steps")
    assert seen == [25, "50/200 steps"]


@pytest.mark.parametrize("mode, max_share", [("float16", 0.55), ("dynamic_range", 0.35), ("int8", 0.4)])
def test_tflite_quantization_modes_are_evaluated_like_any_variant(changeable, mode, max_share):
    params = changeable
    ran = build(MobileModel(**params, quantization_mode=mode))
    assert set(families(ran)) <= {"Quantize", "Compress", "Evaluate", "Export", "CameraApp", "MobileModel"}
    summary = summary_of({**params, "quantization_mode": mode})
    variant, optimized = summary["variants"][mode], summary["variants"]["optimized"]
    assert variant["path"].endswith(f"{mode}.tflite")
    # What the runtime must offer, read from the model the converter wrote.
    facts = variant["tflite"]
    assert facts["size_bytes"] == variant["size_bytes"] > facts["size_without_metadata"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", facts["min_runtime_version"]) and "SOFTMAX" in facts["builtin_ops"]
    assert variant["size_bytes"] < max_share * optimized["size_bytes"]
    assert variant["agreement"] >= 0.9 and abs(variant["accuracy"] - optimized["accuracy"]) <= 0.1
    if summary["android"]["variant"] == mode:  # small and accurate enough: shipped as it is
        assert Path(summary["android"]["model"]).read_bytes() == Path(variant["path"]).read_bytes()


def test_report_has_a_table_and_a_figure(completed):
    params, _ = completed
    folder = Path(MobileModel(**params).output().path)
    report = (folder / "report.md").read_text()
    assert "| optimized |" in report and "| weights_rounded |" in report and "accuracy_vs_size.png" in report
    assert (folder / "accuracy_vs_size.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_android_variant_is_the_smallest_within_a_point():
    from poets.variants.shipping import choose as choose_android_variant

    def v(path, accuracy, size):
        return {"path": path, "accuracy": accuracy, "size_bytes": size}

    variants = {"retrained": v("r.pb", 0.90, 100), "optimized": v("o.pb", 0.90, 98), "weights": v("w.pb", 0.91, 25),
                "int8": v("i.tflite", 0.895, 27)}
    assert choose_android_variant(variants) == "int8"
    assert choose_android_variant({**variants, "int8": v("i.tflite", 0.88, 27)}) == "optimized"
    assert choose_android_variant({k: variants[k] for k in ("retrained", "optimized", "weights")}) == "optimized"


def test_the_split_is_decided_once_and_read_by_the_later_stages(completed):
    from poets.core.images import split_of
    from tasks.evaluate import Evaluate
    from tasks.retrain import Retrain

    params, _ = completed
    retrain = MobileModel(**params).clone(Retrain)
    split = json.loads(retrain.path("split.json").read_text())
    assert set(split) == {"training", "validation", "testing"}
    for name, photos in split.items():
        assert photos and all(split_of(path, 10, params["testing_percentage"]) == name for path, _ in photos)
    counts = json.loads(retrain.path("training.json").read_text())["photos"]
    assert sum(map(len, split.values())) == sum(counts.values())
    evaluate = MobileModel(**params).clone(Evaluate, variant="optimized")
    assert evaluate.photos() == [tuple(item) for item in split["testing"]]
