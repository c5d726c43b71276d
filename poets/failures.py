"""Failures a person causes or can fix, each said in one line naming the flag, file or URL at fault.

The log shows such a failure as its line, without the traceback
(tasks/artifact.OneLineFailures); any other exception is a bug and keeps its
traceback. `--verbose` (or POETS_VERBOSE=1) brings the traceback back.
"""


class UserFailure(Exception):
    """A failure the user can fix: a flag, a file, the photos, the disk, a URL, a store."""


class BadInput(UserFailure, ValueError):
    """A flag's value, a file or the photos do not fit what the run needs."""


class DiskFull(UserFailure, OSError):
    """The disk (or the quota) ran out while writing: nothing of it was kept."""


def names() -> set[str]:
    """The class names of every UserFailure, for failures that reach the log only as text."""
    found, pending = set(), [UserFailure]
    while pending:
        kind = pending.pop()
        found.add(kind.__name__)
        pending += kind.__subclasses__()
    return found
