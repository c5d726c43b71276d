"""Photos to check: label issues, duplicates and off-topic photos, found on the
cached features alone (the user's fixes to the labels: poets/core/label_fixes.py).

Label issues are confident learning's (Northcutt, Jiang, Chuang, JAIR 2021):
out-of-fold probabilities (poets/photos/out_of_fold.py), a threshold per class (the
probability two thirds of its own photos reach, THRESHOLD_QUANTILE), the
confident joint's count of photos per label whose confident class is
another, and as many photos of each label flagged as that count, those
the label fits least (prune by class). How well a label fits is judged by two views of the photo: the
out-of-fold model's probability, averaged with the share of its most alike
photos that carry the label (a neighbours' vote, as in Zhu, Dong and Liu,
"Detecting corrupted labels without training a model to predict", ICML
2022): a wrong label the model half learned from the photo itself is still
outvoted by its neighbours. Flags are ranked by the margin p(suggested) -
p(given) of the two views averaged. It is written here rather than taken
from cleanlab, which is AGPL-3.0 while this project is Apache-2.0; the
method is a few lines of numpy.
"""

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poets.photos.neighbours import NEIGHBOURS, neighbour_votes, off_topic_scores, pairs_above, search

log = logging.getLogger(__name__)

REASONS = ("label", "duplicate", "off_topic")
COLUMNS = ("path", "label", "suggested", "reason", "score", "split", "why")
# Cosine of two photos' features above which they are near duplicates. On the
# flower photos (mobilenet_0.75_224), every pair above it is the same photo
# resized, cropped or re-encoded, or the same scene a moment later (docs/reference.md).
NEAR_DUPLICATE = 0.95
# A photo is off-topic when the photos most like it (NEIGHBOURS of them, by
# the features' cosine) are further from it than from the typical photo by
# OFF_TOPIC robust standard deviations (the median absolute deviation's):
# an outlier rule on the spread, so the count holds across base models. On
# the flower photos, judged by eye (benchmarks/off_topic_judged.csv), it
# flags signs, buildings, cakes, tattoos and prints: 15 of 17 are off-topic
# with mobilenet_0.75_224, where a class centre's distance flagged 44 photos,
# 13 of them off-topic (benchmarks/README.md).
OFF_TOPIC = 3.0
# A class's threshold in the confident joint: the probability the class gives all but this share of
# its own photos. Confident learning takes their mean, which the wrong labels and the hard photos
# themselves pull down, so that ordinary photos count as confidently another class. With 100 wrong
# labels planted among the flower photos (three draws, both architectures), the mean flagged 5.1-6.3%
# of the photos; a third flags 3.7-4.9% and still finds 85-90% of the planted ones. Of the photos the
# mean flagged on the flowers as they are and a third does not, 20 of 29 are labelled right by eye
# (benchmarks/README.md, "The photo check").
THRESHOLD_QUANTILE = 1 / 3
# Fewer photos than this in a class: retrain.py's own minimum.
SMALL_CLASS = 20
# The largest class over the smallest above this: the model leans to the large ones.
IMBALANCE = 3.0


@dataclass
class Findings:
    """rows: one dict per photo and reason (COLUMNS), most certain first;
    duplicates: groups [{"photos": [{"path", "label", "split"}], "score", "exact"}];
    classes: {label: {split: count}}; warnings: sentences with numbers."""

    rows: list
    duplicates: list
    classes: dict
    warnings: list

    def by_reason(self) -> dict:
        return {reason: sum(row["reason"] == reason for row in self.rows) for reason in REASONS}


