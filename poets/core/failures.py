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

    @classmethod
    def of(cls, error: OSError, who: str, doing: str, flag: str, filename: str | None = None) -> "DiskFull":
        """The failure to raise for `error`: `who` (a task, a flag) ran out of space while `doing`, and
        nothing of it was kept; `flag` moves what filled up."""
        return cls(error.errno, f"{who}: the disk is full (or the quota used up) while {doing}; nothing of it was "
                                f"kept. Free some space, or move {flag}, and run again", filename)


def names() -> set[str]:
    """The class names of every UserFailure, for failures that reach the log only as text."""
    found, pending = set(), [UserFailure]
    while pending:
        kind = pending.pop()
        found.add(kind.__name__)
        pending += kind.__subclasses__()
    return found
