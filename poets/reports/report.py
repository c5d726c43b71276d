"""The human reports beside summary.json: report.md, a table of the variants
and a plot, for terminals and repositories; report.html, what each variant
gets right and wrong, how training went and why the shipped one ships.

report.html is its SECTIONS in order: each a function of the Page that
returns its HTML, so a new section is one function and its place in the list.
What the Markdown and the HTML both say comes from poets/reports/parts.py.
"""

from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from poets.core.metrics import BINS
from poets.reports import plots as report_plots
from poets.reports.parts import (  # noqa: F401 (Evaluation, DOCS: what callers import from here)
    DOCS,
    STYLE,
    VARIANT_COLUMNS,
    Evaluation,
    camera_app_text,
    cross_validated_text,
    edited_test_labels_text,
    variant_cells,
)
from poets.reports.photos import gallery, photos_to_check_html, photos_to_show  # noqa: F401 (photos_to_show)
from poets.variants.quantize import UNQUANTIZED


def variants_md(summary: dict) -> str:
    """The variants' table in Markdown."""
    rows = [VARIANT_COLUMNS] + [variant_cells(name, v) for name, v in summary["variants"].items()]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines[:1] + ["|---" * len(VARIANT_COLUMNS) + "|"] + lines[1:])


def tflite_table(summary: dict) -> str:
    """The TFLite models of the run: what each needs of the runtime that loads it."""
    models = {name: v["tflite"] for name, v in summary["variants"].items() if "tflite" in v}
    models[f"graph.lite ({summary['android']['variant']})"] = summary["android"]["tflite"]
    rows = ["| TFLite model | size (bytes) | without metadata | min runtime version | builtin ops |",
            "|---|---|---|---|---|"]
    for name, facts in models.items():
        rows.append(f"| {name} | {facts['size_bytes']:,} | {facts['size_without_metadata']:,} | "
                    f"{facts['min_runtime_version'] or '-'} | {', '.join(facts['builtin_ops'])} |")
    return "\n".join(rows)


def write_report(summary: dict, folder: Path) -> None:
    """report.md and accuracy_vs_size.png in `folder`."""
    folder = Path(folder)
    report_plots.plot_accuracy_vs_size(summary, folder / "accuracy_vs_size.png")
    android = summary["android"]
    (folder / "report.md").write_text(encoding="utf-8", data=
        f"# {summary['architecture']} on {len(summary['labels'])} classes\n\n"
        f"{edited_test_labels_text(summary.get('test_labels_edited'), html=False)}"
        f"{variants_md(summary)}\n\n"
        f"{cross_validated_text(summary)}"
        f"Accuracy and cross-entropy on the test split, the accuracy's 95% interval by Wilson's score "
        f"method; ECE: expected calibration error, {BINS} bins; size of the model file; time for one photo, "
        f"batch 1, on this machine; agreement: share of test photos whose top label matches the "
        f"optimized graph's.\n\n"
        f"Shipped to the Android app: **{android['variant']}** (`{android['model']}`).\n\n"
        f"{camera_app_text(summary, html=False)}\n\n"
        f"{tflite_table(summary)}\n\n"
        f"Each TFLite model carries its labels and input normalisation as TFLite metadata, so "
        f"MediaPipe's ImageClassifier loads it from the file alone; a runtime older than its minimum "
        f"version, or without one of its ops, cannot load it.\n\n"
        f"![accuracy against gzip size](accuracy_vs_size.png)\n"
    )


# The HTML report: everything the table cannot show. Self-contained: its
# figures and thumbnails are files beside it, it loads nothing from the network.


@dataclass
class Page:
    """What report.html's sections are drawn from (write_html's arguments), and the facts several share."""

    summary: dict
    folder: Path
    evaluations: dict
    photos_dir: Path
    training: dict
    skipped: list
    check: dict | None

    def __post_init__(self):
        self.labels = self.summary["labels"]
        self.shipped = self.summary["android"]["variant"]
        self.quantized = next((name for name in self.summary["variants"] if name not in UNQUANTIZED),
                              None)
        self.truth = self.evaluations["optimized"].truth(self.labels)
        self.edited = edited_test_labels_text(self.summary.get("test_labels_edited"), html=True)


