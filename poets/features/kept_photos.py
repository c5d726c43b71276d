"""Photos kept decoded in memory, for the evaluations that score every variant of a model, one
after another in one process (Compare's seven a seed), on the same test photos: decoding them
once and keeping their 8-bit pixels (147 KB a photo at 224) spares each later evaluation the
decoding, which runs beside the model and slows it (benchmarks/README.md, "Compare")."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from poets.core.contract import normalized
from poets.core.images import UnusablePhoto, load_batches, square_pixels

# A set larger than this is decoded afresh each time, batch by batch, so that memory stays flat.
KEEP_DECODED_BYTES = 2**28
_kept: dict = {}


def kept_batches(root: Path, items: list, size: int, batch_size: int = 32) -> Iterator[list]:
    """load_batches' batches, the same bytes, served from memory where this process decoded the same
    photos (same files, same sizes and times on disk) at the same size last time."""
    key = photos_key(root, items, size)
    if key in _kept:
        for start in range(0, len(items), batch_size):
            yield [(item, _unpacked(pixels)) for item, pixels in _kept[key][start:start + batch_size]]
        return
    if len(items) * size * size * 3 > KEEP_DECODED_BYTES:
        yield from load_batches(root, items, size, batch_size)
        return
    kept = []
    for batch in load_batches(root, items, size, batch_size, _eight_bit):
        kept.extend(batch)
        yield [(item, _unpacked(pixels)) for item, pixels in batch]
    # Only a set read to its end is kept.
    _kept.clear()
    _kept[key] = kept


def photos_key(root: Path, items: list, size: int) -> tuple:
    """What decoding `items` (path under `root`, ...) at `size` gives depends on: each file's path,
    size and time on disk, the rest of each item, the size. Accepted, and tested: a photo rewritten
    in place at the same size with its modification time set back is not seen (the pixels are kept
    for one process's evaluations only; hashing every photo each time would cost what keeping saves)."""
    return size, tuple((str(Path(root, item[0])), *_stamp(Path(root, item[0])), *item[1:]) for item in items)


def _stamp(path: Path) -> tuple:
    try:
        stat = path.stat()
    except OSError:
        return (None, None)
    return stat.st_size, stat.st_mtime_ns


def _eight_bit(path: Path, size: int) -> np.ndarray:
    # square_pixels's floats are whole numbers 0-255: as bytes they come back exactly.
    return square_pixels(path, size, draft=True).astype(np.uint8)


def _unpacked(pixels):
    return pixels if isinstance(pixels, UnusablePhoto) else normalized(pixels.astype(np.float32))
