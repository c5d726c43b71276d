"""The human reports beside summary.json: report.md, a table of the variants
and a plot, for terminals and repositories; report.html, what each variant
gets right and wrong, how training went and why the shipped one ships."""

import hashlib
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np


def accuracy_text(variant: dict) -> str:
    """The accuracy with its 95% interval: 0.900 (0.770-0.960)."""
    low, high = variant["accuracy_interval"]
    return f"{variant['accuracy']:.3f} ({low:.3f}-{high:.3f})"


def table(summary: dict) -> str:
    rows = ["| variant | accuracy (95% interval) | cross-entropy | ECE | size (bytes) | gzip (bytes) | gzip saves | "
            "ms a photo | agrees with optimized |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, v in summary["variants"].items():
        rows.append(f"| {name} | {accuracy_text(v)} | {v['cross_entropy']:.3f} | {v['ece']:.3f} | "
                    f"{v['size_bytes']:,} | {v['gzip_bytes']:,} | {1 - v['gzip_bytes'] / v['size_bytes']:.1%} | "
                    f"{1000 * v['latency_s']:.1f} | {v['agreement']:.1%} |")
    return "\n".join(rows)


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    for i, (name, v) in enumerate(summary["variants"].items()):
        axes.scatter(v["gzip_bytes"] / 1e6, 100 * v["accuracy"], s=40)
        # Alternate above and below: retrained and optimized often sit on the same spot.
        axes.annotate(name, (v["gzip_bytes"] / 1e6, 100 * v["accuracy"]), textcoords="offset points",
                      xytext=(5, 5 if i % 2 else -12))
    axes.set_xlabel("gzip size (MB)")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title(f"{summary['architecture']}: accuracy against size")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(folder / "accuracy_vs_size.png")
    plt.close(figure)
    android = summary["android"]
    (folder / "report.md").write_text(encoding="utf-8", data=
        f"# {summary['architecture']} on {len(summary['labels'])} classes\n\n"
        f"{edited_test_labels_text(summary.get('test_labels_edited'), html=False)}"
        f"{table(summary)}\n\n"
        f"{cross_validated_text(summary)}"
        f"Accuracy and cross-entropy on the test split, the accuracy's 95% interval by Wilson's score "
        f"method; ECE: expected calibration error, 15 bins; size of the model file; time for one photo, "
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


# The HTML report: everything the table cannot show. Self-contained: its
# figures and thumbnails are files beside it, it loads nothing from the network.

MAX_THUMBNAILS = 48
THUMBNAIL_SIDE = 112
DOCS = "https://github.com/googlecodelabs/tensorflow-for-poets-2"


@dataclass
class Evaluation:
    """One variant's scores on the test photos: `photos` [(path, label)] under
    `photos_dir`, `probabilities` [photos, labels] in the same order."""

    photos: list
    probabilities: np.ndarray

    def truth(self, labels: list[str]) -> np.ndarray:
        """The index in `labels` of each photo's true label."""
        return np.array([labels.index(label) for _, label in self.photos])


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
    labels = summary["labels"]
    shipped = summary["android"]["variant"]
    quantized = next((name for name in summary["variants"] if name not in ("retrained", "optimized")), None)
    truth = evaluations["optimized"].truth(labels)
    edited = edited_test_labels_text(summary.get("test_labels_edited"), html=True)
    parts = [f"<h1>{escape(summary['architecture'])} on {len(labels)} classes</h1>",
             f'<p class="camera-app">{camera_app_text(summary, html=True)}</p>',
             "<h2>Variants</h2>", edited, _variants_html(summary, shipped), _cross_validated_html(summary),
             "<h2>Per class, on the test photos</h2>", edited, _per_class_html(summary, labels)]
    from poets.evaluate import lagging_classes, per_class

    # The shipped variant may be one the summary does not list (an explicit --android-variant).
    lagging = lagging_classes(per_class(evaluations[shipped].probabilities, evaluations[shipped].truth(labels), labels))
    if lagging:
        parts.append('<ul class="lagging">' + "".join(
            f"<li>Class {escape(label)}: recall {recall:.3f} with the shipped model, against a median of "
            f"{median:.3f} over the classes: add photos of it, or check its labels (Photos to check).</li>"
            for label, recall, median in lagging) + "</ul>")

    _plot_confusion(evaluations["optimized"].probabilities, truth, labels, folder / "confusion_optimized.png",
                    "optimized")
    parts += ["<h2>Confusion matrix</h2>", '<img src="confusion_optimized.png" alt="confusion matrix of the '
              'optimized graph">']
    if quantized and (evaluations[quantized].probabilities.argmax(axis=1)
                      != evaluations["optimized"].probabilities.argmax(axis=1)).any():
        _plot_confusion(evaluations[quantized].probabilities, truth, labels, folder / "confusion_quantized.png",
                        quantized)
        parts.append(f'<img src="confusion_quantized.png" alt="confusion matrix of {escape(quantized)}">')

    ship = evaluations[shipped]
    predicted = ship.probabilities.argmax(axis=1)
    wrong = [i for i in np.argsort(-ship.probabilities.max(axis=1), kind="stable") if predicted[i] != truth[i]]
    parts += [f"<h2>Mistakes of the shipped model ({escape(shipped)}): {len(wrong)} of {len(truth)} test photos</h2>",
              edited, "<p>Most confident first.</p>",
              _gallery(wrong, ship, labels, photos_dir, folder, "mistakes")]
    if quantized:
        optimized = evaluations["optimized"].probabilities.argmax(axis=1)
        quant = evaluations[quantized]
        differ = [i for i in np.argsort(-quant.probabilities.max(axis=1), kind="stable")
                  if quant.probabilities[i].argmax() != optimized[i]]
        parts += [f"<h2>Where {escape(quantized)} and the optimized graph disagree: {len(differ)} photos</h2>",
                  f"<p>Labels as {escape(quantized)} gives them.</p>",
                  _gallery(differ, quant, labels, photos_dir, folder, "disagreements")]

    _plot_reliability(evaluations, labels, summary["variants"], folder / "reliability.png")
    calibration = summary.get("calibration") or {"temperature": 1.0, "photos": 0}
    by_folds = training.get("chosen_by") == "folds"
    fitted_on = (f"the out-of-fold predictions of the {calibration['photos']} training and validation photos"
                 if by_folds else f"the {calibration['photos']} validation photos")
    parts += ["<h2>Calibration</h2>",
              f"<p>The softmax is divided by a temperature of {calibration['temperature']:.3f}, fitted on "
              f"{fitted_on} (Guo et al. 2017); it changes no top label. "
              "Whether a probability means what it says: of the test photos given about 0.9, about 9 in 10 "
              "should be right. Per variant, the test photos in 15 bins of confidence (the top probability), "
              "each bin's accuracy as a bar: on the diagonal, calibrated; below it, overconfident; above it, "
              "underconfident. ECE, the expected calibration error, is the bins' gaps weighted by their photos.</p>",
              '<img src="reliability.png" alt="reliability diagrams">']
    _plot_training(training, folder / "training_curves.png")
    chosen = (f"chosen by {training.get('folds')}-fold "
              "cross-validation on the training and validation photos: the step whose out-of-fold cross-entropy, "
              "after its temperature, is lowest (dotted line); the head was then trained that long on all of them. "
              "Here 'train' is the fold heads' mean on their training photos"
              if by_folds else "the best on validation (dotted line)")
    parts += ["<h2>Training</h2>", f"<p>The head kept is the one of step {training['best_step']}, {chosen}.</p>",
              '<img src="training_curves.png" alt="training curves">']
    _plot_tradeoffs(summary, shipped, folder / "accuracy_vs_size_latency.png")
    parts += ["<h2>Accuracy against size and latency</h2>",
              f'<img src="accuracy_vs_size_latency.png" alt="accuracy against size and latency; {escape(shipped)} '
              'is shipped">']
    if check:
        parts.append(_photos_to_check_html(check, photos_dir, folder))
    if skipped:
        rows = "".join(f"<tr><td>{escape(s['photo'])}</td><td>{escape(s['reason'])}</td></tr>" for s in skipped)
        parts += [f"<h2>Skipped photos: {len(skipped)}</h2>",
                  f"<table><tr><th>photo</th><th>why</th></tr>{rows}</table>"]
    parts.append(f'<p>Made by poets-workflow, after the codelab <a href="{DOCS}">TensorFlow for Poets 2</a>.</p>')
    page = folder / "report.html"
    page.write_text(f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escape(summary['architecture'])}"
                    f" report</title><style>{STYLE}</style></head><body>\n" + "\n".join(parts)
                    + "\n</body></html>\n", encoding="utf-8")
    return page


STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
         "td:first-child,th:first-child{text-align:left}.shipped{font-weight:bold}"
         "figure{display:inline-block;margin:4px;width:120px;font-size:11px;vertical-align:top}"
         "figure img{width:112px;height:112px;object-fit:cover}figcaption{overflow-wrap:anywhere}"
         ".pair{display:inline-block;border:1px solid #ddd;margin:4px;padding:2px 4px;vertical-align:top}"
         ".pair p{margin:2px;font-size:12px}img{max-width:100%}.wide{overflow-x:auto}"
         ".edited{background:#fff3cd;border-left:4px solid #c90;padding:6px 10px}")


