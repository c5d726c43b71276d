"""Bottlenecks: the base model's features for every photo, computed once, in
shards, by LiteRT from the base model converted once (LiteBaseModel);
Activations: to fine-tune the last blocks, the activations at their input,
the same way, by TensorFlow from the Keras weights."""

import logging

import luigi
from luigi.util import inherits

from poets.backbones.joined import Branch
from poets.core.failures import BadInput
from poets.core.images import photos_among
from poets.features import bottlenecks
from poets.models import tflite
from tasks.artifact import ArtifactTask, check_intact, read_json, write_json
from tasks.download import DownloadBaseModel, DownloadDataset
from tasks.parameters import fine_tune_blocks

log = logging.getLogger("luigi-interface")

# The default of --fine-tune-blocks, chosen by measurement (benchmarks/README.md, "Fine-tuning").
FINE_TUNE_BLOCKS = 0


@inherits(DownloadBaseModel)
class LiteBaseModel(ArtifactTask):
    """The base model converted for LiteRT, any batch size: the features run in 0.56 times
    TensorFlow's time (benchmarks/README.md, "A cold run"), and the shards need no TensorFlow."""

    stage = "lite_base_model"
    uses_tensorflow = True

    def requires(self):
        arch = self.architecture
        # A pair's branch: the weights of its backbone alone, as a run of that backbone has them.
        return self.clone(DownloadBaseModel, architecture=arch.part if isinstance(arch, Branch) else arch)

    @property
    def model(self):
        return self.path("base_model.tflite")

    def run(self):
        arch = self.architecture
        with self.artifact_folder() as folder:
            (folder / self.model.name).write_bytes(
                tflite.keras_to_tflite(arch.base_model(self.requires().weights), arch.size))


@inherits(DownloadDataset, DownloadBaseModel)
class BottleneckShard(ArtifactTask):
    """The features of the photos whose content hash falls in shard `shard` of `shards`.

    Its id hashes those photos (path and sha256) and the base model, not the
    dataset: adding photos reruns only the shards they land in."""

    stage = "bottleneck_shards"
    version = 2  # 2: by LiteRT
    # (stage, version) of artifacts whose features a shard may take over.
    reusable_stages = (("bottleneck_shards", 2),)
    #: What computes the features: the task whose `model` file compute() takes.
    model_task = LiteBaseModel
    #: The activations at the input of the last `cut` blocks; 0: the pooled features.
    cut = 0
    shard = luigi.IntParameter(description="which shard, 0 .. shards - 1")
    shards = luigi.IntParameter(description="how many shards the photos are split into")
    unhashed = ArtifactTask.unhashed + ("shard", "shards")
    # A shard needs its own photos, not all of them: from a bucket, it downloads only those.
    reads_in_part = ("dataset",)

    def requires(self):
        return {"dataset": self.clone(DownloadDataset), "base_model": self.clone(self.model_task)}

    def complete(self):
        # Which photos are in the shard, and so its id, is known once the dataset is.
        return self.requires()["dataset"].complete() and super().complete()

    def members(self):
        """[(relative path, label, sha256)] of this shard's photos."""
        digests = self.requires()["dataset"].photo_digests()
        return [(path, label, digests[path]) for path, label in photos_among(list(digests))
                if bottlenecks.shard_of(digests[path], self.shards) == self.shard]

    def identity(self):
        return [self.task_family, self.version, self.requires()["base_model"].artifact_id,
                [(path, digest) for path, _, digest in self.members()]]

    @property
    def features(self):
        return self.path("bottlenecks.npz")

    def model_file(self):
        """The base model the features are computed from (bottlenecks.compute's `model_path`)."""
        return self.requires()["base_model"].model

    def reusable(self):
        """Earlier features made with the same base model, downloaded when they are elsewhere."""
        model = self.requires()["base_model"]
        base_model = f"{model.task_family}:{model.artifact_id}"
        found = []
        for stage, version in self.reusable_stages:
            for artifact_id in self.store.ids(stage):
                record = self.store.record(stage, artifact_id)
                if (record["version"] == version and base_model in record["requires"]
                        and int(record["all_params"].get("fine_tune_blocks", 0)) == self.cut):
                    try:
                        found.append(self.store.fetch_once(stage, artifact_id) / self.features.name)
                    except Exception as error:  # reuse is an optimisation: never let it fail the shard
                        log.warning("BottleneckShard: not reusing %s: %s", artifact_id, error)
        return found

    def run(self):
        dataset = self.requires()["dataset"]
        members = [(path, label) for path, label, _ in self.members()]
        photos = check_intact(dataset, [f"photos/{path}" for path, _ in members]) / dataset.photos.name
        with self.artifact_folder() as folder:
            skipped, counts = bottlenecks.compute(
                photos, members, self.architecture, self.model_file(),
                folder / self.features.name, progress=self.progress, reuse=self.reusable(), blocks=self.cut,
            )
            write_json(folder / "skipped.json", [{"photo": p, "reason": r} for p, r in skipped])
            write_json(folder / "bottlenecks.json", counts)
        log.info("%s %d/%d: computed %d photos, reused %d", self.task_family, self.shard, self.shards,
                 counts["computed"], counts["reused"])


