"""The id and record logic of tasks/artifact.py, on tiny tasks: fast, no TensorFlow."""

import luigi
import pytest
from luigi.util import inherits

from stores import complete_folders, move_into_place, read_record
from tasks.artifact import ArtifactTask
from tests.helpers import build, fresh


class Seeds(ArtifactTask):
    stage = "seeds"
    count = luigi.IntParameter(default=3)

    def run(self):
        with self.artifact_folder() as folder:
            (folder / "seeds.txt").write_text(" ".join(map(str, range(self.count))))


@inherits(Seeds)
class Sums(ArtifactTask):
    stage = "sums"
    scale = luigi.IntParameter(default=1)

    def requires(self):
        return self.clone(Seeds)

    def run(self):
        seeds = [int(s) for s in self.requires().path("seeds.txt").read_text().split()]
        with self.artifact_folder() as folder:
            (folder / "sum.txt").write_text(str(self.scale * sum(seeds)))


def ids(**params):
    fresh()
    return Sums(**params).artifact_id, Seeds(**{k: v for k, v in params.items() if k != "scale"}).artifact_id


def test_an_id_moves_with_its_own_and_upstream_parameters_only():
    base_sums, base_seeds = ids()
    scaled_sums, scaled_seeds = ids(scale=2)
    assert scaled_seeds == base_seeds and scaled_sums != base_sums
    # An upstream parameter moves the upstream id and, through it, this one.
    moved_sums, moved_seeds = ids(count=4)
    assert moved_seeds != base_seeds and moved_sums != base_sums
    # Where the artifacts live, and how much the log says, are not what they hold.
    assert ids(data_dir="elsewhere") == ids(verbose=True) == (base_sums, base_seeds)


def test_a_parameter_added_later_moves_no_id_at_the_value_it_had_before(monkeypatch):
    """A new setting (ArtifactTask.added_since) leaves every existing id where it was at its old value."""
    before = Sums().artifact_id
    offset = luigi.IntParameter(default=0)
    offset.__set_name__(Sums, "offset")  # what a class body does for a parameter
    monkeypatch.setattr(Sums, "offset", offset, raising=False)
    monkeypatch.setattr(Sums, "added_since", {"offset": 0})
    assert Sums().artifact_id == Sums(offset=0).artifact_id == before
    assert Sums(offset=5).artifact_id != before
    # Without added_since the new parameter is hashed like any other, and the id moves.
    monkeypatch.setattr(Sums, "added_since", {})
    fresh()  # luigi keeps instances, and each its id
    assert Sums().artifact_id != before


def test_a_version_bump_moves_the_stage_and_what_follows(monkeypatch):
    base_sums, base_seeds = ids()
    monkeypatch.setattr(Seeds, "version", 2)
    sums, seeds = ids()
    assert seeds != base_seeds and sums != base_sums
    monkeypatch.setattr(Seeds, "version", 1)
    monkeypatch.setattr(Sums, "version", 2)
    sums, seeds = ids()
    assert seeds == base_seeds and sums != base_sums


def test_the_record_says_what_made_the_artifact(tmp_path):
    fresh()
    task = Sums(data_dir=str(tmp_path), scale=2, count=4)
    build(task)
    assert task.path("sum.txt").read_text() == "12"
    record = read_record(task.output().path)
    assert record["task"] == "Sums" and record["id"] == task.artifact_id and record["version"] == 1
    # The parameters it brings; count reaches it through the Seeds id it requires.
    assert record["params"] == {"scale": "2"} and record["all_params"] == {"count": "4", "scale": "2"}
    assert record["requires"] == [f"Seeds:{task.requires().artifact_id}"]
    assert [f.parent.name for f in complete_folders(tmp_path)] == ["seeds", "sums"]
    assert read_record(tmp_path) is None


