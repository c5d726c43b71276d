"""Every variant side by side: the figures of each combination (architecture,
variant, seed), their means and spread over the seeds, the Pareto fronts of
accuracy against size and against latency, and compare.html."""

from html import escape
from pathlib import Path

import numpy as np

from poets.core.contract import is_tflite
from poets.reports.parts import STYLE, edited_test_labels_text
from poets.reports.plots import pyplot


def key(architecture: str, variant: str, seed: int) -> str:
    """A combination's name: mobilenet_0.75_224/int8/seed 0."""
    return f"{architecture}/{variant}/seed {seed}"


def with_float_figures(rows: list[dict], probabilities: dict) -> dict:
    """Adds to each combination its `agreement` (top labels shared with the optimized graph of
    its architecture and seed; `probabilities` by key()), and makes its `size_bytes` the
    graph.lite it would ship as (a .pb variant converts to a float TFLite model the optimized
    graph's size), the file's own size becoming `file_bytes`; returns them by key(), as
    poets.variants.shipping.choose takes them."""
    from poets.models.clients import top_label_agreement

    table = {key(r["architecture"], r["variant"], r["random_seed"]): r for r in rows}
    for row in rows:
        row["file_bytes"] = row["size_bytes"]
    for name, row in table.items():
        float_name = key(row["architecture"], "optimized", row["random_seed"])
        row["agreement"] = top_label_agreement(probabilities[name], probabilities[float_name])
        row["size_bytes"] = row["file_bytes"] if is_tflite(row["path"]) else table[float_name]["file_bytes"]
    return {name: {**row, "shipped_bytes": row["size_bytes"]} for name, row in table.items()}


def seeds_by_held_out(table: dict, held_out: dict) -> tuple[dict, str]:
    """What may ship, chosen without a test figure deciding the seed: for each architecture, the
    seed whose head did best on its held-out photos (`held_out`: {(architecture, seed): their
    cross-entropy, None without any}, lowest first, then the lower seed); returns (those seeds'
    combinations of `table` by key(), the key of the optimized graph of the best of them), for
    poets.variants.shipping.choose as `variants` and `reference`."""
    def rank(pair):
        return (held_out[pair] is None, held_out[pair] or 0.0, pair[1])

    best = {}
    for pair in sorted(held_out, key=rank):
        best.setdefault(pair[0], pair)
    kept = set(best.values())
    candidates = {name: row for name, row in table.items() if (row["architecture"], row["random_seed"]) in kept}
    architecture, seed = min(kept, key=rank)
    return candidates, key(architecture, "optimized", seed)


def pareto(points: list[tuple[float, float]]) -> list[bool]:
    """For each (cost, accuracy), whether no other point is at least as accurate for
    no more cost, and strictly better in one of the two."""
    return [not any(c <= cost and a >= accuracy and (c < cost or a > accuracy) for c, a in points)
            for cost, accuracy in points]


def by_variant(combinations: list[dict]) -> list[dict]:
    """Per (architecture, variant): the seeds' mean and spread (lowest, highest) of accuracy and
    cross-entropy, mean size and latency, whether it is on either Pareto front, and a line saying
    whether it differs from the float model (the optimized graph, seed by seed) by more than the
    seeds move the float model."""
    groups = {}
    for row in combinations:
        groups.setdefault((row["architecture"], row["variant"]), []).append(row)
    variants = []
    for (architecture, variant), rows in groups.items():
        accuracy = [row["accuracy"] for row in rows]
        loss = [row["cross_entropy"] for row in rows]
        variants.append({"architecture": architecture, "variant": variant,
                         "seeds": [row["random_seed"] for row in rows],
                         "accuracy": float(np.mean(accuracy)), "accuracy_spread": [min(accuracy), max(accuracy)],
                         "cross_entropy": float(np.mean(loss)), "cross_entropy_spread": [min(loss), max(loss)],
                         "size_bytes": int(np.mean([row["size_bytes"] for row in rows])),
                         "latency_s": float(np.mean([row["latency_s"] for row in rows]))})
    for axis in ("size_bytes", "latency_s"):
        front = pareto([(v[axis], v["accuracy"]) for v in variants])
        for v, on in zip(variants, front):
            v[f"pareto_{axis.split('_')[0]}"] = on
    for v in variants:
        v["versus_float"] = versus_float(v, groups)
    return variants


def versus_float(variant: dict, groups: dict) -> str:
    if variant["variant"] == "optimized":
        return "the float model"
    floats = {row["random_seed"]: row["accuracy"] for row in groups[(variant["architecture"], "optimized")]}
    mine = {row["random_seed"]: row["accuracy"] for row in groups[(variant["architecture"], variant["variant"])]}
    difference = float(np.mean([mine[seed] - floats[seed] for seed in mine]))
    points = f"{100 * difference:+.1f} points against the float model"
    if len(floats) < 2:
        return f"{points}; one seed: no spread to compare with"
    spread = max(floats.values()) - min(floats.values())
    verdict = "more" if abs(difference) > spread else "no more"
    return f"{points}, {verdict} than the seeds move it ({100 * spread:.1f} points)"