def _variants_html(summary, shipped):
    def first_cell(name):
        return f'<tr class="shipped"><td>{escape(name)} (shipped)' if name == shipped else f"<tr><td>{escape(name)}"

    rows = "".join(
        f"{first_cell(name)}</td><td>{accuracy_text(v)}</td><td>{v['cross_entropy']:.3f}</td><td>{v['ece']:.3f}</td><td>{v['size_bytes']:,}</td>"
        f"<td>{v['gzip_bytes']:,}</td><td>{1000 * v['latency_s']:.1f}</td><td>{v['agreement']:.1%}</td></tr>"
        for name, v in summary["variants"].items())
    return ("<table><tr><th>variant</th><th>accuracy (95% interval)</th><th>cross-entropy</th><th>ECE</th>"
            "<th>size (bytes)</th><th>gzip (bytes)</th><th>ms a photo</th><th>agrees with optimized</th></tr>"
            f"{rows}</table>")


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


def _gallery(indices, evaluation, labels, photos_dir, folder, kind):
    figures = []
    for i in indices[:MAX_THUMBNAILS]:
        path, label = evaluation.photos[i]
        top = int(evaluation.probabilities[i].argmax())
        figures.append(_photo_figure(photos_dir, path, folder, kind, f"true: {escape(label)}<br>predicted: "
                                     f"{escape(labels[top])} {evaluation.probabilities[i][top]:.2f}"))
    return _figures(figures, len(indices), kind)


