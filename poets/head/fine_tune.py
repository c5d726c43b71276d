"""Fine-tuning the last blocks of the base model, from cached activations.

The activations at the input of the last N blocks are computed once per
photo (poets.features.bottlenecks with `blocks`); training then runs only those
blocks and the head on them, so it never runs the rest of the base model,
and a change of training parameter never recomputes the activations.

The recipe: the head is first trained on the pooled features of the frozen
blocks (poets.head.layers.train_head, as with N = 0), then the blocks and the
head are trained together for a few epochs at a small learning rate, and the
epoch best on validation is kept (epoch 0: the head alone). Batch
normalisation stays in inference mode, with the base model's statistics, so
the fine-tuned blocks freeze into the retrained graph like the rest of the
base model and Optimize folds them the same way.

Training uses TensorFlow (the blocks' gradients), seeded from numpy only
(batches, dropout masks), so the same parameters give the same weights.
"""

from collections.abc import Callable

import numpy as np

from poets.core.contract import cross_entropy
from poets.head.layers import Split, better, dropout_levels, dropout_mask, training_sample
from poets.head.settings import TrainingSettings

BATCH = 256  # photos a forward pass takes when only predicting


def top_model(arch, weights_path, blocks: int):
    """The Keras model from the activations at the input of the last `blocks`
    blocks to the pooled features."""
    import keras

    # Keras numbers unnamed layers per process; start from a clean count, as retrained_graph does.
    keras.backend.clear_session()
    _, top = arch.split(weights_path, blocks)
    return top


def pooled(top, activations: np.ndarray) -> np.ndarray:
    """The pooled features [N, D] float32 of `activations` [N, H, W, C] through the blocks of `top`."""
    import tensorflow as tf

    # One trace for every batch size, the last batch's included.
    run = tf.function(lambda x: top(tf.cast(x, tf.float32), training=False), reduce_retracing=True)
    parts = [run(activations[start:start + BATCH]).numpy() for start in range(0, len(activations), BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0, top.output.shape[-1]), np.float32)


def steps_per_epoch(photos: int, batch_size: int) -> int:
    """Training steps in one epoch of fine_tune (the last partial batch is left out)."""
    return max(1, photos // batch_size)


def block_weights(top) -> dict[str, list[np.ndarray]]:
    """{layer name: its weights} of every layer of `top` that has any."""
    return {layer.name: [np.array(w) for w in layer.get_weights()] for layer in top.layers if layer.weights}


def fine_tune(top, layers, train: Split, validation: Split, settings: TrainingSettings,
              on_eval: Callable | None = None):
    """Train the blocks of `top` and the head `layers` [(weights, biases), ...] together on the `train`
    photos' activations [N, H, W, C] (float16), as `settings` say: Adam at `fine_tune_learning_rate` on
    softmax cross-entropy, `fine_tune_epochs` passes over the training photos (epoch_batches), dropout on
    the head's inputs as train_head's. After each epoch the model is scored on `validation`; the best
    (epoch 0: as given) is kept, and top's weights end as those. `on_eval(epoch, steps, train_metrics,
    val_metrics)` sees each score. Returns (layers, {layer name: weights} of the blocks, the epoch kept).
    """
    import tensorflow as tf

    train, validation = Split(*train), Split(*validation)
    rng = np.random.default_rng(settings.seed)
    head, step, metrics = _training(top, layers, settings)
    sample = train.rows(training_sample(len(train.y)))
    # The width of each layer's input: the dropout masks' shapes.
    widths = [weights.shape[0] for weights, _ in layers]

    def score(epoch, steps):
        train_metrics = metrics(*sample)
        val_metrics = metrics(*validation) or train_metrics
        if on_eval:
            on_eval(epoch, steps, train_metrics, val_metrics)
        return val_metrics

    best = (*score(0, 0), [(w.copy(), b.copy()) for w, b in layers], block_weights(top), 0)
    per_epoch = steps_per_epoch(len(train.y), settings.batch_size)
    for epoch in range(1, settings.fine_tune_epochs + 1):
        for x, y, masks in epoch_batches(train, rng, settings.batch_size, widths, settings.dropout):
            step(tf.constant(x), tf.constant(y), [tf.constant(m, tf.float32) for m in masks])
        accuracy, loss = score(epoch, epoch * per_epoch)
        if better((accuracy, loss), best):
            trained = [p.numpy() for p in head]
            best = (accuracy, loss, list(zip(trained[::2], trained[1::2])), block_weights(top), epoch)
    set_block_weights(top, best[3])
    return best[2:]


def epoch_batches(train: Split, rng, batch_size: int, widths: list[int], dropout: float):
    """One epoch of fine_tune's batches from `rng`: the `train` photos in a random order, `batch_size` at a
    time (the last partial batch left out), each as (activations float32, labels, a dropout mask for the
    input of each head layer, of `widths`)."""
    dropped, keep = dropout_levels(dropout)
    order = rng.permutation(len(train.y))
    for start in range(0, steps_per_epoch(len(train.y), batch_size) * batch_size, batch_size):
        # Rows in ascending order: a forward gather from the array (and the bytes the seed has always given).
        rows = np.sort(order[start:start + batch_size])
        masks = [dropout_mask(rng, (len(rows), width), dropped, keep) for width in widths]
        yield train.x[rows].astype(np.float32), train.y[rows], masks


def set_block_weights(top, weights: dict[str, list[np.ndarray]]) -> None:
    """Give the layers of `top` the weights `weights` (block_weights')."""
    for layer in top.layers:
        if layer.name in weights:
            layer.set_weights(weights[layer.name])


def _training(top, layers, settings: TrainingSettings):
    """(the head's variables, step(x, y, masks): one Adam step of the blocks and the head together,
    metrics(x, y): (accuracy, cross-entropy) or None for no photos), for fine_tune."""
    import keras
    import tensorflow as tf

    head = [tf.Variable(p) for layer in layers for p in layer]
    blocks = top.trainable_weights
    optimizer = keras.optimizers.Adam(settings.fine_tune_learning_rate)
    loss_of = _loss(settings, classes=layers[-1][1].shape[0])

    def logits(x, masks=None):
        features = top(x, training=False)
        for index in range(0, len(head), 2):
            if masks is not None:
                features = features * masks[index // 2]
            features = features @ head[index] + head[index + 1]
            if index < len(head) - 2:
                features = tf.nn.relu(features)
        return features

    @tf.function
    def step(x, y, masks):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(loss_of(y, logits(tf.cast(x, tf.float32), masks)))
        gradients = tape.gradient(loss, blocks + head)
        optimizer.apply_gradients(zip(gradients, blocks + head))

    @tf.function(reduce_retracing=True)
    def probabilities(x):
        return tf.nn.softmax(logits(tf.cast(x, tf.float32)))

    def metrics(x, y):
        if not len(x):
            return None
        p = np.concatenate([probabilities(x[start:start + BATCH]).numpy() for start in range(0, len(x), BATCH)])
        return float((p.argmax(axis=1) == y).mean()), cross_entropy(p, y)

    return head, step, metrics


def _loss(settings: TrainingSettings, classes: int):
    """loss(y, logits): each photo's cross-entropy against its target (settings.targets)."""
    import tensorflow as tf

    if not settings.label_smoothing:  # one-hot: the sparse form, as before the setting (the same bytes)
        return tf.nn.sparse_softmax_cross_entropy_with_logits
    targets = tf.constant(settings.targets(classes))
    return lambda y, logits: tf.nn.softmax_cross_entropy_with_logits(tf.gather(targets, y), logits)
