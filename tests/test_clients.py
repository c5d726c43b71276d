"""The exported models in the clients people use: MediaPipe's ImageClassifier,
which reads everything from the model's metadata, and the codelab's Android
app's own preprocessing."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from poets.models.clients import android_pixels, mediapipe_probabilities, top_label_agreement
from poets.models.metadata import MetadataError, read_metadata, with_metadata
from tests.helpers import build, build_failing, fresh
from workflows import MobileModel

TFLITE_MODES = ("float16", "dynamic_range", "int8")


@pytest.fixture(scope="module")
def tiny_tflite():
    """A TFLite image classifier of 3 classes, float32 [1, 16, 16, 3] in."""
    import tensorflow as tf

    from poets.models.tflite import convert

    weights = tf.constant(np.random.default_rng(0).normal(0, 1, (3, 3)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 16, 16, 3], tf.float32)])
    def classify(pixels):
        return tf.nn.softmax(tf.reduce_mean(pixels, axis=[1, 2]) @ weights)

    return convert(tf.lite.TFLiteConverter.from_concrete_functions([classify.get_concrete_function()], classify))


def test_a_tflite_model_is_evaluated_on_every_core_with_the_figures_of_one(tiny_tflite, tmp_path, monkeypatch):
    import os

    from poets.core.images import find_photos, load_photo
    from poets.models import tflite
    from poets.variants.evaluate import evaluate
    from tests.helpers import make_photos

    model = tmp_path / "tiny.tflite"
    model.write_bytes(tiny_tflite)
    photos = make_photos(tmp_path / "photos", per_class=4, size=20)
    items = find_photos(photos)
    threads = []
    opened = tflite.TFLiteClassifier.__init__

    def counting(self, *args, **kwargs):
        threads.append(kwargs.get("threads"))
        opened(self, *args, **kwargs)

    monkeypatch.setattr(tflite.TFLiteClassifier, "__init__", counting)
    scored = evaluate(model, photos, items, ["bluebells", "roses", "sunflowers"])
    assert threads == [os.cpu_count()]
    # LiteRT's default, one thread, gives the same bytes: the artifacts' ids need not change.
    alone = tflite.TFLiteClassifier(model, threads=1)(np.stack([load_photo(photos / path, 16) for path, _ in items]))
    assert len(items) == 12 and np.array_equal(scored["probabilities"], alone)


def labels_file(folder, labels):
    path = Path(folder, "labels.txt")
    path.write_text("".join(label + "\n" for label in labels))
    return path


def test_metadata_describes_the_graph_contract_and_packs_the_labels(tiny_tflite, tmp_path):
    model = with_metadata(tiny_tflite, labels_file(tmp_path, ["a", "b", "c"]), "tiny", "three classes", "v1")
    assert read_metadata(tiny_tflite) is None
    assert read_metadata(model) == {
        "name": "tiny", "description": "three classes", "version": "v1", "min_parser_version": "1.0.0",
        "mean": [128.0], "std": [128.0], "color_space": "RGB", "size": [16, 16],
        "labels_file": "labels.txt", "labels": ["a", "b", "c"]}
    # Written again (new labels), it replaces the old metadata rather than adding to it.
    again = with_metadata(model, labels_file(tmp_path, ["x", "y", "z"]), "tiny", "three classes", "v2")
    assert read_metadata(again)["labels"] == ["x", "y", "z"] and read_metadata(again)["version"] == "v2"
    assert len(again) == len(model)


def test_the_same_model_and_labels_give_the_same_bytes_at_any_time(tiny_tflite, tmp_path, monkeypatch):
    import time

    labels = labels_file(tmp_path, ["a", "b", "c"])
    first = with_metadata(tiny_tflite, labels, "tiny", "", "v1")
    monkeypatch.setattr(time, "time", lambda: 2e9)  # 2033: the labels' zip entry would carry it
    assert with_metadata(tiny_tflite, labels, "tiny", "", "v1") == first


def test_metadata_never_changes_the_outputs(tiny_tflite, tmp_path):
    from poets.models.tflite import TFLiteClassifier

    pixels = np.random.default_rng(1).uniform(-1, 1, (5, 16, 16, 3)).astype(np.float32)
    model = with_metadata(tiny_tflite, labels_file(tmp_path, ["a", "b", "c"]), "tiny", "", "v1")
    np.testing.assert_array_equal(TFLiteClassifier(model_content=model)(pixels),
                                  TFLiteClassifier(model_content=tiny_tflite)(pixels))


def test_labels_that_do_not_fit_the_outputs_fail_naming_the_labels_file(tiny_tflite, tmp_path):
    labels = labels_file(tmp_path, ["a", "b", "c", "d"])
    with pytest.raises(MetadataError, match=f"{labels}: 4 labels, but model.tflite gives 3 class probabilities"):
        with_metadata(tiny_tflite, labels, "tiny", "", "v1", model_path="model.tflite")


def test_a_model_without_an_image_input_fails_naming_the_model(tmp_path):
    import tensorflow as tf

    from poets.models.tflite import convert

    @tf.function(input_signature=[tf.TensorSpec([1, 10], tf.float32)])
    def classify(features):
        return tf.nn.softmax(features[:, :3])

    model = convert(tf.lite.TFLiteConverter.from_concrete_functions([classify.get_concrete_function()], classify))
    with pytest.raises(MetadataError, match=r"features.tflite: its input is float32 \[1, 10\], not an image"):
        with_metadata(model, labels_file(tmp_path, ["a", "b", "c"]), "x", "", "v1", model_path="features.tflite")


def test_mediapipe_refuses_a_model_without_metadata_and_the_check_names_it(tiny_tflite, tmp_path):
    from poets.variants.export import ExportCheckFailed, check_client_loads

    bare = tmp_path / "bare.tflite"
    bare.write_bytes(tiny_tflite)
    with pytest.raises(ExportCheckFailed, match=f"{bare}: MediaPipe's ImageClassifier cannot use it: .*Normalization"):
        check_client_loads(bare, ["a", "b", "c"])
    described = tmp_path / "described.tflite"
    described.write_bytes(with_metadata(tiny_tflite, labels_file(tmp_path, ["a", "b", "c"]), "tiny", "", "v1"))
    check_client_loads(described, ["a", "b", "c"])


def shipped(params, mode):
    """{name: (model path, Evaluate task)} of every TFLite file a run with `mode` writes."""
    from tasks.evaluate import Evaluate
    from tasks.export import Export

    workflow = MobileModel(**params, quantization_mode=mode)
    build(workflow)
    android = json.loads(workflow.summary.read_text())["android"]["variant"]
    evaluate = workflow.clone(Evaluate, variant=mode)
    return {mode: (evaluate.graph_task().graph, evaluate),
            "graph.lite": (workflow.clone(Export, variant=android).model, workflow.clone(Evaluate, variant=android))}


def projects_evaluation(model_path, evaluate):
    """(photo paths, probabilities) of the project's own evaluation of the model,
    on every photo of the dataset: the test split of the tiny dataset is a dozen
    photos, too few to tell 97% from 100%."""
    from poets.core.images import find_photos
    from poets.variants.evaluate import evaluate as score

    photos_dir = evaluate.requires()["dataset"].photos
    metrics = score(model_path, photos_dir, find_photos(photos_dir), evaluate.requires()["retrain"].read_labels())
    return [photos_dir / path for path, _ in metrics["photos"]], metrics["probabilities"]


def mediapipe_agreement(model_path, evaluate):
    """Share of the photos on which MediaPipe's top label is the project's."""
    photos, probabilities = projects_evaluation(model_path, evaluate)
    scores = mediapipe_probabilities(model_path, photos, evaluate.requires()["retrain"].read_labels())
    return top_label_agreement(scores, probabilities)


@pytest.mark.parametrize("mode", TFLITE_MODES)
def test_mediapipe_runs_every_tflite_file_from_the_file_alone(changeable, mode):
    # In a data dir of its own: what it builds must not be found made by another test (Compare's counts).
    params = changeable
    models = shipped(params, mode)
    # The version is the id of the artifact that wrote the model: Quantize, or
    # Export for a .pb variant (a TFLite variant ships as Quantize wrote it).
    writers = {Path(path).parent.name if name == mode else Path(path).parent.parent.name
               for name, (path, _) in models.items()}
    for name, (model_path, evaluate) in models.items():
        metadata = read_metadata(model_path.read_bytes())
        assert metadata["labels"] == evaluate.requires()["retrain"].read_labels(), name
        assert metadata["mean"] == metadata["std"] == [128.0] and metadata["size"] == [128, 128]
        assert metadata["version"] in writers, name
        assert mediapipe_agreement(model_path, evaluate) >= 0.97, name


def test_wrong_normalisation_in_the_metadata_fails_the_client_check(changeable, tmp_path, monkeypatch):
    import poets.models.metadata

    params = changeable
    model_path, evaluate = shipped(params, "float16")["float16"]
    # Metadata claiming the model wants raw 0-255 values: MediaPipe then feeds it the wrong pixels.
    monkeypatch.setattr(poets.models.metadata, "INPUT_MEAN", 0.0)
    monkeypatch.setattr(poets.models.metadata, "INPUT_STD", 1.0)
    wrong = tmp_path / "wrong.tflite"
    wrong.write_bytes(with_metadata(model_path.read_bytes(), evaluate.requires()["retrain"].labels, "x", "", "v"))
    assert mediapipe_agreement(wrong, evaluate) < 0.97


def test_the_codelab_android_app_preprocessing_gives_the_projects_labels(completed):
    from poets.models.tflite import TFLiteClassifier

    params, _ = completed
    model_path, evaluate = shipped(params, "weights_rounded")["graph.lite"]
    photos, probabilities = projects_evaluation(model_path, evaluate)
    assert len(photos) >= 70
    model = TFLiteClassifier(model_path)
    scores = model(np.stack([android_pixels(photo, model.size) for photo in photos]))
    assert top_label_agreement(scores, probabilities) >= 0.98


def test_labels_that_do_not_fit_the_model_fail_the_task_and_leave_no_artifact(completed, tmp_path):
    from stores import file_digests, read_record
    from tasks.artifact import write_json
    from tasks.quantize import Quantize

    params, _ = completed
    data_dir = tmp_path / "data"
    shutil.copytree(params["data_dir"], data_dir, ignore=shutil.ignore_patterns("quantize", "compress", "evaluate",
                                                                                 "export", "mobile_model"))
    fresh()
    task = Quantize(**{**params, "data_dir": str(data_dir)}, quantization_mode="float16")
    labels = task.requires()["retrain"].labels
    labels.write_text(labels.read_text() + "tulips\n")
    # A labels file that is what its record says (so not damaged), but wrong for the model.
    record = read_record(labels.parent)
    record["files"] = file_digests(labels.parent)
    write_json(labels.parent / "params.json", record)
    failures = build_failing(task)
    assert len(failures) == 1 and isinstance(failures[0][1], MetadataError)
    assert str(labels) in str(failures[0][1]) and "4 labels" in str(failures[0][1])
    assert not (data_dir / "quantize").exists() or not any((data_dir / "quantize").iterdir())
