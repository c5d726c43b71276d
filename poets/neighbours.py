"""The photos most alike each photo, by the cosine of their cached features: what
their labels say of its own (photo_check's label issues) and how far they are
(its off-topic photos)."""

import numpy as np

# A photo's neighbours: the NEIGHBOURS training and validation photos most like it.
NEIGHBOURS = 10
# The searches over all pairs of photos take the cosines a block of rows at a time, with at most this
# many cosines in a block (with their sort's indices, 12 bytes each), so that their memory stays flat
# however many the photos: the blocks shrink from about 130,000 photos on.
BLOCK_COSINES = 2**26


def rows_per_block(columns: int, most: int) -> int:
    """Rows of a block of cosines against `columns` photos: `most`, fewer where BLOCK_COSINES asks, at least one."""
    return max(1, min(most, BLOCK_COSINES // max(columns, 1)))


def nearest(features: np.ndarray, pool: np.ndarray, k: int = NEIGHBOURS, block: int = 512) -> tuple:
    """(rows, cosines), each [photos, k]: the `k` photos of `pool` most alike each photo by the
    features' cosine (itself left out), and those cosines. In blocks of rows (rows_per_block), so
    memory stays flat."""
    unit = (features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    members = np.flatnonzero(pool)
    k = max(1, min(k, len(members) - 1))
    rows_alike, cosines, candidates = np.empty((len(unit), k), np.int64), np.empty((len(unit), k)), unit[members].T
    block = rows_per_block(len(members), block)
    for start in range(0, len(unit), block):
        rows = np.arange(start, min(start + block, len(unit)))
        similar = unit[rows] @ candidates
        at = np.searchsorted(members, rows)
        itself = (at < len(members)) & (members[np.minimum(at, len(members) - 1)] == rows)
        similar[np.flatnonzero(itself), at[itself]] = -np.inf
        top = np.argpartition(similar, -k, axis=1)[:, -k:]
        rows_alike[rows], cosines[rows] = members[top], np.take_along_axis(similar, top, axis=1)
    return rows_alike, cosines


def neighbour_distances(features: np.ndarray, pool: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """1 - the mean cosine between each photo's features and those of its `k` most alike photos
    of `pool`: small where many photos look like it, whatever its label, large for a photo like
    no other."""
    return 1 - nearest(features, pool, k)[1].mean(axis=1)


def neighbour_votes(alike: np.ndarray, truth: np.ndarray, classes: int) -> np.ndarray:
    """[photos, classes]: the share of each label among each photo's most alike photos (`alike`,
    nearest's rows, all of the pool: no test label votes)."""
    return np.eye(classes)[np.asarray(truth)[alike]].mean(axis=1)


def off_topic_scores(distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(robust deviations, ratios) of each photo's neighbour distance above the median photo's: in
    median absolute deviations (scaled to a normal's standard deviation), which OFF_TOPIC bounds,
    and as a multiple of the median, which a person reads."""
    median = float(np.median(distance))
    spread = 1.4826 * float(np.median(np.abs(distance - median)))
    return (distance - median) / max(spread, 1e-12), distance / max(median, 1e-12)
