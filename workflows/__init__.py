"""What users run: `luigi --module workflows MobileModel`."""

import logging

from luigi.util import inherits

from tasks.artifact import ArtifactTask, Choice, write_json
from tasks.compress import Compress
from tasks.evaluate import Evaluate
from tasks.export import Export
from tasks.quantize import Quantize
from tasks.retrain import Retrain
from tasks.variant import VARIANTS

log = logging.getLogger("luigi-interface")


@inherits(Quantize)
class MobileModel(ArtifactTask):
    """The codelab end to end: retrained, optimized and quantized graphs, each
    evaluated and gzipped, plus the model for the Android app; summary.json
    says where each is and how well it does."""

    stage = "mobile_model"
    android_variant = Choice(
        default="optimized", choices=VARIANTS, description="the graph exported as graph.lite",
    )

    def variants(self):
        return ("retrained", "optimized", self.quantization_mode)

    def requires(self):
        return {
            "retrain": self.clone(Retrain),
            "evaluate": {v: self.clone(Evaluate, variant=v) for v in self.variants()},
            "compress": {v: self.clone(Compress, variant=v) for v in self.variants()},
            "export": self.clone(Export, variant=self.android_variant),
        }

    @property
    def summary(self):
        return self.path("summary.json")

    def run(self):
        needs = self.requires()
        retrain, export = needs["retrain"], needs["export"]
        variants = {}
        for name in self.variants():
            metrics, sizes = needs["evaluate"][name].metrics(), needs["compress"][name].sizes()
            variants[name] = {
                "path": str(needs["evaluate"][name].graph_task().graph.resolve()),
                "accuracy": metrics["accuracy"],
                "cross_entropy": metrics["cross_entropy"],
                "size_bytes": sizes["uncompressed"],
                "gzip_bytes": sizes["compressed"],
            }
        summary = {
            "architecture": self.architecture,
            "labels": retrain.read_labels(),
            "labels_path": str(retrain.labels.resolve()),
            "variants": variants,
            "android": {"model": str(export.model.resolve()), "labels": str(export.labels.resolve())},
        }
        with self.artifact_folder() as folder:
            write_json(folder / self.summary.name, summary)
        log.info("MobileModel: summary in %s", self.summary.resolve())
