"""CameraApp: the run's TFLite models in a web page that labels what the camera sees."""

import logging

from luigi.util import inherits

from poets.apps.camera_app import page_digest, write_app
from tasks.artifact import ArtifactTask
from tasks.evaluate import Evaluate
from tasks.export import Export
from tasks.parameters import Choice
from tasks.quantize import Quantize
from tasks.retrain import Retrain
from tasks.variant import VARIANTS

log = logging.getLogger("luigi-interface")


@inherits(Quantize)
class CameraApp(ArtifactTask):
    """`app/`: index.html, app.json and models/<variant>.tflite, static files that
    `poets-app` serves (or any HTTPS host): the camera and photos labelled live by
    each variant the run exports, the shipped one first."""

    stage = "camera_app"
    shipped = Choice(default="optimized", choices=VARIANTS, description="the variant the app opens with")

    def variants(self):
        """The shipped variant, the float model and the quantized one: what a person compares live."""
        return tuple(dict.fromkeys((self.shipped, "optimized", self.quantization_mode)))

    def requires(self):
        return {"retrain": self.clone(Retrain),
                "export": {v: self.clone(Export, variant=v) for v in self.variants()},
                "evaluate": {v: self.clone(Evaluate, variant=v) for v in self.variants()}}

    def identity(self):
        # The page's own files and the runtime they pin: a fixed page reaches runs made before it.
        return super().identity() + [page_digest()]

    @property
    def app(self):
        return self.path("app")

    def run(self):
        needs = self.requires()
        retrain = needs["retrain"]
        variants = []
        for name in self.variants():
            export, metrics = needs["export"][name], needs["evaluate"][name].metrics()
            variants.append({"name": name, "model": export.model, "size_bytes": export.tflite_facts()["size_bytes"],
                             "accuracy": metrics["accuracy"], "test_photos": metrics["count"]})
        with self.artifact_folder() as folder:
            write_app(folder / self.app.name, title=f"{self.architecture.name}, retrained",
                      labels=retrain.read_labels(), variants=variants, shipped=self.shipped,
                      sure_above=retrain.training()["calibration"]["sure_above"],
                      test_labels_edited=retrain.test_label_edits())
        log.info("CameraApp: %s; serve it with poets-app %s", ", ".join(self.variants()), self.app.resolve())
