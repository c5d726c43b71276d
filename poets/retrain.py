"""The classifier on top of the bottlenecks, trained, then frozen on top of
the base model into `retrained_graph.pb`.

retrain.py trained one softmax layer on the bottlenecks. By default this adds
one hidden layer of ReLU units with dropout before it, and keeps the moving
average of the weights, which scores better on validation and test than
retrain.py's single layer trained as retrain.py does (benchmarks/README.md has the
figures), for a fraction of a millisecond more per photo. `hidden_units=0`
gives the single layer.

The head is trained in numpy rather than Keras: it is two matrix products,
each step takes a millisecond instead of a framework call's several, and a
seeded numpy generator makes the trained bytes identical run after run.
"""

import math

import numpy as np

from poets import architectures
from poets.calibration import expected_calibration_error, fit_temperature, scaled, sure_above
from poets.contract import INPUT, OUTPUT, cross_entropy, softmax

AVERAGE_DECAY = 0.99
TRAIN_METRICS_PHOTOS = 1000


def dropout_levels(dropout: float) -> tuple[int, np.float32]:
    """(dropped, keep) for masks drawn as random bytes (a third of the time of
    random floats): a unit is dropped where its byte is below `dropped` (of
    256, to the nearest 1/256, at least one in 256 kept), and a kept one is
    scaled by `keep`."""
    dropped = min(round(dropout * 256), 255)
    return dropped, np.float32(256 / (256 - dropped))


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


def calibrate(layers: list, features: np.ndarray, truth: np.ndarray) -> tuple[list, dict]:
    """(the head with a temperature fitted on the held-out photos `features`,
    `truth` folded into its softmax layer, what was fitted and how those photos
    score before and after: {"temperature", "photos", "cross_entropy_before",
    "cross_entropy_after", "ece_before", "ece_after"}). With no held-out photo
    the head is unchanged (temperature 1)."""
    held = logits(layers, features)
    temperature = fit_temperature(held, truth)
    return scaled(layers, temperature), calibration_record(held, truth, temperature)


def calibration_record(held: np.ndarray, truth: np.ndarray, temperature: float) -> dict:
    """What training.json says of a temperature fitted on the held-out logits `held`:
    {"temperature", "photos", "cross_entropy_before", "cross_entropy_after",
    "ece_before", "ece_after", "sure_above" (the camera app's default threshold,
    poets.calibration.sure_above)} (cross-entropies None without a photo)."""
    before, after = softmax(held), softmax(held / temperature)
    return {"temperature": temperature, "photos": int(len(truth)),
            "cross_entropy_before": cross_entropy(before, truth) if len(truth) else None,
            "cross_entropy_after": cross_entropy(after, truth) if len(truth) else None,
            "ece_before": expected_calibration_error(before, truth),
            "ece_after": expected_calibration_error(after, truth),
            "sure_above": sure_above(after, truth)}


def estimate(probabilities: np.ndarray, truth: np.ndarray, folds: int) -> dict:
    """The head's cross-validated figures from its out-of-fold `probabilities`:
    {"folds", "photos", "accuracy", "accuracy_interval" (Wilson, 95%), "cross_entropy"}."""
    from poets.evaluate import wilson_interval

    accuracy = float((probabilities.argmax(axis=1) == truth).mean())
    return {"folds": folds, "photos": int(len(truth)), "accuracy": accuracy,
            "accuracy_interval": list(wilson_interval(accuracy, len(truth))),
            "cross_entropy": cross_entropy(probabilities, truth)}


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