def _figures(figures, count, kind):
    more = count - MAX_THUMBNAILS
    return (f'<div class="{kind}">' + "".join(figures) + "</div>"
            + (f"<p>and {more} more.</p>" if more > 0 else "") if count else "<p>None.</p>")


def _photo_figure(photos_dir, path, folder, kind, caption):
    """A <figure> of the photo `path` under `photos_dir`, its thumbnail written beside the report."""
    from PIL import Image, ImageOps

    from poets.images import register_heif

    register_heif()
    name = f"thumbnails/{kind}-{hashlib.sha1(path.encode()).hexdigest()[:12]}.jpg"
    with Image.open(Path(photos_dir, path)) as image:
        thumbnail = ImageOps.exif_transpose(image).convert("RGB")
        thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        thumbnail.save(folder / name, quality=80)
    return (f'<figure data-photo="{escape(path)}"><img src="{name}" alt="{escape(path)}">'
            f"<figcaption>{caption}</figcaption></figure>")


# How many duplicate groups the report shows side by side.
MAX_DUPLICATE_GROUPS = 24
REASON_TITLES = {"label": "Labels that look wrong", "duplicate": "Duplicates", "off_topic": "Off-topic photos"}


def _flagged(rows, reason):
    return [row for row in rows if row["reason"] == reason]


def photos_to_show(rows: list, duplicates: list) -> set:
    """The photos the "Photos to check" section shows: its thumbnails need them at hand."""
    shown = set()
    for reason in ("label", "off_topic"):
        shown.update(row["path"] for row in _flagged(rows, reason)[:MAX_THUMBNAILS])
    for group in duplicates[:MAX_DUPLICATE_GROUPS]:
        shown.update(photo["path"] for photo in group["photos"])
    return shown


def _photos_to_check_html(check, photos_dir, folder):
    """The "Photos to check" section: warnings, photos per class and split, and
    the flagged photos by reason, the most certain first."""
    rows, findings = check["rows"], check["findings"]
    parts = [f"<h2>Photos to check: {findings['count']}</h2>",
             f'<p>From <code>{escape(check["path"])}</code>: label issues by confident learning on out-of-fold '
             "probabilities, duplicates by content hash and feature similarity, off-topic photos far from every "
             "class. Correct them with <code>--label-fixes</code>, or train without them with "
             "<code>--exclude-flagged</code>.</p>"]
    if findings["warnings"]:
        parts.append("<ul>" + "".join(f"<li>{escape(w)}</li>" for w in findings["warnings"]) + "</ul>")
    head = "".join(f"<th>{split}</th>" for split in ("training", "validation", "testing", "total"))
    counts = "".join(f"<tr><td>{escape(label)}</td>" + "".join(f"<td>{c[split]}</td>" for split in
                                                               ("training", "validation", "testing", "total"))
                     + "</tr>" for label, c in findings["classes"].items())
    parts.append(f"<table><tr><th>class</th>{head}</tr>{counts}</table>")
    for reason in ("label", "off_topic"):
        flagged = _flagged(rows, reason)
        figures = [_photo_figure(photos_dir, row["path"], folder, f"check-{reason}",
                                 f"given: {escape(row['label'])}<br>"
                                 + (f"suggested: {escape(row['suggested'])}<br>" if row["suggested"] else "")
                                 + f"score {float(row['score']):.2f}, {escape(row['split'])}")
                   for row in flagged[:MAX_THUMBNAILS]]
        parts += [f"<h3>{REASON_TITLES[reason]}: {len(flagged)}</h3>", _figures(figures, len(flagged),
                                                                                  f"check-{reason}")]
    groups = findings["duplicates"]
    parts.append(f"<h3>{REASON_TITLES['duplicate']}: {len(groups)} groups, "
                 f"{findings['by_reason']['duplicate']} photos</h3>")
    for group in groups[:MAX_DUPLICATE_GROUPS]:
        kind = "same bytes" if group["exact"] else f"cosine {group['score']:.3f}"
        figures = "".join(_photo_figure(photos_dir, p["path"], folder, "check-duplicate",
                                        f"{escape(p['path'])}<br>{escape(p['label'])}, {escape(p['split'])}")
                          for p in group["photos"])
        parts.append(f'<div class="pair"><p>{kind}</p>{figures}</div>')
    if len(groups) > MAX_DUPLICATE_GROUPS:
        parts.append(f"<p>and {len(groups) - MAX_DUPLICATE_GROUPS} more groups.</p>")
    return "\n".join(parts)


