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
