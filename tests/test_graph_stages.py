"""Library stages on a tiny retrained graph: optimize, quantize, compress, export."""

import gzip

import numpy as np
import pytest

from poets.backbones import architectures
from poets.head import freeze as retrain
from poets.head.layers import predict
from poets.models import graphs
from poets.variants import compress, optimize, quantize
from tests.helpers import TINY, make_base_model


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory):
    folder = tmp_path_factory.mktemp("graph")
    weights = make_base_model(folder / "weights.h5")
    rng = np.random.default_rng(0)
    # The default head: a hidden ReLU layer, then the softmax layer.
    head = [(rng.normal(0, 0.1, (256, 32)).astype(np.float32), rng.normal(0, 0.1, 32).astype(np.float32)),
            (rng.normal(0, 1, (32, 4)).astype(np.float32), rng.normal(0, 1, 4).astype(np.float32))]
    graph_def = retrain.retrained_graph(architectures.get(TINY), weights, head)
    pixels = rng.uniform(-1, 1, (6, 128, 128, 3)).astype(np.float32)
    return graph_def, pixels, weights, head


def test_retrained_graph_is_the_head_on_the_base_models_features(tiny_graph):
    graph_def, pixels, weights, head = tiny_graph
    features = architectures.get(TINY).feature_extractor(weights)(pixels).numpy()
    with graphs.Classifier(graph_def) as classify:
        np.testing.assert_allclose(classify(pixels), predict(head, features), atol=1e-5)
    # hidden layer and softmax layer
    assert sum(node.op == "MatMul" for node in graph_def.node) == 2


def test_litert_features_are_kerass_and_the_same_bytes_whatever_the_batch_and_threads(tiny_graph, tmp_path):
    from poets.models import tflite

    _, pixels, weights, _ = tiny_graph
    arch = architectures.get(TINY)
    model = tmp_path / "base_model.tflite"
    model.write_bytes(tflite.keras_to_tflite(arch.base_model(weights), arch.size))
    whole = tflite.batch_runner(model, threads=2)(pixels)
    np.testing.assert_allclose(whole, arch.feature_extractor(weights)(pixels).numpy(), atol=1e-4)
    # A shard batches whichever photos it holds: a photo's features must not depend on its neighbours.
    one_thread = tflite.batch_runner(model, threads=1)
    assert np.concatenate([one_thread(pixels[:2]), one_thread(pixels[2:]), one_thread(pixels[:1])]).tobytes() == \
        np.concatenate([whole, whole[:1]]).tobytes()


def test_optimize_folds_every_batch_norm_and_keeps_outputs(tiny_graph):
    graph_def, pixels = tiny_graph[:2]
    # Keras 3 writes each BatchNormalization as Mul/AddV2/Rsqrt/Sub arithmetic.
    assert len(optimize.batch_norm_ops(graph_def)) > 50
    optimized = optimize.optimize(graph_def)
    assert optimize.batch_norm_ops(optimized) == []
    assert len(optimized.node) < len(graph_def.node) / 2
    assert not [n for n in optimized.node if n.op == "Identity"]
    convolutions = [n for n in optimized.node if n.op in optimize.CONVOLUTIONS]
    assert sum(n.op == "BiasAdd" for n in optimized.node) == len(convolutions) == 27
    assert optimize.check_same_outputs(graph_def, optimized, pixels) <= optimize.TOLERANCE


def test_optimize_folds_mobilenet_v2_batch_norms(tmp_path):
    name = "mobilenet_v2_0.35_96"
    weights = make_base_model(tmp_path / "v2.h5", name)
    head = [(np.ones((1280, 2), np.float32) / 100, np.zeros(2, np.float32))]
    graph_def = retrain.retrained_graph(architectures.get(name), weights, head)
    optimized = optimize.optimize(graph_def)
    assert optimize.batch_norm_ops(optimized) == []
    pixels = np.random.default_rng(0).uniform(-1, 1, (4, 96, 96, 3)).astype(np.float32)
    assert optimize.check_same_outputs(graph_def, optimized, pixels) <= optimize.TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v3_small_0.75_224", "mobilenet_v3_large_minimalistic_1.0_224"])
