"""The codelab's bottlenecks: the base model's pooled features, one per photo;
or, to fine-tune its last blocks, the activations at their input (float16).

Computed once per (photos, architecture, cut), in shards any worker can take
(a photo's shard follows from its content hash, so adding photos changes only
the shards they land in), then merged into a single .npz, so retraining with
other training parameters only reads them back.
"""

import functools
import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from poets.core.images import (
    DECODE_THREADS,
    UnusablePhoto,
    check_classes,
    load_batches,
)
from poets.models import tflite

log = logging.getLogger(__name__)

BATCH = 32


def shard_of(sha256: str, shards: int) -> int:
    """The shard (0 .. shards - 1) of a photo with this content sha256 (hex)."""
    return int(sha256[:8], 16) % shards


@functools.cache
def _feature_extractor(arch, model_path, blocks=0):
    """A function from a batch of pixels to a numpy batch of features: run by LiteRT from the base
    model converted (`model_path` a .tflite) on every core, in 0.56 times TensorFlow's time on the
    flower photos (benchmarks/README.md, "A cold run"); by TensorFlow from the Keras weights for the
    activations (`blocks` > 0), which fine-tuning goes on from in TensorFlow."""
    # Once per process: a worker taking many shards builds the base model once.
    if not blocks:
        return tflite.batch_runner(model_path, threads=os.cpu_count())
    return _keras_features(arch, model_path, blocks)


@functools.cache
def _keras_features(arch, weights_path, blocks=0):
    """TensorFlow's pass of the Keras weights, as a function from pixels to a numpy batch."""
    extract = arch.feature_extractor(weights_path, blocks)
    return lambda pixels: extract(pixels).numpy()


def compute(dataset_dir: Path, photos: list[tuple[str, str]], arch, model_path: Path,
            out_path: Path, progress: Callable[[int, int], None] | None = None,
            reuse: Iterable[Path] = (), blocks: int = 0) -> tuple[list, dict]:
    """Write features, paths, labels and content hashes of the usable ones of
    `photos` ((relative path, label) under `dataset_dir`) to `out_path`:
    the pooled features, or with `blocks` > 0 the activations at the input
    of the last `blocks` blocks. `model_path`: the base model converted for
    LiteRT (tflite.keras_to_tflite) for the features, its Keras weights for
    the activations.

    `reuse`: earlier outputs of `compute` or `merge` made with the same
    `model_path` and `blocks`; a photo whose bytes are in one of them (same
    sha1) takes its features from there instead of running the model, so
    adding a few photos to a folder costs a few photos' time. Returns (the
    list of (relative path, reason) of the photos that cannot be decoded;
    {"computed": n, "reused": m}). `progress(done, total)` is called after
    every batch.
    """
    # Two threads (hashlib lets go of the GIL): 0.5 s on the flower photos in one.
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        digests = pool.map(lambda item: hashlib.sha1(Path(dataset_dir, item[0]).read_bytes()).hexdigest(), photos)
        hashes = {path: digest for (path, _), digest in zip(photos, digests)}
    wanted, known = set(hashes.values()), {}
    for earlier in reuse:
        with np.load(earlier) as data:
            if "hashes" in data:
                # Only the rows wanted: an activation is 75 KB or more a photo.
                rows = [row for row, digest in enumerate(data["hashes"]) if digest in wanted]
                known.update(zip(data["hashes"][rows], data["features"][rows]))
    features = {path: known[hashes[path]] for path, _ in photos if hashes[path] in known}
    todo = [item for item in photos if item[0] not in features]
    skipped = []
    if todo:
        features.update(_features_of(dataset_dir, todo, arch, model_path, skipped, progress, blocks))
    kept = [item for item in photos if item[0] in features]
    _save(out_path, kept, features, hashes)
    return skipped, {"computed": len(todo), "reused": len(photos) - len(todo)}


def _save(out_path, kept, features, hashes):
    np.savez(
        out_path,
        # float32 pooled features, float16 activations, as computed
        features=(np.stack([features[path] for path, _ in kept]) if kept else np.zeros((0, 0), np.float32)),
        paths=np.array([path for path, _ in kept], dtype=str),
        labels=np.array([label for _, label in kept], dtype=str),
        hashes=np.array([hashes[path] for path, _ in kept], dtype=str),
    )


