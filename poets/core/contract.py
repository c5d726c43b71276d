"""The graph contract: what every model the pipeline writes takes and gives.

The ground floor of `poets/`: it imports nothing of the project, and every
step that builds, runs, converts or describes a model learns the contract
here.

A model takes `INPUT`, float32 [batch, size, size, 3]: RGB photos resized to
size x size, each channel value v (0-255) as (v - INPUT_MEAN) / INPUT_STD,
the codelab's label_image and Android app normalisation. It gives `OUTPUT`,
float32 [batch, classes]: the softmax over the labels, in the order of the
labels file written beside it.
"""

import numpy as np

INPUT = "input"
OUTPUT = "final_result"
INPUT_MEAN = 128.0
INPUT_STD = 128.0


def is_tflite(path) -> bool:
    """Whether the model file `path` is a TFLite model (.tflite, or the apps' graph.lite), not a frozen graph."""
    return str(path).endswith((".tflite", ".lite"))


def normalized(pixels: np.ndarray) -> np.ndarray:
    """Channel values 0-255 as the model's input expects them."""
    return (pixels - INPUT_MEAN) / INPUT_STD


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def cross_entropy(probabilities: np.ndarray, truth: np.ndarray) -> float:
    """Mean -log p(true label) of `probabilities` [photos, classes], as retrain.py reports it."""
    picked = probabilities[np.arange(len(truth)), truth]
    return float(-np.log(np.maximum(picked, 1e-12)).mean())
