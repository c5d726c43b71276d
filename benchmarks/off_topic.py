"""Off-topic flags against photos judged by eye: precision and recall, the rule before and today's.

    .venv/bin/python benchmarks/off_topic.py [--data ../shared/data] [--architecture mobilenet_0.75_224]
                                             [--data-dir DIR]

`benchmarks/off_topic_judged.csv` holds 118 flower photos judged by eye
(path,label,off_topic,note): every photo either rule flagged with
mobilenet_0.75_224, 20 unflagged ones just under the old rule's line,
those today's rule flags with the default mobilenet_v2_1.0_224 (dequantized
weights), and 5 that a rule tried since flagged (the 50th most alike photo's
distance, benchmarks/README.md). Off-topic means no real flower of the five classes is there for a
person to name: things, places, people, animals, drawings, prints, cakes
and fabrics of flowers, fields too far away to tell the flower. A flower of
the wrong class is a label question, not off-topic.

It computes the Bottlenecks task's features of the flower photos in
--data-dir (a fresh temporary one by default; give a run's to reuse its
features), then flags photos by both rules on the same features:

- before: 1 - the best cosine between a photo's centred features and a
  class's mean, above 1.43 times the median photo's (CheckPhotos version 3);
- today: poets.photos.neighbours.off_topic_scores, the distance to the photos most
  like it, above OFF_TOPIC robust deviations (version 4).

Precision: of the flagged photos that were judged, the share judged
off-topic (with how many flagged photos were not judged: their share is
then unknown). Recall: of the photos judged off-topic, the share flagged.
Prints a table and writes benchmarks/results/off_topic[_ARCHITECTURE].json.
"""

import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from poets.core.images import split_of
from poets.features import bottlenecks
from poets.photos import check as photo_check
from poets.photos import neighbours
from runs import ROOT, base_model_url, dataset_url, luigi, mobile_model, parser, results_path
from tasks.bottlenecks import Bottlenecks

JUDGED = ROOT / "benchmarks" / "off_topic_judged.csv"


def class_centre_scores(features, truth, pool):
    """The rule before (CheckPhotos version 3), kept here to compare: the ratio to the median photo of
    1 - the best cosine between a photo's centred features and any class's mean."""
    centred = features - features[pool].mean(axis=0)
    unit = centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)
    means = np.stack([unit[pool & (truth == c)].mean(axis=0) for c in range(int(truth.max()) + 1)])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    distance = 1 - (unit @ means.T).max(axis=1)
    return distance / np.median(distance)


def scored(flagged, paths, judged):
    """Precision and recall of the photos `flagged` (a mask over `paths`) on the judged ones."""
    marked = {path for path, flag in zip(paths, flagged) if flag}
    seen = [path for path in marked if path in judged]
    right = sum(judged[path] for path in seen)
    off_topic = sum(judged.values())
    return {"flagged": len(marked), "judged_flagged": len(seen), "not_judged": len(marked) - len(seen),
            "right": right, "precision": right / len(seen) if seen else None,
            "recall": right / off_topic, "judged_off_topic": off_topic}


def main():
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--data-dir", help="a data dir whose Bottlenecks to reuse (default: a fresh one)")
    args = arguments.parse_args()
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="off-topic-"))
    command = [str(Path(sys.executable).parent / "luigi"), "--module", "workflows", "Bottlenecks",
               "--local-scheduler", "--data-dir", str(data_dir), "--architecture", args.architecture,
               "--base-model-url", base_model_url(args), "--dataset-url", dataset_url(args)]
    luigi(command)
    # The data dir may hold other runs' features (other architectures, other photos, other versions):
    # this command's task's.
    task = mobile_model([part if part != "Bottlenecks" else "MobileModel" for part in command]).clone(Bottlenecks)
    features, paths, labels = bottlenecks.load(task.features)
    paths, labels = [str(p) for p in paths], [str(label) for label in labels]
    classes = sorted(set(labels))
    truth = np.array([classes.index(label) for label in labels])
    pool = np.array([split_of(path, 10, 10) != "testing" for path in paths])
    with open(JUDGED, newline="", encoding="utf-8") as table:
        judged = {row["path"]: row["off_topic"] == "yes" for row in csv.DictReader(table)}
    deviations, _ = neighbours.off_topic_scores(neighbours.neighbour_distances(features, pool))
    rules = {"before: class centre, ratio > 1.43": class_centre_scores(features, truth, pool) > 1.43,
             f"today: {neighbours.NEIGHBOURS} most alike, deviations > {photo_check.OFF_TOPIC:g}":
                 deviations > photo_check.OFF_TOPIC}
    result = {"architecture": args.architecture, "photos": len(paths), "judged": len(judged),
              "rules": {name: scored(flagged, paths, judged) for name, flagged in rules.items()}}
    print(f"{args.architecture}, {len(paths)} photos, {len(judged)} judged "
          f"({result['rules'][next(iter(rules))]['judged_off_topic']} off-topic)\n")
    print("| rule | flagged | of them judged | off-topic | precision | recall |\n|---|---|---|---|---|---|")
    for name, s in result["rules"].items():
        precision = f"{s['precision']:.2f}" if s["precision"] is not None else "-"
        print(f"| {name} | {s['flagged']} | {s['judged_flagged']} | {s['right']} | {precision} | {s['recall']:.2f} |")
    out = results_path("off_topic", args.architecture)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