def _plot_confusion(probabilities, truth, labels, path, title):
    plt = _pyplot()
    from poets.evaluate import confusion

    matrix = confusion(probabilities.argmax(axis=1), truth, len(labels))
    # Readable from 2 to 100 classes: the figure grows, the labels shrink and turn.
    side = min(4 + 0.25 * len(labels), 20)
    font = 9 if len(labels) <= 20 else max(4, 9 - len(labels) // 20)
    figure, axes = plt.subplots(figsize=(side, side), dpi=80)
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=font)
    axes.set_yticks(range(len(labels)), labels, fontsize=font)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"{title}: test photos")
    if len(labels) <= 20:
        for (row, column), count in np.ndenumerate(matrix):
            if count:
                axes.text(column, row, str(count), ha="center", va="center", fontsize=font,
                          color="white" if count > matrix.max() / 2 else "black")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plot_reliability(evaluations, labels, variants, path):
    """Each variant's reliability diagram on the test photos, titled with the ECE summary.json has for it."""
    from poets.calibration import reliability

    plt = _pyplot()
    figure, axes = plt.subplots(1, len(variants), figsize=(3.4 * len(variants), 3.4), dpi=80, squeeze=False)
    for axis, name in zip(axes[0], variants):
        evaluation = evaluations[name]
        truth = evaluation.truth(labels)
        bins = reliability(evaluation.probabilities, truth)
        filled = [b for b in bins if b["count"]]
        axis.bar([(b["low"] + b["high"]) / 2 for b in filled], [b["accuracy"] for b in filled],
                 width=1 / len(bins), edgecolor="black", alpha=0.7, label="accuracy")
        axis.plot([0, 1], [0, 1], linestyle=":", color="black", label="calibrated")
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_xlabel("confidence (top probability)")
        axis.set_ylabel("accuracy")
        axis.set_title(f"{name}: ECE {variants[name]['ece']:.3f}", fontsize=10)
        axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plot_training(training, path):
    plt = _pyplot()
    history = training["history"]
    steps = [h["step"] for h in history]
    figure, (accuracy, loss) = plt.subplots(1, 2, figsize=(10, 3.5), dpi=80)
    for split in ("train", "validation"):
        label = "out-of-fold" if split == "validation" and training.get("chosen_by") == "folds" else split
        accuracy.plot(steps, [h[f"{split}_accuracy"] for h in history], label=label)
        loss.plot(steps, [h[f"{split}_cross_entropy"] for h in history], label=label)
    for axes, name in ((accuracy, "accuracy"), (loss, "cross-entropy")):
        axes.axvline(training["best_step"], linestyle=":", color="black", label="kept")
        axes.set_xlabel("step")
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plot_tradeoffs(summary, shipped, path):
    plt = _pyplot()
    figure, (by_size, by_time) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=80)
    for i, (name, v) in enumerate(summary["variants"].items()):
        for axes, x in ((by_size, v["size_bytes"] / 1e6), (by_time, 1000 * v["latency_s"])):
            axes.scatter(x, 100 * v["accuracy"], s=80 if name == shipped else 30,
                         marker="*" if name == shipped else "o")
            axes.annotate(name + (" (shipped)" if name == shipped else ""), (x, 100 * v["accuracy"]),
                          textcoords="offset points", xytext=(5, 5 if i % 2 else -12), fontsize=8)
    by_size.set_xlabel("model file (MB)")
    by_time.set_xlabel("ms a photo")
    for axes in (by_size, by_time):
        axes.margins(0.15)  # room for the names
        axes.set_ylabel("test accuracy (%)")
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
