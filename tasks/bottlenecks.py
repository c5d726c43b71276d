"""Bottlenecks: the base model's features for every photo, computed once."""

import logging

from luigi.util import inherits

from poets import bottlenecks
from tasks.artifact import ArtifactTask, artifact_folders, damage, read_record, write_json
from tasks.download import DownloadBaseModel, DownloadDataset

log = logging.getLogger("luigi-interface")


@inherits(DownloadDataset, DownloadBaseModel)
class Bottlenecks(ArtifactTask):
    stage = "bottlenecks"
    uses_tensorflow = True
    version = 2  # 2: content hashes, features reused from earlier bottlenecks

    def requires(self):
        return {"dataset": self.clone(DownloadDataset), "base_model": self.clone(DownloadBaseModel)}

    @property
    def features(self):
        return self.path("bottlenecks.npz")

    @property
    def skipped(self):
        return self.path("skipped.json")

    def reusable(self):
        """Earlier bottlenecks of this version made with the same base model weights."""
        base_model = f"DownloadBaseModel:{self.requires()['base_model'].artifact_id}"
        found = []
        for folder in artifact_folders(self.data_dir, self.stage):
            record = read_record(folder)
            if record["version"] == self.version and base_model in record["requires"]:
                if problems := damage(folder):
                    log.warning("Bottlenecks: not reusing %s, it is damaged: %s", folder, "; ".join(problems))
                    continue
                found.append(folder / self.features.name)
        return sorted(found)

    def run(self):
        dataset, base_model = self.requires()["dataset"], self.requires()["base_model"]
        with self.artifact_folder() as folder:
            skipped, counts = bottlenecks.compute(
                dataset.photos, self.architecture, base_model.weights,
                folder / self.features.name, progress=self.progress, reuse=self.reusable(),
            )
            write_json(folder / self.skipped.name, [{"photo": p, "reason": r} for p, r in skipped])
            write_json(folder / "bottlenecks.json", counts)
        log.info("Bottlenecks: computed %d photos, reused %d", counts["computed"], counts["reused"])
