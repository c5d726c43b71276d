"""Artifacts in a local folder, `--data-dir data`: each made and read in place."""

from pathlib import Path

import luigi

from stores.records import ArtifactDamaged, complete_folders, damage, read_record
from stores.store import Store


class LocalStore(Store):
    """Artifacts in the folder `data_dir`, read and written in place."""

    remote = False

    def __init__(self, data_dir):
        super().__init__()
        self.root = str(data_dir)

    def folder(self, stage, artifact_id) -> Path:
        return Path(self.root, stage, artifact_id)

    def where(self, stage, artifact_id) -> str:
        return str(self.folder(stage, artifact_id))

    def target(self, stage, artifact_id):
        return luigi.LocalTarget(str(self.folder(stage, artifact_id)))

    def record(self, stage, artifact_id):
        return read_record(self.folder(stage, artifact_id))

    def ids(self, stage):
        return [folder.name for folder in complete_folders(self.root, stage)]

    def fetch(self, stage, artifact_id, names=None) -> Path:
        folder = self.folder(stage, artifact_id)
        if problems := damage(folder, names):
            raise ArtifactDamaged(f"artifact {folder} is damaged: {'; '.join(problems)}. "
                                  f"Remove the folder and run again to rebuild it")
        return folder

    def check(self):
        """Nothing to check: a missing folder is made when written."""

    def publish(self, stage, artifact_id):
        """Nothing to do: the folder in place is the artifact."""

    def damage(self, stage, artifact_id):
        return damage(self.folder(stage, artifact_id))