def test_an_artifact_about_to_be_renamed_into_place_is_not_listed(tmp_path, monkeypatch):
    """Its record is written just before the rename: another run listing the stage then (as a feature
    shard looks for features to reuse) must not take the -luigi-tmp- folder, gone a moment later."""
    import tasks.artifact

    fresh()
    task = Sums(data_dir=str(tmp_path))
    build(task.requires())
    seen = {}

    def renaming(folder, final):
        assert read_record(folder)["id"] == task.artifact_id
        seen["ids"], seen["folders"] = task.store.ids("sums"), complete_folders(tmp_path, "sums")
        return move_into_place(folder, final)

    monkeypatch.setattr(tasks.artifact, "move_into_place", renaming)
    task.run()
    assert seen == {"ids": [], "folders": []}
    assert task.store.ids("sums") == [task.artifact_id] and complete_folders(tmp_path, "sums") == [task.folder]


def test_a_failed_run_leaves_no_folder(tmp_path, monkeypatch):
    fresh()

    def broken(self):
        with self.artifact_folder() as folder:
            (folder / "sum.txt").write_text("half")
            raise RuntimeError("killed")

    monkeypatch.setattr(Sums, "run", broken)
    task = Sums(data_dir=str(tmp_path))
    with pytest.raises(RuntimeError):
        task.run()
    assert not task.output().exists() and list((tmp_path / "sums").iterdir()) == []


def test_a_full_disk_leaves_no_partial_artifact_and_says_so(tmp_path, monkeypatch):
    import errno

    fresh()

    def filling(self):
        with self.artifact_folder() as folder:
            (folder / "part.txt").write_text("half of it")
            raise OSError(errno.ENOSPC, "No space left on device", str(folder / "sum.txt"))

    monkeypatch.setattr(Sums, "run", filling)
    task = Sums(data_dir=str(tmp_path))
    with pytest.raises(OSError, match=r"Sums: the disk is full .* while writing .*sums/[0-9a-f]{16}; nothing of it "
                                      r"was kept") as error:
        task.run()
    assert error.value.errno == errno.ENOSPC
    assert not task.output().exists() and list((tmp_path / "sums").iterdir()) == []


# Which stages' ids each MobileModel flag moves: the one rule of tasks/artifact.py (an id hashes the
# task's version, the parameters it brings and its requirements' ids) seen from the command line.
HEAD = ["Retrain", "Optimize", "Quantize", "Compress", "Evaluate", "MobileModel"]
# With --android-variant, MobileModel requires its export and camera app from the start.
FEATURES = ["BottleneckShard", "Bottlenecks", "CheckPhotos"] + HEAD
SPLIT = ["CheckPhotos"] + HEAD
MOVES = {
    "data_dir": [], "cache_dir": [], "verbose": [], "bottleneck_shards": ["BottleneckShard"],
    "dataset_url": ["DownloadDataset"] + FEATURES, "dataset_sha256": ["DownloadDataset"] + FEATURES,
    "dataset_dir": ["DownloadDataset"] + FEATURES,
    "architecture": ["DownloadBaseModel", "LiteBaseModel"] + FEATURES,
    "base_model_url": ["DownloadBaseModel", "LiteBaseModel"] + FEATURES,
    "base_model_sha256": ["DownloadBaseModel", "LiteBaseModel"] + FEATURES,
    # The activations take the bottlenecks' place for the head; the photo check keeps the bottlenecks.
    "fine_tune_blocks": ["ActivationShard", "Activations"] + HEAD,
    "validation_percentage": SPLIT, "testing_percentage": SPLIT,
    "label_fixes": ["LabelFixesSnapshot"] + SPLIT,
    # Retrain's own flags, the fine-tuning ones even without --fine-tune-blocks.
    **{name: HEAD for name in ("training_steps", "learning_rate", "train_batch_size", "hidden_units", "dropout",
                               "label_smoothing",
                               "random_seed", "flip_left_right", "random_crop", "random_scale", "random_brightness",
                               "fine_tune_epochs", "fine_tune_learning_rate", "choose_step_by", "exclude_flagged")},
    "quantization_mode": ["Quantize", "Compress", "Evaluate", "MobileModel"],
    "android_variant": ["Export", "CameraApp", "MobileModel"],
    "max_size_kb": ["MobileModel"], "max_latency_ms": ["MobileModel"], "min_accuracy": ["MobileModel"],
}
OTHER = {"dataset_url": "http://127.0.0.1:9/other.tgz", "dataset_sha256": "0" * 64,
         "architecture": "mobilenet_0.25_160", "base_model_url": "http://127.0.0.1:9/other.h5",
         "base_model_sha256": "0" * 64, "bottleneck_shards": 4,
         "fine_tune_blocks": 1, "validation_percentage": 15, "testing_percentage": 15, "training_steps": 400,
         "learning_rate": 0.01, "train_batch_size": 16, "hidden_units": 0, "dropout": 0.3, "random_seed": 1,
         "label_smoothing": 0.1,
         "flip_left_right": True, "random_crop": 10, "random_scale": 10, "random_brightness": 10,
         "fine_tune_epochs": 3, "fine_tune_learning_rate": 1e-4, "choose_step_by": "validation",
         "exclude_flagged": True, "quantization_mode": "int8", "android_variant": "optimized", "max_size_kb": 100.0,
         "max_latency_ms": 5.0, "min_accuracy": 0.5, "cache_dir": "elsewhere", "verbose": True}