def train_head(train_x, train_y, val_x, val_y, classes, steps, learning_rate, batch_size,
               seed=0, eval_interval=100, on_eval=None, distorted=None, hidden_units=256, dropout=0.5,
               on_head=None, keep_last=False):
    """Train the head: softmax(relu(x W1 + b1) W2 + b2), or with
    `hidden_units=0` retrain.py's softmax(x W + b).

    Adam on softmax cross-entropy, over batches drawn at random with
    replacement (retrain.py's sampling); during training each layer's input
    loses a `dropout` share of its units at random (to the nearest 1/256).
    The head that is scored and kept is the moving average of the weights
    (tf.train.ExponentialMovingAverage's, decay AVERAGE_DECAY): on the flower
    photos, five seeds' test accuracy 0.911-0.928 against 0.900-0.916 for
    the weights of the step itself.
    With `distorted(rows, rng)`, each batch's features come from it (photos
    distorted afresh at every step) instead of from the cached `train_x`,
    which then only serves for the training metrics.
    Every `eval_interval` steps the head is scored on validation and the best
    one so far is kept: the returned head is the best on validation, not the
    last (with `keep_last`, the last). `on_eval(step, train_metrics, val_metrics)` sees each evaluation
    (training metrics on at most TRAIN_METRICS_PHOTOS training photos), and
    `on_head(step, layers)` the head then (not a copy: use it before returning).
    Returns (layers [(weights, biases), ...], the step they are from).
    """
    rng = np.random.default_rng(seed)
    sizes = [train_x.shape[1]] + ([hidden_units] if hidden_units else []) + [classes]
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        # He initialisation before a ReLU, LeCun before the softmax.
        gain = 1.0 if index == len(sizes) - 2 else 2.0
        layers.append((rng.normal(0, np.sqrt(gain / fan_in), (fan_in, fan_out)).astype(np.float32),
                       np.zeros(fan_out, np.float32)))
    average = [(weights.copy(), biases.copy()) for weights, biases in layers]
    params = [p for layer in layers for p in layer]
    averages = [p for layer in average for p in layer]
    optimizer = Adam(params, learning_rate)
    onehot = np.eye(classes, dtype=np.float32)
    dropped, keep = dropout_levels(dropout)
    best = (-1.0, np.inf, None, 0)
    sample = training_sample(len(train_x))

    def metrics(x, y):
        probabilities = predict(average, x)
        return float((probabilities.argmax(axis=1) == y).mean()), cross_entropy(probabilities, y)

    for step in range(1, steps + 1):
        batch = rng.integers(0, len(train_x), batch_size)
        x, y = (distorted(batch, rng) if distorted else train_x[batch]), train_y[batch]
        inputs, masks = [], []
        for index, (weights, biases) in enumerate(layers):
            mask = (rng.integers(0, 256, x.shape, dtype=np.uint8) >= dropped) * keep if dropped else np.float32(1)
            x = x * mask
            inputs.append(x)
            masks.append(mask)
            x = x @ weights + biases
            if index < len(layers) - 1:
                x = np.maximum(x, 0)
        gradient = (softmax(x) - onehot[y]) / batch_size
        gradients = []
        for index in reversed(range(len(layers))):
            gradients[:0] = [inputs[index].T @ gradient, gradient.sum(axis=0)]
            if index:
                # back through the dropout and the ReLU of this layer's input
                gradient = (gradient @ layers[index][0].T) * masks[index] * (inputs[index] > 0)
        optimizer.step(gradients)
        decay = min(AVERAGE_DECAY, (1 + step) / (10 + step))  # as ExponentialMovingAverage's num_updates
        for mean, param in zip(averages, params):
            mean *= decay
            mean += (1 - decay) * param
        if step % eval_interval == 0 or step == steps:
            train_metrics = metrics(train_x[sample], train_y[sample])
            val_metrics = metrics(val_x, val_y) if len(val_x) else train_metrics
            if on_eval:
                on_eval(step, train_metrics, val_metrics)
            if on_head:
                on_head(step, average)
            # Higher accuracy wins; on a tie the lower cross-entropy does.
            if (val_metrics[0], -val_metrics[1]) > (best[0], -best[1]) or (keep_last and step == steps):
                best = (*val_metrics, [(w.copy(), b.copy()) for w, b in average], step)
    return best[2:]


# Under this many test photos, the report adds the head's cross-validated figures.
CROSS_VALIDATE_BELOW = 100
FOLDS = 5


def cross_validate(features: np.ndarray, truth: np.ndarray, validation: np.ndarray, classes: int,
                   seed: int = 0, folds: int = FOLDS, on_fold=None, **training) -> dict:
    """The head's accuracy and cross-entropy estimated by k-fold cross-validation
    on `features` (the training and validation photos), beside a test split
    too small to tell much: each fold is scored by a head trained as Retrain
    trains (`training`: train_head's steps, learning_rate, batch_size,
    hidden_units, dropout) on the other folds, its step kept and its
    temperature fitted on their validation photos (`validation`, a mask).

    `on_fold(done)` is called after each fold. Returns `estimate`'s figures.
    """
    from poets.out_of_fold import stratified_folds

    fold = stratified_folds(truth, folds, seed)
    probabilities = np.zeros((len(truth), classes), np.float32)
    for k in range(folds):
        held = fold == k
        fitted, checked = ~held & ~validation, ~held & validation
        layers, _ = train_head(features[fitted], truth[fitted], features[checked], truth[checked], classes,
                               seed=seed, **training)
        layers, _ = calibrate(layers, features[checked], truth[checked])
        probabilities[held] = predict(layers, features[held])
        if on_fold:
            on_fold(k + 1)
    return estimate(probabilities, truth, folds)


