"""Bad parameters fail before any work, naming the parameter; bad URLs leave nothing behind."""

import subprocess
import sys
from pathlib import Path

import pytest

from tasks.download import DownloadBaseModel, DownloadDataset
from tests.helpers import build_failing, flags
from workflows import MobileModel

ROOT = Path(__file__).parents[1]


def luigi_cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "workflows", "MobileModel", "--local-scheduler", *args],
        capture_output=True, text=True, cwd=cwd,
    )


BAD_VALUES = [
    ("--architecture", "mobilenet_9_999", "mobilenet_0.75_224"),
    ("--quantization-mode", "weights_cubed", "weights_rounded"),
    ("--training-steps", "-5", "--training-steps"),
    ("--learning-rate", "0", "--learning-rate"),
    ("--testing-percentage", "95", "--testing-percentage"),
    ("--testing-percentage", "0", "--testing-percentage: 0 is not in the range (0, 100]"),
    ("--validation-percentage", "-1", "--validation-percentage"),
    ("--train-batch-size", "0", "--train-batch-size"),
    ("--training-steps", "many", "--training-steps: 'many' is not an integer"),
    ("--random-seed", "-2", "--random-seed"),
    ("--hidden-units", "-1", "--hidden-units"),
    ("--dropout", "1", "--dropout"),
    ("--random-crop", "150", "--random-crop"),
    # The default joins two backbones: fine-tuning takes one.
    ("--fine-tune-blocks", "1", "--fine-tune-blocks: efficientnet_lite0_224+efficientnet_lite1_240@256 joins two "
                                "backbones; fine-tuning takes one (give 0)"),
    ("--fine-tune-epochs", "-1", "--fine-tune-epochs"),
    ("--fine-tune-learning-rate", "0", "--fine-tune-learning-rate"),
    ("--dataset-sha256", "abc", "64 hexadecimal digits"),
    ("--android-variant", "iphone", "auto, dynamic_range"),
    ("--choose-step-by", "cv", "auto, folds, validation"),
    ("--max-size-kb", "-3", "--max-size-kb"),
    ("--dataset-dir", "/no/such/photos", "--dataset-dir: '/no/such/photos' is not a folder"),
]
# Through the luigi command line, one of each way a value fails: a choice, a range, a
# parse, a check made where two flags meet, a folder that is not there.
ON_THE_COMMAND_LINE = {"--architecture", "--training-steps", "--fine-tune-blocks", "--dataset-dir"}


def every_task(task):
    """The task and all it requires, made as the scheduler makes them (each checks its flags then)."""
    from luigi.task import flatten

    pending, seen = [task], []
    while pending:
        current = pending.pop()
        seen.append(current)
        pending.extend(flatten(current.requires()))
    return seen


@pytest.mark.parametrize("flag, value, expected", [case for case in BAD_VALUES if case[0] in ON_THE_COMMAND_LINE])
def test_invalid_parameter_fails_before_any_work(tmp_path, flag, value, expected):
    result = luigi_cli("--data-dir", str(tmp_path / "data"), flag, value)
    # luigi.cfg's [retcode]: 40, the command line names a bad value; 35, a task refused it as the DAG was made.
    assert result.returncode in (35, 40)
    assert "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith(("ERROR:", "WARNING:"))]
    assert len(said) == 1 and f"{flag}" in said[0] and expected in said[0]
    assert not (tmp_path / "data").exists()


def test_verbose_brings_the_traceback_back(tmp_path):
    result = luigi_cli("--data-dir", str(tmp_path / "data"), "--architecture", "x", "--verbose")
    assert result.returncode == 40 and "Traceback (most recent call last)" in result.stderr
    assert "--architecture: 'x' is not valid" in result.stderr


def test_a_bad_label_fixes_file_fails_its_task_in_one_line(changeable, tmp_path):
    """A failure inside a task's run(): luigi's log says which task failed and why, without the traceback."""
    fixes = tmp_path / "fixes.csv"
    fixes.write_text("path,label\nroses/roses_000.jpg,orchids\n")
    result = luigi_cli(*flags(changeable), "--label-fixes", str(fixes))
    assert result.returncode == 30, result.stderr[-2000:]  # luigi.cfg's [retcode] task_failed
    assert "Traceback" not in result.stderr
    # CheckPhotos and Retrain both read the fixes: each failure is its task's one line.
    failed = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert failed and all(f"--label-fixes: {fixes}, line 2: 'orchids' is not a class" in line for line in failed)


@pytest.mark.parametrize("flag, value, expected", BAD_VALUES)
def test_invalid_parameter_fails_naming_it_when_the_tasks_are_made(tmp_path, flag, value, expected):
    with pytest.raises(ValueError) as error:
        every_task(MobileModel.from_str_params({"data_dir": str(tmp_path / "data"), flag[2:].replace("-", "_"): value}))
    assert flag in str(error.value) and expected in str(error.value)
    assert not (tmp_path / "data").exists()


def test_invalid_values_given_in_python_are_refused_too():
    with pytest.raises(ValueError, match="--training-steps"):
        MobileModel(training_steps=0)
    with pytest.raises(ValueError, match="--architecture: 'resnet' is not valid; choose one of: .*mobilenet_0.25_128"):
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


