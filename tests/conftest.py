"""Offline fixtures: generated photos, a tiny base model, a loopback HTTP server."""

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

# Under pytest-xdist, each worker gets one thread for TensorFlow's kernels (read when it is first
# imported, later), and so do the luigi processes the tests start, numpy's too, instead of one per
# core each: the workers already use every core, and more threads only make the cores switch. Set
# before numpy is imported here: OpenBLAS reads it once, and a worker summing with other threads
# than the luigi processes it compares against gets other last digits.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, "1")

import luigi  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from poets.backbones import architectures  # noqa: E402
from poets.core.images import split_of  # noqa: E402

TINY = "mobilenet_0.25_128"
BROKEN = "broken.jpg"
# Three classes a classifier separates by colour, like flowers by petal colour.
COLOURS = {"roses": (200, 40, 60), "sunflowers": (230, 200, 30), "bluebells": (60, 80, 210)}


def make_photos(root, per_class=24, size=48, seed=0):
    """Class folders of noisy JPEGs, each class its own dominant colour."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for label, colour in COLOURS.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.array(colour, np.float32) + rng.normal(0, 12, (size, size, 3))
            # A darker blob somewhere (the flower's centre), so photos differ.
            y, x = rng.integers(0, size // 2, 2)
            pixels[y:y + size // 3, x:x + size // 3] *= rng.uniform(0.4, 0.8)
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
            image.save(root / label / f"{label}_{i:03d}.jpg", quality=90)
    return root


def make_archive(photos, archive, top="flower_photos"):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(photos, arcname=top)
    return archive


def make_base_model(path, architecture=TINY):
    """A randomly initialised MobileNet saved in the keras.applications .h5 format.

    With random weights and identity batch norms, activations shrink to
    nothing after a few layers. So the batch norm statistics are calibrated
    on photos of every colour: one training-mode pass with momentum 0 sets
    each moving mean and variance to what that layer sees, and colour stays
    what varies most in the pooled features, as it does between our classes.
    """
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(0)
    arch = architectures.get(architecture)
    model = arch.base_model(None)
    rng = np.random.default_rng(1)
    colours = rng.uniform(0, 255, (64, 1, 1, 3)) + rng.normal(0, 30, (64, arch.size, arch.size, 3))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model((np.clip(colours, 0, 255).astype(np.float32) - 128) / 128, training=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


def pytest_collection_modifyitems(config, items):
    """The modules with slow tests first, each module's tests still together (its fixtures built
    once): the suite then ends on quick tests, instead of one core idle while the other finishes
    a long test that started last (the slow modules are late in the alphabet)."""
    slow = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in slow)


@pytest.fixture(autouse=True, scope="session")
def quick_retries():
    """Downloads in tests retry without the real backoff's waits."""
    config = luigi.configuration.get_config()
    config.set("downloads", "backoff", "0.01")
    config.set("downloads", "timeout", "5")
    yield


