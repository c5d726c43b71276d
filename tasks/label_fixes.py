"""LabelFixesSnapshot: the --label-fixes file as the run read it, an artifact addressed by its content.

The fixes' content enters the ids of the stages that read labels when the
DAG is built; if those stages then read the user's file in run(), a save
from poets-review in between would train on the new fixes under the old
id. So the file is read once: its content's digest, taken when a task first
asks (snapshot_of), is the snapshot's id, the snapshot copies the file and
checks the copy against that digest, and CheckPhotos and Retrain read the
copy (on any machine: it is an artifact like the others).
"""

import shutil

import luigi

from poets.core.failures import BadInput
from poets.core.label_fixes import read_label_fixes
from tasks.artifact import ArtifactTask, check_intact
from tasks.parameters import LabelFixes

FILE = "label_fixes.csv"


class LabelFixesSnapshot(ArtifactTask):
    """`label_fixes.csv`: the --label-fixes file whose fixes' digest is `fixes_sha256`."""

    stage = "label_fixes"
    label_fixes = LabelFixes(default="", description="the --label-fixes file to copy")
    fixes_sha256 = luigi.Parameter(description="the digest of its fixes when the run read them (LabelFixes.content)")
    # Keyed on the fixes, not on the file's name: the same fixes in another file are the same artifact.
    unhashed = ArtifactTask.unhashed + ("label_fixes",)

    def run(self):
        with self.artifact_folder() as folder:
            shutil.copyfile(self.label_fixes, folder / FILE)
            if type(self).label_fixes.content(folder / FILE) != self.fixes_sha256:
                raise BadInput(f"--label-fixes {self.label_fixes}: it changed after this run read it (a save from "
                               "poets-review?); nothing was trained on it: run again to use the new fixes")


def snapshot_of(task) -> LabelFixesSnapshot | None:
    """The snapshot of `task`'s --label-fixes (None without one), its digest taken once per task."""
    if not task.label_fixes:
        return None
    if getattr(task, "_fixes_sha256", None) is None:
        task._fixes_sha256 = type(task).label_fixes.content(task.label_fixes)
    return task.clone(LabelFixesSnapshot, fixes_sha256=task._fixes_sha256)


def fixes_of(task) -> dict:
    """read_label_fixes of `task`'s --label-fixes as its snapshot holds them; {} without one."""
    snapshot = snapshot_of(task)
    if snapshot is None:
        return {}
    return read_label_fixes(check_intact(snapshot, [FILE]) / FILE, flag="--label-fixes")
