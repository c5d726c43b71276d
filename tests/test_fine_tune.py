"""Fine-tuning the last blocks on cached activations, on the tiny base model."""

import dataclasses

import numpy as np
import pytest

from poets.backbones import architectures
from poets.features import bottlenecks
from poets.head import fine_tune
from poets.head import freeze as retrain
from poets.head import layers as head
from poets.head.settings import TrainingSettings
from poets.models import graphs
from poets.variants import optimize
from tests.helpers import COLOURS, TINY, make_base_model, make_photos


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(weights, pixels [N, 128, 128, 3], labels [N]) of generated photos."""
    from poets.core.images import find_photos, load_photo

    folder = tmp_path_factory.mktemp("fine_tune")
    weights = make_base_model(folder / "weights.h5")
    photos = make_photos(folder / "photos", per_class=12)
    items = find_photos(photos)
    pixels = np.stack([load_photo(photos / path, 128) for path, _ in items])
    classes = sorted(COLOURS)
    return weights, pixels, np.array([classes.index(label) for _, label in items])


def test_the_last_blocks_are_cut_where_each_architecture_starts_them():
    v1, v2 = architectures.get(TINY), architectures.get("mobilenet_v2_0.35_96")
    assert (v1.blocks, v2.blocks) == (13, 17)
    # MobileNet v1's last block is conv_dw_13 .. conv_pw_13_relu; its input conv_pw_12_relu's output.
    stem, top = v1.split(None, 1)
    assert stem.output.shape[1:] == (4, 4, 256)
    assert [layer.name for layer in top.layers if layer.weights] == [
        "conv_dw_13", "conv_dw_13_bn", "conv_pw_13", "conv_pw_13_bn"]
    # MobileNetV2's last block holds block_16 and the final 1x1 convolution.
    _, top = v2.split(None, 1)
    assert {layer.name for layer in top.layers if layer.weights} == {
        "block_16_expand", "block_16_expand_BN", "block_16_depthwise", "block_16_depthwise_BN",
        "block_16_project", "block_16_project_BN", "Conv_1", "Conv_1_bn"}
    with pytest.raises(ValueError, match="13 blocks"):
        v1.split(None, 14)


@pytest.mark.parametrize("blocks", [1, 3])
def test_stem_then_top_is_the_base_model(tiny, blocks):
    weights, pixels, _ = tiny
    arch = architectures.get(TINY)
    stem, top = arch.split(weights, blocks)
    activations = arch.feature_extractor(weights, blocks)(pixels[:8]).numpy()
    assert activations.dtype == np.float16
    np.testing.assert_allclose(activations, stem(pixels[:8]).numpy(), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(top(stem(pixels[:8])).numpy(), arch.base_model(weights)(pixels[:8]).numpy(),
                               atol=1e-5)


def train(tiny, epochs=3, seed=0, tuning_smoothing=0.0):
    weights, pixels, labels = tiny
    activations = architectures.get(TINY).feature_extractor(weights, 1)(pixels).numpy()
    top = fine_tune.top_model(architectures.get(TINY), weights, 1)
    features = fine_tune.pooled(top, activations)
    train_rows, val_rows = np.arange(len(labels)) % 4 != 0, np.arange(len(labels)) % 4 == 0
    settings = TrainingSettings(4, 0.01, 8, seed=seed, hidden_units=16, fine_tune_blocks=1, fine_tune_epochs=epochs,
                                fine_tune_learning_rate=1e-3)
    layers, _ = head.train_head((features[train_rows], labels[train_rows]), (features[val_rows], labels[val_rows]),
                                3, settings)
    seen = []
    tuned, blocks, epoch = fine_tune.fine_tune(
        top, layers, (activations[train_rows], labels[train_rows]), (activations[val_rows], labels[val_rows]),
        dataclasses.replace(settings, label_smoothing=tuning_smoothing), on_eval=lambda *scores: seen.append(scores))
    return layers, tuned, blocks, epoch, seen


def test_fine_tuning_trains_the_last_block_and_keeps_the_best_epoch(tiny):
    weights = tiny[0]
    _, _, blocks, epoch, seen = train(tiny)
    assert sorted(blocks) == ["conv_dw_13", "conv_dw_13_bn", "conv_pw_13", "conv_pw_13_bn"]
    base = architectures.get(TINY).base_model(weights)
    assert not np.array_equal(blocks["conv_pw_13"][0], base.get_layer("conv_pw_13").get_weights()[0])
    # Batch norm stays in inference mode: its statistics are the base model's.
    np.testing.assert_array_equal(blocks["conv_pw_13_bn"][2:], base.get_layer("conv_pw_13_bn").get_weights()[2:])
    assert [s[0] for s in seen] == [0, 1, 2, 3]
    best = max(seen, key=lambda s: (s[3][0], -s[3][1]))
    assert epoch == best[0] and epoch > 0


@pytest.mark.slow
def test_fine_tuning_is_seeded(tiny):
    first, again, other = train(tiny, 2, seed=0), train(tiny, 2, seed=0), train(tiny, 2, seed=1)
    for name, values in first[2].items():
        assert all(np.array_equal(a, b) for a, b in zip(values, again[2][name])), name
    assert not np.array_equal(first[2]["conv_pw_13"][0], other[2]["conv_pw_13"][0])


def test_retrained_graph_freezes_the_fine_tuned_blocks_and_optimize_keeps_it(tiny):
    weights, pixels, _ = tiny
    _, tuned, blocks, _, _ = train(tiny)
    graph_def = retrain.retrained_graph(architectures.get(TINY), weights, tuned, blocks)
    model = architectures.get(TINY).base_model(weights)
    for name, values in blocks.items():
        model.get_layer(name).set_weights(values)
    with graphs.Classifier(graph_def) as classify:
        np.testing.assert_allclose(classify(pixels[:8]), head.predict(tuned, model(pixels[:8]).numpy()),
                                   atol=1e-5)
        # The graph contract: one softmax row per photo.
        np.testing.assert_allclose(classify(pixels[:8]).sum(axis=1), 1, atol=1e-5)
    assert optimize.check_same_outputs(graph_def, optimize.optimize(graph_def), pixels[:8], 1e-5) <= 1e-5


def test_reused_activations_are_the_computed_ones(tiny, tmp_path):
    from PIL import Image

    weights, pixels, _ = tiny
    root = tmp_path / "photos"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.uint8(pixels[2 * i + (label == "b")] * 127 + 128)).save(root / label / f"{i}.png")
    photos = [(f"{label}/{i}.png", label) for label in ("a", "b") for i in range(2)]
    bottlenecks.compute(root, photos[:3], architectures.get(TINY), weights, tmp_path / "first.npz", blocks=1)
    _, counts = bottlenecks.compute(root, photos, architectures.get(TINY), weights, tmp_path / "second.npz",
                                    reuse=[tmp_path / "first.npz"], blocks=1)
    assert counts == {"computed": 1, "reused": 3}
    first, second = bottlenecks.load(tmp_path / "first.npz")[0], bottlenecks.load(tmp_path / "second.npz")[0]
    assert second.dtype == np.float16 and second.shape == (4, 4, 4, 256)
    np.testing.assert_array_equal(second[:3], first)


def test_label_smoothing_reaches_the_fine_tuned_blocks(tiny):
    *_, plain = train(tiny, epochs=1)
    *_, smoothed = train(tiny, epochs=1, tuning_smoothing=0.2)
    # The same head to start from; epoch 1's scores (whichever epoch is kept) differ: other targets.
    assert plain[0] == smoothed[0] and plain[1] != smoothed[1]
