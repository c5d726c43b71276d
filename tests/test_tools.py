"""The codelab's command-line tools and the training's side outputs."""

import json
import re
from pathlib import Path

import pytest

from poets.codelab import graph_pb2tb, label_image
from poets.variants import evaluate
from tasks.retrain import Retrain
from tests.helpers import FAST_TRAINING, build, families, fresh, linked_copy, summary_of


def sunflower(flowers):
    return sorted(Path(flowers["photos"], "sunflowers").glob("*.jpg"))[0]


@pytest.mark.parametrize("model", ["optimized", "android"])
def test_label_image_prints_time_then_ranked_labels(completed, flowers, capsys, model):
    params, _ = completed
    summary = summary_of(params)
    graph = summary["variants"]["optimized"]["path"] if model == "optimized" else summary["android"]["model"]
    label_image.main(["--graph", graph, "--labels", summary["labels_path"], "--image", str(sunflower(flowers))])
    out = capsys.readouterr().out
    match = re.fullmatch(r"Evaluation time \(1-image\): (\d+\.\d{3})s\n\n((?:\S+ \d\.\d{5}\n){3})", out)
    assert match, out
    ranked = [line.split() for line in match.group(2).splitlines()]
    assert ranked[0][0] == "sunflowers"
    scores = [float(score) for _, score in ranked]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1, abs=1e-4)


def test_label_image_reads_the_input_size_from_the_graph(completed, flowers):
    params, _ = completed
    summary = summary_of(params)
    seconds, ranked = label_image.label_image(summary["variants"]["retrained"]["path"], summary["labels_path"],
                                              sunflower(flowers))
    assert seconds > 0 and ranked[0][0] == "sunflowers"


def test_label_image_names_a_missing_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        label_image.main(["--graph", str(tmp_path / "nope.pb"), "--labels", "x", "--image", "y"])
    assert "nope.pb" in capsys.readouterr().err


def test_evaluate_cli_scores_the_test_split_like_the_task(completed, flowers, capsys):
    params, _ = completed
    summary = summary_of(params)
    photos = Path(summary["variants"]["optimized"]["path"]).parents[2] / "dataset"
    photos = next(photos.glob("*/photos"))
    evaluate.main([summary["variants"]["optimized"]["path"], "--image_dir", str(photos),
                   "--labels", summary["labels_path"],
                   "--testing_percentage", str(FAST_TRAINING["testing_percentage"])])
    out = capsys.readouterr().out
    accuracy = float(re.search(r"Accuracy: (\d\.\d+)", out).group(1))
    cross_entropy = float(re.search(r"Cross entropy: (\d\.\d+)", out).group(1))
    assert accuracy == pytest.approx(summary["variants"]["optimized"]["accuracy"], abs=1e-4)
    assert cross_entropy == pytest.approx(summary["variants"]["optimized"]["cross_entropy"], abs=1e-4)


def test_graph_pb2tb_writes_a_graph_tensorboard_reads(completed, tmp_path, capsys):
    import tensorflow as tf
    from tensorflow.core.framework import graph_pb2

    params, _ = completed
    graph = summary_of(params)["variants"]["optimized"]["path"]
    graph_pb2tb.main([str(tmp_path / "logs"), graph])
    assert "tensorboard --logdir" in capsys.readouterr().out
    [events] = list((tmp_path / "logs").glob("events.out.tfevents.*"))
    graph_defs = [e.graph_def for e in tf.compat.v1.train.summary_iterator(str(events)) if e.graph_def]
    assert len(graph_defs) == 1
    written = graph_pb2.GraphDef.FromString(graph_defs[0])
    assert {n.name for n in written.node} >= {"input", "final_result"}
    assert len(written.node) == len(graph_pb2.GraphDef.FromString(Path(graph).read_bytes()).node)


