"""Keep TensorFlow's, LiteRT's and MediaPipe's start-up chatter out of the log.

Their native libraries write to the process's stderr directly: oneDNN and
CUDA notices and absl's "before InitializeLog" line when they load, the
XNNPACK delegate notice when a model is loaded, converter statistics. The
project causes these by loading the libraries, so it filters them there:
`chatter_filtered()` sends file descriptor 2 to a temporary file around the
call and writes back every line that is not chatter, in order. TensorFlow's
Python deprecation notices (optimize_for_inference's own calls to
extract_sub_graph and remove_training_nodes) are turned off at their logger.
The project's own lines, luigi's and any real error pass unchanged.

`set_verbose(True)` (`--verbose` on the `luigi` command, or POETS_VERBOSE=1)
lets everything through.
"""

import logging
import os
import re
import sys
import tempfile
from contextlib import contextmanager

CHATTER = re.compile(
    r"(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|WARNING: Logging before InitGoogle\(\)"
    r"|[IW]\d{4} [\d:. ]+\d+ [\w.]+:\d+\]"  # absl/glog INFO and WARNING lines
    r"|E\d{4} [\d:. ]+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit"  # no GPU here: not an error
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|INFO: Created TensorFlow Lite \w+ delegate"
    r"|fully_quantize: \d, inference_type: )"
)

def _verbose_by_environment():
    return os.environ.get("POETS_VERBOSE", "") not in ("", "0")


verbose = _verbose_by_environment()
# TensorFlow once imported (and its devices probed) by import_tensorflow.
_tensorflow = None


def set_verbose(flag: bool) -> None:
    """Let everything through (True), or filter the chatter (False)."""
    global verbose
    verbose = flag or _verbose_by_environment()
    if not verbose:
        # Read by TensorFlow's native logging once it is initialised.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("GLOG_minloglevel", "2")
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.ERROR)


@contextmanager
def chatter_filtered():
    """Filter the native libraries' chatter out of stderr during the block."""
    if verbose:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not CHATTER.match(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_tensorflow():
    """`import tensorflow`, its start-up chatter filtered; later calls return it at once."""
    global _tensorflow
    if _tensorflow is None:
        set_verbose(verbose)
        with chatter_filtered():
            import tensorflow

            # The first look for devices is when TensorFlow tries CUDA, and says so.
            tensorflow.config.list_physical_devices()
        _tensorflow = tensorflow
    return _tensorflow