@pytest.fixture(autouse=True, scope="session")
def logging_left_to_pytest():
    """luigi sets its loggers' levels at a process's first build alone, from that build's log_level:
    whichever test came first decided what every later test's caplog could see. Left alone, they
    follow the root logger, which caplog.set_level moves."""
    luigi.configuration.get_config().set("core", "no_configure_logging", "true")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server():
    """Serve a folder on a loopback port; yields (folder, base URL)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="served-"))
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="session")
def flowers(server, tmp_path_factory):
    """URLs of a generated photo archive and a tiny base model, served over HTTP."""
    folder, url = server
    photos = make_photos(tmp_path_factory.mktemp("photos") / "flower_photos")
    weights = architectures.get(TINY).weights_file
    make_base_model(folder / weights)
    # An undecodable photo: the run must skip it with a warning, not crash.
    (photos / "roses" / BROKEN).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    make_archive(photos, folder / "flower_photos.tgz")
    return {
        "photos": photos,
        "dataset_url": f"{url}/flower_photos.tgz",
        "base_model_url": f"{url}/{weights}",
        "architecture": TINY,
    }


_ran, _failed = [], []


@luigi.Task.event_handler(luigi.Event.SUCCESS)
def _record_success(task):
    _ran.append(task)


@luigi.Task.event_handler(luigi.Event.FAILURE)
def _record_failure(task, exception):
    _failed.append((task, exception))


def fresh():
    """Forget luigi's cached task instances: as in a new `luigi` process, ids are computed
    afresh (a --dataset-dir fingerprint changes when its photos do)."""
    luigi.task_register.Register.clear_instance_cache()


def build(*tasks):
    """Run tasks with the real scheduler in-process; return the tasks that ran."""
    del _ran[:], _failed[:]
    result = luigi.build(list(tasks), local_scheduler=True, workers=1, detailed_summary=True, log_level="WARNING")
    assert result.scheduling_succeeded, result.summary_text
    return list(_ran)


def build_failing(*tasks):
    """Run tasks expected to fail; return [(task, exception)] of the failures."""
    del _ran[:], _failed[:]
    result = luigi.build(list(tasks), local_scheduler=True, workers=1, detailed_summary=True, log_level="CRITICAL")
    assert not result.scheduling_succeeded
    return list(_failed)


def families(tasks):
    return sorted(task.task_family for task in tasks)


FAST_TRAINING = {"training_steps": 300, "train_batch_size": 32, "learning_rate": 0.005, "testing_percentage": 20}


@pytest.fixture(scope="session")
def completed(flowers, tmp_path_factory):
    """One complete MobileModel run on the generated photos; yields (params, the tasks that ran)."""
    from workflows import MobileModel

    params = {
        "data_dir": str(tmp_path_factory.mktemp("data")),
        "dataset_url": flowers["dataset_url"],
        "base_model_url": flowers["base_model_url"],
        "architecture": flowers["architecture"],
        **FAST_TRAINING,
    }
    ran = build(MobileModel(**params))
    return params, ran


# The photo check's planted set: for its tests and the review page's.


def name_in(split, stem, start=0):
    """A file name `stem_N.jpg` that the codelab's split puts in `split`."""
    n = start
    while split_of(f"{stem}_{n}.jpg", 10, FAST_TRAINING["testing_percentage"]) != split:
        n += 1
    return f"{stem}_{n}.jpg"


