"""Bottlenecks: the base model's features for every photo, computed once."""

from luigi.util import inherits

from poets import bottlenecks
from tasks.artifact import ArtifactTask, write_json
from tasks.download import DownloadBaseModel, DownloadDataset


@inherits(DownloadDataset, DownloadBaseModel)
class Bottlenecks(ArtifactTask):
    stage = "bottlenecks"

    def requires(self):
        return {"dataset": self.clone(DownloadDataset), "base_model": self.clone(DownloadBaseModel)}

    @property
    def features(self):
        return self.path("bottlenecks.npz")

    @property
    def skipped(self):
        return self.path("skipped.json")

    def run(self):
        dataset, base_model = self.requires()["dataset"], self.requires()["base_model"]
        with self.artifact_folder() as folder:
            skipped = bottlenecks.compute(
                dataset.photos, self.architecture, base_model.weights,
                folder / self.features.name, progress=self.report,
            )
            write_json(folder / self.skipped.name, [{"photo": p, "reason": r} for p, r in skipped])
