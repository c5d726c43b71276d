"""Frozen graphs to TFLite, for the codelab's Android app (graph.lite)."""

import logging

from poets.retrain import INPUT, OUTPUT


def converter_for(graph_path, size):
    """A TFLite converter for a frozen graph, float32 [1, size, size, 3] input."""
    import tensorflow as tf

    return tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        str(graph_path), input_arrays=[INPUT], output_arrays=[OUTPUT],
        input_shapes={INPUT: [1, size, size, 3]},
    )


def convert(converter):
    """converter.convert(), without its side effect on logging.

    The converter logs through the root logger, which makes logging install
    a stderr handler there, and every luigi line prints twice from then on.
    """
    handlers = list(logging.root.handlers)
    try:
        return converter.convert()
    finally:
        logging.root.handlers[:] = handlers


def to_tflite(graph_path, size):
    """TFLite flatbuffer bytes of a frozen graph, float32 in and out."""
    return convert(converter_for(graph_path, size))