@pytest.fixture(scope="module")
def planted(tmp_path_factory, flowers):
    """Generated photos with three roses filed as sunflowers, a bluebell copied
    byte for byte from training into the test split, a sunflower re-encoded,
    and a photo of another kind (black and white stripes) filed as roses."""
    root = make_photos(tmp_path_factory.mktemp("planted") / "photos", per_class=20, seed=3)
    moved = []
    for i, photo in enumerate(sorted((root / "roses").glob("*.jpg"))[:3]):
        target = root / "sunflowers" / f"mislabelled_{i}.jpg"
        shutil.move(photo, target)
        moved.append(f"sunflowers/{target.name}")
    twin_source = next(p for p in sorted((root / "bluebells").glob("*.jpg"))
                       if split_of(p.name, 10, FAST_TRAINING["testing_percentage"]) == "training")
    twin = name_in("testing", "twin")
    shutil.copy(twin_source, root / "bluebells" / twin)
    near_source = sorted((root / "sunflowers").glob("sunflowers_*.jpg"))[0]
    # Re-encoded, not resized: the tiny model's random weights see the photos' pixel noise, which a
    # resize smooths away (a real MobileNet's features keep resized copies above the threshold, docs/reference.md).
    with Image.open(near_source) as image:
        image.save(root / "sunflowers" / "reencoded.jpg", quality=90)
    stripes = np.tile(np.array([[0, 0, 0], [255, 255, 255]], np.uint8)[np.arange(48) // 4 % 2][:, None], (1, 48, 1))
    Image.fromarray(stripes).save(root / "roses" / "stripes.jpg", quality=90)
    params = {"dataset_dir": str(root), "base_model_url": flowers["base_model_url"],
              "architecture": flowers["architecture"], "data_dir": str(tmp_path_factory.mktemp("data")),
              **FAST_TRAINING}
    return {"root": root, "params": params, "moved": moved,
            "twins": {f"bluebells/{twin_source.name}", f"bluebells/{twin}"},
            "near": {f"sunflowers/{near_source.name}", "sunflowers/reencoded.jpg"}, "off_topic": "roses/stripes.jpg"}


@pytest.fixture(scope="module")
def checked(planted):
    """The planted set's CheckPhotos, made."""
    from tasks.check_photos import CheckPhotos

    fresh()
    task = CheckPhotos(**{k: v for k, v in planted["params"].items() if k in CheckPhotos.get_param_names()})
    build(task)
    return task


def linked_copy(data_dir, into, without=()):
    """A copy of the artifacts in `data_dir` as hard links, leaving out the stages `without`: for
    runs that only read the artifacts they find (a write through a link would change the original)."""
    shutil.copytree(data_dir, into, copy_function=os.link, ignore=shutil.ignore_patterns(*without))
    return into


@pytest.fixture
def changeable(completed, tmp_path):
    """`completed`'s parameters with a data dir of the test's own, its artifacts hard-linked: for
    tests that build more, so that no test sees what another added."""
    params, _ = completed
    fresh()
    return {**params, "data_dir": str(linked_copy(params["data_dir"], tmp_path / "data"))}


def flags(params):
    """The command-line flags of a task's parameters: {"data_dir": "x"} -> ["--data-dir", "x"]."""
    return [arg for name, value in params.items() for arg in ("--" + name.replace("_", "-"), str(value))]


def summary_of(params):
    import json

    from workflows import MobileModel

    return json.loads(MobileModel(**params).summary.read_text())


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def luigid(tmp_path):
    """A real luigid on a free loopback port, recording task history in SQLite;
    yields (port, api(status) -> tasks)."""
    port = free_port()
    (tmp_path / "log").mkdir()
    (tmp_path / "luigi.cfg").write_text(  # luigid reads the luigi.cfg where it starts
        "[scheduler]\nrecord_task_history=true\n"
        f"[task_history]\ndb_connection=sqlite:///{tmp_path / 'history.db'}\n")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "luigid"), "--address", "127.0.0.1", "--port", str(port),
         "--state-path", str(tmp_path / "state.pickle"), "--logdir", str(tmp_path / "log")],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def api(status):
        query = urllib.parse.quote(json.dumps({"status": status}))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/task_list?data={query}", timeout=5) as response:
            return json.load(response)["response"]

    for _ in range(100):
        try:
            api("DONE")
            break
        except OSError:
            time.sleep(0.1)
    else:
        pytest.fail("luigid did not start")
    yield port, api
    daemon.terminate()
    daemon.wait(timeout=10)


# The S3 tests' credentials and bucket: the secret must show nowhere a run writes.
SECRET = "moto-secret-key-never-written-0123456789"
BUCKET = "poets"


@pytest.fixture
def moto_endpoint(monkeypatch):
    """moto's S3 on loopback with the bucket BUCKET; the AWS configuration in the
    environment; yields its URL (a proxy goes in front of it in AWS_ENDPOINT_URL)."""
    import urllib.request

    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    for name, value in {"AWS_ACCESS_KEY_ID": "poets-tester", "AWS_SECRET_ACCESS_KEY": SECRET,
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": url,
                        "AWS_CONFIG_FILE": "/nonexistent"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    import stores

    stores.store_for.cache_clear()  # a store, and what it read, belongs to one bucket's life
    yield url
    stores.store_for.cache_clear()
    server.stop()