def test_optimize_folds_mobilenet_v3_batch_norms_and_keeps_hard_swish_and_squeeze_excite(tmp_path, name):
    weights = make_base_model(tmp_path / "v3.h5", name)
    features = architectures.get(name).shape_key[0]
    head = [(np.random.default_rng(0).normal(0, 0.05, (features, 3)).astype(np.float32), np.zeros(3, np.float32))]
    graph_def = retrain.retrained_graph(architectures.get(name), weights, head)
    assert optimize.batch_norm_ops(graph_def)
    optimized = optimize.optimize(graph_def)
    assert optimize.batch_norm_ops(optimized) == []
    convolutions = [n for n in optimized.node if n.op in optimize.CONVOLUTIONS]
    # Every convolution ends in a BiasAdd: its batch norm's offset, or the squeeze-excite's own bias.
    assert sum(n.op == "BiasAdd" for n in optimized.node) == len(convolutions)
    # Hard-swish multiplies x by relu6(x + 3); squeeze-excite scales the channels: those Muls stay.
    swish = any(n.op == "Mul" for n in optimized.node)
    assert swish == (not name.endswith("minimalistic_1.0_224"))
    pixels = np.random.default_rng(0).uniform(-1, 1, (4, 224, 224, 3)).astype(np.float32)
    assert optimize.check_same_outputs(graph_def, optimized, pixels) <= optimize.TOLERANCE


def test_optimize_folds_fused_batch_norm():
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 3, 8)).astype(np.float32)
    depthwise = rng.normal(size=(3, 3, 8, 1)).astype(np.float32)
    stats = [rng.uniform(0.5, 2, 8).astype(np.float32) for _ in range(4)]

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32, name="input")])
    def model(x):
        y = tf.nn.conv2d(x, kernel, 1, "SAME")
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(y, *stats[:2], mean=stats[2], variance=stats[3], is_training=False)
        y = tf.nn.depthwise_conv2d(tf.nn.relu6(y), depthwise, [1, 1, 1, 1], "SAME")
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(y, *stats[:2], mean=stats[2], variance=stats[3], is_training=False)
        return tf.nn.softmax(tf.reduce_mean(y, axis=[1, 2]), name="final_result")

    graph_def = convert_variables_to_constants_v2(model.get_concrete_function()).graph.as_graph_def()
    assert [n for n in graph_def.node if n.op.startswith("FusedBatchNorm")]
    optimized = optimize.optimize(graph_def)
    assert optimize.batch_norm_ops(optimized) == []
    pixels = rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    assert optimize.check_same_outputs(graph_def, optimized, pixels) <= optimize.TOLERANCE


def test_check_same_outputs_fails_loudly_on_a_changed_graph(tiny_graph):
    graph_def, pixels = tiny_graph[:2]
    changed = quantize.quantize(graph_def, "weights_rounded")
    with pytest.raises(optimize.OptimizationChangedOutputs, match="differs"):
        optimize.check_same_outputs(graph_def, changed, pixels, tolerance=0.0)


@pytest.fixture(scope="module")
def optimized_graph(tiny_graph):
    return optimize.optimize(tiny_graph[0])


def test_weights_rounded_keeps_256_levels_per_channel_and_the_outputs(optimized_graph, tiny_graph):
    from tensorflow.python.framework import tensor_util

    pixels = tiny_graph[1]
    rounded = quantize.quantize(optimized_graph, "weights_rounded")
    depthwise = {n.input[1] for n in rounded.node if n.op == "DepthwiseConv2dNative"}
    rounded_elements = 0
    for node in rounded.node:
        if node.op == "Const" and node.attr["dtype"].type == 1:
            values = tensor_util.MakeNdarray(node.attr["value"].tensor)
            if values.ndim >= 2 and values.size >= quantize.MIN_ELEMENTS:
                channels = values.reshape(-1, values.shape[-1] * (values.shape[-2] if node.name in depthwise else 1))
                assert max(len(np.unique(channel)) for channel in channels.T) <= 256
                rounded_elements += values.size
    assert rounded_elements > 100_000
    # The graph computes exactly the rounded kernels...
    expected = type(optimized_graph)()
    expected.CopyFrom(optimized_graph)
    kernels = {node.name: (values, channels) for node, values, channels in quantize.weight_tensors(expected)}
    for node in expected.node:
        if node.name in kernels:
            node.attr["value"].tensor.CopyFrom(graphs.const_node("", quantize.round_weights(*kernels[node.name]))
                                               .attr["value"].tensor)
    assert optimize.max_difference(expected, rounded, pixels) < 1e-5
    # ...which keep the float graph's answers. (This random tiny model amplifies
    # rounding far more than a trained one: levels per tensor move its
    # near-saturated softmax by up to 0.16, where the flower model gains accuracy.)
    assert 0 < optimize.max_difference(optimized_graph, rounded, pixels) < 0.25
    with graphs.Classifier(optimized_graph) as before, graphs.Classifier(rounded) as after:
        assert (before(pixels).argmax(axis=1) == after(pixels).argmax(axis=1)).all()


