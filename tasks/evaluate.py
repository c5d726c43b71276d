"""Evaluate: accuracy and cross-entropy of a graph variant on the test split."""

import logging

import numpy as np

from poets.core.images import sample_photos
from poets.variants.evaluate import evaluate, latency
from tasks.artifact import check_intact, read_json, write_json
from tasks.download import DownloadDataset
from tasks.retrain import Retrain
from tasks.variant import VariantTask

log = logging.getLogger("luigi-interface")


class Evaluate(VariantTask):
    stage = "evaluate"
    uses_tensorflow = True
    version = 4  # 2: latency and probabilities; 3: photos.json, LiteRT; 4: latency on test photos
    # It reads the test photos only: from a bucket, only those are downloaded.
    reads_in_part = ("dataset",)

    def requires(self):
        return {
            "graph": self.graph_task(),
            "retrain": self.clone(Retrain),
            "dataset": self.clone(DownloadDataset),
        }

    def metrics(self):
        return read_json(self.path("metrics.json"))

    def probabilities(self):
        return np.load(self.path("probabilities.npy"))

    def photos(self):
        """[(path under the dataset's photos, label)] of the rows of probabilities()."""
        return [tuple(item) for item in read_json(self.path("photos.json"))]

    def run(self):
        needs = self.requires()
        retrain = needs["retrain"]
        test = retrain.split_photos("testing")
        root = check_intact(needs["dataset"], [f"photos/{path}" for path, _ in test]) / "photos"
        size = self.architecture.size
        metrics = evaluate(needs["graph"].graph, root, test, retrain.read_labels(), size, progress=self.progress)
        probabilities, photos = metrics.pop("probabilities"), metrics.pop("photos")
        metrics["latency_s"] = latency(needs["graph"].graph, sample_photos(root, size, photos=test))
        with self.artifact_folder() as folder:
            write_json(folder / "metrics.json", metrics)
            # For the top-1 agreement between variants, photo by photo.
            np.save(folder / "probabilities.npy", probabilities)
            write_json(folder / "photos.json", photos)
        log.info("Evaluate %s: accuracy %.3f, cross-entropy %.3f on %d test photos, %.1f ms a photo",
                 self.variant, metrics["accuracy"], metrics["cross_entropy"], metrics["count"],
                 1000 * metrics["latency_s"])
