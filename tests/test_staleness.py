"""Staleness beyond parameters: a local photo folder's content, and each stage's code version."""

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import FAST_TRAINING, TINY, build, families, fresh, linked_copy, make_photos, summary_of
from workflows import MobileModel

# Real luigid, subprocesses, S3 or repeated runs: the slow part of the suite (-m "not slow" skips it).
pytestmark = pytest.mark.slow

DOWNSTREAM = (["Bottlenecks", "CheckPhotos", "Retrain", "Optimize", "Quantize", "CameraApp", "MobileModel"]
              + ["Compress", "Evaluate"] * 3 + ["Export"] * 2)


@pytest.fixture(scope="module")
def built(flowers, tmp_path_factory, with_base_model):
    """A local --dataset-dir run, complete; returns (params, folder)."""
    root = tmp_path_factory.mktemp("local")
    folder = make_photos(root / "my photos", per_class=20)
    params = {"data_dir": with_base_model(root / "data"), "dataset_dir": str(folder),
              "base_model_url": flowers["base_model_url"], "architecture": TINY, **FAST_TRAINING}
    fresh()
    build(MobileModel(**params))
    return params, folder


@pytest.fixture
def local(built, tmp_path):
    """That run for one test to change: its photos copied (with their times, which the dataset's
    fingerprint reads), its artifacts hard-linked (a rerun only adds folders)."""
    params, folder = built
    copy = shutil.copytree(folder, tmp_path / "my photos")
    return {**params, "data_dir": str(linked_copy(params["data_dir"], tmp_path / "data")),
            "dataset_dir": str(copy)}, copy


def rerun(params):
    fresh()
    return families(build(MobileModel(**params)))


def test_unchanged_folder_reruns_nothing(local):
    params, folder = local
    assert rerun(params) == []
    (folder / ".DS_Store").write_bytes(b"finder was here")  # hidden files are not photos
    assert rerun(params) == []


@pytest.mark.parametrize("change", ["add", "remove", "edit"])
def test_changed_photos_rerun_the_bottlenecks_and_everything_after(local, change):
    params, folder = local
    photo = folder / "roses" / "roses_000.jpg"
    if change == "add":
        shutil.copy(photo, folder / "roses" / "roses_new.jpg")
    elif change == "remove":
        photo.unlink()
    else:
        data = photo.read_bytes()
        photo.write_bytes(data[:-2] + bytes([data[-2] ^ 1]) + data[-1:])
        os.utime(photo, ns=(photo.stat().st_atime_ns, photo.stat().st_mtime_ns + 1_000_000))
    shards = Path(params["data_dir"], "bottleneck_shards")
    before = set(shards.glob("*/params.json"))
    ran = rerun(params)
    assert [f for f in ran if f != "BottleneckShard"] == sorted(["DownloadDataset"] + DOWNSTREAM)
    # Every shard is scheduled (which photos are in which is known only once the new dataset
    # is), but only the shard the photo is in by its content is made again; an edited photo
    # may move to another shard, changing both.
    assert 1 <= len(set(shards.glob("*/params.json")) - before) <= (2 if change == "edit" else 1)
    assert rerun(params) == []


def test_the_folder_may_move(local, tmp_path):
    params, folder = local
    moved = tmp_path / "moved"
    folder.rename(moved)  # rename keeps names, sizes and times
    assert rerun({**params, "dataset_dir": str(moved)}) == []
    summary = summary_of({**params, "dataset_dir": str(moved)})
    assert summary["variants"]["optimized"]["accuracy"] >= 0.8


def test_a_new_stage_version_reruns_that_stage_and_after(changeable, monkeypatch):
    from tasks.optimize import Optimize

    params = changeable
    monkeypatch.setattr(Optimize, "version", Optimize.version + 1)
    fresh()
    ran = families(build(MobileModel(**params)))
    assert ran == sorted(["Optimize", "Quantize", "CameraApp", "MobileModel"] + ["Compress", "Evaluate", "Export"] * 2)
    monkeypatch.undo()
    assert rerun(params) == []


def test_an_added_photo_is_the_only_one_the_base_model_sees(local):
    import json

    import numpy as np

    from poets.features import bottlenecks
    from tasks.bottlenecks import Bottlenecks

    params, folder = local
    shards = Path(params["data_dir"], "bottleneck_shards")

    def new_shards(before):
        """{"computed", "reused"} summed over the shards made since `before`."""
        counts = [json.loads((f / "bottlenecks.json").read_text()) for f in set(shards.iterdir()) - before]
        return {key: sum(c[key] for c in counts) for key in ("computed", "reused")}

    first = Bottlenecks(**{k: v for k, v in params.items() if k in Bottlenecks.get_param_names()})
    before = bottlenecks.load(first.features)
    earlier = set(shards.iterdir())
    shutil.copy(folder / "roses" / "roses_000.jpg", folder / "roses" / "roses_copy.jpg")
    (folder / "roses" / "roses_001.jpg").unlink()
    rerun(params)
    fresh()
    second = Bottlenecks(**{k: v for k, v in params.items() if k in Bottlenecks.get_param_names()})
    assert second.output().path != first.output().path
    # The copy has the same bytes as a photo seen before: nothing new for the model.
    assert new_shards(earlier)["computed"] == 0 and new_shards(earlier)["reused"] > 0
    after = bottlenecks.load(second.features)
    assert "roses/roses_copy.jpg" in after[1] and "roses/roses_001.jpg" not in after[1]
    row = dict(zip(after[1], after[0]))
    np.testing.assert_array_equal(row["roses/roses_copy.jpg"], dict(zip(before[1], before[0]))["roses/roses_000.jpg"])
    # A photo with new bytes is computed, alone.
    (folder / "roses" / "roses_new.png").write_bytes((folder / "roses" / "roses_002.jpg").read_bytes()[:-1] + b"\0")
    earlier = set(shards.iterdir())
    rerun(params)
    assert new_shards(earlier)["computed"] == 1
