"""retrain.py's final layer: a softmax trained on bottlenecks, then frozen
on top of the base model into `retrained_graph.pb`.

The head is trained in numpy rather than Keras: it is one matrix product,
each step takes microseconds instead of a framework call's milliseconds, and
a seeded numpy generator makes the trained bytes identical run after run.
"""

import numpy as np

from poets import architectures

INPUT = "input"
OUTPUT = "final_result"


def softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def cross_entropy(probabilities, truth):
    picked = probabilities[np.arange(len(truth)), truth]
    return float(-np.log(np.maximum(picked, 1e-12)).mean())


def train_head(train_x, train_y, val_x, val_y, classes, steps, learning_rate, batch_size,
               seed=0, eval_interval=100, on_eval=None, distorted=None):
    """Minibatch gradient descent on softmax cross-entropy, as retrain.py does.

    Batches are drawn at random with replacement (retrain.py's sampling).
    With `distorted(rows, rng)`, each batch's features come from it (photos
    distorted afresh at every step) instead of from the cached `train_x`,
    which then only serves for the training metrics.
    Every `eval_interval` steps the head is scored on validation and the best
    one so far is kept: the returned head is the best on validation, not the
    last. `on_eval(step, train_metrics, val_metrics)` sees each evaluation.
    Returns (weights [D, classes], biases [classes], the step they are from).
    """
    rng = np.random.default_rng(seed)
    dims = train_x.shape[1]
    # retrain.py's initialisation: truncated normal, stddev 0.001; zero biases.
    weights = np.clip(rng.normal(0, 0.001, (dims, classes)), -0.002, 0.002).astype(np.float32)
    biases = np.zeros(classes, np.float32)
    onehot = np.eye(classes, dtype=np.float32)
    best = (-1.0, np.inf, weights.copy(), biases.copy(), 0)

    def metrics(x, y):
        probabilities = softmax(x @ weights + biases)
        return float((probabilities.argmax(axis=1) == y).mean()), cross_entropy(probabilities, y)

    for step in range(1, steps + 1):
        batch = rng.integers(0, len(train_x), batch_size)
        x, y = (distorted(batch, rng) if distorted else train_x[batch]), train_y[batch]
        gradient = (softmax(x @ weights + biases) - onehot[y]) / batch_size
        weights -= learning_rate * (x.T @ gradient)
        biases -= learning_rate * gradient.sum(axis=0)
        if step % eval_interval == 0 or step == steps:
            train_metrics = metrics(train_x, train_y)
            val_metrics = metrics(val_x, val_y) if len(val_x) else train_metrics
            if on_eval:
                on_eval(step, train_metrics, val_metrics)
            # Higher accuracy wins; on a tie the lower cross-entropy does.
            if (val_metrics[0], -val_metrics[1]) > (best[0], -best[1]):
                best = (*val_metrics, weights.copy(), biases.copy(), step)
    return best[2:]


def retrained_graph(architecture, weights_path, head_weights, head_biases):
    """A frozen GraphDef: `input` [None, size, size, 3] float32 -> `final_result` softmax."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    import keras

    # Keras numbers unnamed layers per process (global_average_pooling2d_3),
    # and those names end up in the graph: start from a clean count so the
    # same parameters always give the same bytes.
    keras.backend.clear_session()
    arch = architectures.get(architecture)
    model = arch.base_model(weights_path)
    spec = tf.TensorSpec([None, arch.size, arch.size, 3], tf.float32, name=INPUT)

    @tf.function(input_signature=[spec])
    def classify(pixels):
        features = model(pixels, training=False)
        logits = tf.matmul(features, tf.constant(head_weights)) + tf.constant(head_biases)
        return tf.nn.softmax(logits, name=OUTPUT)

    frozen = convert_variables_to_constants_v2(classify.get_concrete_function())
    return frozen.graph.as_graph_def()
