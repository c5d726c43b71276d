"""The codelab's optimize_for_inference step, completed for Keras 3 graphs and
checked against the original.

TensorFlow's optimize_for_inference strips unused and training-only nodes and
folds FusedBatchNorm into the convolution before it, but Keras 3 writes batch
normalization as Mul/AddV2/Rsqrt/Sub arithmetic, and TensorFlow's matcher for
that pattern only knows `Add`, so it folds none of it. Here the constant part
of that arithmetic is evaluated once (constant folding), which leaves
conv -> Mul(scale) -> AddV2(offset); the scale is then multiplied into the
convolution's weights and the offset becomes a BiasAdd.
"""

import numpy as np

from poets.core.contract import INPUT, OUTPUT
from poets.models.graphs import const_node, const_value

# Folding reorders float32 sums; through a deep network the probabilities move by up to ~2e-5 (a
# MobileNetV2 of random weights, here). The same bound as the TFLite conversion's check.
TOLERANCE = 1e-4
CONVOLUTIONS = ("Conv2D", "DepthwiseConv2dNative")
# Ops that are batch-norm arithmetic wherever they are; a Mul is when it scales a
# convolution's output by a constant (MobileNetV3's hard-swish and squeeze-excite
# multiply two computed tensors, and stay).
BATCH_NORM_OPS = ("Rsqrt", "Sub", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3",
                  "BatchNormWithGlobalNormalization")


class OptimizationChangedOutputs(AssertionError):
    pass


def optimize(graph_def):
    """Strip, fold constants, fold batch norms; returns a new GraphDef."""
    import tensorflow as tf
    from tensorflow.python.tools import optimize_for_inference_lib

    stripped = optimize_for_inference_lib.optimize_for_inference(
        graph_def, [INPUT], [OUTPUT], tf.float32.as_datatype_enum
    )
    return fold_batch_norms(fold_constants(stripped))


def _name(input_name):
    return input_name.lstrip("^").split(":")[0]


def _rebuild(graph_def, nodes):
    """A GraphDef like `graph_def` (versions, library) with `nodes`, minus what OUTPUT doesn't need."""
    from tensorflow.core.framework import graph_pb2
    from tensorflow.python.framework import graph_util

    result = graph_pb2.GraphDef()
    result.versions.CopyFrom(graph_def.versions)
    result.library.CopyFrom(graph_def.library)
    result.node.extend(nodes)
    return graph_util.extract_sub_graph(result, [OUTPUT])


def fold_constants(graph_def):
    """Replace every node that does not depend on the input by its value."""
    import tensorflow as tf

    by_name = {node.name: node for node in graph_def.node}
    constant = constant_nodes(graph_def)
    # Evaluate the constant nodes that feed a non-constant one: their values are all
    # the rest of the graph needs.
    frontier = sorted({
        _name(i) for node in graph_def.node if not constant[node.name]
        for i in node.input if not i.startswith("^") and constant[_name(i)] and by_name[_name(i)].op != "Const"
    })
    if not frontier:
        return graph_def
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        values = session.run([name + ":0" for name in frontier])
    folded = dict(zip(frontier, values))
    nodes = [const_node(node.name, folded[node.name]) if node.name in folded else node for node in graph_def.node]
    return _rebuild(graph_def, nodes)


def constant_nodes(graph_def) -> dict[str, bool]:
    """{node name: whether its value depends on no input}: a Const, or a node all of whose inputs are."""
    by_name = {node.name: node for node in graph_def.node}
    constant = {}
    for node in graph_def.node:
        # Iterative depth-first walk: frozen graphs are deep enough for recursion limits.
        stack = [node.name]
        while stack:
            current = stack[-1]
            if current in constant:
                stack.pop()
                continue
            node = by_name[current]
            if node.op == "Const":
                constant[current] = True
            elif node.op in ("Placeholder", "PlaceholderWithDefault") or not node.input:
                constant[current] = False
            elif pending := [_name(i) for i in node.input if _name(i) not in constant]:
                stack.extend(pending)
                continue
            else:
                constant[current] = all(constant[_name(i)] for i in node.input)
            stack.pop()
    return constant


