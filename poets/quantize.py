"""quantize_graph.py's weight modes on a frozen GraphDef.

- weights_rounded: every weight tensor rounded to 256 evenly spaced levels
  between its min and max, still stored as float32: the graph runs anywhere
  unchanged, and gzip finds the repeated values.
- weights: every weight tensor stored as 8-bit levels plus its min and max,
  with a Dequantize op in the graph restoring float32: a 4x smaller .pb.

TensorFlow 2 ships no quantize_graph.py (it left with contrib), so the
rewrite is done here on the GraphDef.
"""

import numpy as np

MODES = ("weights_rounded", "weights")
LEVELS = 256
# quantize_graph.py leaves tensors this small alone (biases of tiny layers,
# scalars): rounding them saves nothing and costs accuracy.
MIN_ELEMENTS = 15


def levels_of(values):
    """(uint8 levels, min, max) for a float tensor."""
    low, high = float(values.min()), float(values.max())
    scale = (high - low) / (LEVELS - 1)
    levels = np.rint((values - low) / scale).astype(np.uint8)
    return levels, low, high


def round_weights(values):
    levels, low, high = levels_of(values)
    return (low + levels.astype(np.float64) * ((high - low) / (LEVELS - 1))).astype(np.float32)


def _weights(graph_def):
    """Yield (node, float32 array) for each weight tensor worth quantizing."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.python.framework import tensor_util

    for node in graph_def.node:
        if node.op == "Const" and node.attr["dtype"].type == types_pb2.DT_FLOAT:
            values = tensor_util.MakeNdarray(node.attr["value"].tensor)
            if values.size >= MIN_ELEMENTS and values.max() > values.min():
                yield node, values


def quantize(graph_def, mode):
    if mode not in MODES:
        raise ValueError(f"unknown quantization mode {mode!r}; valid: {', '.join(MODES)}")
    from tensorflow.core.framework import graph_pb2, node_def_pb2
    from tensorflow.python.framework import dtypes, tensor_util

    result = graph_pb2.GraphDef()
    result.CopyFrom(graph_def)
    replaced = {}
    for node, values in _weights(result):
        if mode == "weights_rounded":
            node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(round_weights(values)))
            continue
        levels, low, high = levels_of(values)
        replaced[node.name] = (levels, low, high)
    if replaced:
        nodes = []
        for node in result.node:
            if node.name not in replaced:
                nodes.append(node)
                continue
            levels, low, high = replaced[node.name]
            consts = {
                "quantized": tensor_util.make_tensor_proto(levels, dtype=dtypes.quint8),
                "min": tensor_util.make_tensor_proto(np.float32(low)),
                "max": tensor_util.make_tensor_proto(np.float32(high)),
            }
            for suffix, tensor in consts.items():
                const = node_def_pb2.NodeDef(name=f"{node.name}/{suffix}", op="Const")
                const.attr["dtype"].type = tensor.dtype
                const.attr["value"].tensor.CopyFrom(tensor)
                nodes.append(const)
            # The Dequantize keeps the weight's name, so its consumers are untouched.
            dequantize = node_def_pb2.NodeDef(
                name=node.name, op="Dequantize",
                input=[f"{node.name}/{suffix}" for suffix in consts],
            )
            dequantize.attr["T"].type = dtypes.quint8.as_datatype_enum
            dequantize.attr["mode"].s = b"MIN_COMBINED"
            nodes.append(dequantize)
        del result.node[:]
        result.node.extend(nodes)
    return result