def test_training_writes_tensorboard_scalars_for_train_and_validation(completed):
    import tensorflow as tf

    params, _ = completed
    folder = Retrain(**{k: v for k, v in params.items() if k in Retrain.get_param_names()}).output().path
    for name in ("train", "validation"):
        [events] = list(Path(folder, "summaries", name).glob("events.out.tfevents.*"))
        steps = {}
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
        assert steps["accuracy"] == steps["cross_entropy"] == [100, 200, 300]


def test_a_small_set_chooses_its_step_by_folds_and_trains_on_every_photo_but_the_test_ones(completed):
    params, _ = completed
    folder = Retrain(**{k: v for k, v in params.items() if k in Retrain.get_param_names()}).output().path
    training = json.loads(Path(folder, "training.json").read_text())
    assert training["chosen_by"] == "folds"
    assert training["best_step"] in [h["step"] for h in training["history"]]
    pool = training["photos"]["training"] + training["photos"]["validation"]
    assert training["calibration"]["photos"] == training["cross_validated"]["photos"] == pool


@pytest.mark.slow
def test_training_is_reproducible_to_the_byte(flowers, tmp_path):
    # With the last block fine-tuned: TensorFlow's training is deterministic too.
    params = {"dataset_url": flowers["dataset_url"], "base_model_url": flowers["base_model_url"],
              "architecture": flowers["architecture"], "fine_tune_blocks": 1,
              "fine_tune_learning_rate": 0.001, **FAST_TRAINING}
    graphs = []
    for run in ("a", "b"):
        if run == "b":  # the same activations, Retrain again
            linked_copy(tmp_path / "a", tmp_path / "b", ["retrain"])
            fresh()
        task = Retrain(data_dir=str(tmp_path / run), **params)
        assert "Retrain" in families(build(task))
        graphs.append(task.graph.read_bytes())
    assert json.loads(task.path("training.json").read_text())["fine_tune_epoch"] > 0
    assert graphs[0] == graphs[1]
    other = Retrain(data_dir=str(tmp_path / "a"), **{**params, "random_seed": 1})
    build(other)
    assert other.graph.read_bytes() != graphs[0]


def test_hidden_units_0_is_retrain_pys_single_softmax_layer(changeable):
    from poets.models import graphs

    params = changeable
    own = {k: v for k, v in params.items() if k in Retrain.get_param_names()}
    single, default = Retrain(**{**own, "hidden_units": 0}), Retrain(**own)
    assert [task.task_family for task in build(single)] == ["Retrain"]  # the bottlenecks are reused
    ops = [[node.op for node in graphs.load(task.graph).node] for task in (single, default)]
    assert ops[0].count("MatMul") == 1 and "Relu" not in ops[0]
    assert ops[1].count("MatMul") == 2 and "Relu" in ops[1]


@pytest.mark.slow
def test_distortions_train_on_fresh_features_reproducibly(changeable, tmp_path):
    params = changeable
    distorted = {**{k: v for k, v in params.items() if k in Retrain.get_param_names()},
                 "training_steps": 40, "flip_left_right": True, "random_crop": 10, "random_scale": 10,
                 "random_brightness": 10}
    first = Retrain(**distorted)
    ran = build(first)
    assert [task.task_family for task in ran] == ["Retrain"]  # the cached bottlenecks are reused
    training = json.loads(first.path("training.json").read_text())
    assert training["history"][-1]["train_accuracy"] > 0.5
    graph = first.graph.read_bytes()
    undistorted = Retrain(**{**distorted, "flip_left_right": False, "random_crop": 0, "random_scale": 0,
                             "random_brightness": 0})
    build(undistorted)
    assert undistorted.graph.read_bytes() != graph
    # The same distortions again, elsewhere (the same photos and base model, no retrained head): the same bytes.
    elsewhere = linked_copy(params["data_dir"], tmp_path / "elsewhere", ["retrain"])
    again = Retrain(**{**distorted, "data_dir": str(elsewhere)})
    build(again)
    assert again.graph.read_bytes() == graph
