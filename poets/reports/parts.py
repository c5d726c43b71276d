"""What report.md, report.html and compare.html share: the sentences and figures' formats that
say the same facts in each, the pages' style, and Evaluation, one variant's scores on the test photos."""

from dataclasses import dataclass
from html import escape

import numpy as np

DOCS = "https://github.com/googlecodelabs/tensorflow-for-poets-2"


STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
         "td:first-child,th:first-child{text-align:left}.shipped{font-weight:bold}"
         "figure{display:inline-block;margin:4px;width:120px;font-size:11px;vertical-align:top}"
         "figure img{width:112px;height:112px;object-fit:cover}figcaption{overflow-wrap:anywhere}"
         ".pair{display:inline-block;border:1px solid #ddd;margin:4px;padding:2px 4px;vertical-align:top}"
         ".pair p{margin:2px;font-size:12px}img{max-width:100%}.wide{overflow-x:auto}"
         ".edited{background:#fff3cd;border-left:4px solid #c90;padding:6px 10px}")


@dataclass
class Evaluation:
    """One variant's scores on the test photos: `photos` [(path, label)] under
    `photos_dir`, `probabilities` [photos, labels] in the same order."""

    photos: list
    probabilities: np.ndarray

    def truth(self, labels: list[str]) -> np.ndarray:
        """The index in `labels` of each photo's true label."""
        return np.array([labels.index(label) for _, label in self.photos])


def accuracy_text(variant: dict) -> str:
    """The accuracy with its 95% interval: 0.900 (0.770-0.960)."""
    low, high = variant["accuracy_interval"]
    return f"{variant['accuracy']:.3f} ({low:.3f}-{high:.3f})"


# The variants' table, the same in report.md and report.html.
VARIANT_COLUMNS = ("variant", "accuracy (95% interval)", "cross-entropy", "ECE", "size (bytes)", "gzip (bytes)",
                   "gzip saves", "ms a photo", "agrees with optimized")


def variant_cells(name: str, v: dict) -> list[str]:
    """A variant's row of the variants' table (VARIANT_COLUMNS), from its summary.json figures `v`."""
    return [name, accuracy_text(v), f"{v['cross_entropy']:.3f}", f"{v['ece']:.3f}", f"{v['size_bytes']:,}",
            f"{v['gzip_bytes']:,}", f"{1 - v['gzip_bytes'] / v['size_bytes']:.1%}", f"{1000 * v['latency_s']:.1f}",
            f"{v['agreement']:.1%}"]


def edited_test_labels_text(edits: dict | None, html: bool) -> str:
    """Beside every test figure where --label-fixes changed test labels, the warning; else nothing."""
    if not edits or not edits["relabelled"] + edits["excluded"]:
        return ""
    text = (f"Test labels edited: {edits['relabelled'] + edits['excluded']} ({edits['relabelled']} relabelled, "
            f"{edits['excluded']} excluded by --label-fixes); not comparable with the published split: these "
            f"figures are measured on labels you changed, often to the model's own answers.")
    return f'<p class="edited">{escape(text)}</p>' if html else f"**{text}**\n\n"


def camera_app_text(summary: dict, html: bool) -> str:
    """One sentence on the camera app and the command that serves it, for report.html or report.md."""
    app = summary.get("camera_app")
    if not app:  # a summary written before the camera app
        return ""
    command = f"poets-app {app['path']}"
    command = f"<code>{escape(command)}</code>" if html else f"`{command}`"
    return (f"Try the model on a camera and on your photos, in a browser ({', '.join(app['variants'])}, "
            f"side by side): {command}")


def cross_validated_text(summary: dict) -> str:
    """Beside a small test split, a paragraph with the head's cross-validated figures; else nothing."""
    estimate = summary.get("cross_validated")
    if not estimate:
        return ""
    low, high = estimate["accuracy_interval"]
    count = sum(figures["count"] for figures in summary["variants"]["optimized"]["per_class"].values())
    return (f"The test split has only {count} photos. Cross-validated ({estimate['folds']} folds) on the "
            f"{estimate['photos']} training and validation photos, the head scores {estimate['accuracy']:.3f} "
            f"({low:.3f}-{high:.3f}) accuracy and {estimate['cross_entropy']:.3f} cross-entropy"
            + (" (the same folds chose its step and temperature: a little optimistic)" if estimate.get("chose_the_step")
               else "") + ".\n\n")
