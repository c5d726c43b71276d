"""The photos most alike each photo, by the cosine of their cached features: what
their labels say of its own (check.py's label issues) and how far they are
(its off-topic photos)."""

from collections.abc import Iterator

import numpy as np

# A photo's neighbours: the NEIGHBOURS training and validation photos most like it.
NEIGHBOURS = 10
# The searches over all pairs of photos take the cosines a block of rows at a time, with at most this
# many cosines in a block (with their sort's indices, 12 bytes each), so that their memory stays flat
# however many the photos: the blocks shrink from about 130,000 photos on.
BLOCK_COSINES = 2**26
# Up to this many photos the searches are exact, every pair's cosine taken (0.38 s at 3,670 photos,
# growing with their square: hours at a million); above it, each photo is compared with the photos
# of the clusters nearest its own (cluster_blocks): the photos to the power 1.5.
EXACT_UP_TO = 20_000
# Of about sqrt(photos) clusters, the nearest searched for the photos of each, its own the first.
PROBES = 32


def rows_per_block(columns: int, most: int) -> int:
    """Rows of a block of cosines against `columns` photos: `most`, fewer where BLOCK_COSINES asks, at least one."""
    return max(1, min(most, BLOCK_COSINES // max(columns, 1)))


def nearest(features: np.ndarray, pool: np.ndarray, k: int = NEIGHBOURS) -> tuple:
    """(rows, cosines), each [photos, k]: the `k` photos of `pool` most alike each photo by the
    features' cosine (itself left out), and those cosines (search's)."""
    return search(features, pool, k=k)[:2]


def pairs_above(features: np.ndarray, threshold: float) -> list:
    """[(i, j, cosine)] with i < j of the photos whose features' cosine exceeds `threshold` (search's)."""
    return search(features, np.ones(len(features), bool), threshold, k=0)[2]


def search(features: np.ndarray, pool: np.ndarray, threshold: float | None = None, k: int = NEIGHBOURS) -> tuple:
    """(rows, cosines, pairs) from one pass over the pairs of photos: the `k` photos of `pool` most
    alike each photo by the features' cosine (itself left out) and those cosines, each [photos, k]
    (empty with `k` 0); [(i, j, cosine)] with i < j of the photos whose cosine exceeds `threshold`
    (none without one). Up to EXACT_UP_TO photos every pair is compared, a block of rows at a time
    (rows_per_block) so memory stays flat; above it, the pairs within the clusters searched
    (cluster_blocks), and a photo whose clusters hold too few of the pool besides itself is then
    searched against the whole pool."""
    unit = unit_rows(features)
    members = np.flatnonzero(pool)
    k = max(1, min(k, len(members) - 1)) if k else 0
    rows_alike, cosines, pairs = np.zeros((len(unit), k), np.int64), np.full((len(unit), k), -np.inf), {}
    # The photos each is compared with: without a threshold, only the pool's.
    compared = np.arange(len(unit)) if threshold is not None else members
    if len(unit) > EXACT_UP_TO:
        blocks = ((rows, columns if threshold is not None else columns[pool[columns]])
                  for rows, columns in cluster_blocks(unit))
    else:
        blocks = _every_pair(len(unit), len(compared))
        whole = unit.T if threshold is not None else unit[members].T
    for rows, columns in blocks:
        similar = unit[rows] @ (whole if columns is None else unit[columns].T)
        columns = compared if columns is None else columns
        if threshold is not None:
            _add_pairs(pairs, similar, rows, columns, threshold)
        in_pool = np.flatnonzero(pool[columns])
        if k and len(in_pool) > k:
            # take, not a boolean mask: a mask along the rows' axis gives strided rows, 3x slower to partition
            similar = similar if len(in_pool) == len(columns) else similar.take(in_pool, axis=1)
            rows_alike[rows], cosines[rows] = _top(similar, rows, columns[in_pool], k)
    short = np.flatnonzero(np.isinf(cosines).any(axis=1))
    block = rows_per_block(len(members), 512)
    for start in range(0, len(short), block):
        rows = short[start:start + block]
        rows_alike[rows], cosines[rows] = _top(unit[rows] @ unit[members].T, rows, members, k)
    return rows_alike, cosines, [(int(i), int(j), cosine) for (i, j), cosine in sorted(pairs.items())]


def _every_pair(photos: int, compared: int) -> Iterator[tuple[np.ndarray, None]]:
    """(rows, None: against all `compared` photos) for each block of rows of `photos`, 512 rows at
    most (rows_per_block)."""
    block = rows_per_block(compared, 512)
    for start in range(0, photos, block):
        yield np.arange(start, min(start + block, photos)), None


def _add_pairs(pairs: dict, similar: np.ndarray, rows: np.ndarray, columns: np.ndarray, threshold: float) -> None:
    """Into `pairs` {(i, j): cosine}, i < j, those of `similar` (`rows` against `columns`) above
    `threshold`. A pair met from both its photos keeps the first cosine met: in every pair's
    search, the one from the row of its first photo."""
    at, to = np.nonzero(similar > threshold)
    first, second = rows[at], columns[to]
    other = first != second
    for i, j, cosine in zip(first[other], second[other], similar[at[other], to[other]]):
        pairs.setdefault((min(i, j), max(i, j)), float(cosine))


def unit_rows(features: np.ndarray) -> np.ndarray:
    """The features scaled to length 1, as float32: their products are the cosines."""
    return (features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def clusters(unit: np.ndarray, count: int, rounds: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(centres, each photo's cluster): spherical k-means of the unit features, trained on a sample
    of 64 photos a cluster, then every photo filed under its nearest centre."""
    from scipy import sparse

    rng = np.random.default_rng(0)
    sample = unit[np.sort(rng.choice(len(unit), min(len(unit), 64 * count), replace=False))]
    centres = sample[rng.choice(len(sample), count, replace=False)]
    for _ in range(rounds):
        near = _nearest_centres(sample, centres)
        sums = sparse.csr_matrix((np.ones(len(sample), np.float32), (near, np.arange(len(sample)))),
                                 shape=(count, len(sample))) @ sample
        length = np.linalg.norm(sums, axis=1, keepdims=True)
        centres = np.where(length > 0, sums / np.maximum(length, 1e-12), centres)  # an empty cluster stays put
    return centres, _nearest_centres(unit, centres)


def _nearest_centres(unit: np.ndarray, centres: np.ndarray) -> np.ndarray:
    block = rows_per_block(len(centres), 8192)
    return np.concatenate([np.argmax(unit[start:start + block] @ centres.T, axis=1)
                           for start in range(0, len(unit), block)])


def cluster_blocks(unit: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows, the rows they are compared with) for every photo: the photos of a cluster against
    those of the PROBES clusters whose centres are nearest its own. faiss's inverted-file index
    (IndexIVFFlat) searches the same way one photo at a time: on 29,360 photos of 768 features it
    ran at 6.7 GFLOP/s here, where numpy's product of a cluster's photos with all their candidates
    at once runs at 160, so the blocks are numpy's."""
    centres, assigned = clusters(unit, max(1, int(np.sqrt(len(unit)))))
    order = np.argsort(assigned, kind="stable")
    starts = np.searchsorted(assigned[order], np.arange(len(centres) + 1))
    members = [order[starts[c]:starts[c + 1]] for c in range(len(centres))]
    near = np.argsort(-(centres @ centres.T), axis=1, kind="stable")[:, :PROBES]
    for cluster, rows in enumerate(members):
        columns = np.concatenate([members[c] for c in near[cluster]])
        block = rows_per_block(len(columns), len(rows))
        for start in range(0, len(rows), block):
            yield rows[start:start + block], columns


def _top(similar: np.ndarray, rows: np.ndarray, columns: np.ndarray, k: int) -> tuple:
    """(columns, cosines) of the `k` largest of each row of `similar`, each photo's own left out."""
    similar[rows[:, None] == columns[None, :]] = -np.inf
    top = np.argpartition(similar, -k, axis=1)[:, -k:]
    return columns[top], np.take_along_axis(similar, top, axis=1)


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