# Under this many training and validation photos, Retrain's `auto` chooses the
# head's length of training and its temperature by cross-validation instead of
# on the validation photos (benchmarks/README.md, "Small photo sets").
FOLDS_BELOW = 1000


def choose_by_folds(features: np.ndarray, truth: np.ndarray, classes: int, steps: int, seed: int = 0,
                    folds: int = FOLDS, eval_interval: int = 100, on_fold=None, **training) -> dict:
    """How long to train the head on `features` (the training and validation
    photos together), and its temperature, chosen by k-fold cross-validation.

    Each fold's photos are scored, every `eval_interval` steps, by a head
    trained as train_head trains (`training`: learning_rate, batch_size,
    hidden_units, dropout) on the other folds; at each step a temperature is
    fitted to those out-of-fold logits, and the step whose out-of-fold
    cross-entropy after its temperature is lowest is chosen. A few tens of
    validation photos choose a step, and a temperature, by chance: here every
    photo counts, and the head then trains on all of them.

    `on_fold(done)` is called after each fold. Returns {"folds", "photos",
    "step", "temperature", "history" (per step: the folds' mean training
    metrics and the out-of-fold ones as validation metrics, as Retrain's
    history), "calibration" (as `calibrate`'s, on the out-of-fold logits),
    "estimate" (the out-of-fold figures at the chosen step and temperature,
    as `cross_validate`'s: slightly optimistic, as the step and temperature
    were chosen on them)}.
    """
    from poets.out_of_fold import stratified_folds

    fold = stratified_folds(truth, folds, seed)
    evaluations = steps // eval_interval + (steps % eval_interval > 0)
    held_logits = np.zeros((evaluations, len(truth), classes), np.float32)
    train_metrics = np.zeros((evaluations, 2))
    for k in range(folds):
        held = fold == k

        def on_eval(step, train, _):
            train_metrics[-(-step // eval_interval) - 1] += np.array(train) / folds

        def on_head(step, layers):
            held_logits[-(-step // eval_interval) - 1, held] = logits(layers, features[held])

        train_head(features[~held], truth[~held], features[held], truth[held], classes, steps, seed=seed,
                   eval_interval=eval_interval, on_eval=on_eval, on_head=on_head, **training)
        if on_fold:
            on_fold(k + 1)
    temperatures = [fit_temperature(held, truth) for held in held_logits]
    history, losses = [], []
    for index, (held, temperature) in enumerate(zip(held_logits, temperatures)):
        probabilities = softmax(held)
        history.append({"step": min((index + 1) * eval_interval, steps),
                        "train_accuracy": float(train_metrics[index, 0]),
                        "train_cross_entropy": float(train_metrics[index, 1]),
                        "validation_accuracy": float((probabilities.argmax(axis=1) == truth).mean()),
                        "validation_cross_entropy": cross_entropy(probabilities, truth)})
        losses.append(cross_entropy(softmax(held / temperature), truth))
    # On a tie the earlier step: less training, the same fit.
    chosen = int(np.argmin(losses))
    temperature = temperatures[chosen]
    return {"folds": folds, "photos": int(len(truth)), "step": history[chosen]["step"], "temperature": temperature,
            "history": history, "calibration": calibration_record(held_logits[chosen], truth, temperature),
            "estimate": {**estimate(softmax(held_logits[chosen] / temperature), truth, folds), "chose_the_step": True}}


def train_by_folds(features: np.ndarray, truth: np.ndarray, classes: int, steps: int, seed: int = 0,
                   progress=None, **training) -> tuple[list, dict]:
    """(the head trained on all of `features` for the steps choose_by_folds chose, its temperature
    folded in; choose_by_folds's record). `progress(done, total)` counts steps: the folds' heads,
    then the last head's."""
    report = progress or (lambda done, total: None)
    folds_done = FOLDS * steps
    choice = choose_by_folds(features, truth, classes, steps, seed,
                             on_fold=lambda done: report(done * steps, folds_done + steps), **training)
    total = folds_done + choice["step"]
    layers, _ = train_head(features, truth, features[:0], truth[:0], classes, choice["step"], seed=seed,
                           keep_last=True, on_eval=lambda step, *_: report(folds_done + step, total), **training)
    return scaled(layers, choice["temperature"]), choice


def train_by_validation(features: np.ndarray, truth: np.ndarray, train: np.ndarray, validation: np.ndarray,
                        classes: int, steps: int, seed: int = 0, progress=None, *, distorted=None,
                        fine_tuning: dict | None = None, **training) -> tuple[list, dict | None, dict]:
    """(the head trained on the `train` photos' `features`, its step the best on `validation` and its
    temperature fitted there; the fine-tuned blocks or None; a record {"best_step", "history",
    "fine_tune_epoch", "calibration"}). With `fine_tuning` {"top", "activations", "epochs",
    "learning_rate"}, the blocks `top` and the head are then tuned together on the blocks' activations
    and the best epoch on validation kept. `progress(done, total)` counts steps: the head's, then the
    fine-tuning's."""
    from poets import fine_tune  # it builds on this module's helpers

    report = progress or (lambda done, total: None)
    history = []

    def on_eval(step, train_metrics, val_metrics):
        history.append({"step": step, "train_accuracy": train_metrics[0], "train_cross_entropy": train_metrics[1],
                        "validation_accuracy": val_metrics[0], "validation_cross_entropy": val_metrics[1]})

    per_epoch = fine_tune.steps_per_epoch(int(train.sum()), training["batch_size"])
    total = steps + (fine_tuning["epochs"] * per_epoch if fine_tuning else 0)

    def on_head_eval(step, train_metrics, val_metrics):
        on_eval(step, train_metrics, val_metrics)
        report(step, total)

    layers, best_step = train_head(features[train], truth[train], features[validation], truth[validation], classes,
                                   steps, seed=seed, on_eval=on_head_eval, distorted=distorted, **training)
    fine_tuned, fine_tune_epoch, held = None, 0, features[validation]
    if fine_tuning and fine_tuning["epochs"]:
        def on_fine_tune_eval(epoch, done, train_metrics, val_metrics):
            if epoch:  # epoch 0 is the head as trained, already in the history
                on_eval(steps + done, train_metrics, val_metrics)
                report(steps + done, total)

        top, activations = fine_tuning["top"], fine_tuning["activations"]
        layers, fine_tuned, fine_tune_epoch = fine_tune.fine_tune(
            top, layers, activations[train], truth[train], activations[validation], truth[validation],
            fine_tuning["epochs"], fine_tuning["learning_rate"], training["batch_size"], seed, training["dropout"],
            on_eval=on_fine_tune_eval)
        if fine_tune_epoch:
            best_step = steps + fine_tune_epoch * per_epoch
        if fine_tuned:  # the head's input, through the blocks as tuned
            held = fine_tune.pooled(top, activations[validation])
    layers, calibration = calibrate(layers, held, truth[validation])
    return layers, fine_tuned, {"best_step": best_step, "history": history, "fine_tune_epoch": fine_tune_epoch,
                                "calibration": calibration}


def retrained_graph(architecture, weights_path, layers, block_weights=None):
    """A frozen GraphDef: `input` [None, size, size, 3] float32 -> `final_result` softmax
    of the head `layers` [(weights, biases), ...] on the base model's features,
    its layers' weights replaced by `block_weights` ({layer name: weights},
    the fine-tuned blocks) where given."""
    import keras
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    # Keras numbers unnamed layers per process (global_average_pooling2d_3),
    # and those names end up in the graph: start from a clean count so the
    # same parameters always give the same bytes.
    keras.backend.clear_session()
    arch = architectures.get(architecture)
    model = arch.base_model(weights_path)
    for name, weights in (block_weights or {}).items():
        model.get_layer(name).set_weights(weights)
    spec = tf.TensorSpec([None, arch.size, arch.size, 3], tf.float32, name=INPUT)

    @tf.function(input_signature=[spec])
    def classify(pixels):
        features = model(pixels, training=False)
        for weights, biases in layers[:-1]:
            features = tf.nn.relu(tf.matmul(features, tf.constant(weights)) + tf.constant(biases))
        weights, biases = layers[-1]
        logits = tf.matmul(features, tf.constant(weights)) + tf.constant(biases)
        return tf.nn.softmax(logits, name=OUTPUT)

    frozen = convert_variables_to_constants_v2(classify.get_concrete_function())
    return frozen.graph.as_graph_def()
