"""Training the head on bottleneck features (numpy only, no TensorFlow)."""

import numpy as np

from poets import retrain


def xor_features(count, seed):
    """Two classes by the sign of x * y: no single softmax layer separates them."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1, 1, (count, 2)).astype(np.float32)
    return points, (points[:, 0] * points[:, 1] > 0).astype(int)


def accuracy(layers, x, y):
    return (retrain.predict(layers, x).argmax(axis=1) == y).mean()


def test_hidden_layer_learns_what_a_single_softmax_layer_cannot():
    (x, y), (vx, vy) = xor_features(400, 0), xor_features(200, 1)
    single, _ = retrain.train_head(x, y, vx, vy, 2, 1500, 0.01, 50, hidden_units=0, dropout=0)
    hidden, _ = retrain.train_head(x, y, vx, vy, 2, 1500, 0.01, 50, hidden_units=32, dropout=0)
    assert len(single) == 1 and len(hidden) == 2 and hidden[0][0].shape == (2, 32)
    assert accuracy(single, vx, vy) < 0.75
    assert accuracy(hidden, vx, vy) > 0.9


def test_dropout_still_learns_and_changes_the_training():
    (x, y), (vx, vy) = xor_features(400, 0), xor_features(200, 1)
    plain, _ = retrain.train_head(x, y, vx, vy, 2, 1500, 0.01, 50, hidden_units=64, dropout=0)
    dropped, _ = retrain.train_head(x, y, vx, vy, 2, 1500, 0.01, 50, hidden_units=64, dropout=0.2)
    assert accuracy(dropped, vx, vy) > 0.9
    assert not np.array_equal(plain[0][0], dropped[0][0])


def test_training_is_seeded():
    (x, y), (vx, vy) = xor_features(200, 0), xor_features(100, 1)

    def train(seed):
        layers, step = retrain.train_head(x, y, vx, vy, 2, 200, 0.01, 20, seed=seed, hidden_units=8)
        return [array for layer in layers for array in layer], step

    first, again, other = train(0), train(0), train(1)
    assert all(np.array_equal(a, b) for a, b in zip(first[0], again[0])) and first[1] == again[1]
    assert not np.array_equal(first[0][0], other[0][0])


def test_kept_head_is_the_best_on_validation():
    (x, y), (vx, vy) = xor_features(300, 0), xor_features(150, 1)
    seen = []
    layers, step = retrain.train_head(x, y, vx, vy, 2, 1000, 0.01, 30, hidden_units=16, eval_interval=100,
                                      on_eval=lambda step, train, val: seen.append((val, step)))
    best = max(seen, key=lambda s: (s[0][0], -s[0][1]))
    assert step == best[1]
    assert accuracy(layers, vx, vy) == best[0][0]


def test_dropout_just_under_1_still_trains():
    (x, y), (vx, vy) = xor_features(100, 0), xor_features(50, 1)
    layers, _ = retrain.train_head(x, y, vx, vy, 2, 20, 0.01, 10, hidden_units=8, dropout=0.999)
    assert all(np.isfinite(array).all() for layer in layers for array in layer)
