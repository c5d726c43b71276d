"""How long the head trains and its temperature: chosen on the validation photos, or by k-fold
cross-validation on the training and validation photos together; and the head's cross-validated
figures beside a small test split. Retrain calls train_by_validation or train_by_folds."""

import numpy as np

from poets import fine_tune
from poets.calibration import expected_calibration_error, fit_temperature, scaled, sure_above
from poets.contract import cross_entropy, softmax
from poets.head import logits, predict, train_head


def calibrate(layers: list, features: np.ndarray, truth: np.ndarray) -> tuple[list, dict]:
    """(the head with a temperature fitted on the held-out photos `features`,
    `truth` folded into its softmax layer, what was fitted and how those photos
    score before and after: {"temperature", "photos", "cross_entropy_before",
    "cross_entropy_after", "ece_before", "ece_after"}). With no held-out photo
    the head is unchanged (temperature 1)."""
    held_out_logits = logits(layers, features)
    temperature = fit_temperature(held_out_logits, truth)
    return scaled(layers, temperature), calibration_record(held_out_logits, truth, temperature)


def calibration_record(held_out_logits: np.ndarray, truth: np.ndarray, temperature: float) -> dict:
    """What training.json says of a temperature fitted on `held_out_logits`, the logits of held-out photos:
    {"temperature", "photos", "cross_entropy_before", "cross_entropy_after",
    "ece_before", "ece_after", "sure_above" (the camera app's default threshold,
    poets.calibration.sure_above)} (cross-entropies None without a photo)."""
    before, after = softmax(held_out_logits), softmax(held_out_logits / temperature)
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
    """How long to train the head on `features` (the training and validation photos together), and its
    temperature, chosen by k-fold cross-validation: at each evaluated step (fold_logits) a temperature is
    fitted to the out-of-fold logits, and the step whose out-of-fold cross-entropy after its temperature
    is lowest is chosen. A few tens of validation photos choose a step, and a temperature, by chance:
    here every photo counts, and the head then trains on all of them.

    Returns {"folds", "photos", "step", "temperature", "history" (per step: the folds' mean training
    metrics and the out-of-fold ones as validation metrics, as Retrain's history), "calibration" (as
    `calibrate`'s, on the out-of-fold logits), "estimate" (the out-of-fold figures at the chosen step and
    temperature, as `cross_validate`'s: slightly optimistic, as the step and temperature were chosen on
    them)}.
    """
    step_logits, train_metrics = fold_logits(features, truth, classes, steps, seed, folds, eval_interval, on_fold,
                                             **training)
    temperatures = [fit_temperature(logits_then, truth) for logits_then in step_logits]
    history, losses = [], []
    for index, (logits_then, temperature) in enumerate(zip(step_logits, temperatures)):
        probabilities = softmax(logits_then)
        history.append({"step": min((index + 1) * eval_interval, steps),
                        "train_accuracy": float(train_metrics[index, 0]),
                        "train_cross_entropy": float(train_metrics[index, 1]),
                        "validation_accuracy": float((probabilities.argmax(axis=1) == truth).mean()),
                        "validation_cross_entropy": cross_entropy(probabilities, truth)})
        losses.append(cross_entropy(softmax(logits_then / temperature), truth))
    # On a tie the earlier step: less training, the same fit.
    chosen = int(np.argmin(losses))
    temperature = temperatures[chosen]
    return {"folds": folds, "photos": int(len(truth)), "step": history[chosen]["step"], "temperature": temperature,
            "history": history, "calibration": calibration_record(step_logits[chosen], truth, temperature),
            "estimate": {**estimate(softmax(step_logits[chosen] / temperature), truth, folds), "chose_the_step": True}}


def fold_logits(features, truth, classes, steps, seed, folds, eval_interval, on_fold=None,
                **training) -> tuple[np.ndarray, np.ndarray]:
    """(the out-of-fold logits of every photo at every evaluated step [evaluations, photos, classes], the
    folds' mean training (accuracy, cross-entropy) then [evaluations, 2]): each fold's photos scored,
    every `eval_interval` steps, by a head trained as train_head trains (`training`: learning_rate,
    batch_size, hidden_units, dropout) on the other folds. `on_fold(done)` is called after each fold."""
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
    return held_logits, train_metrics


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
    fine_tuned, fine_tune_epoch, val_x = None, 0, features[validation]
    if fine_tuning and fine_tuning["epochs"]:
        def on_fine_tune_eval(epoch, done, train_metrics, val_metrics):
            if epoch:  # epoch 0 is the head as trained, already in the history
                on_eval(steps + done, train_metrics, val_metrics)
                report(steps + done, total)

        layers, fine_tuned, fine_tune_epoch, val_x = _fine_tuned(fine_tuning, layers, truth, train, validation, val_x,
                                                                 seed, on_fine_tune_eval, training)
        if fine_tune_epoch:
            best_step = steps + fine_tune_epoch * per_epoch
    layers, calibration = calibrate(layers, val_x, truth[validation])
    return layers, fine_tuned, {"best_step": best_step, "history": history, "fine_tune_epoch": fine_tune_epoch,
                                "calibration": calibration}


def _fine_tuned(fine_tuning, layers, truth, train, validation, val_x, seed, on_eval, training):
    """(the head and the blocks tuned together by fine_tune.fine_tune, the blocks' weights or None, the epoch
    kept, the validation photos' features: through the blocks as tuned, else `val_x` as they were)."""
    top, activations = fine_tuning["top"], fine_tuning["activations"]
    layers, fine_tuned, epoch = fine_tune.fine_tune(
        top, layers, activations[train], truth[train], activations[validation], truth[validation],
        fine_tuning["epochs"], fine_tuning["learning_rate"], training["batch_size"], seed, training["dropout"],
        on_eval=on_eval)
    return layers, fine_tuned, epoch, fine_tune.pooled(top, activations[validation]) if fine_tuned else val_x
