"""Calibration as the reports measure it: the expected calibration error and
the reliability bins; a class far behind the others named in report.html."""

import numpy as np
import pytest

from poets.calibration import BINS, expected_calibration_error, reliability
from poets.evaluate import lagging_classes, per_class
from poets.report import Evaluation, write_html
from tests.conftest import make_photos


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
