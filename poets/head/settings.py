"""How the head, and the blocks fine-tuned with it, train: one frozen set of settings, made once
from Retrain's parameters and passed whole (as MediaPipe Model Maker's HParams), and the choices
that follow from them alone.

A new setting is a field here, the Retrain parameter that sets it, and the code that uses it.
"""

import dataclasses

import numpy as np

from poets.core.failures import BadInput

# Under this many training and validation photos, `choose_step_by="auto"` chooses the head's length
# of training and its temperature by cross-validation instead of on the validation photos
# (benchmarks/README.md, "Small photo sets").
FOLDS_BELOW = 1000


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """The head: softmax(relu(x W1 + b1) W2 + b2) (or, with hidden_units=0, retrain.py's softmax(x W + b))
    trained `steps` steps of `batch_size` photos by Adam at `learning_rate`, a `dropout` share of each
    layer's inputs dropped, each photo's target a `label_smoothing` share spread evenly over the classes
    (Model Maker's label smoothing), scored every `eval_interval` steps; `seed` seeds all of it. Then, with
    `fine_tune_blocks`, those last blocks of the base model and the head tuned together for
    `fine_tune_epochs` at `fine_tune_learning_rate`. The distortions (retrain.py's) make each step's
    photos afresh. `choose_step_by`: how the kept step and the temperature are chosen ('validation',
    'folds' or 'auto')."""

    steps: int = 3000
    learning_rate: float = 0.001
    batch_size: int = 100
    hidden_units: int = 256
    dropout: float = 0.5
    label_smoothing: float = 0.0
    seed: int = 0
    eval_interval: int = 100
    fine_tune_blocks: int = 0
    # Chosen by measurement on the flower photos (benchmarks/README.md, "Fine-tuning").
    fine_tune_epochs: int = 10
    fine_tune_learning_rate: float = 1e-5
    choose_step_by: str = "auto"
    flip_left_right: bool = False
    random_crop: float = 0
    random_scale: float = 0
    random_brightness: float = 0

    def __post_init__(self):
        if self.choose_step_by == "folds" and not self.on_cached_features:
            raise BadInput("--choose-step-by folds: the folds train on the cached features only; it cannot go with "
                           "--fine-tune-blocks or a distortion (use validation or auto)")

    @property
    def distortions(self) -> dict:
        """retrain.py's distortions, by their flags' names."""
        return {"flip_left_right": self.flip_left_right, "random_crop": self.random_crop,
                "random_scale": self.random_scale, "random_brightness": self.random_brightness}

    @property
    def on_cached_features(self) -> bool:
        """Whether training reads only the cached features: no blocks tuned, no photo distorted."""
        return not self.fine_tune_blocks and not any(self.distortions.values())

    def by_folds(self, pool: int) -> bool:
        """Whether the step and temperature are chosen by folds, for `pool` training and validation photos."""
        if self.choose_step_by == "auto":
            return pool < FOLDS_BELOW and self.on_cached_features
        return self.choose_step_by == "folds"

    def targets(self, classes: int):
        """[classes, classes]: row k, what the head learns for a photo of class k (one-hot, smoothed)."""
        onehot = np.eye(classes, dtype=np.float32)
        if not self.label_smoothing:
            return onehot
        return (onehot * (1 - self.label_smoothing) + self.label_smoothing / classes).astype(np.float32)

    def trained_for(self, steps: int) -> "TrainingSettings":
        """The same settings, training `steps` steps."""
        return dataclasses.replace(self, steps=steps)
