"""Offline fixtures: generated photos, a tiny base model, a loopback HTTP server."""

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
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
from tests.helpers import (  # noqa: E402
    BROKEN,
    BUCKET,
    FAST_TRAINING,
    SECRET,
    TINY,
    QuietHandler,
    build,
    free_port,
    fresh,
    linked_copy,
    make_archive,
    make_base_model,
    make_photos,
    name_in,
)


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


@pytest.fixture(scope="session")
def with_base_model(flowers, tmp_path_factory):
    """A function that gives a data dir the tiny base model's stages (DownloadBaseModel and LiteBaseModel
    of `flowers`' URL and architecture, made once a session) as hard links, and returns the dir as a
    string: a run on other photos with the same base model then starts at its photos, as a user's
    second run does, instead of converting the base model again (1.2-2 s of TensorFlow a run)."""
    from tasks.bottlenecks import LiteBaseModel

    made = tmp_path_factory.mktemp("base_model")
    build(LiteBaseModel(data_dir=str(made), base_model_url=flowers["base_model_url"], architecture=TINY))

    def into(data_dir):
        for stage in ("base_model", "lite_base_model"):
            linked_copy(made / stage, Path(data_dir) / stage)
        return str(data_dir)

    return into


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


@pytest.fixture(scope="module")
def planted(tmp_path_factory, flowers, with_base_model):
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
              "architecture": flowers["architecture"], "data_dir": with_base_model(tmp_path_factory.mktemp("data")),
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


@pytest.fixture
def changeable(completed, tmp_path):
    """`completed`'s parameters with a data dir of the test's own, its artifacts hard-linked: for
    tests that build more, so that no test sees what another added."""
    params, _ = completed
    fresh()
    return {**params, "data_dir": str(linked_copy(params["data_dir"], tmp_path / "data"))}


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


@pytest.fixture(scope="session")
def moto_server():
    """moto's S3 on loopback, one per worker for the whole session: started and stopped for each
    test, it cost a second a test (its server looks for the stop every half second)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def moto_endpoint(moto_server, monkeypatch):
    """moto's S3, emptied, with the bucket BUCKET; the AWS configuration in the
    environment; yields its URL (a proxy goes in front of it in AWS_ENDPOINT_URL)."""
    import urllib.request

    import boto3

    url = moto_server
    for name, value in {"AWS_ACCESS_KEY_ID": "poets-tester", "AWS_SECRET_ACCESS_KEY": SECRET,
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": url,
                        "AWS_CONFIG_FILE": "/nonexistent"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    # Every bucket and object of the tests before gone.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    import stores

    stores.store_for.cache_clear()  # a store, and what it read, belongs to one bucket's life
    yield url
    stores.store_for.cache_clear()
