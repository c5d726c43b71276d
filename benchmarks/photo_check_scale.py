"""The photo check's searches over all pairs of photos, exact and by clusters, at growing counts.

    .venv/bin/python benchmarks/photo_check_scale.py --features DATA_DIR/bottlenecks/ID/bottlenecks.npz
                                                     [--times 1,8,16,32,64] [--exact-up-to 16]

From the features of a real photo set (a Bottlenecks artifact), sets `times` as large: the photos
themselves, then as many again each time of made-up photos, each between two photos of one class (a
random mix of their features, 30-70%, and noise), spread as a class's photos are, not piled on
copies: at twice the photos, a made-up photo's most alike photo is at a cosine of 0.83 (the median;
the real photos' 0.78), and none is a near duplicate. At each count, in a fresh process (the peak
memory numpy allocates during the searches traced, beside the features' own): the searches
CheckPhotos runs, the 10 nearest of the training and validation photos (90% here) and the
near-duplicate pairs of all, by clusters (neighbours.cluster_blocks) and, up to `--exact-up-to`
times, exactly: each alone (neighbours.nearest, photo_check.near_pairs: two passes over the pairs,
as the check searched before) and both in one pass (neighbours.search, as it searches now, whose
answers are those measured); then of SAMPLED photos, the share of their exact 10 nearest that the
clusters' search found (recall), of their exact near-duplicate pairs, how far their distance to their
neighbours (what the off-topic rule reads) moved (the 90th percentile of the change, as a share of
the exact one), and how far the share of their neighbours that carry their own label (the
neighbours' vote) moved, on average. Prints a table and writes
benchmarks/results/photo_check_scale.json.
"""

import argparse
import json
import multiprocessing
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np

from poets.photos import check as photo_check
from poets.photos import neighbours

ROOT = Path(__file__).resolve().parents[1]
SAMPLED = 2000


def grown(features: np.ndarray, labels: np.ndarray, times: int, seed: int = 0) -> np.ndarray:
    """`features` and (times - 1) x as many made-up photos' features, each a random mix of two of one class's."""
    rng = np.random.default_rng(seed)
    made = [features]
    spread = float(np.std(features))
    for _ in range(times - 1):
        first = rng.permutation(len(features))
        second = np.array([rng.choice(np.flatnonzero(labels == labels[i])) for i in first])
        share = rng.uniform(0.3, 0.7, (len(first), 1)).astype(np.float32)
        mixed = share * features[first] + (1 - share) * features[second]
        made.append(np.maximum(mixed + rng.normal(0, 0.6 * spread, mixed.shape).astype(np.float32), 0))
    return np.concatenate(made), np.tile(labels, times)


def searches(features: np.ndarray, pool: np.ndarray, exact: bool) -> dict:
    """Seconds of each search alone and of both in one pass, and the one pass's answers."""
    neighbours.EXACT_UP_TO = len(features) if exact else 0
    started = time.perf_counter()
    neighbours.nearest(features, pool)
    nearest_s = time.perf_counter() - started
    started = time.perf_counter()
    photo_check.near_pairs(features)
    pairs_s = time.perf_counter() - started
    started = time.perf_counter()
    alike, cosines, pairs = neighbours.search(features, pool, photo_check.NEAR_DUPLICATE)
    return {"nearest_s": nearest_s, "near_pairs_s": pairs_s, "one_pass_s": time.perf_counter() - started,
            "alike": alike, "cosines": cosines, "pairs": pairs}


