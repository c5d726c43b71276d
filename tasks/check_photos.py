"""CheckPhotos: photos whose label looks wrong, duplicates, off-topic photos and
thin classes, found on the cached features (no forward pass of the base model)."""

import logging
from pathlib import Path

import numpy as np
from luigi.util import inherits

from poets.core.failures import BadInput
from poets.core.images import check_classes, split_of
from poets.core.label_fixes import apply_label_fixes
from poets.features import bottlenecks
from poets.photos import check as photo_check
from poets.photos import out_of_fold
from tasks.artifact import ArtifactTask, check_intact, read_json, write_json
from tasks.bottlenecks import Bottlenecks
from tasks.download import DownloadDataset
from tasks.label_fixes import fixes_of, snapshot_of
from tasks.parameters import LabelFixes, Number, percentage

log = logging.getLogger("luigi-interface")

# The penalty of the out-of-fold softmax regression: on the flower photos'
# features (mobilenet_0.75_224) it gives the lowest out-of-fold cross-entropy
# of 1e-3 .. 1 (benchmarks/README.md), and fixing it keeps the stage to one set of folds.
L2 = 0.01


def check_percentages(task):
    """Fail, naming both flags, when the held-out splits leave nothing to train on."""
    if task.validation_percentage + task.testing_percentage >= 100:
        raise BadInput(
            "--validation-percentage plus --testing-percentage must leave photos to train on, "
            f"got {task.validation_percentage} + {task.testing_percentage}"
        )


def labelled_photos(task, features_path, excluded=frozenset()):
    """(features, paths, labels, classes) of the photos in `features_path` with
    the --label-fixes of `task` applied (relabelled, and those fixed to
    `exclude` left out of every split), and the photos `excluded` left out."""
    features, paths, labels = bottlenecks.load(features_path)
    classes = check_classes(list(zip(paths, labels)), features_path)
    kept = np.array([path not in excluded for path in paths], bool)
    if fixes := fixes_of(task):
        fixed, labels = apply_label_fixes(paths, labels, fixes, classes, task.label_fixes)
        kept &= fixed
    if excluded:
        log.info("%s: --exclude-flagged leaves out %d training and validation photos", task.task_family,
                 sum(path in excluded for path in paths))
    return (features[kept], [p for p, k in zip(paths, kept) if k], [label for label, k in zip(labels, kept) if k],
            classes)


@inherits(Bottlenecks)
class CheckPhotos(ArtifactTask):
    """`photos_to_check.csv` (path,label,suggested,reason,score,split,why), `check.json`
    (counts by reason, the duplicate groups, photos per class and split, warnings),
    `exclude.json` (what --exclude-flagged leaves out of training)."""

    stage = "check_photos"
    # 2: confident learning's thresholds from the training and validation photos only;
    # 3: photos_to_check.csv says why in words (its column why);
    # 4: off-topic by the distance to the photos most like it, not to a class's centre; label
    # issues pruned by class (the confident joint's count of each label's least fitting photos);
    # 5: how well a label fits, the model's probability averaged with its neighbours' vote;
    # 6: a class's threshold the probability two thirds of its photos reach, not their mean
    version = 6
    # It needs the photos' sha256 (the dataset's record), not the photos.
    reads_in_part = ("dataset",)
    validation_percentage = percentage(10, "share of photos held out for validation")
    # Every figure of the report is measured on the test split: it cannot be left empty.
    testing_percentage = Number(10, kind=int, low=0, low_open=True, high=100, high_open=False,
                                description="share of photos held out for the test split (at least 1)")
    label_fixes = LabelFixes(default="", description=(
        "a CSV of path,label (a class, or exclude) correcting the dataset's labels, as edited from "
        "photos_to_check.csv; applied to every split"))
    # The file's content enters the id (through its snapshot's), not its name.
    unhashed = ArtifactTask.unhashed + ("label_fixes",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check_percentages(self)

    def requires(self):
        needs = {"bottlenecks": self.clone(Bottlenecks), "dataset": self.clone(DownloadDataset)}
        if self.label_fixes:
            needs["label_fixes"] = snapshot_of(self)
        return needs

    @property
    def table(self):
        return self.path("photos_to_check.csv")

    def rows(self) -> list:
        """photos_to_check.csv's rows, as dicts."""
        return photo_check.read_csv(self.table)

    def findings(self):
        return read_json(self.path("check.json"))

    def for_report(self) -> dict:
        """The check as report.html shows it (poets.reports.report.write_html's `check`)."""
        return {"path": str(self.table.resolve()), "rows": self.rows(), "findings": self.findings()}

    def excluded(self) -> set:
        return set(read_json(self.path("exclude.json")))

    def labelled(self):
        """(features, paths, labels, classes) of the photos this check saw: its --label-fixes applied, the
        photos they exclude left out (labelled_photos)."""
        return labelled_photos(self, self.requires()["bottlenecks"].features)

    def folder_labels(self) -> tuple[list[str], list[str]]:
        """(paths, labels) of every photo, each labelled by its folder (before any fix)."""
        _, paths, labels = bottlenecks.load(self.requires()["bottlenecks"].features)
        return paths, labels

    def photos_folder(self, paths: list[str]) -> Path:
        """The folder of the dataset's photos, with `paths` (under it) there: fetched from a bucket if need be."""
        dataset = self.requires()["dataset"]
        return check_intact(dataset, [f"photos/{path}" for path in paths]) / dataset.photos.name

    def run(self):
        needs = self.requires()
        features, paths, labels, classes = labelled_photos(self, needs["bottlenecks"].features)
        digests = needs["dataset"].photo_digests()
        sets = [split_of(path, self.validation_percentage, self.testing_percentage) for path in paths]
        truth = np.array([classes.index(label) for label in labels])
        probabilities, _ = out_of_fold.out_of_fold(features, truth, len(classes), np.array(sets) != "testing",
                                                   l2=L2)
        findings = photo_check.check(features, paths, labels, sets, [digests[p] for p in paths], classes,
                                     probabilities)
        for warning in findings.warnings:
            log.warning("CheckPhotos: %s", warning)
        with self.artifact_folder() as folder:
            photo_check.write_csv(findings.rows, folder / self.table.name)
            write_json(folder / "check.json", {
                "count": len(findings.rows), "by_reason": findings.by_reason(), "classes": findings.classes,
                "warnings": findings.warnings, "duplicates": findings.duplicates,
                "folds": out_of_fold.FOLDS, "l2": L2})
            write_json(folder / "exclude.json", sorted(photo_check.to_exclude(findings)))
            np.savez(folder / "out_of_fold.npz", paths=np.array(paths, dtype=str), probabilities=probabilities)
        log.info("CheckPhotos: %d photos to check (%s) in %s", len(findings.rows),
                 ", ".join(f"{n} {reason}" for reason, n in findings.by_reason().items()), self.table)