def write_html(summary: dict, folder: Path, evaluations: dict, photos_dir: Path, training: dict,
               skipped: list, check: dict | None = None) -> Path:
    """report.html in `folder`, with its figures and thumbnails beside it.

    Args:
      summary: summary.json's content (per-class figures included).
      evaluations: {variant: Evaluation} for every variant of the summary
        and the shipped one.
      photos_dir: the dataset's photos, for thumbnails.
      training: training.json's content (history and best step).
      skipped: the skipped-photos report, [{"photo", "reason"}].
      check: the photos to check: {"path": the CSV, "rows": its rows,
        "findings": CheckPhotos's check.json}; its photos under `photos_dir`.
    """
    folder = Path(folder)
    (folder / "thumbnails").mkdir(exist_ok=True)
    page = Page(summary, folder, evaluations, photos_dir, training, skipped, check)
    parts = [part for section in SECTIONS for part in section(page)]
    path = folder / "report.html"
    path.write_text(f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escape(summary['architecture'])}"
                    f" report</title><style>{STYLE}</style></head><body>\n" + "\n".join(parts)
                    + "\n</body></html>\n", encoding="utf-8")
    return path


def title_section(page):
    return [f"<h1>{escape(page.summary['architecture'])} on {len(page.labels)} classes</h1>",
            f'<p class="camera-app">{camera_app_text(page.summary, html=True)}</p>']


def variants_section(page):
    return ["<h2>Variants</h2>", page.edited, variants_html(page.summary, page.shipped),
            _cross_validated_html(page.summary)]


def per_class_section(page):
    from poets.core.metrics import lagging_classes, per_class

    parts = ["<h2>Per class, on the test photos</h2>", page.edited, _per_class_html(page.summary, page.labels)]
    # The shipped variant may be one the summary does not list (an explicit --android-variant).
    shipped = page.evaluations[page.shipped]
    if lagging := lagging_classes(per_class(shipped.probabilities, shipped.truth(page.labels), page.labels)):
        parts.append('<ul class="lagging">' + "".join(
            f"<li>Class {escape(label)}: recall {recall:.3f} with the shipped model, against a median of "
            f"{median:.3f} over the classes: add photos of it, or check its labels (Photos to check).</li>"
            for label, recall, median in lagging) + "</ul>")
    return parts


def confusion_section(page):
    optimized = page.evaluations["optimized"].probabilities
    report_plots.plot_confusion(optimized, page.truth, page.labels, page.folder / "confusion_optimized.png",
                                "optimized")
    parts = ["<h2>Confusion matrix</h2>", '<img src="confusion_optimized.png" alt="confusion matrix of the '
             'optimized graph">']
    quantized = page.quantized
    if quantized and (page.evaluations[quantized].probabilities.argmax(axis=1) != optimized.argmax(axis=1)).any():
        report_plots.plot_confusion(page.evaluations[quantized].probabilities, page.truth, page.labels,
                                    page.folder / "confusion_quantized.png", quantized)
        parts.append(f'<img src="confusion_quantized.png" alt="confusion matrix of {escape(quantized)}">')
    return parts


def mistakes_section(page):
    ship = page.evaluations[page.shipped]
    predicted = ship.probabilities.argmax(axis=1)
    wrong = [i for i in np.argsort(-ship.probabilities.max(axis=1), kind="stable") if predicted[i] != page.truth[i]]
    return [f"<h2>Mistakes of the shipped model ({escape(page.shipped)}): {len(wrong)} of {len(page.truth)} test "
            "photos</h2>", page.edited, "<p>Most confident first.</p>",
            gallery(wrong, ship, page.labels, page.photos_dir, page.folder, "mistakes")]


def disagreements_section(page):
    if not (quantized := page.quantized):
        return []
    optimized = page.evaluations["optimized"].probabilities.argmax(axis=1)
    quant = page.evaluations[quantized]
    differ = [i for i in np.argsort(-quant.probabilities.max(axis=1), kind="stable")
              if quant.probabilities[i].argmax() != optimized[i]]
    return [f"<h2>Where {escape(quantized)} and the optimized graph disagree: {len(differ)} photos</h2>",
            f"<p>Labels as {escape(quantized)} gives them.</p>",
            gallery(differ, quant, page.labels, page.photos_dir, page.folder, "disagreements")]


