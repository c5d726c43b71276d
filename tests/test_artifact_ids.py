"""The id and record logic of tasks/artifact.py, on tiny tasks: fast, no TensorFlow."""

import luigi
import pytest
from luigi.util import inherits

from tasks.artifact import ArtifactTask, artifact_folders, read_record
from tests.conftest import build, fresh


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
    assert ids(scale=2) == (ids(scale=2)[0], base_seeds) and ids(scale=2)[0] != base_sums
    # An upstream parameter moves the upstream id and, through it, this one.
    moved_sums, moved_seeds = ids(count=4)
    assert moved_seeds != base_seeds and moved_sums != base_sums
    # Where the artifacts live, and how much the log says, are not what they hold.
    assert ids(data_dir="elsewhere") == ids(verbose=True) == (base_sums, base_seeds)


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
    assert [f.parent.name for f in artifact_folders(tmp_path)] == ["seeds", "sums"]
    assert read_record(tmp_path) is None


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
