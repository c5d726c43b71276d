"""Library stages on a tiny retrained graph: optimize, quantize, compress, export."""

import gzip

import numpy as np
import pytest

from poets import architectures, compress, graphs, optimize, quantize, retrain
from tests.conftest import TINY, make_base_model


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory):
    folder = tmp_path_factory.mktemp("graph")
    weights = make_base_model(folder / "weights.h5")
    rng = np.random.default_rng(0)
    head = rng.normal(0, 1, (256, 4)).astype(np.float32), rng.normal(0, 1, 4).astype(np.float32)
    graph_def = retrain.retrained_graph(TINY, weights, *head)
    pixels = rng.uniform(-1, 1, (6, 128, 128, 3)).astype(np.float32)
    return graph_def, pixels


def test_optimize_strips_nodes_and_keeps_outputs(tiny_graph):
    graph_def, pixels = tiny_graph
    optimized = optimize.optimize(graph_def)
    assert len(optimized.node) < len(graph_def.node)
    assert not [n for n in optimized.node if n.op == "Identity"]
    assert optimize.check_same_outputs(graph_def, optimized, pixels) <= optimize.TOLERANCE


def test_check_same_outputs_fails_loudly_on_a_changed_graph(tiny_graph):
    graph_def, pixels = tiny_graph
    changed = quantize.quantize(graph_def, "weights")
    with pytest.raises(optimize.OptimizationChangedOutputs, match="differs"):
        optimize.check_same_outputs(graph_def, changed, pixels, tolerance=0.0)


def test_weights_rounded_keeps_256_levels_per_tensor_and_the_outputs(tiny_graph):
    from tensorflow.python.framework import tensor_util

    graph_def, pixels = tiny_graph
    rounded = quantize.quantize(graph_def, "weights_rounded")
    sizes = []
    for node in rounded.node:
        if node.op == "Const" and node.attr["dtype"].type == 1:
            values = tensor_util.MakeNdarray(node.attr["value"].tensor)
            if values.size >= quantize.MIN_ELEMENTS:
                assert len(np.unique(values)) <= 256
                sizes.append(values.size)
    assert sum(sizes) > 100_000
    assert 0 < optimize.max_difference(graph_def, rounded, pixels) < 0.05


def test_weights_mode_stores_8_bit_with_dequantize(tiny_graph, tmp_path):
    graph_def, pixels = tiny_graph
    quantized = quantize.quantize(graph_def, "weights")
    assert sum(n.op == "Dequantize" for n in quantized.node) > 20
    graphs.save(graph_def, tmp_path / "float.pb")
    graphs.save(quantized, tmp_path / "eight.pb")
    assert (tmp_path / "eight.pb").stat().st_size < 0.4 * (tmp_path / "float.pb").stat().st_size
    assert optimize.max_difference(graph_def, quantized, pixels) < 0.05


def test_unknown_mode_lists_the_valid_ones(tiny_graph):
    with pytest.raises(ValueError, match="weights_rounded, weights"):
        quantize.quantize(tiny_graph[0], "eightbit")


def test_gzip_record_matches_the_file(tmp_path):
    source = tmp_path / "graph.pb"
    source.write_bytes(b"\x00" * 10000 + bytes(range(256)))
    record = compress.gzip_file(source, tmp_path / "graph.pb.gz")
    assert record["uncompressed"] == 10256
    assert record["compressed"] == (tmp_path / "graph.pb.gz").stat().st_size
    assert record["ratio"] == pytest.approx(1 - record["compressed"] / 10256)
    assert gzip.decompress((tmp_path / "graph.pb.gz").read_bytes()) == source.read_bytes()


def test_tflite_export_matches_the_graph(tiny_graph, tmp_path):
    from poets.export import tflite_classify, to_tflite

    graph_def, pixels = tiny_graph
    graphs.save(graph_def, tmp_path / "g.pb")
    model = to_tflite(tmp_path / "g.pb", 128)
    with graphs.Classifier(graph_def) as classify:
        np.testing.assert_allclose(tflite_classify(model, pixels), classify(pixels), atol=1e-4)


def test_architecture_names_map_to_the_keras_weight_files():
    assert architectures.get("mobilenet_0.75_224").weights_file == "mobilenet_7_5_224_tf_no_top.h5"
    assert architectures.get("mobilenet_0.25_128").weights_url == (
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/mobilenet_2_5_128_tf_no_top.h5")
    assert architectures.get("mobilenet_v2_1.0_224").weights_url == (
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5")
    assert architectures.get("mobilenet_v2_0.50_160").weights_file.endswith("_0.5_160_no_top.h5")
    with pytest.raises(ValueError, match="mobilenet_v2_1.4_224"):
        architectures.get("inception_v3")


def test_mobilenet_v2_base_model_gives_pooled_features():
    model = architectures.get("mobilenet_v2_0.35_96").base_model(None)
    assert model.input_shape == (None, 96, 96, 3) and model.output_shape == (None, 1280)
