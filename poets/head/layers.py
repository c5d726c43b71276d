"""The head: the classifier on top of the bottlenecks, trained in numpy.

retrain.py trained one softmax layer on the bottlenecks. By default this adds
one hidden layer of ReLU units with dropout before it, and keeps the moving
average of the weights, which scores better on validation and test than
retrain.py's single layer trained as retrain.py does (benchmarks/README.md has the
figures), for a fraction of a millisecond more per photo. `hidden_units=0`
gives the single layer.

The head is trained in numpy rather than Keras: it is two matrix products,
each step takes a millisecond instead of a framework call's several, and a
seeded numpy generator makes the trained bytes identical run after run.
Fine-tuning (poets/head/fine_tune.py) and how long the head trains
(poets/head/training.py) both build on this module.
"""

import math
from typing import NamedTuple

import numpy as np

from poets.core.contract import cross_entropy, softmax
from poets.head.settings import TrainingSettings

AVERAGE_DECAY = 0.99
TRAIN_METRICS_PHOTOS = 1000


def dropout_levels(dropout: float) -> tuple[int, np.float32]:
    """(dropped, keep) for masks drawn as random bytes (a third of the time of
    random floats): a unit is dropped where its byte is below `dropped` (of
    256, to the nearest 1/256, at least one in 256 kept), and a kept one is
    scaled by `keep`."""
    dropped = min(round(dropout * 256), 255)
    return dropped, np.float32(256 / (256 - dropped))


def dropout_mask(rng, shape, dropped: int, keep: np.float32) -> np.ndarray:
    """A dropout mask of `shape` from `rng` (dropout_levels' `dropped` and `keep`): 0 where a random
    byte is below `dropped`, `keep` elsewhere."""
    return (rng.integers(0, 256, shape, dtype=np.uint8) >= dropped) * keep


def better(scores: tuple, best: tuple) -> bool:
    """Whether validation (accuracy, cross-entropy) `scores` beat `best`'s: higher accuracy wins; on a
    tie the lower cross-entropy does."""
    return (scores[0], -scores[1]) > (best[0], -best[1])


