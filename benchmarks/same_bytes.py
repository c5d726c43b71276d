"""Same ids and bytes before and after a change that must not change them (a refactor, a move):
the artifacts of MobileModel runs as {stage/id/file: sha256}, and two such manifests compared.

    .venv/bin/python benchmarks/same_bytes.py run OUT.json --data-dir DIR [--generated INPUTS] [-- MobileModel flags]
    .venv/bin/python benchmarks/same_bytes.py compare BEFORE.json AFTER.json

`run` runs MobileModel with the flags (with --generated: on generated photos and a tiny base
model in the folder INPUTS, made there as the tests make them unless there already: give both
runs the same one, as the URLs are in the ids; else the flags say where the photos and weights
are) and writes the manifest of every artifact file under DIR, but those two runs of the same
flags write differently (tests/test_same_bytes.py's DIFFER: records, TensorBoard events,
measured latencies) and the camera app's page files. Run it from a checkout of each revision
(`git worktree add /tmp/before REV`) into two data dirs; `compare` then prints every id or
file that differs and exits 1 if any does.
"""

import argparse
import fnmatch
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))  # tests/: how the tests make photos and a base model, and what differs by run

from tests.test_same_bytes import DIFFER as BY_RUN  # noqa: E402

# Written differently by two runs of the same flags (tests/test_same_bytes.py says why), and the
# camera app's page, which a change of the page changes on purpose.
DIFFER = (*BY_RUN, "camera_app/*/app/index.html", "camera_app/*/app/app.js", "camera_app/*/app/app.css",
          "camera_app/*/app/sw.js")


def generated(folder: Path) -> list[str]:
    """Generated photos and a tiny base model in `folder`, as the tests make them (unless there): their flags."""
    from tests.helpers import TINY, make_archive, make_base_model, make_photos

    archive, model = folder / "flower_photos.tgz", folder / "base.h5"
    if not (archive.is_file() and model.is_file()):
        make_archive(make_photos(folder / "photos"), archive)
        make_base_model(model)
    return ["--dataset-url", Path(archive).resolve().as_uri(), "--architecture", TINY,
            "--base-model-url", Path(model).resolve().as_uri(), "--training-steps", "300"]


def manifest(data_dir: Path) -> dict:
    files = {}
    for path in sorted(data_dir.rglob("*")):
        name = path.relative_to(data_dir).as_posix()
        if path.is_file() and not any(fnmatch.fnmatch(name, pattern) for pattern in DIFFER):
            files[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def run(args, flags):
    data_dir = Path(args.data_dir).resolve()
    if args.generated:
        flags = generated(Path(args.generated).resolve()) + flags
    command = [sys.executable, "-m", "luigi", "--module", "workflows", "MobileModel", "--local-scheduler",
               "--data-dir", str(data_dir), *flags]
    subprocess.run(command, cwd=ROOT, check=True)
    files = manifest(data_dir)
    Path(args.out).write_text(json.dumps({"flags": flags, "files": files}, indent=1) + "\n")
    print(f"{len(files)} files of {len({f.split('/')[1] for f in files})} artifacts in {args.out}")


def compare(args) -> int:
    before, after = (json.loads(Path(p).read_text())["files"] for p in (args.before, args.after))
    only_before, only_after = sorted(set(before) - set(after)), sorted(set(after) - set(before))
    changed = sorted(name for name in set(before) & set(after) if before[name] != after[name])
    for label, names in (("only before", only_before), ("only after", only_after), ("other bytes", changed)):
        for name in names:
            print(f"{label}: {name}")
    same = not (only_before or only_after or changed)
    print(f"{len(before)} files before, {len(after)} after: " + ("the same ids and bytes" if same else "they differ"))
    return 0 if same else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ran = commands.add_parser("run")
    ran.add_argument("out")
    ran.add_argument("--data-dir", required=True)
    ran.add_argument("--generated", metavar="INPUTS")
    compared = commands.add_parser("compare")
    compared.add_argument("before")
    compared.add_argument("after")
    args, flags = parser.parse_known_args()
    if args.command == "compare":
        return compare(args)
    run(args, [f for f in flags if f != "--"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
