"""The codelab's bottlenecks: the base model's pooled features, one per photo.

Computed once per (photos, architecture) and stored in a single .npz, so
retraining with other training parameters only reads them back.
"""

import logging

import numpy as np

from poets import architectures
from poets.images import UnusablePhoto, check_classes, find_photos, load_batches

log = logging.getLogger(__name__)

BATCH = 32


def compute(dataset_dir, architecture, weights_path, out_path, progress=None):
    """Write features, paths and labels of every usable photo to `out_path`.

    Returns the list of (relative path, reason) of the files that were
    skipped: photos that cannot be decoded, files that are not photos.
    Fails before any work when the photos cannot train a classifier. `progress(done, total)` is called
    after every batch.
    """
    import tensorflow as tf

    arch = architectures.get(architecture)
    others = []
    photos = find_photos(dataset_dir, others)
    check_classes(photos, dataset_dir)
    skipped = [(path, "not a photo: no image file extension") for path in others]
    model = arch.base_model(weights_path)
    features_of = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([None, arch.size, arch.size, 3], tf.float32)],
    )

    features, kept = [], []
    done = 0
    for batch in load_batches(dataset_dir, photos, arch.size, BATCH):
        good = []
        for item, pixels in batch:
            if isinstance(pixels, UnusablePhoto):
                log.warning("skipping photo that cannot be decoded: %s", pixels)
                skipped.append((item[0], str(pixels.__cause__ or pixels)))
            else:
                good.append(pixels)
                kept.append(item)
        if good:
            features.append(features_of(np.stack(good)).numpy())
        done += len(batch)
        if progress:
            progress(done, len(photos))
    check_classes(kept, f"{dataset_dir} once the photos that cannot be decoded are left out")
    np.savez(
        out_path,
        features=np.concatenate(features).astype(np.float32),
        paths=np.array([path for path, _ in kept]),
        labels=np.array([label for _, label in kept]),
    )
    return skipped


def load(path):
    """(features [N, D] float32, relative paths [N], labels [N]) from `compute`."""
    with np.load(path) as data:
        return data["features"], [str(p) for p in data["paths"]], [str(label) for label in data["labels"]]
