"""Artifacts keyed by everything that shaped them (gokart's idea).

Each task's output is a folder `<data_dir>/<stage>/<id>`, where the id hashes
the task's class, its code version, the significant parameters it brings
(not those it only passes down) and the ids of the tasks it requires. Luigi
calls a task complete when its output exists, so a parameter change moves
exactly the affected tasks to new folders, and switching back finds the old
folders still there.
"""

import functools
import hashlib
import json
import logging
import shutil
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import luigi
from luigi.task import flatten

from poets.core import quiet
from poets.core.download import disk_full
from poets.core.failures import DiskFull
from stores import ArtifactDamaged, file_digests, move_into_place, store_for, temporary_sibling, write_record
from tasks.log import OneLineFailures  # noqa: F401 (installed on luigi's log as it loads)
from tasks.made_with import made_with
from tasks.parameters import name_flags

log = logging.getLogger("luigi-interface")


class ArtifactTask(luigi.Task):
    data_dir = luigi.Parameter(default="data", description="root folder of every artifact, or s3://bucket/prefix "
                                                           "(endpoint and credentials: the AWS configuration)")
    # Not significant: two machines sharing a bucket run the same tasks from different caches.
    cache_dir = luigi.Parameter(default="", significant=False,
                                description="with an s3:// --data-dir, where artifacts are made and read "
                                            "(default ~/.cache/poets-workflow)")
    # Not significant: it changes what the log shows, not what a task makes.
    verbose = luigi.BoolParameter(significant=False, description="let TensorFlow's, LiteRT's and MediaPipe's "
                                                                 "start-up and deprecation lines into the log")

    #: The folder under data_dir holding this stage's artifacts.
    stage = None
    #: Bump when the stage's logic changes: its artifacts, and those of every
    #: task after it, move to new ids.
    version = 1
    #: Parameters that say where artifacts live, not what they hold.
    unhashed = ("data_dir",)
    #: Parameters added after artifacts were made, each with the value in
    #: effect before it existed: at that value it is left out of the id, so
    #: adding a setting moves no existing artifact (any other value does).
    added_since = {}
    #: Whether run() uses TensorFlow: it is then imported before run(), its
    #: start-up chatter filtered out of the log.
    uses_tensorflow = False
    #: Keys of requires() whose artifacts run() reads only in part: it
    #: fetches and checks the files it needs itself (check_intact's names).
    reads_in_part = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Every run() checks the artifacts it reads before it reads them.
        if "run" in cls.__dict__:
            cls.run = _checking_inputs(cls.__dict__["run"])

    @classmethod
    def get_params(cls):
        return name_flags(super().get_params())

    def artifact_params(self):
        """The parameters this task brings to the DAG.

        A parameter the task shares with a task it requires (inherited to be
        passed down) is left out: it reaches the id through that task's id,
        and only if that task's output depends on it (a --dataset-dir is
        keyed on its photos, not on its path, all the way down).
        """
        upstream = {name for task in flatten(self.requires()) for name in task.get_param_names()}
        params = self.to_str_params(only_significant=True)
        return {name: value for name, value in sorted(params.items())
                if name not in self.unhashed and name not in upstream
                and not (name in self.added_since and getattr(self, name) == self.added_since[name])}

    def upstream_ids(self):
        return sorted(f"{task.task_family}:{task.artifact_id}" for task in flatten(self.requires()))

    def identity(self):
        """What fixes this artifact's content, hashed into its id."""
        return [self.task_family, self.version, self.artifact_params(), self.upstream_ids()]

    @property
    def artifact_id(self):
        if not hasattr(self, "_artifact_id"):
            key = json.dumps(self.identity(), sort_keys=True)
            self._artifact_id = hashlib.sha256(key.encode()).hexdigest()[:16]
        return self._artifact_id

    @property
    def store(self):
        return store_for(self.data_dir, self.cache_dir)

    def output(self):
        return self.store.target(self.stage, self.artifact_id)

    @property
    def folder(self) -> Path:
        """The local folder of this task's artifact: in the data dir, or in the cache of an s3:// one."""
        return self.store.folder(self.stage, self.artifact_id)

    def path(self, name):
        """A file inside this task's artifact folder."""
        return self.folder / name

    @contextmanager
    def artifact_folder(self):
        """A fresh temporary folder that becomes the output only if the block succeeds.

        It is renamed into place at the end, atomically, so a killed or failed
        run leaves at most a `-luigi-tmp-` folder, never something that looks
        complete; on an exception the temporary folder is removed. Unlike
        luigi's temporary_path(), losing the race to another run that made the
        same artifact is not an error: same id, same content, theirs is kept.
        With an s3:// data dir the folder is then uploaded, its record last.
        """
        final = self.folder
        folder = temporary_sibling(final)
        try:
            yield folder
            self._write_record(folder, time.monotonic() - getattr(self, "_started", time.monotonic()))
            if not move_into_place(folder, final):
                log.info("%s: another run made %s first; keeping it", self.task_family, final)
        except OSError as error:
            shutil.rmtree(folder, ignore_errors=True)
            if disk_full(error):
                # With a bucket, artifacts are made in the cache: that is the disk to free or move.
                flag = "--cache-dir" if self.store.remote else "--data-dir"
                raise DiskFull.of(error, self.task_family, f"writing {final}", flag, error.filename) from error
            raise
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.store.publish(self.stage, self.artifact_id)

    def _write_record(self, folder, seconds):
        record = {
            "task": self.task_family,
            "version": self.version,
            "id": self.artifact_id,
            "params": self.artifact_params(),
            "all_params": {k: v for k, v in sorted(self.to_str_params(only_significant=True).items())
                           if k not in self.unhashed},
            "requires": self.upstream_ids(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
            # What the folder holds, so a reader can tell it is still what was written.
            "files": file_digests(folder),
            "made_with": made_with(),
        }
        write_record(folder, record)

    def progress(self, done, total, what="photos"):
        """Progress to the scheduler (the visualiser shows it), the terminal and the log."""
        percent = int(100 * done / total) if total else 100
        self.set_progress_percentage(percent)
        self.set_status_message(f"{done}/{total} {what}")
        if sys.stderr.isatty():
            bar = "#" * (percent * 30 // 100)
            sys.stderr.write(f"\r{self.task_family} [{bar:<30}] {percent:3d}% {done}/{total} {what}"
                             + ("\n" if done >= total else ""))
            sys.stderr.flush()
        if percent // 10 != getattr(self, "_logged_tenth", None):
            self._logged_tenth = percent // 10
            log.info("%s: %d/%d %s (%d%%)", self.task_family, done, total, what, percent)


@ArtifactTask.event_handler(luigi.Event.START)
def _note_start(task):
    # The record's "seconds" covers the whole run(), not just the writing.
    task._started = time.monotonic()
    quiet.set_verbose(task.verbose)
    if task.uses_tensorflow:
        quiet.import_tensorflow()


def _checking_inputs(run):
    @functools.wraps(run)
    def checked(self):
        self.store.check()
        # Scheduled as incomplete, yet there: a shard whose id (its photos) the scheduler could not
        # know before the dataset arrived, or an artifact another worker made since.
        if self.complete():
            log.info("%s: %s is already made; nothing to do", self.task_family,
                     self.store.where(self.stage, self.artifact_id))
            return None
        needs = self.requires()
        partly = [needs[key] for key in self.reads_in_part]
        for task in flatten(needs):
            if not any(task is other for other in partly):
                check_intact(task)
        return run(self)

    return checked


def check_intact(task: ArtifactTask, names=None) -> Path:
    """The local folder of the artifact `task` made, downloaded first from an
    s3:// data dir; raise ArtifactDamaged, naming the artifact and the file,
    unless its files (or those `names` only) are what its record says."""
    try:
        return task.store.fetch_once(task.stage, task.artifact_id, names)
    except ArtifactDamaged as error:
        raise ArtifactDamaged(f"{task.task_family} {error}") from None


def write_json(path, value):
    Path(path).write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))
