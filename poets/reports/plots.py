"""The reports' figures, drawn with matplotlib (loaded when first drawn, without a display)."""

import numpy as np


def plot_accuracy_vs_size(summary, path):
    """report.md's plot: each variant's test accuracy against its gzip size."""
    plt = pyplot()
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
    figure.savefig(path)
    plt.close(figure)


def plot_confusion(probabilities, truth, labels, path, title):
    plt = pyplot()
    from poets.core.metrics import confusion

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


def plot_reliability(evaluations, labels, variants, path):
    """Each variant's reliability diagram on the test photos, titled with the ECE summary.json has for it."""
    from poets.core.metrics import reliability

    plt = pyplot()
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


def plot_training(training, path):
    plt = pyplot()
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


def plot_tradeoffs(summary, shipped, path):
    plt = pyplot()
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


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