def training_sample(photos: int) -> slice:
    """The training photos the training metrics are measured on: at most
    TRAIN_METRICS_PHOTOS, spread over the set (each evaluation on all 2955
    flower photos took a tenth of the training)."""
    return slice(None, None, -(-photos // TRAIN_METRICS_PHOTOS))


def logits(layers: list[tuple[np.ndarray, np.ndarray]], features: np.ndarray) -> np.ndarray:
    """The inputs to the softmax of the head `layers`, [(weights, biases), ...]."""
    for weights, biases in layers[:-1]:
        features = np.maximum(features @ weights + biases, 0)
    weights, biases = layers[-1]
    return features @ weights + biases


def predict(layers: list[tuple[np.ndarray, np.ndarray]], features: np.ndarray) -> np.ndarray:
    """Probabilities of the head `layers`, [(weights, biases), ...], the last the softmax layer."""
    return softmax(logits(layers, features))


class Adam:
    """Adam (Kingma & Ba), updating numpy arrays in place."""

    def __init__(self, params, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.params, self.learning_rate = params, learning_rate
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.moments = [np.zeros_like(p) for p in params]
        self.squares = [np.zeros_like(p) for p in params]
        self.steps = 0

    def step(self, gradients):
        """One update; the gradients are overwritten."""
        self.steps += 1
        # Python floats: a numpy float64 here would make every update float64.
        rate = float(self.learning_rate * math.sqrt(1 - self.beta2**self.steps) / (1 - self.beta1**self.steps))
        for param, gradient, moment, square in zip(self.params, gradients, self.moments, self.squares):
            moment *= self.beta1
            moment += (1 - self.beta1) * gradient
            np.square(gradient, out=gradient)
            gradient *= 1 - self.beta2
            square *= self.beta2
            square += gradient
            update = np.sqrt(square, out=gradient)
            update += self.epsilon
            np.divide(moment, update, out=update)
            update *= rate
            param -= update


class Split(NamedTuple):
    """The photos of one split as training sees them: their features (or a fine-tuned block's input
    activations) `x`, and their labels `y`. Any (x, y) pair will do where a Split is asked for."""

    x: np.ndarray
    y: np.ndarray

    def rows(self, which) -> "Split":
        """The photos `which` (a mask or indices) selects."""
        return Split(self.x[which], self.y[which])


def train_head(train: Split, validation: Split, classes: int, settings: TrainingSettings, *, distorted=None,
               on_eval=None, on_head=None, keep_last: bool = False):
    """Train the head on the `train` photos as `settings` say: softmax(relu(x W1 + b1) W2 + b2), or with
    `hidden_units=0` retrain.py's softmax(x W + b), by Adam on softmax cross-entropy over batches drawn at
    random with replacement (retrain.py's sampling), each layer's input losing a `dropout` share of its units.

    The head scored and kept is the moving average of the weights (average_into). With `distorted(rows,
    rng)`, each batch's features come from it (photos distorted afresh at every step) instead of from
    `train.x`, which then only serves for the training metrics. Every `eval_interval` steps the head is
    scored on `validation` and the best so far kept (with `keep_last`, the last); `on_eval(step,
    train_metrics, val_metrics)` sees each evaluation (training metrics on at most TRAIN_METRICS_PHOTOS
    photos), `on_head(step, layers)` the head then (not a copy: use it at once). Returns (layers
    [(weights, biases), ...], the step they are from)."""
    (train_x, train_y), (val_x, val_y) = train, validation
    rng = np.random.default_rng(settings.seed)
    hidden = [settings.hidden_units] if settings.hidden_units else []
    layers = initial_layers(rng, [train_x.shape[1]] + hidden + [classes])
    average = [(weights.copy(), biases.copy()) for weights, biases in layers]
    params = [p for layer in layers for p in layer]
    optimizer = Adam(params, settings.learning_rate)
    targets = settings.targets(classes)
    dropped, keep = dropout_levels(settings.dropout)
    best = (-1.0, np.inf, None, 0)
    sample = training_sample(len(train_x))
    for step in range(1, settings.steps + 1):
        batch = rng.integers(0, len(train_x), settings.batch_size)
        x = distorted(batch, rng) if distorted else train_x[batch]
        optimizer.step(batch_gradients(layers, x, targets[train_y[batch]], rng, dropped, keep))
        average_into([p for layer in average for p in layer], params, step)
        last = step == settings.steps
        if step % settings.eval_interval == 0 or last:
            train_metrics = scores(average, train_x[sample], train_y[sample])
            val_metrics = scores(average, val_x, val_y) if len(val_x) else train_metrics
            if on_eval:
                on_eval(step, train_metrics, val_metrics)
            if on_head:
                on_head(step, average)
            if better(val_metrics, best) or (keep_last and last):
                best = (*val_metrics, [(w.copy(), b.copy()) for w, b in average], step)
    return best[2:]


def initial_layers(rng, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(weights, biases), ...] from one layer's width to the next: He initialisation before a ReLU,
    LeCun before the softmax, biases zero."""
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        gain = 1.0 if index == len(sizes) - 2 else 2.0
        layers.append((rng.normal(0, np.sqrt(gain / fan_in), (fan_in, fan_out)).astype(np.float32),
                       np.zeros(fan_out, np.float32)))
    return layers


def batch_gradients(layers, x, targets, rng, dropped, keep) -> list[np.ndarray]:
    """[dW1, db1, dW2, ...]: the gradients of the batch's mean cross-entropy against `targets` (one-hot or smoothed),
    each layer's input losing units to dropout (dropout_levels' `dropped` and `keep`, masks from `rng`)."""
    inputs, masks = [], []
    for index, (weights, biases) in enumerate(layers):
        mask = dropout_mask(rng, x.shape, dropped, keep) if dropped else np.float32(1)
        x = x * mask
        inputs.append(x)
        masks.append(mask)
        x = x @ weights + biases
        if index < len(layers) - 1:
            x = np.maximum(x, 0)
    gradient = (softmax(x) - targets) / len(targets)
    gradients = []
    for index in reversed(range(len(layers))):
        gradients[:0] = [inputs[index].T @ gradient, gradient.sum(axis=0)]
        if index:
            # back through the dropout and the ReLU of this layer's input
            gradient = (gradient @ layers[index][0].T) * masks[index] * (inputs[index] > 0)
    return gradients


def average_into(averages, params, step):
    """Move the moving averages `averages` of `params` after `step` (tf.train.ExponentialMovingAverage's,
    decay AVERAGE_DECAY, its num_updates warm-up). On the flower photos the average scored five seeds'
    test accuracy 0.911-0.928, against 0.900-0.916 for the weights of the step itself."""
    decay = min(AVERAGE_DECAY, (1 + step) / (10 + step))
    for mean, param in zip(averages, params):
        mean *= decay
        mean += (1 - decay) * param


def scores(layers, x, y) -> tuple[float, float]:
    """(accuracy, cross-entropy) of the head `layers` on the features `x` labelled `y`."""
    probabilities = predict(layers, x)
    return float((probabilities.argmax(axis=1) == y).mean()), cross_entropy(probabilities, y)
