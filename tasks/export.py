"""Export: graph.lite and labels.txt for the Android apps, checked on real photos."""

import logging
import shutil

from poets.models.tflite import to_tflite
from poets.variants.export import check_against_graph, check_client_loads, for_clients
from poets.variants.quantize import is_tflite_variant
from tasks.artifact import read_json, write_json
from tasks.download import DownloadDataset
from tasks.optimize import Optimize
from tasks.quantize import TFLITE_RECORD
from tasks.retrain import Retrain
from tasks.variant import VariantTask

log = logging.getLogger("luigi-interface")


class Export(VariantTask):
    """`assets/graph.lite` (with its labels and input normalisation as TFLite
    metadata) and `assets/labels.txt`: copy `assets/` into the app's
    `android/tflite/app/src/main/`, or graph.lite into MediaPipe's sample."""

    stage = "export"
    uses_tensorflow = True
    version = 3  # 2: TFLite variants; the assets/ layout; 3: TFLite metadata, LiteRT

    # A sample of the photos: from a bucket, only those are downloaded.
    reads_in_part = ("dataset",)

    def requires(self):
        return {"graph": self.graph_task(), "optimize": self.clone(Optimize), "retrain": self.clone(Retrain),
                "dataset": self.clone(DownloadDataset)}

    @property
    def model(self):
        return self.path("assets/graph.lite")

    @property
    def labels(self):
        return self.path("assets/labels.txt")

    def tflite_facts(self):
        """Size, minimum runtime version and builtin ops of graph.lite."""
        return read_json(self.path(TFLITE_RECORD))

    def run(self):
        needs = self.requires()
        source, labels = needs["graph"].graph, needs["retrain"].labels
        size = self.architecture.size
        pixels = needs["dataset"].sample_pixels(size)
        if is_tflite_variant(self.variant):
            # A TFLite variant already carries its metadata: it ships as it is.
            model, facts = source.read_bytes(), needs["graph"].tflite_facts()
            check = check_against_graph(model, needs["optimize"].graph, pixels, exact=False)
        else:
            converted = to_tflite(source, size)
            check = check_against_graph(converted, source, pixels, exact=True)
            model, facts = for_clients(converted, labels, self.architecture, self.variant, version=self.artifact_id,
                                       pixels=pixels, model_path=self.model)
        with self.artifact_folder() as folder:
            (folder / "assets").mkdir()
            (folder / "assets" / self.model.name).write_bytes(model)
            shutil.copyfile(labels, folder / "assets" / self.labels.name)
            check_client_loads(folder / "assets" / self.model.name, needs["retrain"].read_labels())
            write_json(folder / "export.json", check)
            write_json(folder / TFLITE_RECORD, facts)
        log.info("Export %s: graph.lite %d bytes (%d without metadata), max |difference| %.2g, agreement %.0f%%",
                 self.variant, len(model), facts["size_without_metadata"], check["max_difference"],
                 100 * check["agreement"])
