"""What users run: `luigi --module workflows MobileModel` (or `Compare`)."""

import sys

from workflows import scheduler
from workflows.compare import Compare
from workflows.mobile_model import MobileModel

__all__ = ["Compare", "MobileModel"]


# `luigi --module workflows ...` imports this module before it connects to a
# scheduler: the moment to fall back to the local one when no luigid runs.
if scheduler.run_by_luigi_command(sys.argv):
    scheduler.choose(sys.argv)
