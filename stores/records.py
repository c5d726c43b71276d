"""An artifact's record (params.json): the files it lists, and checking a folder against it.

Every store checks what it hands a task the same way: each file's size and
sha256 against the record. The folder operations here make an artifact
appear whole or not at all: it is made in a `-luigi-tmp-` sibling and renamed
into place.
"""

import errno
import hashlib
import json
import os
import random
import shutil
from pathlib import Path

from poets.core.failures import UserFailure

RECORD = "params.json"


class ArtifactDamaged(UserFailure, RuntimeError):
    """An artifact's files are not what its record says it wrote."""


def sha256_of(path: Path) -> str:
    with open(path, "rb") as data:
        return hashlib.file_digest(data, "sha256").hexdigest()


def file_digests(folder: Path) -> dict:
    """{relative path: {"size", "sha256"}} of every file under `folder` but its record."""
    return {path.relative_to(folder).as_posix(): {"size": path.stat().st_size, "sha256": sha256_of(path)}
            for path in sorted(Path(folder).rglob("*")) if path.is_file() and path.name != RECORD}


def read_record(folder):
    """The record (params.json) of the artifact folder `folder`, or None when
    it has none: a `-luigi-tmp-` leftover, or not an artifact."""
    path = Path(folder, RECORD)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def record_bytes(record: dict) -> bytes:
    """A record as its file holds it, on disk and in a bucket."""
    return (json.dumps(record, indent=2) + "\n").encode("utf-8")


def write_record(folder: Path, record: dict) -> None:
    (Path(folder) / RECORD).write_bytes(record_bytes(record))


def intact_key(folder: Path):
    """What identifies a complete local artifact as checked: its record's path and time (a folder
    made again under the same id gets a new record). None without a record."""
    record = Path(folder, RECORD)
    return (str(record.resolve()), record.stat().st_mtime_ns) if record.exists() else None


def damage(folder: Path, names=None) -> list[str]:
    """What differs between the files of the artifact `folder` (or only those
    `names`) and its record: [] when they agree."""
    return differences(read_record(folder), lambda name: Path(folder, name), names)


def unlisted(record) -> list[str]:
    """[the problem] when `record` lists no files: every artifact this project writes lists them,
    and one that does not cannot be checked, locally or in a bucket."""
    if record is not None and "files" not in record:
        return [f"its {RECORD} lists no files, so nothing in it can be checked"]
    return []


def differences(record, local_path, names=None):
    """What differs between `record` and the files at local_path(name) (of every file it lists, or
    of `names` only)."""
    if problems := unlisted(record):
        return problems
    files = (record or {}).get("files") or {}
    problems = [f"{name} is not in the artifact" for name in names or () if name not in files]
    for name, expected in files.items() if names is None else [(n, files[n]) for n in names if n in files]:
        path = local_path(name)
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != expected["size"]:
            problems.append(f"{name} has {path.stat().st_size} bytes, not {expected['size']}")
        elif sha256_of(path) != expected["sha256"]:
            problems.append(f"{name} does not have the sha256 its record gives")
    return problems


TEMPORARY = "-luigi-tmp-"


def temporary_name(final: Path) -> Path:
    """A fresh `-luigi-tmp-` name beside `final`, for what is renamed onto it when complete."""
    return final.with_name(f"{final.name}{TEMPORARY}{random.randrange(10**10):010d}")


def complete_folders(root, stage: str = "*") -> list[Path]:
    """The complete artifact folders under the local folder `root` (of one stage, or all): those with a
    record, but for `-luigi-tmp-` ones. Their record is written last, just before the rename, so
    another run (or a killed one) can leave one that has it: a reader must not take it, as it may be
    renamed or removed under the reader."""
    return sorted(path.parent for path in Path(root).glob(f"{stage}/*/{RECORD}") if TEMPORARY not in path.parent.name)


def temporary_sibling(final: Path) -> Path:
    """A fresh `-luigi-tmp-` folder beside `final`, renamed onto it when complete."""
    final.parent.mkdir(parents=True, exist_ok=True)
    folder = temporary_name(final)
    folder.mkdir()
    return folder


def move_into_place(folder: Path, final: Path) -> bool:
    """Rename the complete `folder` onto `final`; False (and `folder` removed)
    when another process put the same artifact there first: same id, same content."""
    try:
        # rename(2) of a folder onto a non-empty one fails rather than replacing it.
        os.rename(folder, final)
        return True
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not (final / RECORD).exists():
            raise
        shutil.rmtree(folder, ignore_errors=True)
        return False