def label_issues(probabilities: np.ndarray, truth: np.ndarray, pool: np.ndarray | None = None,
                 votes: np.ndarray | None = None) -> list[tuple[int, int, float]]:
    """[(row, suggested class, score)] of the photos confident learning flags, most certain first
    (score: the margin p(suggested) - p(given) of the views below).

    The confident joint counts, for each given label, the photos whose likeliest class reaching
    its threshold (the probability the class gives all but THRESHOLD_QUANTILE of its own photos)
    is another. Of the rows in `pool` (every row by default), as many of each given label as that
    count are flagged, those its label fits least (cleanlab's prune_by_class): the lowest
    probability of the given label, averaged with its share of the photo's neighbours' `votes`
    where they are given (neighbour_votes); rows outside the pool (the test photos) are flagged where the confident
    joint puts them off the diagonal. The thresholds, the counts and the ranking come from the
    pool alone: no test label decides which training photo is flagged, nor what --exclude-flagged
    leaves out.
    """
    probabilities, truth = np.asarray(probabilities), np.asarray(truth)
    pool = np.ones(len(truth), bool) if pool is None else np.asarray(pool, bool)
    views = probabilities if votes is None else (probabilities + np.asarray(votes)) / 2
    classes = probabilities.shape[1]
    own = [probabilities[pool & (truth == c), c] for c in range(classes)]
    thresholds = np.array([np.quantile(mine, THRESHOLD_QUANTILE) if len(mine) else 1.0 for mine in own])
    confident = np.where(probabilities >= thresholds, probabilities, -1.0)
    assigned = confident.argmax(axis=1)
    off_diagonal = (confident.max(axis=1) >= 0) & (assigned != truth)
    flagged = off_diagonal & ~pool
    for c in range(classes):
        mine = np.flatnonzero(pool & (truth == c))
        count = int((off_diagonal & pool & (truth == c)).sum())
        flagged[mine[np.argsort(views[mine, c], kind="stable")[:count]]] = True
    rows = np.flatnonzero(flagged)
    others = np.where(np.eye(classes, dtype=bool)[truth[rows]], -1.0, views[rows])
    suggested = np.where(off_diagonal[rows], assigned[rows], others.argmax(axis=1))
    margins = views[rows, suggested] - views[rows, truth[rows]]
    order = np.argsort(-margins, kind="stable")
    return [(int(rows[i]), int(suggested[i]), float(margins[i])) for i in order]


def near_pairs(features: np.ndarray, threshold: float = NEAR_DUPLICATE) -> list:
    """[(i, j, cosine)] with i < j of the photos whose features' cosine exceeds `threshold`
    (neighbours.pairs_above)."""
    return pairs_above(features, threshold)


