"""Bad parameters fail before any work, naming the parameter; bad URLs leave nothing behind."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import build_failing
from tasks.download import DownloadBaseModel, DownloadDataset
from workflows import MobileModel

ROOT = Path(__file__).parents[1]


def luigi_cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "workflows", "MobileModel", "--local-scheduler", *args],
        capture_output=True, text=True, cwd=cwd,
    )


@pytest.mark.parametrize("flag, value, expected", [
    ("--architecture", "mobilenet_9_999", "mobilenet_0.75_224"),
    ("--quantization-mode", "weights_cubed", "weights_rounded"),
    ("--training-steps", "-5", "--training-steps"),
    ("--learning-rate", "0", "--learning-rate"),
    ("--testing-percentage", "95", "--testing-percentage"),
    ("--validation-percentage", "-1", "--validation-percentage"),
    ("--train-batch-size", "0", "--train-batch-size"),
    ("--training-steps", "many", "--training-steps: 'many' is not an integer"),
    ("--random-seed", "-2", "--random-seed"),
    ("--hidden-units", "-1", "--hidden-units"),
    ("--dropout", "1", "--dropout"),
    ("--random-crop", "150", "--random-crop"),
    ("--dataset-sha256", "abc", "64 hexadecimal digits"),
    ("--android-variant", "iphone", "auto, dynamic_range"),
    ("--dataset-dir", "/no/such/photos", "--dataset-dir: '/no/such/photos' is not a folder"),
])
def test_invalid_parameter_fails_before_any_work(tmp_path, flag, value, expected):
    result = luigi_cli("--data-dir", str(tmp_path / "data"), flag, value)
    assert result.returncode != 0
    assert flag in result.stderr and expected in result.stderr
    assert not (tmp_path / "data").exists()


def test_invalid_values_given_in_python_are_refused_too():
    with pytest.raises(ValueError, match="--training-steps"):
        MobileModel(training_steps=0)
    with pytest.raises(ValueError, match="--architecture: 'resnet' is not valid; choose one of: mobilenet_0.25_128"):
        MobileModel(architecture="resnet")


@pytest.mark.parametrize("path", ["missing.tgz", "missing.h5"])
def test_missing_url_fails_naming_it_and_leaves_no_file(server, tmp_path, path):
    _, url = server
    task = (DownloadDataset if path.endswith("tgz") else DownloadBaseModel)(
        data_dir=str(tmp_path), **({"dataset_url": f"{url}/{path}"} if path.endswith("tgz")
                                   else {"base_model_url": f"{url}/{path}", "architecture": "mobilenet_0.25_128"}))
    [(failed, error)] = build_failing(task)
    assert f"{url}/{path}" in str(error) and "404" in str(error)
    assert list(tmp_path.rglob("*")) == [tmp_path / task.stage]


def test_unreachable_host_fails_naming_the_url(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/flower_photos.tgz"
    [(_, error)] = build_failing(DownloadDataset(data_dir=str(tmp_path), dataset_url=url))
    assert url in str(error) and "refused" in str(error).lower()
    assert not list(tmp_path.rglob("*.tgz")) and not list(tmp_path.rglob("*-luigi-tmp-*"))


def test_dataset_checksum_mismatch_fails_and_leaves_nothing(flowers, tmp_path):
    [(_, error)] = build_failing(DownloadDataset(data_dir=str(tmp_path), dataset_url=flowers["dataset_url"],
                                                 dataset_sha256="0" * 64))
    assert flowers["dataset_url"] in str(error) and "sha256" in str(error)
    assert list(tmp_path.rglob("*")) == [tmp_path / "dataset"]


def test_unsupported_url_scheme_fails_before_any_work(tmp_path):
    result = luigi_cli("--data-dir", str(tmp_path / "data"), "--dataset-url", "ftp://example.com/photos.tgz")
    assert result.returncode != 0 and "--dataset-url: 'ftp://example.com/photos.tgz'" in result.stderr
    assert not (tmp_path / "data").exists()
