"""Photos on disk: finding them, decoding them, and the codelab's stable split."""

import functools
import hashlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from poets.core.contract import normalized
from poets.core.failures import BadInput

log = logging.getLogger(__name__)

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".heic", ".heif"}

# Photos are decoded in this many threads (Pillow lets go of the GIL while it
# decodes), while TensorFlow runs the model on the batch before.
DECODE_THREADS = 2

# retrain.py's constant: the hash is taken modulo this to get a percentage.
MAX_NUM_IMAGES_PER_CLASS = 2**27 - 1


class UnusablePhoto(ValueError):
    pass


def find_photos(root: Path, others: list[str] | None = None) -> list[tuple[str, str]]:
    """(relative path, label) for every photo under `root`, sorted.

    Each non-hidden sub-folder of `root` is a class named after the folder;
    photos may sit in nested folders below it. Hidden files and folders
    (.DS_Store, .git) are skipped silently; other files without an image
    extension (Thumbs.db, notes.txt) are appended to `others` when given.
    """
    root = Path(root)
    names = []
    for class_dir in (root / name for name in class_folders(root)):
        for dirpath, dirnames, filenames in os.walk(class_dir):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            names.extend(Path(dirpath, name).relative_to(root).as_posix() for name in sorted(filenames))
    return photos_among(names, others)


def photos_among(names: list[str], others: list[str] | None = None) -> list[tuple[str, str]]:
    """find_photos's choice among relative file names (an artifact's record
    lists them without the files at hand), in the order given."""
    photos = []
    for name in names:
        parts = name.split("/")
        if len(parts) < 2 or any(part.startswith(".") for part in parts):
            continue
        if Path(name).suffix.lower() in EXTENSIONS:
            photos.append((name, parts[0]))
        elif others is not None:
            others.append(name)
    return photos


def fingerprint(root: Path) -> str:
    """A hash of every photo's relative path, size and modification time under `root`.

    Adding, removing, replacing or editing a photo changes it; moving the
    folder does not. Reading stat() only, it is many times faster than
    hashing the photos' content (docs/reference.md has the figures), so an
    unchanged folder is recognised at every run almost for free.
    """
    root = Path(root)
    if not root.is_dir():
        raise BadInput(f"{root} is not a folder")
    digest = hashlib.sha256()
    others = []
    for relative, _ in find_photos(root, others) + [(path, None) for path in others]:
        stat = Path(root, relative).stat()
        digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def class_folders(root: Path) -> list[str]:
    """The class folders under `root` (its non-hidden sub-folders), sorted, photos in them or not."""
    return sorted(p.name for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))


def check_classes(photos: list[tuple[str, str]], where, classes: list[str] = ()) -> list[str]:
    """Fail, saying why, when (path, label) photos cannot train a classifier, or when one of
    `classes` (the class folders) has none of them: a class would vanish from the model silently."""
    labels = sorted({label for _, label in photos})
    if not photos:
        raise BadInput(f"no photos found in class folders under {where}: "
                       f"it needs one sub-folder of photos per class")
    if empty := sorted(set(classes) - set(labels)):
        raise BadInput(f"no photos of class {', '.join(map(repr, empty))} under {where}: the model would have "
                       f"{len(empty)} class{'es' if len(empty) > 1 else ''} fewer than the "
                       f"{len(set(classes) | set(labels))} folders; add photos, or remove the folder")
    if len(labels) < 2:
        raise BadInput(f"photos of only one class ({labels[0]!r}) under {where}: "
                       f"a classifier needs at least two class folders")
    return labels


def check_split(labels: list[str], sets, classes: list[str]) -> None:
    """Fail, saying why, when the test split is empty or a class has no training photo; warn when one
    has no test photo or fewer than retrain.py asks for. `labels` and `sets`
    ('training', 'validation', 'testing') are per photo."""
    labels, sets = np.asarray(labels), np.asarray(sets)
    if not (sets == "testing").any():
        # Caught here, before training: every figure of the run is measured on the test split.
        raise BadInput(f"the test split is empty ({len(sets)} photos, split by the sha1 of their names): raise "
                       f"--testing-percentage, or add photos")
    for label in classes:
        mine = labels == label
        if not (mine & (sets == "training")).any():
            raise BadInput(
                f"class {label!r} has no photos in the training split ({int(mine.sum())} photos "
                f"in all): add photos, or lower --validation-percentage / --testing-percentage")
        if not (mine & (sets == "testing")).any():
            log.warning("class %r has no photo in the test split: its accuracy is not measured", label)
        if mine.sum() < 20:
            log.warning("class %r has only %d photos: retrain.py asks for at least 20 a class", label, int(mine.sum()))


