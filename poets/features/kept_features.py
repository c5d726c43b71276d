"""The base model's features of the test photos kept in memory, for the frozen graphs that share
their base model: Compare's retrained, optimized, weights_rounded and weights graphs of every seed
differ from the first seed's only in their head, and evaluating one spent nine tenths of its time
in the base model (benchmarks/README.md, "Compare").

A graph's features are a function of the nodes they are computed from and the photos fed, so where
a graph's part before its head is, node for node and byte for byte (graphs.part_digest), one this
process ran on the same photos (kept_photos.photos_key) in the same batches, only its own head runs,
fed the kept features: the same probabilities, to the byte."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from poets.core.images import UnusablePhoto
from poets.features.kept_photos import kept_batches, photos_key
from poets.models.graphs import Classifier

# The features kept, of every base model and photo set together, at most; the oldest go first.
KEEP_FEATURES_BYTES = 2**26
_kept: dict = {}


def scored_batches(classify, root: Path, items: list, size: int, batch_size: int = 32) -> Iterator[tuple]:
    """(the batch's count of items, the items scored, their probabilities) for each batch of
    kept_batches(root, items, size, batch_size); a photo that cannot be decoded is not scored."""
    cut = classify.head_cut() if isinstance(classify, Classifier) else None
    key = cut and (cut, photos_key(root, items, size), batch_size)
    if key in _kept:
        for count, scored, features in _kept[key]:
            yield count, scored, None if features is None else classify.from_features(features, cut[0])
        return
    kept = []
    for batch in kept_batches(root, items, size, batch_size):
        good = [(item, pixels) for item, pixels in batch if not isinstance(pixels, UnusablePhoto)]
        scored, features, probabilities = [item for item, _ in good], None, None
        if good and cut:
            features, probabilities = classify.with_features(np.stack([pixels for _, pixels in good]), cut[0])
        elif good:
            probabilities = classify(np.stack([pixels for _, pixels in good]))
        kept.append((len(batch), scored, features))
        yield len(batch), scored, probabilities
    if cut:
        _keep(key, kept)


def _keep(key, kept: list) -> None:
    _kept[key] = kept
    while sum(_bytes(entry) for entry in _kept.values()) > KEEP_FEATURES_BYTES:
        del _kept[next(iter(_kept))]


def _bytes(entry: list) -> int:
    return sum(features.nbytes for _, _, features in entry if features is not None)