def fold_batch_norms(graph_def):
    """conv -> Mul(c1) -> Add/AddV2(c2) becomes conv(weights * c1) -> BiasAdd(c2)."""
    by_name = {node.name: node for node in graph_def.node}
    consumers = {}
    for node in graph_def.node:
        for i in node.input:
            consumers.setdefault(_name(i), []).append(node.name)
    replaced, dropped = {}, set()
    for add in graph_def.node:
        if not (found := _conv_scaled_and_shifted(add, by_name, consumers)):
            continue
        conv, mul, weights_node, scale, offset = found
        weights, scale, offset_value = const_value(weights_node), const_value(scale), const_value(offset)
        channels = weights.shape[3] if conv.op == "Conv2D" else weights.shape[2] * weights.shape[3]
        if scale.size != channels or offset_value.size != channels:
            continue  # not a per-channel affine: leave it
        if conv.op == "Conv2D":
            weights = weights * scale.reshape(1, 1, 1, -1)
        else:  # depthwise output channel = input channel * multiplier + m
            weights = weights * scale.reshape(1, 1, weights.shape[2], weights.shape[3])
        replaced[weights_node.name] = const_node(weights_node.name, weights.astype(np.float32))
        bias = const_node(add.name + "/bias", offset_value.reshape(-1).astype(np.float32))
        bias_add = type(add)(name=add.name, op="BiasAdd", input=[conv.name, bias.name])
        bias_add.attr["T"].CopyFrom(add.attr["T"])
        bias_add.attr["data_format"].s = b"NHWC"
        replaced[add.name] = bias_add
        replaced[bias.name] = bias
        dropped.add(mul.name)
    nodes = []
    for node in graph_def.node:
        if node.name in dropped:
            continue
        nodes.append(replaced.pop(node.name, node))
        if node.name + "/bias" in replaced:
            nodes.append(replaced.pop(node.name + "/bias"))
    return _rebuild(graph_def, nodes)


def _conv_scaled_and_shifted(add, by_name, consumers):
    """(conv, mul, the conv's weights node, the scale's node, the offset's node) where `add` adds a
    constant to a Mul by a constant of a convolution with constant weights, each the only consumer of
    the one before; else None."""

    def only_consumer(name, consumer):
        return consumers.get(name, []) == [consumer]

    def split_const(node):
        """(the non-constant input, the constant input's node) of a binary op, or None."""
        first, second = (by_name[_name(i)] for i in node.input[:2])
        if second.op == "Const" and first.op != "Const":
            return first, second
        if first.op == "Const" and second.op != "Const":
            return second, first
        return None

    if add.op not in ("Add", "AddV2") or not (pair := split_const(add)):
        return None
    mul, offset = pair
    if mul.op != "Mul" or not only_consumer(mul.name, add.name) or not (pair := split_const(mul)):
        return None
    conv, scale = pair
    if conv.op not in CONVOLUTIONS or not only_consumer(conv.name, mul.name):
        return None
    weights_node = by_name[_name(conv.input[1])]
    if weights_node.op != "Const" or not only_consumer(weights_node.name, conv.name):
        return None
    return conv, mul, weights_node, scale, offset


def batch_norm_ops(graph_def) -> list[str]:
    """The batch-norm arithmetic left in a graph (empty once fully folded): the
    BATCH_NORM_OPS, and each Mul of a convolution's output and a constant
    (before constant folding, the constant is still the Rsqrt arithmetic: any
    non-input operand counts then)."""
    by_name = {node.name: node for node in graph_def.node}

    def scales_a_convolution(node):
        inputs = [by_name[_name(i)] for i in node.input[:2]]
        return any(i.op in CONVOLUTIONS for i in inputs) and any(i.op not in CONVOLUTIONS for i in inputs)

    return sorted(node.name for node in graph_def.node
                  if node.op in BATCH_NORM_OPS or (node.op == "Mul" and scales_a_convolution(node)))


def max_difference(graph_a, graph_b, pixels: np.ndarray) -> float:
    """The largest |difference| of the two graphs' softmax on the same batch."""
    from poets.models.graphs import Classifier

    with Classifier(graph_a) as a, Classifier(graph_b) as b:
        return float(np.abs(a(pixels) - b(pixels)).max())


def check_same_outputs(original, optimized, pixels: np.ndarray, tolerance: float = TOLERANCE) -> float:
    difference = max_difference(original, optimized, pixels)
    if not difference <= tolerance:
        raise OptimizationChangedOutputs(
            f"optimized graph differs from the retrained graph by {difference:.3g} "
            f"(tolerance {tolerance:g}) on {len(pixels)} photos"
        )
    return difference
