"""Compare: every variant of every architecture and seed asked for, side by
side, and the one that ships, what `luigi --module workflows Compare` runs."""

import logging

from luigi.util import inherits

from poets.backbones import architectures
from poets.core.failures import BadInput
from poets.reports.comparison import by_variant, key, seeds_by_held_out, with_float_figures, write_html
from poets.reports.parts import Evaluation
from poets.variants import quantize
from poets.variants.evaluate import variant_figures
from poets.variants.shipping import LIMITS, choose, limits_of
from tasks.artifact import ArtifactTask, check_intact, write_json
from tasks.compress import Compress
from tasks.evaluate import Evaluate
from tasks.export import Export
from tasks.parameters import Names
from tasks.retrain import Retrain
from tasks.variant import variants_with
from workflows.mobile_model import MobileModel

log = logging.getLogger("luigi-interface")

# In --base-model-url, where each architecture's weights file name goes.
WEIGHTS_FILE = "{weights_file}"


@inherits(MobileModel)
class Compare(ArtifactTask):
    """compare.json and compare.html: per combination of --architectures,
    --random-seeds and variant (retrained, optimized and each of
    --quantization-modes) the figures MobileModel's summary gives a variant;
    per variant their mean and spread over the seeds and the Pareto fronts;
    and the combination that ships, exported as graph.lite and labels.txt: of
    each architecture the seed whose head did best on its held-out photos
    (poets.reports.comparison.seeds_by_held_out: no test figure picks a seed), then
    poets.variants.shipping.choose among those, as MobileModel's auto does."""

    stage = "compare"
    # 2: the seed that ships chosen by its head's held-out cross-entropy, not by test accuracy;
    # 3: how many test labels --label-fixes edited, beside every test figure
    version = 3
    quantization_modes = Names(default=quantize.MODES, choices=quantize.MODES,
                               description="comma-separated quantization modes to compare (default: all five)")
    architectures = Names(default=(), choices=architectures.ARCHITECTURES, description=(
        "comma-separated architectures to compare (default: --architecture's); with several, --base-model-url "
        f"is empty (the Keras URLs) or holds {WEIGHTS_FILE}, where each one's weights file name goes (the "
        "EfficientNet-Lites, whose weights come installed, take none)"))
    random_seeds = Names(default=(0,), kind=int,
                         description="comma-separated seeds of the head's training (default: 0)")
    # What the lists above replace, and what Compare's own choice replaces.
    unhashed = ArtifactTask.unhashed + ("quantization_mode", "android_variant")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.quantization_modes:
            raise BadInput("--quantization-modes: name at least one mode")
        if not self.random_seeds:
            raise BadInput("--random-seeds: name at least one seed")
        if len(self.compared()) > 1 and self.base_model_url and WEIGHTS_FILE not in self.base_model_url:
            raise BadInput(f"--base-model-url: one file cannot hold the weights of {', '.join(self.compared())}; "
                           f"leave it empty (the Keras URLs) or put {WEIGHTS_FILE} where each file name goes")

    def compared(self) -> tuple:
        return self.architectures or (self.architecture.name,)

    def variants(self) -> tuple:
        return variants_with(self.quantization_modes)

    def of(self, task, architecture, seed, variant):
        arch = architectures.get(architecture)
        # A URL template names the downloads; the weights that come installed need none.
        templated = WEIGHTS_FILE in self.base_model_url
        url = "" if templated and arch.comes_installed else self.base_model_url.replace(WEIGHTS_FILE, arch.weights_file)
        return self.clone(task, architecture=architecture, random_seed=seed, variant=variant, base_model_url=url)

    def combinations(self) -> list[tuple]:
        return [(a, s, v) for a in self.compared() for s in self.random_seeds for v in self.variants()]

    def requires(self):
        needs = {stage: {key(a, v, s): self.of(task, a, s, v) for a, s, v in self.combinations()}
                 for stage, task in (("evaluate", Evaluate), ("compress", Compress))}
        # Each head's held-out figures choose the seed that ships: Retrain owns them.
        needs["retrain"] = {(a, s): self.of(Retrain, a, s, "optimized") for a in self.compared()
                            for s in self.random_seeds}
        return needs

    @property
    def comparison(self):
        return self.path("compare.json")

    def record(self, rows, limits, chosen, export) -> dict:
        """compare.json: every combination's figures, the variants over the seeds, what ships."""
        return {
            "architectures": list(self.compared()), "quantization_modes": list(self.quantization_modes),
            "random_seeds": list(self.random_seeds),
            "limits": {LIMITS[name][0]: value for name, value in limits.items()},
            "combinations": rows, "variants": by_variant(rows),
            "chosen": {"architecture": chosen["architecture"], "variant": chosen["variant"],
                       "random_seed": chosen["random_seed"], "model": str(export.model.resolve()),
                       "labels": str(export.labels.resolve())},
            # One --label-fixes for every combination: the same test photos edited in each.
            "test_labels_edited": next(iter(self.requires()["retrain"].values())).test_label_edits(),
        }

    def run(self):
        needs = self.requires()
        rows, probabilities = [], {}
        for architecture, seed, variant in self.combinations():
            name = key(architecture, variant, seed)
            evaluate, sizes = needs["evaluate"][name], needs["compress"][name].sizes()
            metrics, graph = evaluate.metrics(), evaluate.graph_task()
            labels = needs["retrain"][(architecture, seed)].read_labels()
            scores = Evaluation(evaluate.photos(), evaluate.probabilities())
            probabilities[name], truth = scores.probabilities, scores.truth(labels)
            tflite = quantize.is_tflite_variant(variant)
            facts = graph.tflite_facts() if tflite else None
            rows.append({"architecture": architecture, "variant": variant, "random_seed": seed,
                         **variant_figures(str(graph.graph.resolve()), metrics, sizes, probabilities[name], truth),
                         "count": metrics["count"],
                         "runtime": (f"LiteRT {facts['min_runtime_version']}" if tflite else "TensorFlow (graph)")})
        table = with_float_figures(rows, probabilities)
        held_out = {pair: retrain.training()["calibration"]["cross_entropy_after"]
                    for pair, retrain in needs["retrain"].items()}
        candidates, reference = seeds_by_held_out(table, held_out)
        limits = limits_of(self)
        chosen = table[choose(candidates, **limits, reference=reference)]
        export = self.of(Export, chosen["architecture"], chosen["random_seed"], chosen["variant"])
        # Which combination ships is known only now: its export is a dynamic dependency.
        yield export
        check_intact(export)
        comparison = self.record(rows, limits, chosen, export)
        with self.artifact_folder() as folder:
            write_json(folder / self.comparison.name, comparison)
            write_html(comparison, folder)
        log.info("Compare: comparison in %s", self.comparison.resolve())