def merge(parts: Iterable[Path], photos: list[tuple[str, str]], out_path: Path, where) -> int:
    """Write the features of `photos` found in the shards `parts` to `out_path`,
    in the order of `photos`, as one `compute` over them all would have;
    fail, saying why, when the decodable ones cannot train a classifier.
    Returns how many photos it holds."""
    features, hashes = {}, {}
    for part in parts:
        with np.load(part) as data:
            for path, row, digest in zip(data["paths"], data["features"], data["hashes"]):
                features[str(path)], hashes[str(path)] = row, str(digest)
    kept = [item for item in photos if item[0] in features]
    check_classes(kept, f"{where} once the photos that cannot be decoded are left out",
                  sorted({label for _, label in photos}))
    _save(out_path, kept, features, hashes)
    return len(kept)


def join(parts: list[Path], out_path: Path) -> int:
    """Write the features of `parts` (`merge`'s outputs for the same photos, each by one branch of
    a pair of backbones) side by side, in the order of `parts` (the joined graph's), to `out_path`,
    as `compute` through the joined graph would have. Returns how many photos it holds."""
    loaded = []
    for part in parts:
        with np.load(part) as data:
            loaded.append({key: data[key] for key in ("features", "paths", "labels", "hashes")})
    first = loaded[0]
    for part, other in zip(parts[1:], loaded[1:]):
        # Each branch decodes the same photos at the same size: a photo one cannot read, none can.
        if not np.array_equal(other["paths"], first["paths"]) or not np.array_equal(other["hashes"], first["hashes"]):
            raise ValueError(f"{part} holds other photos than {parts[0]}: the branches cannot be joined")
    np.savez(out_path, **{**first, "features": np.concatenate([data["features"] for data in loaded], axis=1)})
    return len(first["paths"])


def _features_of(dataset_dir, photos, arch, model_path, skipped, progress, blocks):
    """{relative path: features} of the decodable `photos`; the others go to `skipped`."""
    features_of = _feature_extractor(arch, Path(model_path), blocks)
    features, done = {}, 0
    for batch in load_batches(dataset_dir, photos, arch.size, BATCH):
        good = []
        for item, pixels in batch:
            if isinstance(pixels, UnusablePhoto):
                log.warning("skipping photo that cannot be decoded: %s", pixels)
                skipped.append((item[0], str(pixels.__cause__ or pixels)))
            else:
                good.append((item[0], pixels))
        if good:
            rows = features_of(np.stack([pixels for _, pixels in good]))
            features.update(zip((path for path, _ in good), rows))
        done += len(batch)
        if progress:
            progress(done, len(photos))
    return features


def distorted_features(dataset_dir: Path, train_paths: list[str], arch, weights_path: Path,
                       **distortions):
    """A function (rows, rng) -> features [rows, D] of freshly distorted copies
    of the training photos `train_paths[rows]`, as retrain.py's distortions
    make them (see images.distort_photo), or None when no distortion is on."""
    from poets.core.images import distort_photo

    if not any(distortions.values()):
        return None
    # TensorFlow's pass of the Keras weights, as the retrained graph makes it: a photo's features
    # there and in LiteRT's cached ones differ by 7e-5 at most (the flower photos).
    features_of = _keras_features(arch, Path(weights_path))

    def distorted(rows, rng):
        # One seed per photo, drawn in order, keeps threaded decoding reproducible.
        seeds = rng.integers(0, 2**32, len(rows))
        with ThreadPoolExecutor(DECODE_THREADS) as pool:
            pixels = list(pool.map(lambda row, seed: distort_photo(
                Path(dataset_dir, train_paths[row]), arch.size, np.random.default_rng(seed), **distortions),
                rows, seeds))
        return features_of(np.stack(pixels))

    return distorted


def load(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """(features [N, D] float32 or activations [N, H, W, C] float16, relative
    paths [N], labels [N]) from `compute` or `merge`."""
    with np.load(path) as data:
        return data["features"], [str(p) for p in data["paths"]], [str(label) for label in data["labels"]]
