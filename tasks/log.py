"""One line for a failure a user can fix: luigi's log without the traceback that would bury it.

Installed on luigi's log ("luigi-interface") when this module loads, which the artifact layer
(tasks/artifact.py) does: every task, and `luigi --module workflows`, gets it.
"""

import logging
import sys

from poets.core import failures, quiet
from poets.core.failures import UserFailure

log = logging.getLogger("luigi-interface")


class OneLineFailures(logging.Filter):
    """luigi logs a task that failed, or whose complete() failed, or a command line it could not
    parse, with the traceback; for a poets.core.failures.UserFailure the traceback only buries its
    line, so the line replaces it (unless --verbose or POETS_VERBOSE=1)."""

    def filter(self, record):
        if quiet.verbose or "--verbose" in sys.argv:
            return True
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, UserFailure):
            # luigi's words for a command line it could not parse add nothing to the line.
            said = record.getMessage()
            record.msg, record.args = (str(error) if said == "Uncaught exception in luigi" else f"{said}: {error}"), ()
            record.exc_info = record.exc_text = None
        elif isinstance(record.msg, str) and "\nTraceback (most recent call last):" in record.msg:
            # complete()'s failures reach the log as text: "Will not run ...:\nTraceback ...\nmodule.Class: line"
            head, _, trace = record.msg.partition("\nTraceback (most recent call last):")
            name, _, line = trace.rstrip().splitlines()[-1].partition(": ")
            if name.rsplit(".", 1)[-1] in failures.names():
                record.msg = f"{head} {line}"
        return True


log.addFilter(OneLineFailures())
