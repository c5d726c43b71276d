"""Calibration as the reports measure it: the expected calibration error and
the reliability bins; a class far behind the others named in report.html."""

import numpy as np
import pytest

from poets.core.metrics import BINS, expected_calibration_error, lagging_classes, per_class, reliability
from poets.head.calibration import sure_above
from poets.reports.report import Evaluation, write_html
from tests.helpers import make_photos


def sampled(confidence, calibrated, count=4000, seed=0):
    """Two-class probabilities with top probability `confidence`, right as
    often as it says (calibrated) or always (underconfident)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, count)
    right = rng.random(count) < confidence if calibrated else np.ones(count, bool)
    top = np.where(right, truth, 1 - truth)
    probabilities = np.full((count, 2), 1 - confidence)
    probabilities[np.arange(count), top] = confidence
    return probabilities, truth


def test_a_calibrated_model_has_almost_no_calibration_error():
    probabilities, truth = sampled(0.8, calibrated=True)
    assert expected_calibration_error(probabilities, truth) < 0.02


def test_an_underconfident_model_is_off_by_its_gap():
    probabilities, truth = sampled(0.8, calibrated=False)
    assert expected_calibration_error(probabilities, truth) == pytest.approx(0.2)


def test_reliability_bins_hold_every_photo_once():
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet(np.ones(3), 500)
    probabilities[0] = [1.0, 0.0, 0.0]  # a certain photo goes in the last bin
    truth = rng.integers(0, 3, 500)
    bins = reliability(probabilities, truth)
    assert len(bins) == BINS and sum(b["count"] for b in bins) == 500
    assert bins[-1]["count"] >= 1 and bins[-1]["high"] == 1.0
    for b in bins:
        if b["count"]:
            assert b["low"] <= b["confidence"] <= b["high"] and 0 <= b["accuracy"] <= 1
        else:
            assert b["confidence"] is None and b["accuracy"] is None


def test_a_class_far_below_the_others_is_named_in_the_report(tmp_path):
    labels = ["bluebells", "roses", "sunflowers"]
    photos_dir = make_photos(tmp_path / "photos", per_class=4, size=32)
    photos = [(f"{label}/{label}_{i:03d}.jpg", label) for label in labels for i in range(4)]
    truth = np.repeat([0, 1, 2], 4)
    predicted = truth.copy()
    predicted[:3] = 1  # bluebells: 1 of 4 right
    probabilities = np.full((12, 3), 0.05, np.float32)
    probabilities[np.arange(12), predicted] = 0.9
    figures = per_class(probabilities, truth, labels)
    assert lagging_classes(figures) == [("bluebells", 0.25, 1.0)]
    evaluations = {name: Evaluation(photos, probabilities) for name in ("retrained", "optimized")}
    variants = {name: {"accuracy": 0.75, "accuracy_interval": [0.5, 0.9], "cross_entropy": 0.5, "ece": 0.15,
                       "size_bytes": 1000, "gzip_bytes": 900, "latency_s": 0.001, "agreement": 1.0,
                       "per_class": figures} for name in evaluations}
    summary = {"architecture": "mobilenet_0.25_128", "labels": labels, "variants": variants,
               "android": {"variant": "optimized"}}
    training = {"best_step": 100, "history": [{"step": 100, "train_accuracy": 0.5, "validation_accuracy": 0.4,
                                               "train_cross_entropy": 1.0, "validation_cross_entropy": 1.2}]}
    (tmp_path / "report").mkdir()
    page = write_html(summary, tmp_path / "report", evaluations, photos_dir, training, [])
    text = page.read_text()
    assert "Class bluebells: recall 0.250" in text and "Class roses" not in text
    assert (page.parent / "reliability.png").stat().st_size > 0 and '<img src="reliability.png"' in text
    assert "0.750 (0.500-0.900)" in text and "<td>0.150</td>" in text


def overconfident_head(seed=0):
    """A head trained long on 8 photos a class of overlapping features: sure of
    everything, right less often; with validation and held-out photos."""
    from poets.head.layers import train_head
    from poets.head.settings import TrainingSettings

    rng = np.random.default_rng(seed)

    def photos(count):
        truth = np.repeat([0, 1, 2], count)
        return (rng.normal(0, 1, (3 * count, 16)) + 1.2 * np.eye(3, 16)[truth]).astype(np.float32), truth

    (x, y), (vx, vy), (hx, hy) = photos(8), photos(40), photos(200)
    layers, _ = train_head((x, y), (vx, vy), 3, TrainingSettings(600, 0.01, 16, hidden_units=32, dropout=0))
    return layers, (vx, vy), (hx, hy)


def test_the_temperature_keeps_every_top_label_and_lowers_the_held_out_error():
    from poets.core.contract import cross_entropy
    from poets.head.layers import predict
    from poets.head.training import calibrate

    layers, (vx, vy), (hx, hy) = overconfident_head()
    calibrated, record = calibrate(layers, vx, vy)
    before, after = predict(layers, hx), predict(calibrated, hx)
    assert record["temperature"] > 1.5 and record["photos"] == 120
    assert (after.argmax(axis=1) == before.argmax(axis=1)).all()
    assert cross_entropy(after, hy) < cross_entropy(before, hy)
    assert expected_calibration_error(after, hy) < expected_calibration_error(before, hy) - 0.05
    # Folded into the softmax layer: the same as dividing the logits.
    from poets.core.contract import softmax
    from poets.head.layers import logits

    np.testing.assert_allclose(after, softmax(logits(layers, hx) / record["temperature"]), rtol=1e-4, atol=1e-6)


def test_no_validation_photo_leaves_the_head_as_trained():
    from poets.head.training import calibrate

    layers, _, (hx, _) = overconfident_head()
    calibrated, record = calibrate(layers, hx[:0], np.zeros(0, int))
    assert record["temperature"] == 1.0 and record["photos"] == 0
    for (w, b), (cw, cb) in zip(layers, calibrated):
        np.testing.assert_array_equal(w, cw)
        np.testing.assert_array_equal(b, cb)


def test_validation_photos_all_right_never_sharpen_the_head():
    from poets.head.calibration import fit_temperature

    logits = np.array([[2.0, 0.0], [0.0, 1.5], [1.0, 0.2]])
    assert fit_temperature(logits, np.array([0, 1, 0])) == pytest.approx(1.0, abs=1e-3)


def test_the_shipped_model_and_mediapipe_carry_the_temperature(changeable, tmp_path):
    """With two validation photos given a wrong label, the head is sure of what the
    validation says it gets wrong: the temperature softens it, and MediaPipe's
    scores, from graph.lite alone, are the softened probabilities."""
    from pathlib import Path

    from PIL import Image

    from poets.core.contract import normalized, softmax
    from poets.models.clients import mediapipe_probabilities
    from poets.models.tflite import TFLiteClassifier
    from tasks.evaluate import Evaluate
    from tasks.retrain import Retrain
    from tests.helpers import build, fresh, summary_of
    from workflows import MobileModel

    params = changeable
    retrain = MobileModel(**params).clone(Retrain)
    labels = retrain.read_labels()
    wrong = [(path, labels[(labels.index(label) + 1) % len(labels)]) for path, label in
             retrain.split_photos("validation")[:2]]
    fixes = tmp_path / "fixes.csv"
    fixes.write_text("path,label\n" + "".join(f"{p},{label}\n" for p, label in wrong), encoding="utf-8")
    # In a data dir of its own (the other tests expect the shared run's to hold one model), from the
    # shared run's features: the fixes change the labels, not the photos.
    params = {**params, "label_fixes": str(fixes)}
    fresh()
    build(MobileModel(**params))
    summary = summary_of(params)
    temperature = summary["calibration"]["temperature"]
    assert temperature > 1.2
    # MediaPipe resizes photos its own way: given photos already at the model's size, it feeds the
    # model what the project feeds it, and its scores must be the model's own probabilities.
    model = Path(summary["android"]["model"])
    evaluate = MobileModel(**params).clone(Evaluate, variant=summary["android"]["variant"])
    root = evaluate.requires()["dataset"].photos
    with TFLiteClassifier(model) as classifier:
        photos = []
        for index, (path, _) in enumerate(evaluate.photos()):
            with Image.open(root / path) as image:
                photos.append(tmp_path / f"{index}.png")
                image.convert("RGB").resize((classifier.size, classifier.size), Image.BILINEAR).save(photos[-1])
        ours = classifier(np.stack([normalized(np.asarray(Image.open(p), np.float32)) for p in photos]))
    theirs = mediapipe_probabilities(model, photos, labels)
    # The same probabilities with the temperature taken out again.
    uncalibrated = softmax(np.log(np.maximum(ours, 1e-12)) * temperature)
    rows, top = np.arange(len(ours)), ours.argmax(axis=1)
    assert np.abs(theirs - ours).max() < 0.01
    assert np.abs(uncalibrated[rows, top] - ours[rows, top]).mean() > 0.02


def test_sure_above_is_the_lowest_score_whose_answers_keep_the_precision():
    # Top probabilities and whether each photo's top label is right, most confident first.
    confidence = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    right = np.array([1, 1, 1, 1, 1, 0, 1, 0], bool)
    def three_classes(top):  # the top probability always in column 0
        return np.stack([top, (1 - top) / 2, (1 - top) / 2], axis=1)

    probabilities, truth = three_classes(confidence), np.where(right, 0, 1)
    record = sure_above(probabilities, truth, precision=0.85)
    # At 0.5: 6 of the 7 photos scoring 0.5 or more are right (0.857); at 0.4, 6 of 8 (0.75).
    assert record["threshold"] == 0.5 and record["precision"] == pytest.approx(6 / 7)
    assert record["coverage"] == pytest.approx(7 / 8) and record["photos"] == 8
    assert sure_above(probabilities, truth, precision=1.0)["threshold"] == 0.7
    # A tie is kept or dropped whole: two photos at 0.6, one wrong, cannot split the threshold.
    assert sure_above(three_classes(np.array([0.9, 0.6, 0.6])), np.array([0, 0, 1]), precision=0.7)["threshold"] == 0.9
    # Nothing reaches it, or nothing to judge by: no threshold.
    assert sure_above(probabilities, np.ones(8, int), precision=0.9)["threshold"] is None
    assert sure_above(np.zeros((0, 2)), np.zeros(0, int))["threshold"] is None
