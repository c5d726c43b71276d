"""Quantization modes: quantize_graph.py's on a frozen GraphDef, and TFLite's.

Graph modes, written as .pb:
- weights_rounded: every weight tensor rounded to 256 levels, still stored
  as float32: the graph runs anywhere unchanged, and gzip finds the repeated
  values.
- weights: every weight tensor stored as 8-bit levels, with the arithmetic
  that restores float32 in the graph: a 4x smaller .pb.

TensorFlow 2 ships no quantize_graph.py (it left with contrib), so the
rewrite is done here on the GraphDef.

Levels are per output channel (each channel of a convolution kernel, each
column of the final layer's matrix), not per tensor as quantize_graph.py
did. Once batch norms are folded into the kernels, as the optimize stage
does, a channel's weights can be 100 times larger than its neighbour's: with
levels per tensor the small channels round to one level and accuracy falls
to chance (measured: 0.26 on the flower photos). So weights_rounded stores
each kernel as `rounded * scale`: `rounded` holds the kernel divided by each
channel's largest |weight|, rounded to 255 levels shared by the whole tensor
(so gzip still sees a tensor of 255 distinct floats), and `scale` one float
per channel; the Mul of two constants is folded away when the graph loads.
Bias vectors (1-D, under 1% of the weights) are left in float.

TFLite modes, written as .tflite by the TFLite converter, all with float32
input and output so the Android app loads them unchanged:
- float16: weights stored as float16;
- dynamic_range: weights stored as int8, activations quantized on the fly;
- int8: weights and activations int8, calibrated on training photos.
"""

import numpy as np

GRAPH_MODES = ("weights_rounded", "weights")
TFLITE_MODES = ("float16", "dynamic_range", "int8")
MODES = GRAPH_MODES + TFLITE_MODES
FILE_NAMES = {"weights_rounded": "rounded_graph.pb", "weights": "quantized_graph.pb",
              "float16": "float16.tflite", "dynamic_range": "dynamic_range.tflite", "int8": "int8.tflite"}
LEVELS = 256
# quantize_graph.py leaves tensors this small alone: rounding them saves nothing.
MIN_ELEMENTS = 15


def channel_shape(values, depthwise=False):
    """The shape of the output channels of a kernel: the last axis, or for a
    depthwise kernel [h, w, in, multiplier] the last two."""
    return values.shape[-2:] if depthwise else values.shape[-1:]


def levels_of(values, channels):
    """(uint8 levels shaped like values, per-channel low, per-channel step)."""
    flat = values.reshape(-1, int(np.prod(channels)))
    low, high = flat.min(axis=0), flat.max(axis=0)
    step = np.where(high > low, (high - low) / (LEVELS - 1), 1.0)
    levels = np.rint((flat - low) / step).astype(np.uint8)
    return levels.reshape(values.shape), low.reshape(channels), step.reshape(channels)


def rounded_and_scale(values, channels):
    """(values rounded to 255 levels in [-1, 1] shared by the tensor, per-channel scale):
    rounded * scale ~ values, each channel's largest |value| on the outermost level."""
    flat = values.reshape(-1, int(np.prod(channels)))
    scale = np.abs(flat).max(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    half = (LEVELS - 1) // 2  # 127: levels -127..127, zero exact
    # k / 128 rather than k / 127: a float32 with 7 significant bits ends in
    # two zero bytes, which gzip compresses away (on the flower model: 67.5% saved instead of 65.6%).
    rounded = np.rint(flat / scale * half) / (half + 1)
    scale = scale * (half + 1) / half
    return rounded.reshape(values.shape).astype(np.float32), scale.reshape(channels).astype(np.float32)


def round_weights(values, channels):
    """What the weights_rounded graph computes for a kernel, as one array."""
    rounded, scale = rounded_and_scale(values, channels)
    return rounded * scale


def weight_tensors(graph_def):
    """Yield (node, float32 array, channel shape) for each weight tensor to quantize."""
    from tensorflow.core.framework import types_pb2

    from poets.graphs import const_value

    depthwise = {node.input[1].split(":")[0] for node in graph_def.node if node.op == "DepthwiseConv2dNative"}
    for node in graph_def.node:
        if node.op == "Const" and node.attr["dtype"].type == types_pb2.DT_FLOAT:
            values = const_value(node)
            if values.ndim >= 2 and values.size >= MIN_ELEMENTS and values.max() > values.min():
                yield node, values, channel_shape(values, node.name in depthwise)


def quantize_tflite(graph_path, size, mode, calibration=None):
    """TFLite bytes of the frozen graph at `graph_path` in a TFLite mode.

    `calibration` (int8 only): an iterable of float32 [size, size, 3] photos,
    as the graph's input expects them, to measure activation ranges on.
    """
    import tensorflow as tf

    from poets.export import convert, converter_for

    if mode not in TFLITE_MODES:
        raise ValueError(f"unknown TFLite quantization mode {mode!r}; valid: {', '.join(TFLITE_MODES)}")
    converter = converter_for(graph_path, size)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        if calibration is None:
            raise ValueError("int8 quantization needs calibration photos")
        photos = list(calibration)
        converter.representative_dataset = lambda: ([photo[None]] for photo in photos)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    return convert(converter)


def quantize(graph_def, mode):
    """A GraphDef with its weights quantized in a graph mode."""
    if mode not in GRAPH_MODES:
        raise ValueError(f"unknown quantization mode {mode!r}; valid: {', '.join(GRAPH_MODES)}")
    from tensorflow.core.framework import graph_pb2, types_pb2

    from poets.graphs import const_node

    result = graph_pb2.GraphDef()
    result.CopyFrom(graph_def)
    rewritten = {node.name: (values, channels) for node, values, channels in weight_tensors(result)}
    nodes = []
    for node in result.node:
        if node.name not in rewritten:
            nodes.append(node)
            continue
        name, (values, channels) = node.name, rewritten[node.name]
        # The last op of each rewrite keeps the weight's name, so its consumers are untouched.
        if mode == "weights_rounded":
            rounded, scale = rounded_and_scale(values, channels)
            nodes += [const_node(f"{name}/rounded", rounded), const_node(f"{name}/scale", scale),
                      _op("Mul", name, [f"{name}/rounded", f"{name}/scale"])]
        else:  # weight = low + levels * step
            levels, low, step = levels_of(values, channels)
            cast = _op("Cast", f"{name}/float", [f"{name}/levels"])
            cast.attr["SrcT"].type, cast.attr["DstT"].type = types_pb2.DT_UINT8, types_pb2.DT_FLOAT
            del cast.attr["T"]
            nodes += [const_node(f"{name}/levels", levels), const_node(f"{name}/step", step.astype(np.float32)),
                      const_node(f"{name}/low", low.astype(np.float32)), cast,
                      _op("Mul", f"{name}/scaled", [cast.name, f"{name}/step"]),
                      _op("AddV2", name, [f"{name}/scaled", f"{name}/low"])]
    del result.node[:]
    result.node.extend(nodes)
    return result


def _op(op, name, inputs):
    from tensorflow.core.framework import node_def_pb2, types_pb2

    node = node_def_pb2.NodeDef(name=name, op=op, input=inputs)
    node.attr["T"].type = types_pb2.DT_FLOAT
    return node
