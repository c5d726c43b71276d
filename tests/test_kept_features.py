"""The base model's features kept for the frozen graphs that share it (poets/features/kept_features.py)."""

import numpy as np
import pytest

from poets.backbones import architectures
from poets.core.images import find_photos
from poets.features import kept_features, kept_photos
from poets.head import freeze as retrain
from poets.models import graphs
from poets.variants.evaluate import evaluate
from tests.helpers import TINY, make_base_model, make_photos


def head(seed, hidden=True):
    rng = np.random.default_rng(seed)
    layers = [(rng.normal(0, 0.1, (256, 16)).astype(np.float32), rng.normal(0, 0.1, 16).astype(np.float32))]
    layers = layers if hidden else []
    inputs = 16 if hidden else 256
    return layers + [(rng.normal(0, 1, (inputs, 3)).astype(np.float32), rng.normal(0, 1, 3).astype(np.float32))]


def with_base_changed(graph_def):
    """The same graph with one weight of the base model moved a little, as rounding weights does."""
    changed = type(graph_def)()
    changed.CopyFrom(graph_def)
    kernel = next(node for node in changed.node if node.op == "Const" and graphs.const_value(node).ndim == 4)
    value = graphs.const_value(kernel).copy()
    value.flat[0] += 0.5
    kernel.CopyFrom(graphs.const_node(kernel.name, value))
    return changed


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kept_features")
    weights = make_base_model(folder / "weights.h5")
    root = make_photos(folder / "photos", per_class=14, size=40)
    (root / "roses" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    paths = {}
    for name, graph_def in (("a", retrain.retrained_graph(architectures.get(TINY), weights, head(0))),
                            ("b", retrain.retrained_graph(architectures.get(TINY), weights, head(1, hidden=False)))):
        paths[name] = folder / f"{name}.pb"
        graphs.save(graph_def, paths[name])
        paths[f"{name}_changed"] = folder / f"{name}_changed.pb"
        graphs.save(with_base_changed(graph_def), paths[f"{name}_changed"])
    return paths, root, find_photos(root)


@pytest.fixture(autouse=True)
def nothing_kept(monkeypatch):
    monkeypatch.setattr(kept_features, "_kept", {})
    monkeypatch.setattr(kept_photos, "_kept", {})


def scores(models, name):
    paths, root, photos = models
    metrics = evaluate(paths[name], root, photos, sorted({label for _, label in photos}), 128)
    return metrics["probabilities"], metrics["photos"]


def afresh(models, name):
    kept_features._kept.clear()
    kept_photos._kept.clear()
    found = scores(models, name)
    kept_features._kept.clear()
    return found


def test_a_graph_with_the_same_base_runs_only_its_head_and_gives_the_same_bytes(models, monkeypatch):
    expected, photos = afresh(models, "b")
    scores(models, "a")

    def base_runs(*args, **kwargs):
        raise AssertionError("the base model ran again")

    monkeypatch.setattr(graphs.Classifier, "__call__", base_runs)
    monkeypatch.setattr(graphs.Classifier, "with_features", base_runs)
    probabilities, scored = scores(models, "b")
    assert probabilities.dtype == expected.dtype and probabilities.tobytes() == expected.tobytes()
    assert scored == photos and len(scored) == len(models[2]) - 1  # the broken photo is not scored


def test_a_graph_whose_base_differs_by_one_weight_runs_whole(models):
    expected, _ = afresh(models, "a_changed")
    original, _ = scores(models, "a")
    assert not np.array_equal(original, expected)
    changed, _ = scores(models, "a_changed")
    assert changed.tobytes() == expected.tobytes()


def test_the_features_are_those_the_first_layer_of_the_head_takes(models):
    paths = models[0]
    for name in ("a", "b"):
        graph_def = graphs.load(paths[name])
        features = graphs.features_tensor(graph_def)
        node = next(n for n in graph_def.node if n.name == features.split(":")[0])
        assert node.op == "Mean"
    with graphs.Classifier(graphs.load(paths["a"])) as a, graphs.Classifier(graphs.load(paths["a_changed"])) as changed:
        assert a.head_cut()[0] == changed.head_cut()[0] and a.head_cut()[1] != changed.head_cut()[1]


def test_a_graph_drawing_random_numbers_before_its_head_is_not_cut():
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        pixels = tf.compat.v1.placeholder(tf.float32, [None, 4], name="input")
        noisy = pixels + tf.random.uniform([4])
        tf.nn.softmax(tf.matmul(noisy, tf.ones([4, 2])), name="final_result")
    with graphs.Classifier(graph.as_graph_def()) as classify:
        assert graphs.features_tensor(classify.graph_def) is not None
        assert classify.head_cut() is None


def test_memory_stays_bounded_the_oldest_features_going_first(models, monkeypatch):
    scores(models, "a")
    (entry,) = kept_features._kept.values()
    monkeypatch.setattr(kept_features, "KEEP_FEATURES_BYTES", kept_features._bytes(entry))
    scores(models, "a_changed")
    assert len(kept_features._kept) == 1
    monkeypatch.setattr(kept_features, "KEEP_FEATURES_BYTES", kept_features._bytes(entry) - 1)
    scores(models, "b")
    assert kept_features._kept == {}
