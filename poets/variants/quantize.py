"""Quantization modes: quantize_graph.py's on a frozen GraphDef, and TFLite's.

Graph modes, written as .pb:
- weights_rounded: every weight tensor rounded to 256 levels, still stored
  as float32: the graph runs anywhere unchanged, and gzip finds the repeated
  values.
- weights: every weight tensor stored as 8-bit levels, with the arithmetic
  that restores float32 in the graph: a 4x smaller .pb.

TensorFlow 2 ships no quantize_graph.py (it left with contrib), so the
rewrite is done here on the GraphDef.

weights_rounded keeps quantize_graph.py's 255 levels spread over each
tensor's range wherever that is safe, and switches to levels per output
channel (each channel of a convolution kernel, each column of the final
layer's matrix) where it is not. Once batch norms are folded into the
kernels, as the optimize stage does, a channel's weights can be 100 times
larger than its neighbour's: with levels per tensor the small channels round
to a few levels and accuracy falls to chance on the flower photos. So a
tensor whose channels' ranges (largest |weight|) differ by more than
PER_TENSOR_RANGE gets levels per channel; one whose channels all keep at
least 255 / PER_TENSOR_RANGE levels shares one step (on the flower model:
the last and largest pointwise kernel and the head's two layers). Per-tensor
steps gzip better: the levels then have less entropy, and lose no accuracy
against levels per channel everywhere.

Each tensor is stored as `(codes - CENTER) * scale`, `scale` a scalar or one
float per channel; the Sub and Mul of constants are folded away when the
graph loads. The codes are 1 + k / 2**15 for level k in 0..254: in each
float32 the level is the second byte and the other three bytes are the same
in every weight, which gzip turns into one short back-reference (it saves
less with the plain rounded values k / 128). Bias vectors (1-D, under 1%
of the weights) are left in float.

TFLite modes, written as .tflite by the TFLite converter, all with float32
input and output so the Android app loads them unchanged:
- float16: weights stored as float16;
- dynamic_range: weights stored as int8, activations quantized on the fly;
- int8: weights and activations int8, calibrated on training photos.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Mode:
    """What a quantization mode makes: its file, whether the TFLite converter writes it (a .tflite
    with metadata, else the optimized graph rewritten as a .pb), whether it is calibrated on photos."""

    name: str
    file_name: str
    tflite: bool
    calibrated: bool = False


# The one table of the modes: the tasks ask it, never a file name's suffix.
MODE_TABLE = {mode.name: mode for mode in (
    Mode("weights_rounded", "rounded_graph.pb", tflite=False),
    Mode("weights", "quantized_graph.pb", tflite=False),
    Mode("float16", "float16.tflite", tflite=True),
    Mode("dynamic_range", "dynamic_range.tflite", tflite=True),
    Mode("int8", "int8.tflite", tflite=True, calibrated=True),
)}
GRAPH_MODES = tuple(name for name, mode in MODE_TABLE.items() if not mode.tflite)
TFLITE_MODES = tuple(name for name, mode in MODE_TABLE.items() if mode.tflite)
MODES = tuple(MODE_TABLE)
# The variants every run evaluates before any quantization mode: frozen graphs (.pb).
UNQUANTIZED = ("retrained", "optimized")
FILE_NAMES = {name: mode.file_name for name, mode in MODE_TABLE.items()}


def is_tflite_variant(variant: str) -> bool:
    """Whether the variant `variant` (an unquantized one, or a mode) is a TFLite model."""
    return variant in MODE_TABLE and MODE_TABLE[variant].tflite
LEVELS = 256
# weights_rounded: levels per tensor unless channels' ranges differ by more than this.
PER_TENSOR_RANGE = 8
# A code 1 + k / CODE_STEP keeps level k in bits 8-15 of the float32's mantissa.
CODE_STEP = 2.0**15
CENTER = 1 + (LEVELS - 1) // 2 / CODE_STEP
# quantize_graph.py leaves tensors this small alone: rounding them saves nothing.
MIN_ELEMENTS = 15


def channel_shape(values, depthwise=False):
    """The shape of the output channels of a kernel: the last axis, or for a
    depthwise kernel [h, w, in, multiplier] the last two."""
    return values.shape[-2:] if depthwise else values.shape[-1:]


def levels_of(values: np.ndarray, channels: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 levels shaped like values, per-channel low, per-channel step)."""
    flat = values.reshape(-1, int(np.prod(channels)))
    low, high = flat.min(axis=0), flat.max(axis=0)
    step = np.where(high > low, (high - low) / (LEVELS - 1), 1.0)
    levels = np.rint((flat - low) / step).astype(np.uint8)
    return levels.reshape(values.shape), low.reshape(channels), step.reshape(channels)


def rounded(values: np.ndarray, channels: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(codes, scale) for weights_rounded: (codes - CENTER) * scale ~ values.

    Levels -127..127 (zero exact) span the largest |value| of the tensor, or
    of each channel where the channels' ranges differ by more than
    PER_TENSOR_RANGE; `scale` is then a scalar or shaped `channels`.
    """
    flat = values.reshape(-1, int(np.prod(channels)))
    ranges = np.abs(flat).max(axis=0)
    if ranges.max() <= PER_TENSOR_RANGE * ranges.min():
        ranges = np.array(ranges.max())
    else:
        ranges = np.where(ranges > 0, ranges, 1.0).reshape(channels)
    half = (LEVELS - 1) // 2  # 127
    levels = np.rint(values / ranges * half) + half  # 0..254
    codes = (1 + levels / CODE_STEP).astype(np.float32)
    return codes, (ranges * CODE_STEP / half).astype(np.float32)


def round_weights(values: np.ndarray, channels: tuple) -> np.ndarray:
    """What the weights_rounded graph computes for a kernel, in its float32 arithmetic."""
    codes, scale = rounded(values, channels)
    return (codes - np.float32(CENTER)) * scale


def weight_tensors(graph_def):
    """Yield (node, float32 array, channel shape) for each weight tensor to quantize."""
    from tensorflow.core.framework import types_pb2

    from poets.models.graphs import const_value

    depthwise = {node.input[1].split(":")[0] for node in graph_def.node if node.op == "DepthwiseConv2dNative"}
    for node in graph_def.node:
        if node.op == "Const" and node.attr["dtype"].type == types_pb2.DT_FLOAT:
            values = const_value(node)
            if values.ndim >= 2 and values.size >= MIN_ELEMENTS and values.max() > values.min():
                yield node, values, channel_shape(values, node.name in depthwise)


def quantize_tflite(graph_path: Path, size: int, mode: str, calibration: Iterable[np.ndarray] | None = None) -> bytes:
    """TFLite bytes of the frozen graph at `graph_path` in a TFLite mode.

    `calibration` (int8 only): an iterable of float32 [size, size, 3] photos,
    as the graph's input expects them, to measure activation ranges on.
    """
    import tensorflow as tf

    from poets.models.tflite import convert, converter_for

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

    from poets.models.graphs import const_node

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
            codes, scale = rounded(values, channels)
            nodes += [const_node(f"{name}/codes", codes), const_node(f"{name}/center", np.float32(CENTER)),
                      _op("Sub", f"{name}/levels", [f"{name}/codes", f"{name}/center"]),
                      const_node(f"{name}/scale", scale), _op("Mul", name, [f"{name}/levels", f"{name}/scale"])]
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