def exact_for(features: np.ndarray, pool: np.ndarray, rows: np.ndarray) -> tuple:
    """The exact 10 nearest of `rows` in `pool`, their cosines, and the rows' exact near-duplicate pairs."""
    unit = neighbours.unit_rows(features)
    alike, cosines, pairs = [], [], set()
    for start in range(0, len(rows), 250):
        chunk = rows[start:start + 250]
        similar = unit[chunk] @ unit.T
        pairs |= {(min(r, int(c)), max(r, int(c))) for i, r in enumerate(chunk)
                  for c in np.flatnonzero(similar[i] > photo_check.NEAR_DUPLICATE) if c != r}
        similar[:, ~pool] = -np.inf
        similar[np.arange(len(chunk)), chunk] = -np.inf
        top = np.argpartition(similar, -neighbours.NEIGHBOURS, axis=1)[:, -neighbours.NEIGHBOURS:]
        alike.append(top)
        cosines.append(np.take_along_axis(similar, top, axis=1))
    return np.concatenate(alike), np.concatenate(cosines), pairs


def measure(features_path: str, times: int, exact: bool, probes: int, queue) -> None:
    neighbours.PROBES = probes
    saved = np.load(features_path)
    features, labels = grown(saved["features"], saved["labels"], times)
    rng = np.random.default_rng(1)
    pool = rng.random(len(features)) < 0.9
    tracemalloc.start()
    found = searches(features, pool, exact)
    searches_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rows = np.sort(rng.choice(len(features), min(SAMPLED, len(features)), replace=False))
    truth, true_cosines, true_pairs = exact_for(features, pool, rows)
    recall = np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found["alike"][rows], truth)])
    distance, true_distance = 1 - found["cosines"][rows].mean(axis=1), 1 - true_cosines.mean(axis=1)
    own = labels[rows][:, None]
    vote, true_vote = (np.mean(labels[alike] == own, axis=1) for alike in (found["alike"][rows], truth))
    sampled = set(rows.tolist())
    pairs_found = {(i, j) for i, j, _ in found["pairs"] if i in sampled or j in sampled}
    queue.put({"photos": len(features), "search": "exact" if exact else "clusters",
               **{key: found[key] for key in ("nearest_s", "near_pairs_s", "one_pass_s")},
               "neighbour_recall": float(recall), "pairs_exact": len(true_pairs),
               "distance_change_p90": float(np.quantile(np.abs(distance - true_distance) / true_distance, 0.9)),
               "vote_change_mean": float(np.mean(np.abs(vote - true_vote))),
               "pair_recall": len(pairs_found & true_pairs) / len(true_pairs) if true_pairs else None,
               "features_mb": features.nbytes / 2**20, "searches_peak_mb": searches_peak / 2**20,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", required=True, help="a Bottlenecks artifact's bottlenecks.npz")
    parser.add_argument("--times", default="1,8,16,32,64")
    parser.add_argument("--exact-up-to", type=int, default=16, help="the largest multiple searched exactly too")
    parser.add_argument("--probes", type=int, default=neighbours.PROBES, help="neighbours.PROBES")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    rows = []
    print("| times | photos | search | nearest s | near pairs s | both in one pass s | neighbour recall | pair recall "
          "| distance change, p90 | vote change, mean | features MB | searches' peak MB |\n"
          + "|---" * 12 + "|")
    for times in map(int, args.times.split(",")):
        for exact in ([True] if times <= args.exact_up_to else []) + [False]:
            queue = context.Queue()
            process = context.Process(target=measure, args=(args.features, times, exact, args.probes, queue))
            process.start()
            rows.append({"times": times, **queue.get()})
            process.join()
            row = rows[-1]
            print(f"| {times}x | {row['photos']:,} | {row['search']} | {row['nearest_s']:.2f} | "
                  f"{row['near_pairs_s']:.2f} | {row['one_pass_s']:.2f} | {row['neighbour_recall']:.3f} | "
                  f"{row['pair_recall']} | "
                  f"{row['distance_change_p90']:.2%} | {row['vote_change_mean']:.3f} | {row['features_mb']:.0f} | "
                  f"{row['searches_peak_mb']:.0f} |",
                  flush=True)
    out = ROOT / "benchmarks" / "results" / "photo_check_scale.json"
    out.write_text(json.dumps({"features": args.features, "probes": args.probes, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
