"""gzip of a model file and the figures `gzip -l` prints for it.

Compressed with zlib-ng rather than the standard library's zlib: the same
gzip format at the same level, several times faster on the repetitive
rounded graph (docs/reference.md has the figures), for a file as small.
"""

import shutil
from pathlib import Path

from zlib_ng import gzip_ng


def gzip_file(source: Path, dest: Path, level: int = 9) -> dict:
    """Write `dest` as the gzip of `source`; return its sizes (see sizes())."""
    with open(source, "rb") as raw, gzip_ng.GzipFile(dest, "wb", compresslevel=level, mtime=0) as packed:
        shutil.copyfileobj(raw, packed)
    return sizes(source, dest)


def sizes(source: Path, packed: Path) -> dict:
    compressed, uncompressed = Path(packed).stat().st_size, Path(source).stat().st_size
    return {
        "compressed": compressed,
        "uncompressed": uncompressed,
        # gzip -l's "ratio": the share of the file that compression saved.
        "ratio": 1.0 - compressed / uncompressed if uncompressed else 0.0,
    }
