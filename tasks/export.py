"""Export: graph.lite and labels.txt for the codelab's Android app, checked on real photos."""

import logging
import shutil

import numpy as np

from poets import architectures, graphs
from poets.export import to_tflite
from poets.images import sample_photos
from tasks.artifact import write_json
from tasks.download import DownloadDataset
from tasks.optimize import Optimize
from tasks.retrain import Retrain
from tasks.variant import VariantTask

log = logging.getLogger("luigi-interface")

# The TFLite kernels sum in another order than TensorFlow's.
FLOAT_TOLERANCE = 1e-4
# A quantized model may change its mind on a photo the float one finds close.
MIN_AGREEMENT = 0.8


class ExportCheckFailed(AssertionError):
    pass


class Export(VariantTask):
    """`assets/graph.lite` and `assets/labels.txt`: copy `assets/` into the app's
    `android/tflite/app/src/main/`."""

    stage = "export"
    version = 2  # 2: TFLite variants; the assets/ layout

    def requires(self):
        return {"graph": self.graph_task(), "optimize": self.clone(Optimize), "retrain": self.clone(Retrain),
                "dataset": self.clone(DownloadDataset)}

    @property
    def model(self):
        return self.path("assets/graph.lite")

    @property
    def labels(self):
        return self.path("assets/labels.txt")

    def run(self):
        needs = self.requires()
        source = needs["graph"].graph
        size = architectures.get(self.architecture).size
        pixels = sample_photos(needs["dataset"].photos, size)
        if source.suffix == ".tflite":
            model = source.read_bytes()
            reference_path = needs["optimize"].graph
        else:
            model = to_tflite(source, size)
            reference_path = source
        with graphs.Classifier(graphs.load(reference_path)) as classify:
            expected = classify(pixels)
        got = graphs.TFLiteClassifier(model_content=model)(pixels)
        check = {"reference": reference_path.name, "photos_checked": len(pixels),
                 "max_difference": float(np.abs(got - expected).max()),
                 "agreement": float((got.argmax(axis=1) == expected.argmax(axis=1)).mean())}
        # A float model must compute what its graph computes; a quantized one
        # must mostly agree with the optimized graph.
        if source.suffix != ".tflite" and not check["max_difference"] <= FLOAT_TOLERANCE:
            raise ExportCheckFailed(f"graph.lite differs from {source} by {check['max_difference']:.3g}")
        if not check["agreement"] >= MIN_AGREEMENT:
            raise ExportCheckFailed(
                f"graph.lite agrees with {reference_path} on only {check['agreement']:.0%} of {len(pixels)} photos")
        with self.artifact_folder() as folder:
            (folder / "assets").mkdir()
            (folder / "assets" / self.model.name).write_bytes(model)
            shutil.copyfile(needs["retrain"].labels, folder / "assets" / self.labels.name)
            write_json(folder / "export.json", check)
        log.info("Export %s: graph.lite %d bytes, max |difference| %.2g, agreement %.0f%%",
                 self.variant, len(model), check["max_difference"], 100 * check["agreement"])