def test_weights_rounded_levels_span_each_channel():
    # Channel 1 is 1000x channel 0: per-tensor levels would flatten channel 0.
    values = np.stack([np.linspace(-1, 1, 50), np.linspace(-1000, 1000, 50)], axis=-1).astype(np.float32)
    rounded = quantize.round_weights(values, quantize.channel_shape(values))
    assert len(np.unique(rounded[:, 0])) == 50
    np.testing.assert_allclose(rounded, values, atol=2000 / 255)
    np.testing.assert_allclose(rounded[:, 0], values[:, 0], atol=2 / 255)


def test_weights_rounded_shares_one_step_where_channels_are_alike():
    # Ranges 1 and 4 (within PER_TENSOR_RANGE): quantize_graph.py's levels over the whole tensor.
    values = np.stack([np.linspace(-1, 1, 500), np.linspace(-4, 4, 500)], axis=-1).astype(np.float32)
    codes, scale = quantize.rounded(values, quantize.channel_shape(values))
    assert scale.shape == ()
    rounded = quantize.round_weights(values, quantize.channel_shape(values))
    assert len(np.unique(rounded)) == 255
    assert len(np.unique(rounded[:, 0])) < 70  # channel 0 spans a quarter of the levels
    np.testing.assert_allclose(rounded, values, atol=4 / 254 + 1e-6)


def test_weights_rounded_codes_differ_in_one_byte():
    # What makes the graph gzip well: three of each float's four bytes are the same in every weight.
    values = np.random.default_rng(0).normal(size=(3, 3, 8, 16)).astype(np.float32)
    codes, _ = quantize.rounded(values, quantize.channel_shape(values))
    words = codes.view(np.uint32)
    assert len(np.unique(words & 0xFFFF00FF)) == 1
    assert len(np.unique(words)) > 100


def test_weights_mode_stores_8_bit_levels(optimized_graph, tiny_graph, tmp_path):
    pixels = tiny_graph[1]
    graph_def = optimized_graph
    quantized = quantize.quantize(graph_def, "weights")
    assert sum(n.op == "Const" and n.attr["dtype"].type == 4 for n in quantized.node) >= 28  # uint8
    graphs.save(graph_def, tmp_path / "float.pb")
    graphs.save(quantized, tmp_path / "eight.pb")
    assert (tmp_path / "eight.pb").stat().st_size < 0.4 * (tmp_path / "float.pb").stat().st_size
    assert optimize.max_difference(graph_def, quantized, pixels) < 0.02


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
    from poets.models.tflite import TFLiteClassifier, to_tflite

    graph_def, pixels = tiny_graph[:2]
    graphs.save(graph_def, tmp_path / "g.pb")
    model = to_tflite(tmp_path / "g.pb", 128)
    with graphs.Classifier(graph_def) as classify:
        np.testing.assert_allclose(TFLiteClassifier(model_content=model)(pixels), classify(pixels), atol=1e-4)


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


def test_the_mode_table_says_what_each_mode_makes():
    from poets.variants import quantize

    assert quantize.GRAPH_MODES == ("weights_rounded", "weights")
    assert quantize.TFLITE_MODES == ("float16", "dynamic_range", "int8")
    assert [name for name, mode in quantize.MODE_TABLE.items() if mode.calibrated] == ["int8"]
    # Each mode's file is what its kind writes, and a variant is TFLite by the table, not by its file's name.
    assert all(mode.file_name.endswith(".tflite" if mode.tflite else ".pb") for mode in quantize.MODE_TABLE.values())
    assert [v for v in (*quantize.UNQUANTIZED, *quantize.MODES) if quantize.is_tflite_variant(v)] == list(
        quantize.TFLITE_MODES)
