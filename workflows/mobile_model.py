"""MobileModel: the codelab end to end, what `luigi --module workflows MobileModel` runs."""

import logging

from luigi.util import inherits

from poets.core.failures import BadInput
from poets.core.metrics import per_class
from poets.models.clients import top_label_agreement
from poets.reports.report import Evaluation, photos_to_show, write_html, write_report
from poets.variants.evaluate import variant_figures
from poets.variants.quantize import is_tflite_variant
from poets.variants.shipping import LIMITS, choose, limits_of
from tasks.artifact import ArtifactTask, check_intact, read_json, write_json
from tasks.bottlenecks import features_of
from tasks.camera_app import CameraApp
from tasks.check_photos import CheckPhotos
from tasks.compress import Compress
from tasks.download import DownloadDataset
from tasks.evaluate import Evaluate
from tasks.export import Export
from tasks.parameters import Choice, Number
from tasks.quantize import Quantize
from tasks.retrain import Retrain
from tasks.variant import VARIANTS, variants_with

log = logging.getLogger("luigi-interface")


@inherits(Quantize)
class MobileModel(ArtifactTask):
    """The codelab end to end: retrained, optimized and quantized graphs, each
    evaluated and gzipped, plus the model for the Android app; summary.json
    says where each is and how well it does, report.md shows it."""

    stage = "mobile_model"
    version = 9  # 2: latency, agreement, the chosen Android variant, the report; 3: skipped photos;
    # 4: what each TFLite model needs of its runtime; 5: per-class figures, report.html;
    # 6: photos to check, accuracy intervals, ECE and reliability diagrams; 7: the phone's limits; 8: the camera app;
    # 9: how many test labels --label-fixes edited, beside every test figure
    # The report shows test photos only: from a bucket, only those are downloaded.
    reads_in_part = ("dataset",)
    android_variant = Choice(
        default="auto", choices=("auto",) + VARIANTS,
        description="the variant exported as graph.lite; auto: the smallest within 1 point of the "
                    "optimized graph's accuracy, or with limits the most accurate that meets them",
    )
    # The phone's limits, for --android-variant auto (poets.variants.shipping.choose); 0 is no limit.
    max_size_kb = Number(0.0, kind=float, low=0, high=float("inf"),
                         description="ship the most accurate variant whose graph.lite is at most this many KB; "
                         "0: no limit")
    max_latency_ms = Number(0.0, kind=float, low=0, high=float("inf"),
                            description="ship the most accurate variant at most this many ms a photo; 0: no limit")
    min_accuracy = Number(0.0, kind=float, low=0, high=1, high_open=False,
                          description="ship only a variant with at least this test accuracy; 0: no limit")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.android_variant != "auto" and self.limits():
            raise BadInput(f"--android-variant {self.android_variant}: the limits ("
                           + ", ".join(LIMITS[key][0] for key in self.limits()) + ") choose among the variants; "
                           "use them with --android-variant auto")

    def limits(self) -> dict:
        """The limits given, by name."""
        return limits_of(self)

    def variants(self):
        return variants_with([self.quantization_mode])

    def dynamic_requirements(self):
        """Every task run() may yield: the export and evaluation of each variant that may ship, and its camera app."""
        shippable = self.variants() if self.android_variant == "auto" else (self.android_variant,)
        return ([self.clone(task, variant=v) for v in shippable for task in (Export, Evaluate)]
                + [self.clone(CameraApp, shipped=v) for v in shippable])

    def requires(self):
        needs = {
            "retrain": self.clone(Retrain),
            "dataset": self.clone(DownloadDataset),
            "bottlenecks": features_of(self),
            "check": self.clone(CheckPhotos),
            "evaluate": {v: self.clone(Evaluate, variant=v) for v in self.variants()},
            "compress": {v: self.clone(Compress, variant=v) for v in self.variants()},
        }
        if self.android_variant != "auto":
            needs["export"] = self.clone(Export, variant=self.android_variant)
            needs["app"] = self.clone(CameraApp, shipped=self.android_variant)
        return needs

    @property
    def summary(self):
        return self.path("summary.json")

    def run(self):
        needs = self.requires()
        labels = needs["retrain"].read_labels()
        evaluations = {name: Evaluation(task.photos(), task.probabilities())
                       for name, task in needs["evaluate"].items()}
        variants = self.variant_records(evaluations, labels)
        chosen = self.android_variant
        if chosen == "auto":
            chosen = choose(variants, **self.limits())
        # Which variant ships is known only now, so its export is a dynamic
        # dependency: luigi runs it and calls run() again.
        export, shipped = self.clone(Export, variant=chosen), self.clone(Evaluate, variant=chosen)
        app = self.clone(CameraApp, shipped=chosen)
        yield [export, shipped, app]
        for task in (export, shipped, app):  # read below, like the static requirements
            check_intact(task)
        training, check = needs["retrain"].training(), needs["check"].for_report()
        summary = self.summary_record(labels, variants, chosen, export, training, check["findings"])
        summary["camera_app"] = {"path": str(app.app.resolve()), "variants": list(app.variants()),
                                 "sure_above": training["calibration"]["sure_above"]}
        evaluations.setdefault(chosen, Evaluation(shipped.photos(), shipped.probabilities()))
        shown = sorted({path for evaluation in evaluations.values() for path, _ in evaluation.photos}
                       | photos_to_show(check["rows"], check["findings"]["duplicates"]))
        photos = check_intact(needs["dataset"], [f"photos/{path}" for path in shown]) / "photos"
        with self.artifact_folder() as folder:
            write_json(folder / self.summary.name, summary)
            write_report(summary, folder)
            write_html(summary, folder, evaluations, photos, training, read_json(needs["bottlenecks"].skipped), check)
        log.info("MobileModel: the camera app, to try the model on a camera and photos: poets-app %s",
                 app.app.resolve())
        log.info("MobileModel: summary in %s", self.summary.resolve())

    def variant_records(self, evaluations, labels):
        """{variant: its figures, its top-1 agreement with the optimized graph, its per-class figures}."""
        optimized = evaluations["optimized"].probabilities
        variants = {}
        for name in self.variants():
            evaluate, scores = self.requires()["evaluate"][name], evaluations[name]
            truth = scores.truth(labels)
            variants[name] = {
                **variant_figures(str(evaluate.graph_task().graph.resolve()), evaluate.metrics(),
                                  self.requires()["compress"][name].sizes(), scores.probabilities, truth),
                "agreement": top_label_agreement(scores.probabilities, optimized),
                "per_class": per_class(scores.probabilities, truth, labels),
            }
            if is_tflite_variant(name):
                variants[name]["tflite"] = evaluate.graph_task().tflite_facts()
        return variants

    def summary_record(self, labels, variants, chosen, export, training, findings):
        """summary.json: what was made, where it is, and which variant ships; `training` and `findings`
        are Retrain's training.json and CheckPhotos' findings."""
        needs = self.requires()
        skipped = needs["bottlenecks"].skipped
        return {
            "architecture": self.architecture.name,
            "labels": labels,
            "labels_path": str(needs["retrain"].labels.resolve()),
            "variants": variants,
            "android": {"variant": chosen, "model": str(export.model.resolve()), "labels": str(export.labels.resolve()),
                        "tflite": export.tflite_facts()},
            "skipped": {"count": len(read_json(skipped)), "report": str(skipped.resolve())},
            "calibration": training["calibration"],
            # The head's k-fold figures on the training and validation photos, where the test split is small.
            "cross_validated": training["cross_validated"],
            "photos_to_check": {"path": str(needs["check"].table.resolve()), "count": findings["count"],
                                "by_reason": findings["by_reason"]},
            # Test photos --label-fixes changed: every test figure above is then not the published split's.
            "test_labels_edited": needs["retrain"].test_label_edits(),
        }
