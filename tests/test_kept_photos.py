"""Test photos decoded once a process for every variant's evaluation (poets/features/kept_photos.py)."""

import os

import numpy as np
import pytest

from poets.core import images
from poets.core.images import UnusablePhoto, find_photos, load_batches
from poets.features import kept_photos
from poets.features.kept_photos import kept_batches
from tests.helpers import make_photos


@pytest.fixture
def photos(tmp_path, monkeypatch):
    monkeypatch.setattr(kept_photos, "_kept", {})
    root = make_photos(tmp_path / "photos", per_class=12, size=40)
    (root / "roses" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return root, find_photos(root)


def flat(batches):
    return [(item, str(pixels) if isinstance(pixels, UnusablePhoto) else pixels)
            for batch in batches for item, pixels in batch]


def same(a, b):
    assert [item for item, _ in a] == [item for item, _ in b]
    for (_, x), (_, y) in zip(a, b):
        assert x == y if isinstance(x, str) else x.dtype == y.dtype and x.tobytes() == y.tobytes()


def test_the_same_photos_come_back_as_the_same_bytes_without_decoding_again(photos, monkeypatch):
    root, items = photos
    decoded = flat(load_batches(root, items, 32, 5))
    same(flat(kept_batches(root, items, 32, 5)), decoded)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(images, "square_pixels", no_decoding)
    monkeypatch.setattr(images, "load_photo", no_decoding)
    monkeypatch.setattr(kept_photos, "square_pixels", no_decoding)
    again = list(kept_batches(root, items, 32, 5))
    assert [len(batch) for batch in again] == [5] * (len(items) // 5) + [len(items) % 5] * bool(len(items) % 5)
    same(flat(again), decoded)


def test_the_key_catches_a_photo_whose_size_or_time_changed_and_misses_one_with_neither(photos):
    """The key is each file's size and modification time (to the nanosecond where the filesystem keeps
    them). Accepted: a photo rewritten in place at the same size with its time set back (only a tool
    that restores times does that) is missed, within the one process that keeps the pixels."""
    root, items = photos
    path = root / items[0][0]
    original, stat = path.read_bytes(), path.stat()

    def first_photo():
        return flat(kept_batches(root, items, 32))[0][1]

    def decoded():
        return flat(load_batches(root, items[:1], 32))[0][1]

    kept = first_photo()
    # The same bytes written again: only the time moved, and the photo is decoded afresh.
    path.write_bytes(original)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert photos_key_differs(root, items, stat)
    # Another size, the time set back: decoded afresh (a JPEG decoder ignores bytes after the image).
    path.write_bytes(original + b"\0")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert first_photo().tobytes() == decoded().tobytes()
    assert photos_key_differs(root, items, stat)
    # Same size, same time, other pixels: the accepted miss.
    path.write_bytes(original)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert first_photo().tobytes() == kept.tobytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0xFF
    path.write_bytes(bytes(flipped))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert decoded().tobytes() != kept.tobytes() and first_photo().tobytes() == kept.tobytes()


def photos_key_differs(root, items, stat):
    """Whether the key now differs from the one of the photos as `stat` found the first."""
    key = kept_photos.photos_key(root, items, 32)
    return key[1][0][1:3] != (stat.st_size, stat.st_mtime_ns)


def test_a_changed_photo_another_size_or_other_photos_are_decoded_afresh(photos):
    root, items = photos
    list(kept_batches(root, items, 32))
    path = root / items[0][0]
    from PIL import Image
    Image.new("RGB", (40, 40), (0, 0, 0)).save(path)
    fresh = flat(kept_batches(root, items, 32))
    assert fresh[0][1].tobytes() == flat(load_batches(root, items[:1], 32))[0][1].tobytes()
    assert np.all(fresh[0][1] == -1)
    assert flat(kept_batches(root, items, 24))[1][1].shape == (24, 24, 3)
    same(flat(kept_batches(root, items[3:], 32)), flat(load_batches(root, items[3:], 32)))


def test_memory_stays_flat_for_a_large_set_and_a_set_not_read_to_its_end(photos, monkeypatch):
    root, items = photos
    monkeypatch.setattr(kept_photos, "KEEP_DECODED_BYTES", 32 * 32 * 3 * (len(items) - 1))
    same(flat(kept_batches(root, items, 32)), flat(load_batches(root, items, 32)))
    assert kept_photos._kept == {}
    monkeypatch.setattr(kept_photos, "KEEP_DECODED_BYTES", 2**28)
    next(kept_batches(root, items, 32, 4))
    assert kept_photos._kept == {}
    list(kept_batches(root, items, 32, 4))
    assert len(kept_photos._kept) == 1
    list(kept_batches(root, items[1:], 32, 4))
    assert len(kept_photos._kept) == 1