def stage_ids(task):
    """{task family: its artifact ids} of `task` and everything it requires; an id that cannot be
    known before a new dataset is downloaded (a shard's) reads as 'new'."""
    from luigi.task import flatten

    found, todo = {}, [task]
    while todo:
        task = todo.pop()
        try:
            artifact_id = task.artifact_id
        except LookupError:
            artifact_id = "new"
        found.setdefault(task.task_family, set()).add(artifact_id)
        todo += flatten(task.requires())
    return found


def test_each_flag_moves_the_ids_of_the_stages_that_use_it_and_of_what_follows(completed, flowers, tmp_path):
    from workflows import MobileModel

    params, _ = completed
    assert set(MOVES) == {name for name, _ in MobileModel.get_params()}, "say which stages a new flag moves"
    (tmp_path / "alias").symlink_to(params["data_dir"])
    (tmp_path / "fixes.csv").write_text("path,label\nroses/roses_000.jpg,exclude\n")
    other = {**OTHER, "data_dir": str(tmp_path / "alias"), "dataset_dir": str(flowers["photos"]),
             "label_fixes": str(tmp_path / "fixes.csv")}
    fresh()
    before = stage_ids(MobileModel(**params))
    for name, stages in MOVES.items():
        fresh()
        after = stage_ids(MobileModel(**{**params, name: other[name]}))
        moved = sorted(family for family in set(before) | set(after) if before.get(family) != after.get(family))
        assert moved == sorted(stages), name


def test_the_architecture_is_a_name_in_ids_and_records_and_the_architecture_itself_in_the_task(tmp_path):
    import hashlib
    import json

    from poets.backbones import architectures
    from poets.core.failures import BadInput
    from tasks.download import DownloadBaseModel

    fresh()
    name = "mobilenet_0.25_128"
    by_name = DownloadBaseModel(architecture=name, data_dir=str(tmp_path))
    # Looked up once, where the parameter is read: the task holds the Architecture, and a task
    # given the Architecture itself (as clone() passes it on) is the same task.
    assert by_name.architecture is architectures.get(name)
    assert DownloadBaseModel(architecture=architectures.get(name), data_dir=str(tmp_path)) is by_name
    # The id hashes the name, as when the parameter was a plain string.
    assert by_name.to_str_params()["architecture"] == by_name.artifact_params()["architecture"] == name
    key = json.dumps(["DownloadBaseModel", by_name.version, {"architecture": name, "base_model_sha256": "",
                                                             "base_model_url": ""}, []], sort_keys=True)
    assert by_name.artifact_id == hashlib.sha256(key.encode()).hexdigest()[:16]
    with pytest.raises(BadInput, match=r"^--architecture: 'mobilenet_9' is not valid; choose one of: "):
        DownloadBaseModel(architecture="mobilenet_9", data_dir=str(tmp_path))
