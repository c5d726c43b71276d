"""`python -m luigi` commands (and tests/racing.py's) run in processes forked from one that has imported
what a run imports, for the tests that start runs to kill them, race them or read what they made: each
start then costs a fork, not TensorFlow's import (2.6-3.5 s of CPU here; 15 starts in the test that kills
every stage).

multiprocessing's forkserver is that process. It starts fresh (a pytest worker, whose TensorFlow has
run, is not safe to fork), imports tests/forked_warm.py once and forks a run at each request; it never
runs TensorFlow, nor looks for its devices (CUDA, once initialised, does not survive a fork): each run
does that itself, as a fresh `luigi` process would. What a fresh process does before its first task
(the console script, the log filter around TensorFlow's import) is for the tests that start one.
"""

import multiprocessing
import os
import runpy
import subprocess
import sys

from poets.core import quiet

MODULES = ("luigi", "tests.racing")


def warm():
    """What the forkserver imports before it forks: TensorFlow, its chatter filtered as a run
    filters it, and the workflows."""
    quiet.set_verbose(quiet.verbose)
    with quiet.chatter_filtered():
        import tensorflow  # noqa: F401
    import luigi.cmdline  # noqa: F401

    import workflows  # noqa: F401


def _run(module, args, cwd, stderr, environment):
    """In the forked process: `python -m MODULE ARGS` from `cwd` in `environment`, its stderr to the file
    `stderr`, its stdout thrown away."""
    import luigi.cmdline
    import luigi.configuration

    # A run's own processes fork, as a fresh one's do on Linux (a forkserver's child inherits its method).
    multiprocessing.set_start_method("fork", force=True)
    for fd, path in ((1, os.devnull), (2, stderr)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(target, fd)
        os.close(target)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environment)
    # What the forkserver's imports read from the environment and the folder, read again as this run's.
    quiet.set_verbose(False)
    luigi.configuration.get_config().reload()
    # luigi's lock tells commands apart by their process's command line (/proc/PID/cmdline), and every
    # forked run has the forkserver's: without --no-lock, two different commands at once would look like
    # one running twice. test_the_same_command_twice_at_once_runs_once starts real processes.
    sys.argv = [module, *args, "--no-lock"]
    if module == "luigi":  # luigi/__main__.py's luigi_run() takes the argv of its import: the forkserver's
        luigi.cmdline.luigi_run(sys.argv[1:])
    else:
        runpy.run_module(module, run_name="__main__", alter_sys=True)


class Run:
    """A forked run with the subprocess.Popen methods the tests use (poll, wait, send_signal, kill,
    returncode), so that a test starts one where it would start a Popen."""

    def __init__(self, process: multiprocessing.Process, args):
        self.process, self.args = process, args

    @property
    def returncode(self):
        return self.process.exitcode

    def poll(self):
        return self.process.exitcode

    def wait(self, timeout=None):
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.process.exitcode

    def send_signal(self, signal):
        os.kill(self.process.pid, signal)

    def kill(self):
        self.process.kill()


def start(command, cwd, stderr=os.devnull) -> Run:
    """`command` (`python -m MODULE ARGS`, MODULE one of MODULES) run from `cwd` in a process forked from
    the forkserver, in this process's environment as it is now (as a Popen would be), its stderr to the
    file `stderr`."""
    assert command[:2] == [sys.executable, "-m"] and command[2] in MODULES, command[:3]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.forked_warm"])
    process = context.Process(target=_run, args=(command[2], list(command[3:]), str(cwd), str(stderr),
                                                 dict(os.environ)))
    process.start()
    return Run(process, command)
