"""The DAG against a real luigid, with several workers and several runs at once."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port, linked_copy, run_together, summary_of
from tests.test_interruptions import command, comparable

# Real luigid, subprocesses, S3 or repeated runs: the slow part of the suite (-m "not slow" skips it).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
# Made again by the two workers: the three evaluations and three gzips, which can run at once, and what
# follows them. Each that imports TensorFlow (the evaluations of the graphs) pays its import in its
# forked process, 3 s of CPU: Optimize, Quantize and Export would add three more of them.
LAST_STAGES = ("evaluate", "compress", "camera_app", "mobile_model")
FAMILIES = {"DownloadDataset", "DownloadBaseModel", "LiteBaseModel", "BottleneckShard", "Bottlenecks", "CheckPhotos",
            "Retrain", "Optimize", "Quantize", "Compress", "Evaluate", "Export", "CameraApp", "MobileModel"}


def central(params, data_dir, port, *extra):
    args = command({k: v for k, v in params.items() if k != "data_dir"}, data_dir)
    args.remove("--local-scheduler")
    return args + ["--scheduler-host", "127.0.0.1", "--scheduler-port", str(port), *extra]


def test_two_runs_sharing_luigid_never_run_a_task_twice_and_it_shows_every_task_done(completed, luigid, tmp_path):
    """Two workers (as on two machines sharing the data dir and the scheduler)."""
    params, _ = completed
    port, api = luigid
    data_dir = tmp_path / "shared"
    keep_alive = ("--worker-keep-alive", "--worker-count-uniques")
    modes = ("weights_rounded", "weights")
    logs = []
    for code, err in run_together([central({**params, "quantization_mode": mode}, data_dir, port, *keep_alive)
                                   for mode in modes], tmp_path, fork=True):
        # luigi.cfg's retcodes for "the other worker ran some of my tasks": 10 (already
        # running) or 25 (not run: the scheduler did not grant it to me). What matters is
        # that every task ran once, and each run's own summary exists.
        assert code in (0, 10, 25), err[-3000:]
        logs.append(err)
    both = "".join(logs)
    for family in ("DownloadDataset", "DownloadBaseModel", "Bottlenecks", "Retrain", "Optimize"):
        assert both.count(f"running   {family}(") == 1, family
    assert "another run made" not in both
    assert comparable(summary_of({**params, "data_dir": str(data_dir)}), data_dir) == \
        comparable(summary_of(params), params["data_dir"])
    assert summary_of({**params, "data_dir": str(data_dir), "quantization_mode": "weights"})["variants"]["weights"]
    every_task_done_with_its_progress(api)


def every_task_done_with_its_progress(api):
    """luigid shows each task of the two runs DONE, once, with its progress."""
    done = api("DONE").values()
    assert {task["name"] for task in done} == FAMILIES
    # One run's 26 tasks, and the 6 the second mode adds (Quantize to MobileModel).
    assert len(done) == 32 and not api("FAILED") and not api("PENDING")
    progress = {task["name"]: (task["progress_percentage"], task["status_message"]) for task in done}
    assert progress["Bottlenecks"] == (100, "73/73 photos")
    # A small set: 5 fold heads of 300 steps, then the head on every photo for the steps they chose.
    percent, message = progress["Retrain"]
    steps, total = re.fullmatch(r"(\d+)/(\d+) steps", message).groups()
    assert percent == 100 and steps == total and 1500 < int(total) <= 1800
    assert progress["DownloadDataset"][0] == 100 and progress["DownloadDataset"][1].endswith("bytes")
    for task in done:
        if task["name"] == "Evaluate":
            assert task["progress_percentage"] == 100 and task["status_message"].endswith("photos")


def test_two_workers_share_the_dag_and_tensorflow_stays_out_of_the_parent(completed, tmp_path):
    params, _ = completed
    # LAST_STAGES run again, each in a process forked from the parent.
    local = {**params, "data_dir": str(linked_copy(params["data_dir"], tmp_path / "data", LAST_STAGES))}
    script = (
        "import sys, luigi, workflows\n"
        f"ok = luigi.build([workflows.MobileModel(**{local!r})], local_scheduler=True, workers=2)\n"
        "print(ok, 'tensorflow' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert run.stdout.split() == ["True", "False"], run.stderr[-3000:]
    # Each task ran in a process of its own, forked from a parent without TensorFlow.
    assert run.stderr.count("running   Evaluate(") == 3
    assert comparable(summary_of(local), local["data_dir"]) == comparable(summary_of(params), params["data_dir"])


def test_luigid_records_task_history(completed, luigid, tmp_path):
    import sqlite3

    params, _ = completed
    port, _ = luigid
    run = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "workflows", "DownloadDataset",
         "--data-dir", str(tmp_path / "data"),
         "--dataset-url", params["dataset_url"], "--scheduler-host", "127.0.0.1", "--scheduler-port", str(port)],
        cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    with sqlite3.connect(tmp_path / "history.db") as db:
        events = db.execute("select t.name, e.event_name from tasks t join task_events e on e.task_id = t.id "
                            "order by e.ts").fetchall()
    assert events == [("DownloadDataset", "PENDING"), ("DownloadDataset", "RUNNING"), ("DownloadDataset", "DONE")]


def bare_luigi(tmp_path, flowers, *args, port):
    """`luigi --module workflows DownloadDataset ...` without --local-scheduler,
    with luigi.cfg's scheduler moved to `port` (nothing listens there)."""
    config = tmp_path / "scheduler.cfg"
    config.write_text(f"[core]\nscheduler_host=127.0.0.1\nscheduler_port={port}\n")
    return subprocess.run(
        [str(Path(sys.executable).parent / "luigi"), "--module", "workflows", "DownloadDataset",
         "--data-dir", str(tmp_path / "data"), "--dataset-url", flowers["dataset_url"], *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "LUIGI_CONFIG_PATH": str(config)})


def test_the_bare_command_without_luigid_runs_with_the_local_scheduler_and_says_so(tmp_path, flowers):
    port = free_port()
    result = bare_luigi(tmp_path, flowers, port=port)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [line for line in result.stderr.splitlines() if "luigid" in line] == [
        f"No luigid at http://127.0.0.1:{port}/ (Connection refused): running with the local scheduler. To watch "
        "runs in the visualiser, start one with `mkdir -p luigid/log && .venv/bin/luigid --background --pidfile "
        "luigid/pid --logdir luigid/log --state-path luigid/state.pickle` and run again."]
    assert "Failed connecting to remote scheduler" not in result.stderr
    assert list((tmp_path / "data" / "dataset").glob("*/photos"))


def test_an_unreachable_scheduler_given_on_the_command_line_fails_in_one_line(tmp_path, flowers):
    port = free_port()
    result = bare_luigi(tmp_path, flowers, "--scheduler-port", str(port), port=free_port())
    assert result.returncode == 35
    assert result.stderr.strip() == (f"luigi: cannot reach the scheduler at http://127.0.0.1:{port}/ "
                                     "(--scheduler-port): Connection refused")
    assert not (tmp_path / "data").exists()
