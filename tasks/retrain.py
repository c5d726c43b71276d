"""Retrain: the classifier head on the bottlenecks (and, with --fine-tune-blocks,
the base model's last blocks on their cached activations), frozen with the base model."""

import functools
import logging

import luigi
import numpy as np
from luigi.util import inherits

from poets.core.images import check_split, split_of
from poets.core.label_fixes import test_label_edits
from poets.features import bottlenecks
from poets.head import fine_tune
from poets.head.freeze import retrained_graph
from poets.head.settings import FOLDS_BELOW, TrainingSettings
from poets.head.training import FOLDS, train_by_folds, train_by_validation, write_summaries
from poets.models import graphs
from tasks.artifact import ArtifactTask, check_intact, read_json, write_json
from tasks.bottlenecks import Activations, check_fine_tune_blocks, features_of
from tasks.check_photos import CheckPhotos, check_percentages, labelled_photos
from tasks.download import DownloadBaseModel, DownloadDataset
from tasks.label_fixes import fixes_of, snapshot_of
from tasks.parameters import Choice, Number, percentage, positive

log = logging.getLogger("luigi-interface")

SPLIT = "split.json"
# Each training parameter's default is TrainingSettings' (poets/head/settings.py).
DEFAULT = TrainingSettings()


@inherits(Activations, CheckPhotos)
class Retrain(ArtifactTask):
    """`retrained_graph.pb` (input -> final_result) and `retrained_labels.txt`."""

    stage = "retrain"
    uses_tensorflow = True
    version = 7  # 2: a hidden layer with dropout, trained with Adam; 3: split.json, the split the later stages read;
    # 4: the last blocks fine-tuned (--fine-tune-blocks); 5: a temperature fitted on validation in the softmax layer,
    # the head cross-validated beside a small test split; 6: --choose-step-by, folds under FOLDS_BELOW photos;
    # 7: the calibration's sure_above, the camera app's "not sure" threshold
    # It reads photos only to distort them: from a bucket, only then are (the training ones) downloaded.
    reads_in_part = ("dataset",)
    training_steps = positive(DEFAULT.steps, "training steps of the head")
    learning_rate = positive(DEFAULT.learning_rate, "Adam's step size")
    train_batch_size = positive(DEFAULT.batch_size, "photos per training step")
    hidden_units = Number(DEFAULT.hidden_units, kind=int, low=0, high=2**20, high_open=False,
                          description="ReLU units of the hidden layer; 0 for retrain.py's single softmax layer")
    dropout = Number(DEFAULT.dropout, kind=float, low=0, high=1, description="share of each layer's inputs "
                     "dropped at random during training")
    label_smoothing = Number(DEFAULT.label_smoothing, kind=float, low=0, high=1, description=(
        "share of each training photo's target spread evenly over the classes (label smoothing)"))
    random_seed = Number(DEFAULT.seed, kind=int, low=0, high=2**32, description="seed of the head's training")
    # retrain.py's input distortions. Any of them makes every training step
    # run the base model on freshly distorted photos: much slower than
    # training on the cached bottlenecks.
    flip_left_right = luigi.BoolParameter(description="mirror half of the training photos at random")
    random_crop = percentage(0, "margin, in percent, cropped off the training photos at random")
    random_scale = percentage(0, "how much, in percent, to enlarge the training photos at random")
    random_brightness = percentage(0, "how much, in percent, to brighten or darken the training photos at random")
    fine_tune_epochs = Number(DEFAULT.fine_tune_epochs, kind=int, low=0, high=10**4, description=(
        "passes over the training photos fine-tuning the last --fine-tune-blocks blocks with the head"))
    fine_tune_learning_rate = positive(DEFAULT.fine_tune_learning_rate, "Adam's step size while fine-tuning")
    choose_step_by = Choice(DEFAULT.choose_step_by, choices=("auto", "validation", "folds"), description=(
        "how the head's length of training and its temperature are chosen: 'validation', the step best on "
        f"the validation photos; 'folds', by {FOLDS}-fold cross-validation on the training and validation photos, "
        f"the head then trained on all of them; 'auto', folds under {FOLDS_BELOW} such photos without "
        "distortions or fine-tuning, else validation"))
    exclude_flagged = luigi.BoolParameter(description=(
        "train without the training and validation photos CheckPhotos flags for their label or as "
        "off-topic, and all but one of each group of duplicates; test photos are always kept"))
    # --label-fixes enters the id by its content (its snapshot's id); --exclude-flagged through CheckPhotos's id.
    unhashed = ArtifactTask.unhashed + ("label_fixes", "exclude_flagged")
    added_since = {"label_smoothing": 0.0}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check_fine_tune_blocks(self)
        check_percentages(self)
        self.settings  # a contradiction among the settings is refused when the DAG is built

    @functools.cached_property
    def settings(self) -> TrainingSettings:
        """How the head trains, from this task's parameters: made once, passed whole."""
        return TrainingSettings(
            steps=self.training_steps, learning_rate=self.learning_rate, batch_size=self.train_batch_size,
            hidden_units=self.hidden_units, dropout=self.dropout, label_smoothing=self.label_smoothing,
            seed=self.random_seed,
            fine_tune_blocks=self.fine_tune_blocks, fine_tune_epochs=self.fine_tune_epochs,
            fine_tune_learning_rate=self.fine_tune_learning_rate, choose_step_by=self.choose_step_by,
            flip_left_right=self.flip_left_right, random_crop=self.random_crop, random_scale=self.random_scale,
            random_brightness=self.random_brightness)

    def requires(self):
        needs = {"bottlenecks": features_of(self), "base_model": self.clone(DownloadBaseModel),
                 "dataset": self.clone(DownloadDataset)}
        if self.exclude_flagged:
            needs["check"] = self.clone(CheckPhotos)
        if self.label_fixes:
            needs["label_fixes"] = snapshot_of(self)
        return needs

    graph_file = "retrained_graph.pb"

    @property
    def graph(self):
        return self.path(self.graph_file)

    @property
    def labels(self):
        return self.path("retrained_labels.txt")

    def training(self):
        """training.json: the photos of each split, the kept step, the history of the metrics."""
        return read_json(self.path("training.json"))

    def read_labels(self):
        return self.labels.read_text(encoding="utf-8").splitlines()

    def test_label_edits(self) -> dict:
        """How many test photos --label-fixes relabels and excludes (poets.core.label_fixes.test_label_edits)."""
        return test_label_edits(fixes_of(self), self.validation_percentage, self.testing_percentage)

    def split_photos(self, name):
        """[(path under the dataset's photos, label)] of the split `name` ('training',
        'validation' or 'testing'), as this stage decided it: the one place it is decided."""
        return [tuple(item) for item in read_json(self.path(SPLIT))[name]]

    def training_photos(self, training):
        """The folder of the dataset's photos, with the training ones there when a distortion
        needs them (from a bucket, nothing is downloaded otherwise)."""
        dataset = self.requires()["dataset"]
        names = [f"photos/{path}" for path in training] if any(self.settings.distortions.values()) else []
        return check_intact(dataset, names) / dataset.photos.name

    def run(self):
        # CheckPhotos never excludes a test photo.
        excluded = self.requires()["check"].excluded() if self.exclude_flagged else frozenset()
        features, paths, labels, classes = labelled_photos(self, self.requires()["bottlenecks"].features, excluded)
        sets = np.array([split_of(p, self.validation_percentage, self.testing_percentage) for p in paths])
        check_split(labels, sets, classes)
        truth = np.array([classes.index(label) for label in labels])
        if self.settings.by_folds(int((sets != "testing").sum())):
            layers, fine_tuned, record = train_by_folds(features, truth, sets, len(classes), self.settings,
                                                        self.progress)
        else:
            layers, fine_tuned, record = self.train_on_validation(features, paths, truth, sets, len(classes))
        counts = {name: int((sets == name).sum()) for name in ("training", "validation", "testing")}
        with self.artifact_folder() as folder:
            write_summaries(folder / "summaries", record["history"])
            graph_def = retrained_graph(self.architecture, self.requires()["base_model"].weights, layers, fine_tuned)
            graphs.save(graph_def, folder / self.graph_file)
            (folder / self.labels.name).write_text("".join(label + "\n" for label in classes), encoding="utf-8")
            write_json(folder / "training.json", {"photos": counts, **record})
            write_json(folder / SPLIT, {name: [[p, label] for p, label, s in zip(paths, labels, sets) if s == name]
                                        for name in ("training", "validation", "testing")})
        log.info("Retrain: %s photos; kept step %d, chosen by %s; temperature %.3f", counts, record["best_step"],
                 record["chosen_by"], record["calibration"]["temperature"])

    def train_on_validation(self, features, paths, truth, sets, classes):
        """poets.head.training.train_by_validation, given what it reads: the last blocks
        (--fine-tune-blocks) and their activations, and the training photos to distort."""
        base_model = self.requires()["base_model"]
        fine_tuning = None
        if self.fine_tune_blocks:
            # The head first learns on the pooled features of the blocks as they are.
            top = fine_tune.top_model(self.architecture, base_model.weights, self.fine_tune_blocks)
            fine_tuning, features = (top, features), fine_tune.pooled(top, features)
        training = [p for p, s in zip(paths, sets) if s == "training"]
        distorted = bottlenecks.distorted_features(self.training_photos(training), training, self.architecture,
                                                   base_model.weights, **self.settings.distortions)
        return train_by_validation(features, truth, sets, classes, self.settings, self.progress,
                                   distorted=distorted, fine_tuning=fine_tuning)
