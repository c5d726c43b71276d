"""The model for the codelab's Android app: graph.lite and labels.txt."""

import logging

from poets.retrain import INPUT, OUTPUT


def to_tflite(graph_path, size):
    """TFLite flatbuffer bytes of a frozen graph, float32 [1, size, size, 3] input."""
    import tensorflow as tf

    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        str(graph_path), input_arrays=[INPUT], output_arrays=[OUTPUT],
        input_shapes={INPUT: [1, size, size, 3]},
    )
    # The converter logs through the root logger, which makes logging install
    # a stderr handler there and every luigi line print twice from then on.
    handlers = list(logging.root.handlers)
    try:
        return converter.convert()
    finally:
        logging.root.handlers[:] = handlers


def tflite_classify(model_bytes, pixels):
    """Run a TFLite model one photo at a time: the softmax for each of `pixels`."""
    import numpy as np
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=model_bytes)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    results = []
    for image in pixels:
        interpreter.set_tensor(inp, np.asarray(image, np.float32)[None])
        interpreter.invoke()
        results.append(interpreter.get_tensor(out)[0].copy())
    return np.stack(results)
