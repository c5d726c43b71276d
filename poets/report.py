"""The human report beside summary.json: a table of the variants and a plot."""

from pathlib import Path

# Allowed accuracy loss, against the optimized graph, for the model shipped to the app.
ANDROID_TOLERANCE = 0.01


def choose_android_variant(variants):
    """The variant to ship: within ANDROID_TOLERANCE of the optimized graph's
    accuracy, the smallest graph.lite; on a tie the optimized graph itself.

    Every .pb variant converts to a float TFLite model the size of the
    optimized graph; a .tflite variant ships as it is.
    """
    floor = variants["optimized"]["accuracy"] - ANDROID_TOLERANCE - 1e-9
    float_size = variants["optimized"]["size_bytes"]

    def shipped_size(name):
        v = variants[name]
        return v["size_bytes"] if v["path"].endswith(".tflite") else float_size

    candidates = [name for name, v in variants.items() if v["accuracy"] >= floor]
    return min(candidates, key=lambda name: (shipped_size(name), name != "optimized", -variants[name]["accuracy"]))


def table(summary):
    rows = ["| variant | accuracy | cross-entropy | size (bytes) | gzip (bytes) | gzip saves | ms a photo | agrees with optimized |",
            "|---|---|---|---|---|---|---|---|"]
    for name, v in summary["variants"].items():
        rows.append(f"| {name} | {v['accuracy']:.3f} | {v['cross_entropy']:.3f} | {v['size_bytes']:,} | "
                    f"{v['gzip_bytes']:,} | {1 - v['gzip_bytes'] / v['size_bytes']:.1%} | "
                    f"{1000 * v['latency_s']:.1f} | {v['agreement']:.1%} |")
    return "\n".join(rows)


def tflite_table(summary):
    """The TFLite models of the run: what each needs of the runtime that loads it."""
    models = {name: v["tflite"] for name, v in summary["variants"].items() if "tflite" in v}
    models[f"graph.lite ({summary['android']['variant']})"] = summary["android"]["tflite"]
    rows = ["| TFLite model | size (bytes) | without metadata | min runtime version | builtin ops |",
            "|---|---|---|---|---|"]
    for name, facts in models.items():
        rows.append(f"| {name} | {facts['size_bytes']:,} | {facts['size_without_metadata']:,} | "
                    f"{facts['min_runtime_version'] or '-'} | {', '.join(facts['builtin_ops'])} |")
    return "\n".join(rows)


def write_report(summary, folder):
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
        f"{table(summary)}\n\n"
        f"Accuracy and cross-entropy on the test split; size of the model file; time for one photo, "
        f"batch 1, on this machine; agreement: share of test photos whose top label matches the "
        f"optimized graph's.\n\n"
        f"Shipped to the Android app: **{android['variant']}** (`{android['model']}`).\n\n"
        f"{tflite_table(summary)}\n\n"
        f"Each TFLite model carries its labels and input normalisation as TFLite metadata, so "
        f"MediaPipe's ImageClassifier loads it from the file alone; a runtime older than its minimum "
        f"version, or without one of its ops, cannot load it.\n\n"
        f"![accuracy against gzip size](accuracy_vs_size.png)\n"
    )