def calibration_section(page):
    report_plots.plot_reliability(page.evaluations, page.labels, page.summary["variants"],
                                  page.folder / "reliability.png")
    calibration = page.summary.get("calibration") or {"temperature": 1.0, "photos": 0}
    fitted_on = (f"the out-of-fold predictions of the {calibration['photos']} training and validation photos"
                 if page.training.get("chosen_by") == "folds" else f"the {calibration['photos']} validation photos")
    return ["<h2>Calibration</h2>",
            f"<p>The softmax is divided by a temperature of {calibration['temperature']:.3f}, fitted on "
            f"{fitted_on} (Guo et al. 2017); it changes no top label. "
            "Whether a probability means what it says: of the test photos given about 0.9, about 9 in 10 "
            f"should be right. Per variant, the test photos in {BINS} bins of confidence (the top probability), "
            "each bin's accuracy as a bar: on the diagonal, calibrated; below it, overconfident; above it, "
            "underconfident. ECE, the expected calibration error, is the bins' gaps weighted by their photos.</p>",
            '<img src="reliability.png" alt="reliability diagrams">']


def training_section(page):
    training = page.training
    report_plots.plot_training(training, page.folder / "training_curves.png")
    chosen = (f"chosen by {training.get('folds')}-fold "
              "cross-validation on the training and validation photos: the step whose out-of-fold cross-entropy, "
              "after its temperature, is lowest (dotted line); the head was then trained that long on all of them. "
              "Here 'train' is the fold heads' mean on their training photos"
              if training.get("chosen_by") == "folds" else "the best on validation (dotted line)")
    return ["<h2>Training</h2>", f"<p>The head kept is the one of step {training['best_step']}, {chosen}.</p>",
            '<img src="training_curves.png" alt="training curves">']


def tradeoffs_section(page):
    report_plots.plot_tradeoffs(page.summary, page.shipped, page.folder / "accuracy_vs_size_latency.png")
    return ["<h2>Accuracy against size and latency</h2>",
            f'<img src="accuracy_vs_size_latency.png" alt="accuracy against size and latency; '
            f'{escape(page.shipped)} is shipped">']


def photos_to_check_section(page):
    return [photos_to_check_html(page.check, page.photos_dir, page.folder)] if page.check else []


def skipped_section(page):
    if not page.skipped:
        return []
    rows = "".join(f"<tr><td>{escape(s['photo'])}</td><td>{escape(s['reason'])}</td></tr>" for s in page.skipped)
    return [f"<h2>Skipped photos: {len(page.skipped)}</h2>",
            f"<table><tr><th>photo</th><th>why</th></tr>{rows}</table>"]


def footer_section(page):
    return [f'<p>Made by poets-workflow, after the codelab <a href="{DOCS}">TensorFlow for Poets 2</a>.</p>']


SECTIONS = (title_section, variants_section, per_class_section, confusion_section, mistakes_section,
            disagreements_section, calibration_section, training_section, tradeoffs_section,
            photos_to_check_section, skipped_section, footer_section)


def variants_html(summary, shipped):
    """The variants' table in HTML, the shipped one marked."""
    rows = []
    for name, v in summary["variants"].items():
        cells = [escape(cell) for cell in variant_cells(name, v)]
        if name == shipped:
            cells[0] += " (shipped)"
        rows.append(('<tr class="shipped">' if name == shipped else "<tr>") + "".join(f"<td>{c}</td>" for c in cells)
                    + "</tr>")
    head = "".join(f"<th>{escape(column)}</th>" for column in VARIANT_COLUMNS)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _cross_validated_html(summary):
    text = cross_validated_text(summary).strip()
    return f'<p class="cross-validated">{escape(text)}</p>' if text else ""


def _figure(value):
    return "&ndash;" if value is None else f"{value:.3f}"


def _per_class_html(summary, labels):
    names = list(summary["variants"])
    head = "".join(f"<th>{escape(name)} P</th><th>R</th><th>F1</th>" for name in names)
    rows = []
    for label in labels:
        count = summary["variants"]["optimized"]["per_class"][label]["count"]
        cells = "".join(f"<td>{_figure(f['precision'])}</td><td>{_figure(f['recall'])}</td><td>{_figure(f['f1'])}</td>"
                        for f in (summary["variants"][name]["per_class"][label] for name in names))
        rows.append(f"<tr><td>{escape(label)}</td><td>{count if count else 'no test photo'}</td>{cells}</tr>")
    return (f'<div class="wide"><table><tr><th>class</th><th>test photos</th>{head}</tr>{"".join(rows)}</table></div>'
            "<p>P: precision, R: recall; &ndash;: nothing to divide by.</p>")
