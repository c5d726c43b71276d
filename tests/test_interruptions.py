"""Killed runs and simultaneous runs never leave a wrong artifact behind."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import forked
from tests.helpers import flags, linked_copy, run_together, summary_of

# Real luigid, subprocesses, S3 or repeated runs: the slow part of the suite (-m "not slow" skips it).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
LAST_STAGES = ("evaluate", "compress", "export", "camera_app", "mobile_model")


def command(params, data_dir):
    return [sys.executable, "-m", "luigi", "--module", "workflows", "MobileModel", "--local-scheduler",
            *flags({**params, "data_dir": str(data_dir)})]


def comparable(summary, data_dir):
    """The summary with its data dir cut out of the paths and the timings dropped."""
    text = json.dumps(summary).replace(str(Path(data_dir).resolve()), "DATA")
    summary = json.loads(text)
    for variant in summary["variants"].values():
        del variant["latency_s"]
    return summary


def entries(data_dir):
    return {p for p in Path(data_dir).glob("*/*")}


def complete(data_dir):
    return {p.parent for p in Path(data_dir).glob("*/*/params.json")}


def test_runs_killed_at_every_stage_then_rerun_end_equal_to_an_undisturbed_run(completed, tmp_path):
    """Each stage is killed once, the moment its first folder appears (a `-luigi-tmp-` one as it
    starts writing, or, for a stage quicker than a look, the artifact itself, before what follows),
    then the run is started again; the last run ends. Each run is forked from tests/forked.py's
    forkserver: killing and resuming is what is tested, not starting a process (test_log's)."""
    params, _ = completed
    data_dir = tmp_path / "data"
    args = command({k: v for k, v in params.items() if k != "data_dir"}, data_dir)
    killed = []
    while True:
        before = entries(data_dir)
        process = forked.start(args, ROOT)  # TensorFlow imported once, not at each of the 15 starts
        while process.poll() is None:
            now = entries(data_dir)
            writing = {p.parent.name for p in now - before} - set(killed)
            before = now
            if writing:  # a stage not killed yet started writing: a kill point
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed += sorted(writing)
                break
            time.sleep(0.01)
        else:
            assert process.returncode == 0
            break
        # Whatever was killed mid-write never looks complete.
        assert all((f / "params.json").exists() for f in Path(data_dir).glob("*/*") if "-luigi-tmp-" not in f.name)
        assert len(killed) < 30, killed
    print(f"\nstages killed: {killed}")
    assert set(killed) == {"dataset", "base_model", "lite_base_model", "bottleneck_shards", "bottlenecks",
                           "check_photos", "retrain", "optimize", "quantize", "compress", "evaluate", "export",
                           "camera_app", "mobile_model"}, killed
    assert comparable(summary_of({**params, "data_dir": str(data_dir)}), data_dir) == \
        comparable(summary_of(params), params["data_dir"])


def test_two_runs_at_once_on_one_data_dir_both_succeed_and_agree(completed, tmp_path):
    """Two runs that share every stage but the last ones race on the same artifacts."""
    params, _ = completed
    data_dir = tmp_path / "data"
    modes = ("weights_rounded", "weights")
    for code, err in run_together([command({**{k: v for k, v in params.items() if k != "data_dir"},
                                            "quantization_mode": mode}, data_dir) for mode in modes], tmp_path,
                                  fork=True):
        assert code == 0, err[-3000:]
    assert comparable(summary_of({**params, "data_dir": str(data_dir)}), data_dir) == \
        comparable(summary_of(params), params["data_dir"])
    assert summary_of({**params, "data_dir": str(data_dir), "quantization_mode": "weights"})["variants"]["weights"]
    assert not list(data_dir.glob("*/*-luigi-tmp-*"))
    # One artifact per stage and id, each complete.
    assert all((f / "params.json").exists() for f in data_dir.glob("*/*"))


def test_the_same_command_twice_at_once_runs_once(completed, tmp_path):
    """luigi's own lock: the second identical command exits, saying it is already running."""
    params, _ = completed
    # The features and the model made already: the first run has its last stages left, seconds
    # of work (TensorFlow's import alone takes more than the second's start a second later).
    linked_copy(params["data_dir"], tmp_path / "data", LAST_STAGES)
    args = command({k: v for k, v in params.items() if k != "data_dir"}, tmp_path / "data")
    runs = [subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)]
    time.sleep(1)
    runs.append(subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    # communicate(), not wait(): a log longer than the pipe's buffer would block the run writing it.
    logs = [run.communicate(timeout=600)[1] for run in runs]
    # The first run takes seconds: the second, a second later, finds it running and exits with
    # luigi.cfg's [retcode] already_running.
    assert [run.returncode for run in runs] == [0, 10], logs[1][-3000:]
