"""Each artifact's record lists its files; a damaged one is caught by the reader and by verify."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from stores import ArtifactDamaged
from tests.helpers import build, build_failing, fresh
from tests.test_artifacts import flags
from workflows import MobileModel, artifacts


def test_records_list_every_file_with_its_size_and_sha256(completed):
    params, _ = completed
    for record_path in Path(params["data_dir"]).glob("*/*/params.json"):
        files = json.loads(record_path.read_text())["files"]
        on_disk = {p.relative_to(record_path.parent).as_posix() for p in record_path.parent.rglob("*")
                   if p.is_file() and p.name != "params.json"}
        assert set(files) == on_disk, record_path
        for name, expected in list(files.items())[:3]:
            data = (record_path.parent / name).read_bytes()
            assert expected == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_a_damaged_artifact_is_caught_by_its_reader_and_by_verify(completed, tmp_path, capsys):
    from tasks.retrain import Retrain

    params, _ = completed
    data_dir = tmp_path / "data"
    shutil.copytree(params["data_dir"], data_dir)
    copy = {**params, "data_dir": str(data_dir)}
    fresh()
    assert artifacts.main(["verify", *flags(copy)]) == 0
    # One flipped byte in the retrained graph, and the graphs made from it gone.
    graph = MobileModel(**copy).clone(Retrain).graph
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 1
    graph.write_bytes(bytes(data))
    for stage in ("optimize", "quantize", "compress", "evaluate", "export", "mobile_model"):
        shutil.rmtree(data_dir / stage)
    capsys.readouterr()
    assert artifacts.main(["verify", *flags(copy)]) == 1
    out = capsys.readouterr().out
    assert f"DAMAGED {graph.parent}: retrained_graph.pb does not have the sha256 its record gives" in out
    fresh()
    failures = build_failing(MobileModel(**copy))
    # Every task that reads the retrained graph refuses it, naming the artifact and the file.
    assert failures and {type(error) for _, error in failures} == {ArtifactDamaged}
    assert all(str(graph.parent) in str(error) and "retrained_graph.pb" in str(error) for _, error in failures)
    assert not (data_dir / "optimize").exists() or not any((data_dir / "optimize").iterdir())
    # Removing the damaged artifact rebuilds it, byte for byte.
    shutil.rmtree(graph.parent)
    fresh()
    build(MobileModel(**copy))
    assert graph.read_bytes() == (Path(params["data_dir"]) / graph.relative_to(data_dir)).read_bytes()
    fresh()
    assert artifacts.main(["verify", *flags(copy)]) == 0


def test_a_record_that_lists_no_files_is_not_taken_on_trust(completed, tmp_path):
    from stores import read_record
    from tasks.artifact import check_intact, write_json
    from tasks.retrain import Retrain

    params, _ = completed
    data_dir = tmp_path / "data"
    shutil.copytree(params["data_dir"], data_dir)
    fresh()
    retrain = MobileModel(**{**params, "data_dir": str(data_dir)}).clone(Retrain)
    record = read_record(retrain.folder)
    del record["files"]
    write_json(retrain.folder / "params.json", record)
    with pytest.raises(ArtifactDamaged, match="lists no files") as error:
        check_intact(retrain)
    assert str(retrain.folder) in str(error.value)


def test_earlier_features_are_hashed_once_however_many_shards_reuse_them(changeable, monkeypatch):
    from collections import Counter

    from stores import records
    from tasks.bottlenecks import BottleneckShard

    params = {k: v for k, v in changeable.items() if k in BottleneckShard.get_param_names()}
    earlier = {str(p) for p in Path(changeable["data_dir"], "bottleneck_shards").glob("*/bottlenecks.npz")}
    hashed, sha256_of = [], records.sha256_of
    monkeypatch.setattr(records, "sha256_of", lambda path: hashed.append(str(path)) or sha256_of(path))
    # Four shards instead of eight: new shards, each reusing the eight earlier ones' features.
    ran = build(*[BottleneckShard(**params, shard=shard, shards=4) for shard in range(4)])
    assert [task.task_family for task in ran] == ["BottleneckShard"] * 4
    assert Counter(path for path in hashed if path in earlier) == Counter(earlier)
