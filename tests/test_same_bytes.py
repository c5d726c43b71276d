"""The same flags give the same bytes: which files, exactly (README's "What is byte for byte the same")."""

import fnmatch
import json
from pathlib import Path

import pytest

from tests.helpers import build, fresh
from tests.test_interruptions import comparable
from workflows import MobileModel


def without_latency(first, again, name):
    drop = lambda path: {k: v for k, v in json.loads(path.read_text()).items() if k != "latency_s"}  # noqa: E731
    return drop(first / name) == drop(again / name)


def summaries(first, again, name):
    return (comparable(json.loads((first / name).read_text()), first)
            == comparable(json.loads((again / name).read_text()), again))


# The files of a MobileModel run that two runs of the same flags on the same machine and versions
# may write differently, with why, and what of them is still equal (None: nothing is compared).
# Every other file of every artifact is byte-equal. README's list is this one.
DIFFER = {
    "*/params.json": ("the record: when, how long, on what machine", None),
    "*/summaries/*/events.out.tfevents.*": ("TensorBoard's events: its file names and events hold the time", None),
    "evaluate/*/metrics.json": ("the measured latency", without_latency),
    "mobile_model/*/summary.json": ("the latencies and the data dir's path", summaries),
    "mobile_model/*/report.*": ("the latencies and the data dir's path", None),
    "mobile_model/*/accuracy_vs_size_latency.png": ("the latencies", None),
}


def files(root):
    return sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*") if p.is_file())


def listed(name):
    return next((pattern for pattern in DIFFER if fnmatch.fnmatch(name, pattern)), None)


@pytest.mark.slow
def test_the_same_flags_give_the_same_bytes_but_for_the_listed_files(completed, tmp_path):
    params, _ = completed
    fresh()
    build(MobileModel(**{**params, "data_dir": str(tmp_path / "again")}))
    first, again = Path(params["data_dir"]), tmp_path / "again"
    # The same files (a listed one by its pattern: TensorBoard's names hold the time).
    assert [listed(n) or n for n in files(first)] == [listed(n) or n for n in files(again)]
    unequal = [name for name in files(first) if not listed(name)
               and (first / name).read_bytes() != (again / name).read_bytes()]
    assert unequal == []
    for name in files(first):
        if (pattern := listed(name)) and (equal := DIFFER[pattern][1]):
            assert equal(first, again, name), name
    # Each pattern names files a run has: the list says what is there, no more.
    assert {listed(name) for name in files(first)} - {None} == set(DIFFER)


def test_a_base_models_bytes_do_not_depend_on_what_the_process_built_before(tmp_path):
    """Keras numbers its automatic layer names per process (global_average_pooling2d_1, ...) and the
    names reach the converted model: LiteBaseModel's bytes differed between runs whose workers had
    built other models first."""
    import keras

    from poets.backbones import architectures
    from poets.models import tflite
    from tests.helpers import TINY, make_base_model

    arch = architectures.get(TINY)
    weights = make_base_model(tmp_path / arch.weights_file)
    first = tflite.keras_to_tflite(arch.base_model(weights), arch.size)
    keras.layers.GlobalAveragePooling2D(), arch.base_model(weights)  # the process builds other things
    assert tflite.keras_to_tflite(arch.base_model(weights), arch.size) == first
