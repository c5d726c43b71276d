"""How long the head trains and its temperature: chosen on the validation photos, or by k-fold
cross-validation on the training and validation photos together; and the head's cross-validated
figures beside a small test split. Retrain calls train_by_validation or train_by_folds."""

import numpy as np

from poets.core.contract import cross_entropy, softmax
from poets.core.folds import stratified_folds
from poets.core.metrics import expected_calibration_error, wilson_interval
from poets.head import fine_tune
from poets.head.calibration import fit_temperature, scaled, sure_above
from poets.head.layers import Split, logits, predict, train_head
from poets.head.settings import TrainingSettings


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
    poets.head.calibration.sure_above)} (cross-entropies None without a photo)."""
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
    accuracy = float((probabilities.argmax(axis=1) == truth).mean())
    return {"folds": folds, "photos": int(len(truth)), "accuracy": accuracy,
            "accuracy_interval": list(wilson_interval(accuracy, len(truth))),
            "cross_entropy": cross_entropy(probabilities, truth)}


# Under this many test photos, the report adds the head's cross-validated figures.
CROSS_VALIDATE_BELOW = 100
FOLDS = 5


def cross_validate(features: np.ndarray, truth: np.ndarray, validation: np.ndarray, classes: int,
                   settings: TrainingSettings, folds: int = FOLDS, on_fold=None) -> dict:
    """The head's accuracy and cross-entropy estimated by k-fold cross-validation
    on `features` (the training and validation photos), beside a test split
    too small to tell much: each fold is scored by a head trained as Retrain
    trains (`settings`) on the other folds, its step kept and its temperature
    fitted on their validation photos (`validation`, a mask).

    `on_fold(done)` is called after each fold. Returns `estimate`'s figures.
    """
    fold = stratified_folds(truth, folds, settings.seed)
    probabilities = held_out_probabilities(Split(features, truth), validation, fold, folds, classes, settings, on_fold)
    return estimate(probabilities, truth, folds)


def held_out_probabilities(photos: Split, validation: np.ndarray, fold: np.ndarray, folds: int, classes: int,
                           settings: TrainingSettings, on_fold=None) -> np.ndarray:
    """cross_validate's probabilities [N, classes]: each photo's from the head of the folds it is not in
    (`fold`, a fold number below `folds` for each photo), trained on their training photos as `settings`
    say, its step kept and its temperature fitted on their validation photos (`validation`, a mask)."""
    probabilities = np.zeros((len(photos.y), classes), np.float32)
    for k in range(folds):
        held = fold == k
        fitted, checked = ~held & ~validation, ~held & validation
        layers, _ = train_head(photos.rows(fitted), photos.rows(checked), classes, settings)
        layers, _ = calibrate(layers, *photos.rows(checked))
        probabilities[held] = predict(layers, photos.x[held])
        if on_fold:
            on_fold(k + 1)
    return probabilities


def choose_by_folds(features: np.ndarray, truth: np.ndarray, classes: int, settings: TrainingSettings,
                    folds: int = FOLDS, on_fold=None) -> dict:
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
    step_logits, train_metrics = fold_logits(features, truth, classes, settings, folds, on_fold)
    temperatures = [fit_temperature(logits_then, truth) for logits_then in step_logits]
    history, losses = [], []
    for index, (logits_then, temperature) in enumerate(zip(step_logits, temperatures)):
        probabilities = softmax(logits_then)
        history.append({"step": min((index + 1) * settings.eval_interval, settings.steps),
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


def fold_logits(features, truth, classes, settings: TrainingSettings, folds, on_fold=None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(the out-of-fold logits of every photo at every evaluated step [evaluations, photos, classes], the
    folds' mean training (accuracy, cross-entropy) then [evaluations, 2]): each fold's photos scored,
    every `eval_interval` steps, by a head trained as `settings` say on the other folds. `on_fold(done)`
    is called after each fold."""
    fold = stratified_folds(truth, folds, settings.seed)
    interval = settings.eval_interval
    evaluations = settings.steps // interval + (settings.steps % interval > 0)
    held_logits = np.zeros((evaluations, len(truth), classes), np.float32)
    train_metrics = np.zeros((evaluations, 2))
    photos = Split(features, truth)
    for k in range(folds):
        held = fold == k

        def on_eval(step, train, _):
            train_metrics[-(-step // interval) - 1] += np.array(train) / folds

        def on_head(step, layers):
            held_logits[-(-step // interval) - 1, held] = logits(layers, features[held])

        train_head(photos.rows(~held), photos.rows(held), classes, settings, on_eval=on_eval, on_head=on_head)
        if on_fold:
            on_fold(k + 1)
    return held_logits, train_metrics


def cross_validating(sets: np.ndarray) -> bool:
    """Whether the test split (`sets == "testing"`) is small enough that the head's cross-validated
    figures go beside it."""
    return (sets == "testing").sum() < CROSS_VALIDATE_BELOW


def train_by_folds(features: np.ndarray, truth: np.ndarray, sets: np.ndarray, classes: int,
                   settings: TrainingSettings, progress=None) -> tuple[list, None, dict]:
    """(the head trained on the training and validation photos of `features` (`sets`: each photo's split)
    for the steps choose_by_folds chose, its temperature folded in; None, as no block is tuned;
    training.json's record). `progress(done, total, unit)` counts steps: the folds' heads, then the
    last head's."""
    report = progress or (lambda done, total, unit: None)
    pool = sets != "testing"
    features, truth = features[pool], truth[pool]
    folds_done = FOLDS * settings.steps
    choice = choose_by_folds(features, truth, classes, settings,
                             on_fold=lambda done: report(done * settings.steps, folds_done + settings.steps, "steps"))
    total = folds_done + choice["step"]
    photos = Split(features, truth)
    layers, _ = train_head(photos, photos.rows(slice(0)), classes, settings.trained_for(choice["step"]),
                           keep_last=True, on_eval=lambda step, *_: report(folds_done + step, total, "steps"))
    return scaled(layers, choice["temperature"]), None, {
        "chosen_by": "folds", "folds": FOLDS, "best_step": choice["step"], "history": choice["history"],
        "fine_tune_epoch": 0, "calibration": choice["calibration"],
        "cross_validated": choice["estimate"] if cross_validating(sets) else None}


def train_by_validation(features: np.ndarray, truth: np.ndarray, sets: np.ndarray, classes: int,
                        settings: TrainingSettings, progress=None, *, distorted=None,
                        fine_tuning: tuple | None = None) -> tuple[list, dict | None, dict]:
    """(the head trained on the training photos' `features` (`sets`: each photo's split), its step the best
    on the validation photos and its temperature fitted there; the fine-tuned blocks or None; training.json's
    record). With `fine_tuning` (the blocks `top`, their activations), the blocks and the head are then tuned
    together on the activations and the best epoch on validation kept. `progress(done, total, unit)` counts
    steps: the head's, then the fine-tuning's; then the folds of the cross-validation beside a small test
    split."""
    report = progress or (lambda done, total, unit: None)
    train, validation, pool = sets == "training", sets == "validation", sets != "testing"
    photos, tuning = Split(features, truth), None
    if fine_tuning:
        top, activations = fine_tuning
        blocks_input = Split(activations, truth)
        tuning = (top, blocks_input.rows(train), blocks_input.rows(validation))
    layers, fine_tuned, record = _by_validation(photos.rows(train), photos.rows(validation), classes, settings, report,
                                                distorted, tuning)
    cross_validated = None
    if cross_validating(sets):
        cross_validated = cross_validate(features[pool], truth[pool], validation[pool], classes, settings,
                                         on_fold=lambda done: report(done, FOLDS, "cross-validation folds"))
    return layers, fine_tuned, {"chosen_by": "validation", "folds": None, **record, "cross_validated": cross_validated}


def _by_validation(train: Split, validation: Split, classes, settings, report, distorted, tuning):
    """train_by_validation's training, without the cross-validation: (layers, fine-tuned blocks or None,
    {"best_step", "history", "fine_tune_epoch", "calibration"}); `tuning`: None, or the blocks `top` and
    the training and validation photos' activations as two Splits."""
    history = []

    def on_eval(step, train_metrics, val_metrics):
        history.append({"step": step, "train_accuracy": train_metrics[0], "train_cross_entropy": train_metrics[1],
                        "validation_accuracy": val_metrics[0], "validation_cross_entropy": val_metrics[1]})

    steps = settings.steps
    per_epoch = fine_tune.steps_per_epoch(len(train.y), settings.batch_size)
    total = steps + (settings.fine_tune_epochs * per_epoch if tuning else 0)

    def on_head_eval(step, train_metrics, val_metrics):
        on_eval(step, train_metrics, val_metrics)
        report(step, total, "steps")

    layers, best_step = train_head(train, validation, classes, settings, on_eval=on_head_eval, distorted=distorted)
    fine_tuned, fine_tune_epoch, val_x = None, 0, validation.x
    if tuning and settings.fine_tune_epochs:
        def on_fine_tune_eval(epoch, done, train_metrics, val_metrics):
            if epoch:  # epoch 0 is the head as trained, already in the history
                on_eval(steps + done, train_metrics, val_metrics)
                report(steps + done, total, "steps")

        top, tuning_train, tuning_validation = tuning
        layers, fine_tuned, fine_tune_epoch = fine_tune.fine_tune(top, layers, tuning_train, tuning_validation,
                                                                  settings, on_eval=on_fine_tune_eval)
        if fine_tuned:  # the validation photos' features through the blocks as tuned
            val_x = fine_tune.pooled(top, tuning_validation.x)
        if fine_tune_epoch:
            best_step = steps + fine_tune_epoch * per_epoch
    layers, calibration = calibrate(layers, val_x, validation.y)
    return layers, fine_tuned, {"best_step": best_step, "history": history, "fine_tune_epoch": fine_tune_epoch,
                                "calibration": calibration}


def write_summaries(folder, history):
    """TensorBoard's scalars of a training history, under `folder`/train and `folder`/validation."""
    import tensorflow as tf

    for name in ("train", "validation"):
        writer = tf.summary.create_file_writer(str(folder / name))
        with writer.as_default():
            for h in history:
                tf.summary.scalar("accuracy", h[f"{name}_accuracy"], step=h["step"])
                tf.summary.scalar("cross_entropy", h[f"{name}_cross_entropy"], step=h["step"])
        writer.close()