@functools.cache
def register_heif() -> None:
    """Let Pillow open HEIC/HEIF photos (what iPhones save), through pillow-heif; once per process."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


def load_photo(path: Path, size: int) -> np.ndarray:
    """The photo as the graph's `input` expects it: float32 [size, size, 3].

    Decoded with Pillow (EXIF orientation applied, any mode converted to RGB),
    resized bilinearly to size x size, then normalized as the graph contract says. JPEGs are decoded
    at a reduced DCT scale first when they are much larger than `size`,
    which is several times faster and only ever feeds the resize.
    """
    return normalized(square_pixels(path, size, draft=True))


def square_pixels(path: Path, side: int, draft: bool = False) -> np.ndarray:
    """float32 RGB values 0-255 of the photo resized bilinearly to side x side.

    Raises UnusablePhoto, naming the file, for anything Pillow cannot decode.
    """
    from PIL import Image, ImageOps

    register_heif()
    try:
        with Image.open(path) as image:
            if draft:
                image.draft("RGB", (side, side))
            image = to_rgb(ImageOps.exif_transpose(image))
            return np.asarray(image.resize((side, side), Image.BILINEAR), dtype=np.float32)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise UnusablePhoto(f"{path}: {error}") from error


def to_rgb(image):
    """8-bit RGB of any mode: 16-bit and 32-bit greyscale scaled down (Pillow's
    convert() would clip them), transparency laid on white."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / top * 255, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info or image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("RGB")


def split_of(relative_path: str, validation_percentage: int, testing_percentage: int) -> str:
    """'training', 'validation' or 'testing', exactly as retrain.py decides.

    The sha1 of the file name (ignoring anything after `_nohash_`, so
    variants of one photo stay together) picks the set, so a photo's set
    never changes when photos are added or removed.
    """
    base_name = os.path.basename(relative_path)
    hash_name = re.sub(r"_nohash_.*$", "", base_name)
    hashed = hashlib.sha1(hash_name.encode("utf-8")).hexdigest()
    percentage = (int(hashed, 16) % (MAX_NUM_IMAGES_PER_CLASS + 1)) * (100.0 / MAX_NUM_IMAGES_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < testing_percentage + validation_percentage:
        return "testing"
    return "training"


def load_batches(root: Path, items: list, size: int, batch_size: int = 32, decode=load_photo) -> Iterator[list]:
    """Yield batches of (item, pixels) for items (relative path, ...) under `root`.

    `pixels` is the UnusablePhoto error where a photo cannot be decoded, else
    `decode(path, size)`. Decoding runs in threads (Pillow releases the GIL), one
    batch ahead of the consumer, so decoding overlaps with whatever the consumer computes.
    """
    from concurrent.futures import ThreadPoolExecutor

    def load(item):
        try:
            return decode(Path(root, item[0]), size)
        except UnusablePhoto as error:
            return error

    batches = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        ahead = [pool.submit(load, item) for item in batches[0]] if batches else []
        for index, batch in enumerate(batches):
            current = ahead
            if index + 1 < len(batches):
                ahead = [pool.submit(load, item) for item in batches[index + 1]]
            yield [(item, future.result()) for item, future in zip(batch, current)]


def sample_photos(root: Path, size: int, count: int = 16, photos: list | None = None) -> np.ndarray:
    """Up to `count` decodable photos spread over all classes (or over
    `photos`, (path, label) under `root`), as a batch."""
    photos = find_photos(root) if photos is None else photos
    picked = photos[:: max(1, len(photos) // count)]
    batch = []
    for item in picked:
        try:
            batch.append(load_photo(Path(root, item[0]), size))
        except UnusablePhoto:
            continue
        if len(batch) == count:
            break
    return np.stack(batch)


def distort_photo(path: Path, size: int, rng: np.random.Generator, flip_left_right: bool = False,
                  random_crop: int = 0, random_scale: int = 0, random_brightness: int = 0) -> np.ndarray:
    """A randomly distorted copy of the photo, as retrain.py's input distortions make it.

    The photo is resized to size * (1 + random_crop%) * U(1, 1 + random_scale%)
    and a size x size window cropped at random, mirrored with probability 1/2
    when flip_left_right, and its pixel values multiplied by
    U(1 - random_brightness%, 1 + random_brightness%).
    """
    scale = (1 + random_crop / 100) * rng.uniform(1, 1 + random_scale / 100)
    side = max(size, int(round(size * scale)))
    pixels = square_pixels(path, side)
    top, left = rng.integers(0, side - size + 1, 2)
    pixels = pixels[top:top + size, left:left + size]
    if flip_left_right and rng.random() < 0.5:
        pixels = pixels[:, ::-1]
    return normalized(pixels * rng.uniform(1 - random_brightness / 100, 1 + random_brightness / 100))
