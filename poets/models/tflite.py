"""TFLite models: converting a frozen graph, running a model with LiteRT,
and reading what a model asks of the runtime that loads it.

TensorFlow is used for the conversion only; models run on LiteRT
(`ai-edge-litert`), the maintained successor of `tf.lite.Interpreter`.
"""

import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from poets.core import quiet
from poets.core.contract import INPUT, OUTPUT

# The converter records the oldest runtime that can run the model under this name.
MIN_RUNTIME_VERSION = "min_runtime_version"


def converter_for(graph_path: Path, size: int):
    """A TFLite converter for a frozen graph, float32 [1, size, size, 3] input."""
    import tensorflow as tf

    return tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        str(graph_path), input_arrays=[INPUT], output_arrays=[OUTPUT],
        input_shapes={INPUT: [1, size, size, 3]},
    )


@contextmanager
def root_logging_kept():
    """The block without its side effect on logging: TensorFlow's conversions log through the root
    logger, which makes logging install a stderr handler there, and every luigi line prints twice
    from then on."""
    handlers = list(logging.root.handlers)
    try:
        yield
    finally:
        logging.root.handlers[:] = handlers


def convert(converter) -> bytes:
    """converter.convert(), without its side effect on logging (root_logging_kept) or its chatter."""
    with root_logging_kept(), quiet.chatter_filtered():
        return converter.convert()


def to_tflite(graph_path: Path, size: int) -> bytes:
    """TFLite flatbuffer bytes of a frozen graph, float32 in and out."""
    return convert(converter_for(graph_path, size))


def fresh_names():
    """Start Keras's automatic layer names afresh (`global_average_pooling2d`, not `..._1`): called
    before a base model is built, since the names reach the converted model's tensor names, and a
    model's bytes would otherwise depend on what the process built before it."""
    import keras

    keras.backend.clear_session(free_memory=False)


def keras_to_tflite(model, size: int) -> bytes:
    """TFLite flatbuffer bytes of a Keras model of [N, size, size, 3] float32 pixels, any batch size.

    Frozen to constants first: the same model as TFLiteConverter.from_keras_model gives, in a third
    of its time (0.9 s against 3.3 s on a small MobileNet: that exports a SavedModel, printing its
    signature on stdout, then converts it)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    run = tf.function(lambda pixels: model(pixels, training=False),
                      input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
    with root_logging_kept():
        frozen = convert_variables_to_constants_v2(run.get_concrete_function())
        return convert(tf.lite.TFLiteConverter.from_concrete_functions([frozen]))


def batch_runner(model_path: Path, threads: int | None = None):
    """A function from a batch [N, ...] of float32 inputs to the model's output [N, ...], run by
    LiteRT on `threads` threads: the tensors are resized to each batch. The output of a row is the
    same bytes whatever the batch and the threads (checked on MobileNet with XNNPACK)."""
    with quiet.chatter_filtered():
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
    source, target = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    shape = None

    def run(batch: np.ndarray) -> np.ndarray:
        nonlocal shape
        batch = np.ascontiguousarray(batch, np.float32)
        if batch.shape != shape:
            interpreter.resize_tensor_input(source, batch.shape)
            with quiet.chatter_filtered():
                interpreter.allocate_tensors()
            shape = batch.shape
        interpreter.set_tensor(source, batch)
        interpreter.invoke()
        return interpreter.get_tensor(target).copy()

    return run


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