@pytest.mark.parametrize("kind", ["unresolvable", "refused"])
def test_a_host_that_is_not_there_fails_at_once_without_retries(tmp_path, monkeypatch, kind):
    import socket

    from poets.core import download

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # .invalid never resolves (RFC 2606).
    url = {"unresolvable": "http://no-such-host.invalid/flower_photos.tgz",
           "refused": f"http://127.0.0.1:{port}/flower_photos.tgz"}[kind]
    waits = []
    monkeypatch.setattr(download.time, "sleep", waits.append)
    expected = "does not resolve" if kind == "unresolvable" else "refused"
    with pytest.raises(download.DownloadError, match=expected) as error:
        download.download(url, tmp_path / "archive.tgz", retries=3, backoff=1)
    assert url in str(error.value) and waits == []


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


def test_weights_of_another_architecture_fail_at_the_download_naming_what_they_fit(flowers, tmp_path):
    from tasks.bottlenecks import Bottlenecks

    # The tiny MobileNet v1 0.25 weights, asked for as MobileNetV2.
    params = {"data_dir": str(tmp_path), "dataset_url": flowers["dataset_url"],
              "base_model_url": flowers["base_model_url"], "architecture": "mobilenet_v2_0.35_96"}
    [(failed, error)] = build_failing(Bottlenecks(**params))
    assert isinstance(failed, DownloadBaseModel)
    assert str(error) == (f"--base-model-url: {flowers['base_model_url']} holds weights of mobilenet_0.25_224, "
                          "mobilenet_0.25_192, mobilenet_0.25_160, mobilenet_0.25_128, not of --architecture "
                          "mobilenet_v2_0.35_96")
    assert not (tmp_path / "base_model").exists() or not any((tmp_path / "base_model").iterdir())
    assert not (tmp_path / "bottlenecks").exists()


def test_weights_are_told_apart_by_version_and_alpha(tmp_path):
    from poets.backbones import architectures
    from tests.helpers import make_base_model

    v2 = make_base_model(tmp_path / "v2.h5", "mobilenet_v2_0.35_96")
    assert architectures.fitting(v2) == [f"mobilenet_v2_0.35_{size}" for size in architectures.V2_SIZES]
    (tmp_path / "notes.h5").write_text("not weights")
    assert architectures.fitting(tmp_path / "notes.h5") == []


def said_in_one_line(result, expected, code):
    """The run ended with luigi's exit code `code` and said `expected` on a line of its own: every ERROR
    line of the log says it (luigi's line naming the task, then ours), and no traceback anywhere."""
    assert result.returncode == code, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith(("ERROR:", "WARNING:"))]
    assert any(expected in line for line in lines), (expected, lines)
    assert all(expected in line for line in lines if line.startswith("ERROR:")), lines


def class_folders_of(root, layout):
    """Class folders of small JPEGs under `root`: layout maps a class to its photos' count, or to
    "broken" for as many files that are not photos at all."""
    from PIL import Image

    for label, count in layout.items():
        (root / label).mkdir(parents=True)
        broken = count == "broken"
        for i in range(4 if broken else count):
            if broken:
                (root / label / f"{i}.jpg").write_bytes(b"not a jpeg")
            else:
                Image.new("RGB", (32, 32), (i * 40, 80, 200 - i * 20)).save(root / label / f"{i}.jpg")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["one class", "an empty class folder", "a class that does not decode",
                                  "an unreachable URL", "an unreachable store"])
def test_each_kind_of_user_failure_ends_the_real_command_in_one_line(flowers, with_base_model, tmp_path,
                                                                     monkeypatch, kind):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The base model's stages made already, so the run fails at the photos without first converting the
    # base model: 4 s of TensorFlow a run, here.
    with_base_model(tmp_path / "data")
    photos = tmp_path / "photos"
    base = ["--data-dir", str(tmp_path / "data"), "--architecture", flowers["architecture"],
            "--base-model-url", flowers["base_model_url"]]
    layouts = {"one class": {"daisy": 3}, "an empty class folder": {"daisy": 3, "roses": 3, "tulips": 0},
               "a class that does not decode": {"daisy": 3, "roses": 3, "tulips": "broken"}}
    if kind in layouts:
        args = base + ["--dataset-dir", str(class_folders_of(photos, layouts[kind]))]
        expected = {"one class": f"photos of only one class ('daisy') under --dataset-dir {photos}",
                    "an empty class folder": f"no photos of class 'tulips' under --dataset-dir {photos}: ",
                    "a class that does not decode": f"no photos of class 'tulips' under --dataset-dir {photos} "
                                                    "once the photos that cannot be decoded are left out"}[kind]
        said_in_one_line(luigi_cli(*args), expected, 30)
    elif kind == "an unreachable URL":
        url = f"http://127.0.0.1:{port}/flower_photos.tgz"
        said_in_one_line(luigi_cli(*base, "--dataset-url", url), f"cannot download {url}: ", 30)
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "poets")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "poets")
        result = luigi_cli("--data-dir", "s3://poets/run", "--cache-dir", str(tmp_path / "cache"))
        # The bucket is asked whether MobileModel is complete: luigi's scheduling error, not a task's failure.
        said_in_one_line(result, f"--data-dir s3://poets/run: cannot reach the S3 endpoint http://127.0.0.1:{port}",
                         35)
    # Shards of decodable photos are whole; nothing after the failure.
    made = {path.parent.parent.name for path in (tmp_path / "data").glob("*/*/params.json")}
    assert made <= {"base_model", "lite_base_model", "bottleneck_shards", "dataset"}, made
    assert ("dataset" in made) == (kind == "a class that does not decode"), made
