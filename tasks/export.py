"""Export: graph.lite and labels.txt for the codelab's Android app."""

import logging

import numpy as np

from poets import architectures, graphs
from poets.export import to_tflite
from poets.images import sample_photos
from tasks.artifact import write_json
from tasks.download import DownloadDataset
from tasks.retrain import Retrain
from tasks.variant import VariantTask

log = logging.getLogger("luigi-interface")

# The TFLite kernels (XNNPACK) sum in another order than TensorFlow's.
TOLERANCE = 1e-4


class Export(VariantTask):
    stage = "export"

    def requires(self):
        return {"graph": self.graph_task(), "retrain": self.clone(Retrain), "dataset": self.clone(DownloadDataset)}

    @property
    def model(self):
        return self.path("graph.lite")

    @property
    def labels(self):
        return self.path("labels.txt")

    def run(self):
        needs = self.requires()
        size = architectures.get(self.architecture).size
        model = to_tflite(needs["graph"].graph, size)
        # The app must see what the graph sees: check on real photos.
        pixels = sample_photos(needs["dataset"].photos, size)
        with graphs.Classifier(graphs.load(needs["graph"].graph)) as classify:
            expected = classify(pixels)
        difference = float(np.abs(graphs.TFLiteClassifier(model_content=model)(pixels) - expected).max())
        if not difference <= TOLERANCE:
            raise AssertionError(f"graph.lite differs from {needs['graph'].graph} by {difference:.3g}")
        with self.artifact_folder() as folder:
            (folder / self.model.name).write_bytes(model)
            (folder / self.labels.name).write_text(needs["retrain"].labels.read_text())
            write_json(folder / "export.json", {"max_difference": difference, "photos_checked": len(pixels)})
        log.info("Export: graph.lite %d bytes, max |difference| %.2g", len(model), difference)