def duplicate_groups(digests: list[str], pairs: list) -> list:
    """Groups [(rows, score, exact)] of photos with the same bytes (same sha256)
    or near duplicates (`pairs`, near_pairs'), linked transitively; score is the
    highest cosine in the group (1.0 for the same bytes)."""
    parent = list(range(len(digests)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    links = {}
    first = {}
    for row, digest in enumerate(digests):
        if digest in first:
            links[(first[digest], row)] = (1.0, True)
        else:
            first[digest] = row
    for i, j, cosine in pairs:
        links.setdefault((i, j), (min(cosine, 1.0), False))
    for i, j in links:
        parent[root(j)] = root(i)
    groups = {}
    for (i, j), (score, exact) in links.items():
        key = root(i)
        rows, best, any_exact = groups.get(key, (set(), 0.0, False))
        groups[key] = (rows | {i, j}, max(best, score), any_exact or exact)
    return sorted(((sorted(rows), score, exact) for rows, score, exact in groups.values()),
                  key=lambda group: (-group[1], group[0]))


def class_counts(labels: list[str], sets: list[str], classes: list[str]) -> tuple[dict, list[str]]:
    """({label: {"training", "validation", "testing", "total"}}, warnings with the numbers)."""
    counts = {label: {"training": 0, "validation": 0, "testing": 0, "total": 0} for label in classes}
    for label, split in zip(labels, sets):
        counts[label][split] += 1
        counts[label]["total"] += 1
    warnings = []
    totals = {label: c["total"] for label, c in counts.items()}
    for label, total in totals.items():
        if total < SMALL_CLASS:
            warnings.append(f"class {label!r} has only {total} photos ({counts[label]['training']} to train on): "
                            f"expect its accuracy to be unsure and its test figure to rest on "
                            f"{counts[label]['testing']} photos; {SMALL_CLASS} or more a class is better")
    largest, smallest = max(totals, key=totals.get), min(totals, key=totals.get)
    if totals[smallest] and totals[largest] / totals[smallest] > IMBALANCE:
        warnings.append(f"class {largest!r} has {totals[largest]} photos, {totals[largest] / totals[smallest]:.1f} "
                        f"times the {totals[smallest]} of {smallest!r}: the model will lean towards the larger "
                        f"classes; add photos to the small ones")
    return counts, warnings


def check(features: np.ndarray, paths: list[str], labels: list[str], sets: list[str], digests: list[str],
          classes: list[str], probabilities: np.ndarray) -> Findings:
    """Every finding on the photos: `probabilities` are their out-of-fold ones
    (poets.photos.out_of_fold), `sets` their splits, `digests` their content sha256."""
    truth = np.array([classes.index(label) for label in labels])
    sets = np.asarray(sets)
    pool = sets != "testing"
    believed = probabilities.argmax(axis=1)
    rows = []

    def row(i, suggested, reason, score, why):
        rows.append({"path": paths[i], "label": labels[i], "suggested": suggested, "reason": reason,
                     "score": round(float(score), 4), "split": str(sets[i]), "why": why})

    def guess(i):
        return f"{probabilities[i, believed[i]]:.0%} sure this is {classes[believed[i]]}"

    # The neighbours and the near duplicates from one pass over the pairs of photos.
    alike, cosines, pairs = search(features, pool, NEAR_DUPLICATE)
    votes = neighbour_votes(alike, truth, len(classes))
    for i, suggested, score in label_issues(probabilities, truth, pool, votes):
        row(i, classes[suggested], "label", score,
            _label_why(probabilities[i], votes[i], suggested, classes, labels[i]))
    groups = []
    for members, score, exact in duplicate_groups(digests, pairs):
        for i in members:
            row(i, classes[believed[i]] if believed[i] != truth[i] else "", "duplicate", score,
                _twins_why(i, members, exact, score, paths, labels, sets))
        groups.append({"photos": [{"path": paths[i], "label": labels[i], "split": str(sets[i])} for i in members],
                       "score": round(float(score), 4), "exact": exact})
    deviations, ratios = off_topic_scores(1 - cosines.mean(axis=1))
    for i in np.argsort(-deviations, kind="stable"):
        if deviations[i] <= OFF_TOPIC:
            break
        row(i, "", "off_topic", deviations[i], f"unlike the other photos: {ratios[i]:.1f} times as far from the "
                                              f"{NEIGHBOURS} most like it as the typical photo is; the model is "
                                              f"{guess(i)}")
    counts, warnings = class_counts(labels, list(sets), classes)
    return Findings(rows, groups, counts, warnings + duplicate_warnings(groups))


def duplicate_warnings(groups: list) -> list[str]:
    """What the groups of duplicates say of the whole set: test photos trained on through a twin,
    twins labelled apart."""
    warnings = []
    across = sum("testing" in splits and len(splits) > 1
                 for splits in ({p["split"] for p in g["photos"]} for g in groups))
    if across:
        warnings.append(f"{across} group(s) of duplicate photos span the test split and another: a test photo whose "
                        f"twin is trained on inflates the test figures")
    relabelled = sum(len({p["label"] for p in g["photos"]}) > 1 for g in groups)
    if relabelled:
        warnings.append(f"{relabelled} group(s) of duplicate photos carry different labels")
    return warnings


def _label_why(probabilities, votes, suggested, classes, label) -> str:
    """A label issue's reason in words: how sure the model is, and how the photo's neighbours are labelled."""
    return (f"{probabilities[suggested]:.0%} sure this is {classes[suggested]}; {votes[suggested]:.0%} of the "
            f"photos most like it are labelled {classes[suggested]}; labelled {label}")


def _twins_why(i, members, exact, score, paths, labels, sets) -> str:
    """A duplicate's row's reason in words: its twins, how alike, and what is at stake."""
    others = [j for j in members if j != i]
    named = paths[others[0]] + (f" and {len(others) - 1} more" if len(others) > 1 else "")
    alike = "the same bytes as" if exact else f"{score:.0%} alike (features) with"
    said = [f"{alike} {named}"]
    if other_labels := sorted({labels[j] for j in others} - {labels[i]}):
        said.append(f"labelled {labels[i]} here, {', '.join(other_labels)} there")
    if {sets[j] for j in members} - {"testing"} and any(sets[j] == "testing" for j in members):
        said.append("one is a test photo, another is trained on")
    return "; ".join(said)


def to_exclude(findings: Findings) -> set[str]:
    """The training and validation photos --exclude-flagged leaves out: those
    flagged for their label or as off-topic, and of each group of duplicates
    all but one (none but the test ones where the group reaches the test split,
    whose photos are never left out)."""
    excluded = {row["path"] for row in findings.rows
                if row["reason"] in ("label", "off_topic") and row["split"] != "testing"}
    for group in findings.duplicates:
        others = [p["path"] for p in group["photos"] if p["split"] != "testing"]
        tested = any(p["split"] == "testing" for p in group["photos"])
        excluded.update(others if tested else others[1:])
    return excluded


def write_csv(rows: list, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list:
    with open(path, newline="", encoding="utf-8") as table:
        return list(csv.DictReader(table))
