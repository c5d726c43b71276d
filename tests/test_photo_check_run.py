"""CheckPhotos in luigi runs on the planted photos: label errors, duplicates and an off-topic photo
are found on the cached features; --label-fixes and --exclude-flagged act on them."""


import csv
import json
import re
from pathlib import Path

import pytest

from poets.core.failures import BadInput
from poets.core.images import split_of
from poets.photos import check as photo_check
from tests.helpers import FAST_TRAINING, build, build_failing, families, fresh, summary_of, write_fixes
from workflows import MobileModel

TESTING = FAST_TRAINING["testing_percentage"]


def rows_of(task):
    with open(task.table, newline="", encoding="utf-8") as table:
        return list(csv.DictReader(table))


def test_planted_label_errors_are_flagged_with_the_true_class(planted, checked):
    rows = rows_of(checked)
    assert list(rows[0]) == ["path", "label", "suggested", "reason", "score", "split", "why"]
    labels = {row["path"]: row for row in rows if row["reason"] == "label"}
    found = [path for path in planted["moved"] if path in labels]
    assert len(found) >= 2, labels
    assert all(labels[path]["suggested"] == "roses" and labels[path]["label"] == "sunflowers" for path in found)
    # Why, in words a person reads: how sure, of what, against which label.
    assert all(re.fullmatch(r"\d+% sure this is roses; \d+% of the photos most like it are labelled roses; "
                                r"labelled sunflowers", labels[path]["why"]) for path in found)
    # Most certain first, within each reason.
    for reason in photo_check.REASONS:
        scores = [float(row["score"]) for row in rows if row["reason"] == reason]
        assert scores == sorted(scores, reverse=True)


def test_exact_and_near_duplicates_are_flagged_across_splits(planted, checked):
    rows = rows_of(checked)
    duplicates = {row["path"]: row for row in rows if row["reason"] == "duplicate"}
    assert planted["twins"] <= set(duplicates) and planted["near"] <= set(duplicates)
    assert {duplicates[p]["split"] for p in planted["twins"]} == {"training", "testing"}
    for path in planted["twins"]:
        [twin] = planted["twins"] - {path}
        assert duplicates[path]["why"] == f"the same bytes as {twin}; one is a test photo, another is trained on"
    findings = checked.findings()
    exact = [g for g in findings["duplicates"] if g["exact"]]
    assert [{p["path"] for p in g["photos"]} for g in exact] == [planted["twins"]]
    assert any("span the test split" in warning for warning in findings["warnings"])
    # --exclude-flagged keeps the test twin and leaves out the one trained on.
    excluded = checked.excluded()
    twin_in_training = next(p for p in planted["twins"] if split_of(p, 10, TESTING) == "training")
    assert twin_in_training in excluded
    assert not any(split_of(p, 10, TESTING) == "testing" for p in excluded)


def test_a_photo_unlike_every_class_is_off_topic(planted, checked):
    off_topic = {row["path"]: row for row in rows_of(checked) if row["reason"] == "off_topic"}
    assert planted["off_topic"] in off_topic
    assert re.fullmatch(r"unlike the other photos: [\d.]+ times as far from the 10 most like it as the typical "
                        r"photo is; the model is \d+% sure this is \w+", off_topic[planted["off_topic"]]["why"])


def test_findings_count_photos_per_class_and_split(checked):
    findings = checked.findings()
    assert set(findings["classes"]) == {"bluebells", "roses", "sunflowers"}
    assert findings["classes"]["sunflowers"]["total"] == 20 + 3 + 1
    assert sum(findings["by_reason"].values()) == findings["count"]




def split_json(task):
    return json.loads(task.path("split.json").read_text())


def test_label_fixes_relabel_and_exclude_rerunning_retrain_not_the_bottlenecks(planted, checked, tmp_path):
    from tasks.retrain import Retrain

    params = {k: v for k, v in planted["params"].items() if k in Retrain.get_param_names()}
    fresh()
    build(Retrain(**params))
    fixes = write_fixes(tmp_path / "fixes.csv", [(planted["moved"][0], "roses"), (planted["off_topic"], "exclude")])
    fresh()
    fixed = Retrain(**params, label_fixes=fixes)
    ran = build(fixed)
    assert families(ran) == ["LabelFixesSnapshot", "Retrain"]
    photos = {path: label for split in split_json(fixed).values() for path, label in split}
    assert photos[planted["moved"][0]] == "roses" and planted["off_topic"] not in photos
    # The same fixes in another file, in another order: the same artifact.
    again = write_fixes(tmp_path / "again.csv", [(planted["off_topic"], "exclude"), (planted["moved"][0], "roses")])
    fresh()
    assert build(Retrain(**params, label_fixes=again)) == []


