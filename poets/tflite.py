"""TFLite models: converting a frozen graph, running a model with LiteRT,
and reading what a model asks of the runtime that loads it.

TensorFlow is used for the conversion only; models run on LiteRT
(`ai-edge-litert`), the maintained successor of `tf.lite.Interpreter`.
"""

import logging
from pathlib import Path

import numpy as np

from poets import quiet
from poets.contract import INPUT, OUTPUT

# The converter records the oldest runtime that can run the model under this name.
MIN_RUNTIME_VERSION = "min_runtime_version"


def converter_for(graph_path: Path, size: int):
    """A TFLite converter for a frozen graph, float32 [1, size, size, 3] input."""
    import tensorflow as tf

    return tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        str(graph_path), input_arrays=[INPUT], output_arrays=[OUTPUT],
        input_shapes={INPUT: [1, size, size, 3]},
    )


def convert(converter) -> bytes:
    """converter.convert(), without its side effect on logging.

    The converter logs through the root logger, which makes logging install
    a stderr handler there, and every luigi line prints twice from then on.
    """
    handlers = list(logging.root.handlers)
    try:
        with quiet.chatter_filtered():
            return converter.convert()
    finally:
        logging.root.handlers[:] = handlers


def to_tflite(graph_path: Path, size: int) -> bytes:
    """TFLite flatbuffer bytes of a frozen graph, float32 in and out."""
    return convert(converter_for(graph_path, size))


class TFLiteClassifier:
    """A TFLite model run by LiteRT: a batch of pixels in, probabilities out."""

    def __init__(self, model_path: Path | None = None, model_content: bytes | None = None,
                 threads: int | None = None):
        # LiteRT prints its XNNPACK notice when the tensors are allocated.
        with quiet.chatter_filtered():
            from ai_edge_litert.interpreter import Interpreter

            self.interpreter = Interpreter(
                model_path=str(model_path) if model_path else None, model_content=model_content, num_threads=threads)
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.size = int(self.input["shape"][1])

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        results = []
        for image in np.asarray(pixels, np.float32):  # the model's batch is 1
            self.interpreter.set_tensor(self.input["index"], image[None])
            self.interpreter.invoke()
            results.append(self.interpreter.get_tensor(self.output["index"])[0].copy())
        return np.stack(results)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def runtime_needs(model: bytes) -> dict:
    """What a runtime must offer to load `model`: {"min_runtime_version": "2.3.0"
    or None when the converter recorded none, "builtin_ops": sorted op names}."""
    from ai_edge_litert import schema_py_generated as schema

    root = schema.Model.GetRootAs(model, 0)
    version = None
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if entry.Name().decode() == MIN_RUNTIME_VERSION:
            version = root.Buffers(entry.Buffer()).DataAsNumpy().tobytes().rstrip(b"\0").decode()
    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    ops = set()
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        # Codes past 127 live in builtin_code; the older int8 field caps at 127.
        ops.add(names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())])
    return {"min_runtime_version": version, "builtin_ops": sorted(ops)}
