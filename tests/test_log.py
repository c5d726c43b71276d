"""A run's log holds the project's lines and luigi's, not TensorFlow's,
LiteRT's or MediaPipe's start-up and deprecation chatter."""

import re
import subprocess

import pytest

from tests.helpers import FAST_TRAINING
from tests.test_interruptions import ROOT, command

# What TensorFlow 2.21, LiteRT and MediaPipe print when they load, convert and run.
CHATTER = re.compile(r"absl::InitializeLog|InitGoogle|oneDNN custom operations|cuda drivers|cuInit"
                     r"|cpu_feature_guard|is deprecated|Instructions for updating|XNNPACK delegate"
                     r"|fully_quantize|^[IWE]\d{4} ", re.MULTILINE)


def run(flowers, tmp_path, *extra, mode="int8"):
    params = {"dataset_url": flowers["dataset_url"], "base_model_url": flowers["base_model_url"],
              "architecture": flowers["architecture"], **FAST_TRAINING, "quantization_mode": mode}
    result = subprocess.run(command(params, tmp_path / "data") + list(extra), cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


@pytest.mark.slow
def test_a_run_logs_no_tensorflow_chatter_and_verbose_brings_it_back(flowers, tmp_path):
    log = run(flowers, tmp_path)
    assert not CHATTER.findall(log), "\n".join(line for line in log.splitlines() if CHATTER.search(line))
    # The project's own lines are still there: a warning about the photos, the summary.
    assert "skipping photo that cannot be decoded" in log and "MobileModel: summary in" in log
    # --verbose: another mode's conversion, evaluation and export, which use TensorFlow and LiteRT,
    # show what was filtered.
    log = run(flowers, tmp_path, "--verbose", mode="float16")
    assert CHATTER.search(log)
