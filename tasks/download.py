"""Download dataset and download base model: the DAG's two roots."""

import luigi

from poets import architectures
from poets.download import download, extract_photos
from tasks.artifact import ArtifactTask, Choice

CODELAB_PHOTOS = "http://download.tensorflow.org/example_images/flower_photos.tgz"


class DownloadDataset(ArtifactTask):
    """`photos/<label>/*.jpg`, extracted from the archive at --dataset-url."""

    stage = "dataset"
    dataset_url = luigi.Parameter(
        default=CODELAB_PHOTOS,
        description="a .tgz of class folders of photos (http://, https:// or file://)",
    )

    @property
    def photos(self):
        return self.path("photos")

    def run(self):
        with self.artifact_folder() as folder:
            archive = folder / "archive.tgz"
            download(self.dataset_url, archive, lambda done, total: self.report(done, total, "bytes"))
            extract_photos(archive, folder / "photos")
            archive.unlink()


class DownloadBaseModel(ArtifactTask):
    """The ImageNet weights file keras.applications would download for --architecture."""

    stage = "base_model"
    architecture = Choice(
        default=architectures.DEFAULT,
        choices=list(architectures.ARCHITECTURES),
        description="mobilenet_<alpha>_<size> (MobileNet v1) or mobilenet_v2_<alpha>_<size>",
    )
    base_model_url = luigi.Parameter(
        default="",
        description="where to get the weights; empty: the Keras URL for --architecture",
    )

    @property
    def weights(self):
        return self.path(architectures.get(self.architecture).weights_file)

    def run(self):
        url = self.base_model_url or architectures.get(self.architecture).weights_url
        with self.artifact_folder() as folder:
            download(url, folder / self.weights.name, lambda done, total: self.report(done, total, "bytes"))
