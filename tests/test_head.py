"""Training the head on bottleneck features (numpy only, no TensorFlow)."""

import numpy as np
import pytest

from poets.head import layers as head
from poets.head import training as head_training
from poets.head.settings import TrainingSettings as Settings

V2 = "mobilenet_v2_1.0_224"


def xor_features(count, seed):
    """Two classes by the sign of x * y: no single softmax layer separates them."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1, 1, (count, 2)).astype(np.float32)
    return points, (points[:, 0] * points[:, 1] > 0).astype(int)


def accuracy(layers, x, y):
    return (head.predict(layers, x).argmax(axis=1) == y).mean()


def test_hidden_layer_learns_what_a_single_softmax_layer_cannot():
    (x, y), (vx, vy) = xor_features(400, 0), xor_features(200, 1)
    single, _ = head.train_head((x, y), (vx, vy), 2, Settings(1500, 0.01, 50, hidden_units=0, dropout=0))
    hidden, _ = head.train_head((x, y), (vx, vy), 2, Settings(1500, 0.01, 50, hidden_units=32, dropout=0))
    assert len(single) == 1 and len(hidden) == 2 and hidden[0][0].shape == (2, 32)
    assert accuracy(single, vx, vy) < 0.75
    assert accuracy(hidden, vx, vy) > 0.9


def test_dropout_still_learns_and_changes_the_training():
    (x, y), (vx, vy) = xor_features(400, 0), xor_features(200, 1)
    plain, _ = head.train_head((x, y), (vx, vy), 2, Settings(1500, 0.01, 50, hidden_units=64, dropout=0))
    dropped, _ = head.train_head((x, y), (vx, vy), 2, Settings(1500, 0.01, 50, hidden_units=64, dropout=0.2))
    assert accuracy(dropped, vx, vy) > 0.9
    assert not np.array_equal(plain[0][0], dropped[0][0])


def test_training_is_seeded():
    (x, y), (vx, vy) = xor_features(200, 0), xor_features(100, 1)

    def train(seed):
        layers, step = head.train_head((x, y), (vx, vy), 2, Settings(200, 0.01, 20, seed=seed, hidden_units=8))
        return [array for layer in layers for array in layer], step

    first, again, other = train(0), train(0), train(1)
    assert all(np.array_equal(a, b) for a, b in zip(first[0], again[0])) and first[1] == again[1]
    assert not np.array_equal(first[0][0], other[0][0])


def test_kept_head_is_the_best_on_validation():
    (x, y), (vx, vy) = xor_features(300, 0), xor_features(150, 1)
    seen = []
    layers, step = head.train_head((x, y), (vx, vy), 2, Settings(1000, 0.01, 30, hidden_units=16, eval_interval=100),
                                   on_eval=lambda step, train, val: seen.append((val, step)))
    best = max(seen, key=lambda s: (s[0][0], -s[0][1]))
    assert step == best[1]
    assert accuracy(layers, vx, vy) == best[0][0]


def test_dropout_just_under_1_still_trains():
    (x, y), (vx, vy) = xor_features(100, 0), xor_features(50, 1)
    layers, _ = head.train_head((x, y), (vx, vy), 2, Settings(20, 0.01, 10, hidden_units=8, dropout=0.999))
    assert all(np.isfinite(array).all() for layer in layers for array in layer)


def clusters(per_class, seed, classes=4, dims=32):
    """Features as a base model's pooled ones might be (non-negative), of `classes`
    overlapping clusters: a few photos a class are learned by heart long before
    the head's default training ends."""
    centres = np.random.default_rng(100).normal(0, 1, (classes, dims))
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(classes), per_class)
    return np.maximum(centres[truth] + rng.normal(0, 1.8, (len(truth), dims)), 0).astype(np.float32), truth


TRAINING = Settings(learning_rate=0.001, batch_size=100, hidden_units=256, dropout=0.5)


def test_the_step_and_temperature_chosen_by_folds_beat_those_chosen_on_validation_on_held_out_photos():
    # Today's recipe before --choose-step-by: the head trained on the training photos, its step and
    # temperature chosen on two validation photos a class.
    from poets.core.contract import cross_entropy
    from poets.head.calibration import scaled

    held_x, held_y = clusters(300, seed=99)
    by_folds, by_validation = [], []
    for seed in range(3):
        (x, y), (vx, vy) = clusters(8, seed), clusters(2, seed + 50)
        layers, _ = head.train_head((x, y), (vx, vy), 4, TRAINING.trained_for(1000))
        by_validation.append(cross_entropy(head.predict(head_training.calibrate(layers, vx, vy)[0], held_x), held_y))
        pool_x, pool_y = np.concatenate([x, vx]), np.concatenate([y, vy])
        choice = head_training.choose_by_folds(pool_x, pool_y, 4, TRAINING.trained_for(1000))
        assert choice["step"] in [h["step"] for h in choice["history"]] and choice["temperature"] >= 1
        chosen, step = head.train_head((pool_x, pool_y), (pool_x[:0], pool_y[:0]), 4,
                                       TRAINING.trained_for(choice["step"]), keep_last=True)
        assert step == choice["step"]
        by_folds.append(cross_entropy(head.predict(scaled(chosen, choice["temperature"]), held_x), held_y))
    assert all(f < v for f, v in zip(by_folds, by_validation)), (by_folds, by_validation)
    assert np.mean(by_folds) < np.mean(by_validation) - 0.03


