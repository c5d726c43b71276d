"""What the tests share beside their fixtures (tests/conftest.py): generated photos and a tiny base
model, luigi runs in-process and what ran, flags of a run, a free loopback port."""

import http.server
import os
import shutil
import socket
import tarfile
from pathlib import Path

import luigi
import numpy as np
from PIL import Image

from poets.backbones import architectures
from poets.core.images import split_of

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


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


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


def name_in(split, stem, start=0):
    """A file name `stem_N.jpg` that the codelab's split puts in `split`."""
    n = start
    while split_of(f"{stem}_{n}.jpg", 10, FAST_TRAINING["testing_percentage"]) != split:
        n += 1
    return f"{stem}_{n}.jpg"


def linked_copy(data_dir, into, without=()):
    """A copy of the artifacts in `data_dir` as hard links, leaving out the stages `without`: for
    runs that only read the artifacts they find (a write through a link would change the original)."""
    shutil.copytree(data_dir, into, copy_function=os.link, ignore=shutil.ignore_patterns(*without))
    return into


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


# The S3 tests' credentials and bucket: the secret must show nowhere a run writes.
SECRET = "moto-secret-key-never-written-0123456789"


BUCKET = "poets"


def write_fixes(path, rows):
    path.write_text("path,label\n" + "".join(f"{p},{label}\n" for p, label in rows), encoding="utf-8")
    return str(path)


def run_together(commands, folder, timeout=600, fork=False):
    """Start `commands` at once from the project root and wait for them all: [(exit code, its stderr)].
    Each one's stderr goes to a file in `folder`, not a pipe: runs sharing a scheduler wait on each
    other's tasks, and a run that filled its pipe (64 KB) while the test waited on the other hung both.
    With `fork`, each (`python -m luigi ...`) is forked from tests/forked.py's forkserver instead: for
    tests of what runs do at once, not of how one starts."""
    import subprocess

    from tests import forked

    root = Path(__file__).parents[1]
    files = [Path(folder) / f"run_{index}.log" for index in range(len(commands))]
    runs = []
    try:
        for args, path in zip(commands, files):
            if fork:
                runs.append(forked.start(args, root, stderr=path))
                continue
            with open(path, "w") as log:
                runs.append(subprocess.Popen(args, cwd=root, stdout=subprocess.DEVNULL, stderr=log))
        for run in runs:
            run.wait(timeout=timeout)
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    return [(run.returncode, path.read_text()) for run, path in zip(runs, files)]
