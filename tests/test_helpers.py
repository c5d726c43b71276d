"""The test helpers that other tests' verdicts rest on."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests import forked
from tests.helpers import run_together

ROOT = Path(__file__).parents[1]


def test_runs_started_together_never_hang_on_each_others_full_pipe(tmp_path):
    """The first run waits for the second, which writes more than a pipe holds first: read in turn from
    pipes, as two luigi workers sharing a scheduler were, both would wait forever."""
    flag = tmp_path / "written"
    waiter = [sys.executable, "-c", f"import pathlib, time\n"
                                    f"while not pathlib.Path({str(flag)!r}).exists(): time.sleep(0.01)"]
    writer = [sys.executable, "-c", f"import pathlib, sys\nsys.stderr.write('x' * 200_000)\nsys.stderr.flush()\n"
                                    f"pathlib.Path({str(flag)!r}).touch()"]
    assert run_together([waiter, writer], tmp_path, timeout=60) == [(0, ""), (0, "x" * 200_000)]


@pytest.mark.slow
def test_a_forked_run_ends_as_a_fresh_process_of_the_same_command_does(tmp_path, monkeypatch):
    """tests/forked.py's runs: forked from a process that imported TensorFlow and the workflows before the
    test set POETS_VERBOSE, they end with a fresh process's exit code and lines, in the test's environment."""
    command = [sys.executable, "-m", "luigi", "--module", "workflows", "MobileModel", "--local-scheduler",
               "--data-dir", str(tmp_path / "data"), "--architecture", "x"]
    quiet = forked.start(command, ROOT, tmp_path / "quiet.log")
    assert quiet.wait(timeout=120) == 40  # luigi.cfg's [retcode] for a bad parameter
    log = (tmp_path / "quiet.log").read_text()
    assert "--architecture: 'x' is not valid" in log and "Traceback" not in log
    monkeypatch.setenv("POETS_VERBOSE", "1")
    fresh = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    run = forked.start(command, ROOT, tmp_path / "verbose.log")
    assert run.wait(timeout=120) == fresh.returncode == 40
    verbose = (tmp_path / "verbose.log").read_text()
    assert "Traceback (most recent call last)" in verbose and "Traceback (most recent call last)" in fresh.stderr
    assert verbose.splitlines()[-1] == fresh.stderr.splitlines()[-1]