def test_choose_by_folds_keeps_the_step_whose_out_of_fold_error_after_its_temperature_is_lowest():
    from poets.core.contract import cross_entropy, softmax
    from poets.core.folds import stratified_folds
    from poets.head.calibration import fit_temperature

    x, y = clusters(10, 0)
    choice = head_training.choose_by_folds(x, y, 4, Settings(500, seed=3), folds=4)
    assert [h["step"] for h in choice["history"]] == [100, 200, 300, 400, 500]
    assert choice["folds"] == choice["estimate"]["folds"] == 4 and choice["photos"] == 40
    # Each step again, by hand: the fold models' logits on their own held-out fold.
    fold = stratified_folds(y, 4, 3)
    losses, before, temperatures = [], [], []
    for steps in (100, 200, 300, 400, 500):
        held_logits = np.zeros((40, 4), np.float32)
        for k in range(4):
            layers, _ = head.train_head((x[fold != k], y[fold != k]), (x[fold == k], y[fold == k]), 4,
                                        Settings(steps, seed=3), keep_last=True)
            held_logits[fold == k] = head.logits(layers, x[fold == k])
        temperatures.append(fit_temperature(held_logits, y))
        before.append(cross_entropy(softmax(held_logits), y))
        losses.append(cross_entropy(softmax(held_logits / temperatures[-1]), y))
    best = int(np.argmin(losses))
    assert len(set(np.round(losses, 4))) > 1  # the steps differ, so the choice is a choice
    assert choice["step"] == 100 * (best + 1)
    # Each figure against the one computed by hand, not against another figure of the same choice.
    assert choice["temperature"] == pytest.approx(temperatures[best], rel=1e-4)
    assert choice["estimate"]["cross_entropy"] == pytest.approx(losses[best], abs=1e-5)
    assert choice["calibration"]["cross_entropy_after"] == pytest.approx(losses[best], abs=1e-5)
    assert choice["calibration"]["cross_entropy_before"] == pytest.approx(before[best], abs=1e-5)
    assert losses[best] <= before[best] + 1e-6


def test_auto_chooses_by_folds_only_for_a_small_set_of_cached_features():
    from tasks.retrain import Retrain

    assert Retrain().settings.by_folds(999) and not Retrain().settings.by_folds(1000)
    assert not Retrain(architecture=V2, fine_tune_blocks=1).settings.by_folds(50)
    assert not Retrain(random_crop=10).settings.by_folds(50)
    assert not Retrain(choose_step_by="validation").settings.by_folds(50)
    assert Retrain(choose_step_by="folds").settings.by_folds(5000)


def test_more_blocks_than_the_architecture_has_fail_naming_the_flag():
    from tasks.retrain import Retrain

    with pytest.raises(ValueError, match="--fine-tune-blocks: 18 is more than the 17 blocks of mobilenet_v2_1.0_224"):
        Retrain(architecture=V2, fine_tune_blocks=18)


def test_bad_choose_step_by_fails_naming_the_flag():
    from tasks.retrain import Retrain
    from workflows import MobileModel

    with pytest.raises(ValueError, match="--choose-step-by: 'cv' is not valid; choose one of: auto, folds, validation"):
        MobileModel(choose_step_by="cv")
    with pytest.raises(ValueError, match="--choose-step-by folds: .* --fine-tune-blocks or a distortion"):
        Retrain(choose_step_by="folds", fine_tune_blocks=1, architecture=V2)
    with pytest.raises(ValueError, match="--choose-step-by folds"):
        Retrain(choose_step_by="folds", flip_left_right=True)


def test_label_smoothing_makes_the_head_less_sure_and_zero_changes_nothing():
    (x, y), (vx, vy) = xor_features(400, 0), xor_features(200, 1)
    plain, _ = head.train_head((x, y), (vx, vy), 2, Settings(800, 0.01, 50, hidden_units=32, dropout=0))
    zero, _ = head.train_head((x, y), (vx, vy), 2, Settings(800, 0.01, 50, hidden_units=32, dropout=0,
                                                                label_smoothing=0.0))
    smoothed, _ = head.train_head((x, y), (vx, vy), 2, Settings(800, 0.01, 50, hidden_units=32, dropout=0,
                                                                    label_smoothing=0.3))
    assert all(np.array_equal(a, b) for layer, other in zip(plain, zero) for a, b in zip(layer, other))
    sure = lambda layers: head.predict(layers, x).max(axis=1).mean()  # noqa: E731
    assert sure(smoothed) < sure(plain) - 0.05 and accuracy(smoothed, vx, vy) > 0.85
    # What it learns a photo of class 1 is: 0.15 and 0.85.
    np.testing.assert_allclose(Settings(label_smoothing=0.3).targets(2)[1], [0.15, 0.85], rtol=1e-6)
