"""Where artifacts live: the interface the artifact layer (tasks/artifact.py) uses.

`--data-dir data` keeps every artifact in `data/<stage>/<id>/` (stores/local.py);
`--data-dir s3://bucket/prefix` keeps them in an S3-compatible bucket, each made
and read in a local cache folder (stores/s3.py). Either way a task reads and
writes a plain local folder, `store.folder(stage, id)`: the store says where
that folder is, whether the artifact is complete (`target`), hands it over
checked against its record (`fetch`) and, once written, makes it known
(`publish`). Tasks import this package only, never one store's module.
"""

import functools

from stores.bucket import StoreError  # noqa: F401 (what a caller catches)
from stores.local import LocalStore
from stores.records import (  # noqa: F401 (the records' names the artifact layer uses, from here)
    RECORD,
    ArtifactDamaged,
    complete_folders,
    file_digests,
    intact_key,
    move_into_place,
    read_record,
    temporary_sibling,
    write_record,
)
from stores.s3 import S3Store, default_cache_dir  # noqa: F401 (poets-app keeps files there too)
from stores.store import Store


def is_remote(data_dir: str) -> bool:
    return str(data_dir).startswith("s3://")


@functools.cache
def store_for(data_dir: str, cache_dir: str = "") -> Store:
    """The store of `--data-dir` (one per process, so an S3 client is built once and each record
    read once)."""
    return S3Store(data_dir, cache_dir) if is_remote(data_dir) else LocalStore(data_dir)