def write_html(comparison: dict, folder: Path) -> Path:
    """compare.html and its two plots in `folder`."""
    chosen = comparison["chosen"]
    shipped = key(chosen["architecture"], chosen["variant"], chosen["random_seed"])
    _plot(comparison["variants"], chosen, folder / "accuracy_vs_size_latency.png")
    limits = ", ".join(f"{name} {value:g}" for name, value in comparison["limits"].items()) or "none"
    rows = "".join(_combination_row(r, shipped) for r in comparison["combinations"])
    summary = "".join(_variant_row(v) for v in comparison["variants"])
    edited = edited_test_labels_text(comparison.get("test_labels_edited"), html=True)
    page = folder / "compare.html"
    page.write_text(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Comparison</title>"
        f"<style>{STYLE}</style></head><body>\n<h1>Every variant side by side</h1>\n"
        f"<p>Shipped: <b>{escape(shipped)}</b>, as <code>{escape(chosen['model'])}</code> with "
        f"<code>{escape(chosen['labels'])}</code>. Limits: {escape(limits)}. Size is the file that would ship "
        "(a .pb variant ships as a float TFLite model the size of the optimized graph); latency a photo on "
        "LiteRT for TFLite variants, on TensorFlow for graphs; agreement, top labels shared with the optimized "
        "graph of the same architecture and seed.</p>\n"
        f'<h2>Per variant, over the seeds</h2>\n{edited}<div class="wide">'
        "<table><tr><th>architecture</th><th>variant</th>"
        "<th>seeds</th><th>accuracy: mean (lowest-highest)</th><th>cross-entropy: mean (lowest-highest)</th>"
        "<th>size (bytes)</th><th>ms a photo</th><th>Pareto front</th><th>against the float model</th></tr>"
        f"{summary}</table></div>\n"
        '<img src="accuracy_vs_size_latency.png" alt="accuracy against size and latency, Pareto fronts drawn">\n'
        f'<h2>Every combination</h2>\n{edited}<div class="wide">'
        "<table><tr><th>architecture</th><th>variant</th><th>seed</th>"
        "<th>accuracy (95% interval)</th><th>test photos</th><th>cross-entropy</th><th>size (bytes)</th>"
        "<th>gzip (bytes)</th><th>ms a photo</th><th>agrees with optimized</th><th>runtime</th></tr>"
        f"{rows}</table></div>\n</body></html>\n", encoding="utf-8")
    return page


def _combination_row(r, shipped):
    return (f'<tr{" class=shipped" if key(r["architecture"], r["variant"], r["random_seed"]) == shipped else ""}>'
            f"<td>{escape(r['architecture'])}</td><td>{escape(r['variant'])}</td><td>{r['random_seed']}</td>"
            f"<td>{r['accuracy']:.3f} ({r['accuracy_interval'][0]:.3f}-{r['accuracy_interval'][1]:.3f})</td>"
            f"<td>{r['count']}</td><td>{r['cross_entropy']:.3f}</td><td>{r['size_bytes']:,}</td>"
            f"<td>{r['gzip_bytes']:,}</td><td>{1000 * r['latency_s']:.1f}</td><td>{r['agreement']:.1%}</td>"
            f"<td>{escape(r['runtime'])}</td></tr>")


def _variant_row(v):
    return (f"<tr><td>{escape(v['architecture'])}</td><td>{escape(v['variant'])}</td><td>{len(v['seeds'])}</td>"
            f"<td>{v['accuracy']:.3f} ({v['accuracy_spread'][0]:.3f}-{v['accuracy_spread'][1]:.3f})</td>"
            f"<td>{v['cross_entropy']:.3f} ({v['cross_entropy_spread'][0]:.3f}-{v['cross_entropy_spread'][1]:.3f})"
            f"</td><td>{v['size_bytes']:,}</td><td>{1000 * v['latency_s']:.1f}</td>"
            f"<td>{'size' if v['pareto_size'] else ''}{', ' if v['pareto_size'] and v['pareto_latency'] else ''}"
            f"{'latency' if v['pareto_latency'] else ''}</td><td>{escape(v['versus_float'])}</td></tr>")


def _plot(variants, chosen, path):
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=80)
    for axis, field, scale, label in ((axes[0], "size_bytes", 1e-6, "size that ships (MB)"),
                                      (axes[1], "latency_s", 1e3, "ms a photo")):
        for i, v in enumerate(variants):
            mine = v["architecture"] == chosen["architecture"] and v["variant"] == chosen["variant"]
            x, y = v[field] * scale, 100 * v["accuracy"]
            axis.scatter(x, y, s=90 if mine else 30, marker="*" if mine else "o")
            name = (v["variant"] if len({u["architecture"] for u in variants}) == 1
                    else f"{v['architecture']} {v['variant']}")
            axis.annotate(name + (" (shipped)" if mine else ""), (x, y), textcoords="offset points",
                          xytext=(5, 5 if i % 2 else -12), fontsize=8)
        front = sorted((v[field] * scale, 100 * v["accuracy"]) for v in variants if v[f"pareto_{field.split('_')[0]}"])
        axis.plot(*zip(*front), linestyle="--", color="grey", label="Pareto front")
        axis.set_xlabel(label)
        axis.set_ylabel("test accuracy (%), mean over seeds")
        axis.margins(0.15)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
