"""What the benchmarks share: running a luigi command line, and the task it names."""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def luigi(command: list[str]) -> float:
    """Run a luigi command line from the project root; its seconds. Exits, with its log's end, if it fails."""
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-3000:]}")
    return time.monotonic() - started


def mobile_model(flags: list[str]):
    """The MobileModel a `luigi --module workflows MobileModel ...` command line names."""
    from workflows import MobileModel

    params = {flag[2:].replace("-", "_"): value for flag, value in zip(flags, flags[1:])
              if flag.startswith("--") and not value.startswith("--") and flag != "--module"}
    params.update({flag[2:].replace("-", "_"): "true" for flag, value in zip(flags, flags[1:] + ["--"])
                   if flag.startswith("--") and value.startswith("--") and flag != "--local-scheduler"})
    return MobileModel.from_str_params(params)
