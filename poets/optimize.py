"""The codelab's optimize_for_inference step, checked against the original."""

import numpy as np

from poets.retrain import INPUT, OUTPUT

TOLERANCE = 1e-5


class OptimizationChangedOutputs(AssertionError):
    pass


def optimize(graph_def):
    """Strip training-only and unreachable nodes, remove Identity, fold batch norms."""
    import tensorflow as tf
    from tensorflow.python.tools import optimize_for_inference_lib

    return optimize_for_inference_lib.optimize_for_inference(
        graph_def, [INPUT], [OUTPUT], tf.float32.as_datatype_enum
    )


def max_difference(graph_a, graph_b, pixels):
    """The largest |difference| of the two graphs' softmax on the same batch."""
    from poets.graphs import Classifier

    with Classifier(graph_a) as a, Classifier(graph_b) as b:
        return float(np.abs(a(pixels) - b(pixels)).max())


def check_same_outputs(original, optimized, pixels, tolerance=TOLERANCE):
    difference = max_difference(original, optimized, pixels)
    if not difference <= tolerance:
        raise OptimizationChangedOutputs(
            f"optimized graph differs from the retrained graph by {difference:.3g} "
            f"(tolerance {tolerance:g}) on {len(pixels)} photos"
        )
    return difference