def test_a_fixes_file_saved_during_a_run_is_never_trained_on_under_the_old_id(planted, checked, tmp_path):
    """The ids are fixed when the DAG is built; a save from poets-review after that must not be trained on
    under them: the run fails in one line, and the next run trains on the new fixes under a new id."""
    from tasks.retrain import Retrain

    params = {k: v for k, v in planted["params"].items() if k in Retrain.get_param_names()}
    path = tmp_path / "fixes.csv"
    write_fixes(path, [(planted["moved"][0], "roses")])
    fresh()
    task = Retrain(**params, label_fixes=str(path))
    old_id = task.artifact_id
    write_fixes(path, [(planted["moved"][0], "roses"), (planted["off_topic"], "exclude")])
    [(failed, error)] = build_failing(task)
    assert failed.task_family == "LabelFixesSnapshot" and isinstance(error, BadInput)
    assert str(error) == (f"--label-fixes {path}: it changed after this run read it (a save from poets-review?); "
                          "nothing was trained on it: run again to use the new fixes")
    assert not task.complete()
    fresh()
    again = Retrain(**params, label_fixes=str(path))
    build(again)
    assert again.artifact_id != old_id
    photos = {p for split in split_json(again).values() for p, _ in split}
    assert planted["off_topic"] not in photos


def test_exclude_flagged_changes_the_training_photos_never_the_test_photos(planted, checked):
    from tasks.retrain import Retrain

    params = {k: v for k, v in planted["params"].items() if k in Retrain.get_param_names()}
    fresh()
    plain, flagged = Retrain(**params), Retrain(**params, exclude_flagged=True)
    build(plain, flagged)
    before, after = split_json(plain), split_json(flagged)
    assert after["testing"] == before["testing"]
    excluded = checked.excluded()
    assert excluded and {p for p, _ in after["training"] + after["validation"]} == \
        {p for p, _ in before["training"] + before["validation"]} - excluded


def test_a_fix_naming_an_unknown_photo_fails_the_run_in_one_line(planted, tmp_path):
    from tasks.retrain import Retrain

    params = {k: v for k, v in planted["params"].items() if k in Retrain.get_param_names()}
    fixes = write_fixes(tmp_path / "fixes.csv", [("roses/not-there.jpg", "roses")])
    fresh()
    failures = build_failing(Retrain(**params, label_fixes=fixes))
    assert [type(task).__name__ for task, _ in failures] == ["Retrain"]
    assert "--label-fixes" in str(failures[0][1]) and "not-there.jpg" in str(failures[0][1])


@pytest.mark.slow
def test_edited_test_labels_are_said_beside_every_test_figure(changeable, completed, tmp_path):
    from tasks.retrain import Retrain

    params, _ = completed
    plain = summary_of(params)
    assert plain["test_labels_edited"] == {"relabelled": 0, "excluded": 0}
    folder = Path(MobileModel(**params).output().path)
    assert "Test labels edited" not in (folder / "report.html").read_text() + (folder / "report.md").read_text()
    tested = Retrain(**{k: v for k, v in params.items() if k in Retrain.get_param_names()}).split_photos("testing")
    (first, label), (second, _) = tested[0], tested[1]
    other = next(name for name in plain["labels"] if name != label)
    fixes = write_fixes(tmp_path / "fixes.csv", [(first, other), (second, "exclude")])
    fixed = {**changeable, "label_fixes": fixes}
    build(MobileModel(**fixed))
    summary = summary_of(fixed)
    assert summary["test_labels_edited"] == {"relabelled": 1, "excluded": 1}
    said = "Test labels edited: 2 (1 relabelled, 1 excluded by --label-fixes); not comparable with the published split"
    folder = Path(MobileModel(**fixed).output().path)
    assert said in (folder / "report.md").read_text()
    # Above the variants, the per-class figures and the mistakes.
    assert (folder / "report.html").read_text().count(said) == 3
