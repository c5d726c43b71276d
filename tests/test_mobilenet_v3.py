"""MobileNetV3 through the whole DAG, on a generated-weights model as for the other architectures."""

import json
from pathlib import Path

import numpy as np
import pytest

from poets.backbones import architectures
from tests.helpers import FAST_TRAINING, build, make_base_model

V3 = "mobilenet_v3_small_0.75_224"


def test_v3_names_weights_and_blocks_are_keras_own():
    large = architectures.get("mobilenet_v3_large_1.0_224")
    assert large.weights_url == ("https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
                                 "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5")
    assert architectures.get("mobilenet_v3_small_minimalistic_1.0_224").weights_file == \
        "weights_mobilenet_v3_small_minimalistic_224_1.0_float_no_top_v2.h5"
    assert (large.blocks, architectures.get(V3).blocks) == (15, 11)
    assert large.block_of("expanded_conv_depthwise") == 1 and large.block_of("expanded_conv_14_project_bn") == 15
    assert large.block_of("conv_1_bn") == 15 and large.block_of("conv_bn") is None


def test_weights_tell_the_v3_models_apart(tmp_path):
    for name in (V3, "mobilenet_v3_small_minimalistic_1.0_224"):
        assert architectures.fitting(make_base_model(tmp_path / f"{name}.h5", name)) == [name]


@pytest.mark.slow
def test_a_mobilenet_v3_runs_the_whole_dag_and_every_client_loads_it(flowers, server, tmp_path):
    from poets.models.clients import mediapipe_probabilities, top_label_agreement
    from tasks.evaluate import Evaluate
    from workflows import MobileModel

    folder, url = server
    weights = architectures.get(V3).weights_file
    make_base_model(folder / weights, V3)
    params = {"data_dir": str(tmp_path / "data"), "dataset_url": flowers["dataset_url"],
              "base_model_url": f"{url}/{weights}", "architecture": V3, "quantization_mode": "int8", **FAST_TRAINING}
    workflow = MobileModel(**params)
    build(workflow)
    summary = json.loads(workflow.summary.read_text())
    variants = summary["variants"]
    # Optimize proved the folded graph equal to the retrained one (1e-5) before writing it.
    assert variants["optimized"]["accuracy"] == variants["retrained"]["accuracy"] >= 0.8
    assert variants["int8"]["agreement"] >= 0.9
    assert "HARD_SWISH" in summary["android"]["tflite"]["builtin_ops"] or summary["android"]["variant"] != "int8"
    evaluate = workflow.clone(Evaluate, variant=summary["android"]["variant"])
    root = evaluate.requires()["dataset"].photos
    photos = [root / path for path, _ in evaluate.photos()]
    theirs = mediapipe_probabilities(Path(summary["android"]["model"]), photos, summary["labels"])
    assert top_label_agreement(theirs, evaluate.probabilities()) >= 0.9
    assert np.allclose(theirs.sum(axis=1), 1, atol=0.02)


@pytest.mark.slow
def test_a_v3_cut_at_its_last_blocks_gives_the_whole_models_features(tmp_path):
    arch = architectures.get(V3)
    weights = make_base_model(tmp_path / "v3.h5", V3)
    stem, top = arch.split(weights, 2)
    pixels = np.random.default_rng(0).uniform(-1, 1, (2, 224, 224, 3)).astype(np.float32)
    np.testing.assert_allclose(top(stem(pixels)), arch.base_model(weights)(pixels), atol=1e-5)
