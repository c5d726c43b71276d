"""Quantize: the optimized graph with its weights quantized per --quantization-mode."""

from luigi.util import inherits

from poets.core.images import load_photo
from poets.models import graphs
from poets.variants import quantize
from poets.variants.export import check_client_loads, for_clients
from tasks.artifact import ArtifactTask, check_intact, read_json, write_json
from tasks.download import DownloadDataset
from tasks.optimize import Optimize
from tasks.parameters import Choice
from tasks.retrain import Retrain

CALIBRATION_PHOTOS = 100
TFLITE_RECORD = "tflite.json"


@inherits(Optimize)
class Quantize(ArtifactTask):
    stage = "quantize"
    uses_tensorflow = True
    version = 4  # 2: levels per output channel; 3: per tensor where channels agree, one-byte codes;
    # 4: TFLite modes carry metadata (labels, input normalisation)
    quantization_mode = Choice(
        default="weights_rounded", choices=quantize.MODES,
        description="weights_rounded: 256 levels stored as float (gzips well); weights: 8-bit weights in "
                    "the graph; float16, dynamic_range, int8: TFLite models (int8 calibrated on training photos)",
    )

    # It reads a sample of the photos, and int8's calibration photos: from a bucket, only those are downloaded.
    reads_in_part = ("dataset",)

    def requires(self):
        return {"optimize": self.clone(Optimize), "retrain": self.clone(Retrain),
                "dataset": self.clone(DownloadDataset)}

    @property
    def graph_file(self):
        return quantize.FILE_NAMES[self.quantization_mode]

    @property
    def graph(self):
        return self.path(self.graph_file)

    def tflite_facts(self):
        """TFLite modes: size, minimum runtime version and builtin ops of the model."""
        return read_json(self.path(TFLITE_RECORD))

    def calibration_paths(self):
        """Up to CALIBRATION_PHOTOS training photos (never validation or test), spread evenly."""
        training = [path for path, _ in self.requires()["retrain"].split_photos("training")]
        return training[:: max(1, len(training) // CALIBRATION_PHOTOS)][:CALIBRATION_PHOTOS]

    def run(self):
        optimized = self.requires()["optimize"].graph
        with self.artifact_folder() as folder:
            mode = quantize.MODE_TABLE[self.quantization_mode]
            if not mode.tflite:
                graphs.save(quantize.quantize(graphs.load(optimized), self.quantization_mode), folder / self.graph_file)
            else:
                size = self.architecture.size
                dataset, retrain = self.requires()["dataset"], self.requires()["retrain"]
                calibrating = self.calibration_paths() if mode.calibrated else []
                photos = check_intact(dataset, [f"photos/{path}" for path in calibrating]) / dataset.photos.name
                calibration = (load_photo(photos / path, size) for path in calibrating)
                model = quantize.quantize_tflite(optimized, size, self.quantization_mode,
                                                 calibration if calibrating else None)
                model, facts = for_clients(
                    model, retrain.labels, self.architecture, self.quantization_mode, version=self.artifact_id,
                    pixels=dataset.sample_pixels(size), model_path=self.graph)
                (folder / self.graph_file).write_bytes(model)
                check_client_loads(folder / self.graph_file, retrain.read_labels())
                write_json(folder / TFLITE_RECORD, facts)
