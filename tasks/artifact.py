"""Artifacts keyed by everything that shaped them (gokart's idea).

Each task's output is a folder `<data_dir>/<stage>/<id>`, where the id hashes
the task's class, its code version, the significant parameters it brings
(not those it only passes down) and the ids of the tasks it requires. Luigi calls a task complete when its output exists,
so a parameter change moves exactly the affected tasks to new folders, and
switching back finds the old folders still there.
"""

import errno
import functools
import hashlib
import json
import logging
import os
import random
import shutil
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import luigi
from luigi.task import flatten

from poets import quiet
from tasks.parameters import name_flags

log = logging.getLogger("luigi-interface")

RECORD = "params.json"


class ArtifactDamaged(RuntimeError):
    """An artifact's files are not what its record says it wrote."""


class ArtifactTask(luigi.Task):
    data_dir = luigi.Parameter(default="data", description="root folder of every artifact")
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
    #: Whether run() uses TensorFlow: it is then imported before run(), its
    #: start-up chatter filtered out of the log.
    uses_tensorflow = False

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
                if name not in self.unhashed and name not in upstream}

    def upstream_ids(self):
        return sorted(f"{task.task_family}:{task.artifact_id}" for task in flatten(self.requires()))

    @property
    def artifact_id(self):
        if not hasattr(self, "_artifact_id"):
            key = json.dumps(
                [self.task_family, self.version, self.artifact_params(), self.upstream_ids()],
                sort_keys=True,
            )
            self._artifact_id = hashlib.sha256(key.encode()).hexdigest()[:16]
        return self._artifact_id

    def output(self):
        return luigi.LocalTarget(str(Path(self.data_dir, self.stage, self.artifact_id)))

    def path(self, name):
        """A file inside this task's artifact folder."""
        return Path(self.output().path, name)

    @contextmanager
    def artifact_folder(self):
        """A fresh temporary folder that becomes the output only if the block succeeds.

        It is renamed into place at the end, atomically, so a killed or failed
        run leaves at most a `-luigi-tmp-` folder, never something that looks
        complete; on an exception the temporary folder is removed. Unlike
        luigi's temporary_path(), losing the race to another run that made the
        same artifact is not an error: same id, same content, theirs is kept.
        """
        final = Path(self.output().path)
        final.parent.mkdir(parents=True, exist_ok=True)
        folder = final.with_name(f"{final.name}-luigi-tmp-{random.randrange(10**10):010d}")
        folder.mkdir()
        try:
            yield folder
            self._write_record(folder, time.monotonic() - getattr(self, "_started", time.monotonic()))
            try:
                # rename(2) of a folder onto a non-empty one fails rather than replacing it.
                os.rename(folder, final)
            except OSError as error:
                if error.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not (final / RECORD).exists():
                    raise
                log.info("%s: another run made %s first; keeping it", self.task_family, final)
                shutil.rmtree(folder, ignore_errors=True)
        except OSError as error:
            shutil.rmtree(folder, ignore_errors=True)
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise OSError(error.errno, f"{self.task_family}: the disk is full (or the quota used up) while "
                                           f"writing {final}; nothing of it was kept. Free some space, or move "
                                           f"--data-dir, and run again", error.filename) from error
            raise
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

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
        }
        (folder / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

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
        for task in flatten(self.requires()):
            check_intact(task)
        return run(self)

    return checked


def _sha256(path: Path) -> str:
    with open(path, "rb") as data:
        return hashlib.file_digest(data, "sha256").hexdigest()


def file_digests(folder: Path) -> dict:
    """{relative path: {"size", "sha256"}} of every file under `folder` but its record."""
    return {path.relative_to(folder).as_posix(): {"size": path.stat().st_size, "sha256": _sha256(path)}
            for path in sorted(Path(folder).rglob("*")) if path.is_file() and path.name != RECORD}


def damage(folder: Path) -> list[str]:
    """What differs between the files of the artifact `folder` and its record:
    [] when they agree, or when the record lists no files (made before it did)."""
    record = read_record(folder)
    problems = []
    for name, expected in ((record or {}).get("files") or {}).items():
        path = Path(folder, name)
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != expected["size"]:
            problems.append(f"{name} has {path.stat().st_size} bytes, not {expected['size']}")
        elif _sha256(path) != expected["sha256"]:
            problems.append(f"{name} does not have the sha256 its record gives")
    return problems


# Artifacts found intact in this process, by folder and record: an artifact
# read by several tasks of one run is hashed once.
_intact = set()


def check_intact(task: ArtifactTask) -> None:
    """Raise ArtifactDamaged, naming the artifact and the file, unless the
    artifact `task` made is what its record says."""
    folder = Path(task.output().path)
    record = folder / RECORD
    key = (str(folder.resolve()), record.stat().st_mtime_ns if record.exists() else None)
    if key in _intact:
        return
    problems = damage(folder)
    if problems:
        raise ArtifactDamaged(f"{task.task_family} artifact {folder} is damaged: {'; '.join(problems)}. "
                              f"Remove the folder and run again to rebuild it")
    _intact.add(key)


def read_record(folder):
    """The record (params.json) of the artifact folder `folder`, or None when
    it has none: a `-luigi-tmp-` leftover, or not an artifact."""
    path = Path(folder, RECORD)
    return read_json(path) if path.exists() else None


def artifact_folders(data_dir, stage="*"):
    """The complete artifact folders under `data_dir` (of one stage, or all)."""
    return sorted(path.parent for path in Path(data_dir).glob(f"{stage}/*/{RECORD}"))


def write_json(path, value):
    Path(path).write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))
