"""What is under a data dir, and what the current parameters still reach.

    python -m workflows.artifacts list  [--made-with] [MobileModel flags, e.g. --data-dir data --quantization-mode int8]
    python -m workflows.artifacts clean [--yes] [MobileModel flags]
    python -m workflows.artifacts verify [MobileModel flags]

`list` prints every artifact folder with the parameters that made it, its
size, and whether the MobileModel of the given flags (defaults and luigi.cfg
otherwise) reaches it; with --made-with, also the Python, package versions
and CPU that made it. `verify` rehashes the files of every artifact those
flags reach against the sizes and sha256s its record lists, prints each
damaged one, and exits 1 if there is one. `clean` removes the folders it does not reach, and
the `-luigi-tmp-` leftovers of killed runs older than an hour; it only says
what it would remove unless given --yes.

With an s3:// --data-dir, `list` and `verify` read the bucket (`verify`
rehashes the objects themselves, not the cache's copies); `clean` works on
local data dirs only: a bucket's lifecycle rules are the tool there.
"""

import argparse
import shutil
import sys
import time
from pathlib import Path

from luigi.cmdline_parser import CmdlineParser
from luigi.task import flatten

from stores import read_record

LEFTOVER_AGE = 3600


def reached(task):
    """(stage, id) of every artifact the task's DAG uses, dynamic requirements included."""
    found, pending = set(), [task]
    while pending:
        current = pending.pop()
        try:
            key = (current.stage, current.artifact_id)
        except LookupError:  # a shard of photos not downloaded yet: nothing of it can exist
            continue
        if key in found:
            continue
        found.add(key)
        pending.extend(flatten(current.requires()))
        # MobileModel: the export and evaluation of whichever variant it ships.
        pending.extend(getattr(current, "dynamic_requirements", list)())
    return found


def size_of(folder):
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def inventory(data_dir, reach):
    """[(folder, record or None for a leftover, size, reached)] under the local data_dir."""
    rows = []
    for folder in sorted(Path(data_dir).glob("*/*")):
        record = read_record(folder)
        rows.append((folder, record, size_of(folder), (folder.parent.name, folder.name) in reach))
    return rows


def remote_inventory(store, reach):
    """The same rows for the complete artifacts in a bucket (a folder there is its URL)."""
    stages = {stage for stage, _ in reach}
    rows = []
    for stage in sorted(stages):
        for artifact_id in store.ids(stage):
            record = store.record(stage, artifact_id)
            size = sum(file["size"] for file in (record.get("files") or {}).values())
            rows.append((Path(stage, artifact_id), record, size, (stage, artifact_id) in reach))
    return rows


def made_with_text(made_with: dict | None) -> str:
    """One line: python 3.11.7, tensorflow 2.21.0, ... on <platform>, <CPU> (<its vector flags>)."""
    if not made_with:
        return "not recorded (made before records said)"
    packages = ", ".join(f"{name} {version}" for name, version in made_with["packages"].items())
    return (f"python {made_with['python']}, {packages} on {made_with['platform']}, {made_with['cpu']} "
            f"({' '.join(made_with['cpu_vector_flags']) or 'no vector flags known'})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], usage="%(prog)s {list,clean,verify} "
                                     "[--yes] [--made-with] [MobileModel flags]")
    parser.add_argument("command", choices=("list", "clean", "verify"))
    parser.add_argument("--yes", action="store_true", help="clean: really remove")
    parser.add_argument("--made-with", action="store_true", help="list: the versions and machine that made each")
    args, flags = parser.parse_known_args(argv)

    with CmdlineParser.global_instance(["MobileModel", *flags]) as cmdline:
        task = cmdline.get_task_obj()
    reach = reached(task)
    store = task.store
    if store.remote and args.command == "clean":
        print(f"clean works on a local --data-dir; for {task.data_dir}, expire old artifacts with the "
              f"bucket's lifecycle rules", file=sys.stderr)
        return 2
    rows = remote_inventory(store, reach) if store.remote else inventory(task.data_dir, reach)
    if args.command == "list":
        return list_artifacts(rows, args.made_with)
    if args.command == "verify":
        return verify(rows, store)
    return clean(rows, args.yes)


def list_artifacts(rows, made_with: bool) -> int:
    for folder, record, size, is_reached in rows:
        state = "reached" if is_reached else ("incomplete" if record is None else "unreached")
        made = " ".join(f"{k}={v}" for k, v in record["params"].items()) if record else ""
        print(f"{folder.parent.name}/{folder.name:<34} {size / 1e6:9.2f} MB  {state:<10}  {made}")
        if made_with and record:
            print(f"    made with: {made_with_text(record.get('made_with'))}")
    total = sum(size for _, _, size, _ in rows)
    print(f"{len(rows)} folders, {total / 1e6:.1f} MB; "
          f"{sum(is_reached for *_, is_reached in rows)} reached by these parameters")
    return 0


def verify(rows, store) -> int:
    checked = damaged = 0
    for folder, record, _, is_reached in rows:
        if not is_reached or record is None:
            continue
        checked += 1
        if problems := store.damage(folder.parent.name, folder.name):
            damaged += 1
            print(f"DAMAGED {store.where(folder.parent.name, folder.name)}: {'; '.join(problems)}")
    print(f"{checked} artifacts checked, {damaged} damaged" + ("; remove them and run again to rebuild them"
                                                               if damaged else ""))
    return 1 if damaged else 0


def last_written(folder: Path) -> float:
    """The newest modification time in `folder`: a folder's own time does not move while a file in
    it grows (a long download, a feature shard), the file's does."""
    return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.rglob("*") if not p.is_symlink()])


def clean(rows, really: bool) -> int:
    """Remove the folders these parameters do not reach: complete ones, and incomplete ones nothing
    was written in for LEFTOVER_AGE (a younger one may be a run still writing)."""
    now = time.time()
    doomed = [(folder, size) for folder, record, size, is_reached in rows
              if not is_reached and (record is not None or now - last_written(folder) > LEFTOVER_AGE)]
    for folder, size in doomed:
        print(f"{'removing' if really else 'would remove'} {folder} ({size / 1e6:.2f} MB)")
        if really:
            shutil.rmtree(folder)
    freed = sum(size for _, size in doomed)
    print(f"{'removed' if really else 'would remove'} {len(doomed)} folders, {freed / 1e6:.1f} MB"
          + ("" if really else "; run again with --yes to remove them"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