@inherits(DownloadDataset, DownloadBaseModel)
class Bottlenecks(ArtifactTask):
    """Every photo's features in one file, merged from the shards; for two backbones joined, each
    branch's (its own Bottlenecks, shards and base model) side by side: a run of one of them alone
    and the pair share what they have in common."""

    stage = "bottlenecks"
    version = 4  # 2: content hashes, features reused from earlier bottlenecks; 3: merged from shards; 4: LiteRT
    shard_task = BottleneckShard
    # It needs the dataset's list of files (its record), not its photos.
    reads_in_part = ("dataset",)
    bottleneck_shards = luigi.IntParameter(
        default=8, description="how many tasks compute the features (each any worker can take)")
    # How the work was split does not change the features.
    unhashed = ArtifactTask.unhashed + ("bottleneck_shards",)

    def requires(self):
        branches = getattr(self.architecture, "branches", ())
        if branches:
            # The pair's weights are its parts': no URL or checksum of their own (DownloadBaseModel).
            return {"dataset": self.clone(DownloadDataset),
                    "branches": [self.clone(Bottlenecks, architecture=branch, base_model_url="", base_model_sha256="")
                                 for branch in branches]}
        return {"dataset": self.clone(DownloadDataset), "base_model": self.clone(self.shard_task.model_task),
                "shards": [self.clone(self.shard_task, shard=i, shards=self.bottleneck_shards)
                           for i in range(self.bottleneck_shards)]}

    def identity(self):
        # The photos and the weights fix the features; the shards are how they were computed.
        needs = self.requires()
        weights = needs["branches"] if "branches" in needs else [needs["base_model"]]
        upstream = [f"{task.task_family}:{task.artifact_id}" for task in [needs["dataset"], *weights]]
        return [self.task_family, self.version, self.artifact_params(), upstream]

    @property
    def features(self):
        return self.path("bottlenecks.npz")

    @property
    def skipped(self):
        return self.path("skipped.json")

    def run(self):
        if "branches" in self.requires():
            return self.join()
        dataset, shards = self.requires()["dataset"], self.requires()["shards"]
        others = []
        photos = photos_among(list(dataset.photo_digests()), others)
        skipped = [{"photo": path, "reason": "not a photo: no image file extension"} for path in others]
        counts = {"computed": 0, "reused": 0}
        for shard in shards:
            skipped += read_json(shard.path("skipped.json"))
            for key, value in read_json(shard.path("bottlenecks.json")).items():
                counts[key] += value
        with self.artifact_folder() as folder:
            bottlenecks.merge([shard.features for shard in shards], photos, folder / self.features.name,
                              dataset.source)
            write_json(folder / self.skipped.name, sorted(skipped, key=lambda item: item["photo"]))
            write_json(folder / "bottlenecks.json", counts)
        self.progress(len(photos), len(photos))
        log.info("%s: computed %d photos, reused %d", self.task_family, counts["computed"], counts["reused"])

    def join(self):
        branches = self.requires()["branches"]
        with self.artifact_folder() as folder:
            held = bottlenecks.join([branch.features for branch in branches], folder / self.features.name)
            # Every branch skipped the same photos (the same decoder at the same size).
            write_json(folder / self.skipped.name, read_json(branches[0].skipped))
            counts = {branch.architecture.name: read_json(branch.path("bottlenecks.json")) for branch in branches}
            write_json(folder / "bottlenecks.json", counts)
        self.progress(held, held)
        log.info("%s: joined the features of %s", self.task_family,
                 " and ".join(branch.architecture.name for branch in branches))


def check_fine_tune_blocks(task):
    """Fail, naming the flag, when the architecture has fewer blocks than asked for."""
    arch = task.architecture
    if task.fine_tune_blocks and not arch.blocks:
        arch.split(None, task.fine_tune_blocks)  # says why in one line
    if task.fine_tune_blocks > arch.blocks:
        raise BadInput(f"--fine-tune-blocks: {task.fine_tune_blocks} is more than the {arch.blocks} blocks "
                       f"of {arch.name}")


class ActivationShard(BottleneckShard):
    """The activations at the input of the last `fine_tune_blocks` blocks
    (float16) of the photos in shard `shard` of `shards`."""

    stage = "activation_shards"
    uses_tensorflow = True
    version = 1
    reusable_stages = (("activation_shards", 1), ("activations", 1))
    model_task = DownloadBaseModel
    fine_tune_blocks = fine_tune_blocks(FINE_TUNE_BLOCKS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check_fine_tune_blocks(self)

    @property
    def cut(self):
        return self.fine_tune_blocks

    def model_file(self):
        return self.requires()["base_model"].weights

    def identity(self):
        return super().identity() + [self.fine_tune_blocks]


class Activations(Bottlenecks):
    """Every photo's activations at the input of the last `fine_tune_blocks`
    blocks in one file (float16), merged from the shards."""

    stage = "activations"
    version = 1
    shard_task = ActivationShard
    fine_tune_blocks = fine_tune_blocks(FINE_TUNE_BLOCKS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check_fine_tune_blocks(self)

    def identity(self):
        # The shards share the parameter, so artifact_params() leaves it out.
        return super().identity() + [self.fine_tune_blocks]


def features_of(task):
    """What `task` (which has every parameter of Activations) trains on: the
    pooled features, or the activations at the input of the blocks it fine-tunes."""
    return task.clone(Activations if task.fine_tune_blocks else Bottlenecks)
