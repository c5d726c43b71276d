"""The test helpers that other tests' verdicts rest on."""

import sys

from tests.helpers import run_together


def test_runs_started_together_never_hang_on_each_others_full_pipe(tmp_path):
    """The first run waits for the second, which writes more than a pipe holds first: read in turn from
    pipes, as two luigi workers sharing a scheduler were, both would wait forever."""
    flag = tmp_path / "written"
    waiter = [sys.executable, "-c", f"import pathlib, time\n"
                                    f"while not pathlib.Path({str(flag)!r}).exists(): time.sleep(0.01)"]
    writer = [sys.executable, "-c", f"import pathlib, sys\nsys.stderr.write('x' * 200_000)\nsys.stderr.flush()\n"
                                    f"pathlib.Path({str(flag)!r}).touch()"]
    assert run_together([waiter, writer], tmp_path, timeout=60) == [(0, ""), (0, "x" * 200_000)]
