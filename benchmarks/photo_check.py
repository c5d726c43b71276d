"""CheckPhotos on the real flower photos: what it flags, what it costs, what
--exclude-flagged does, and how many planted label errors it finds.

    .venv/bin/python benchmarks/photo_check.py [--data ../shared/data] [--architecture mobilenet_0.75_224]
                                               [--planted-only] [--data-dir DIR]

In a fresh data dir, with file:// URLs: a cold run of MobileModel (int8),
whose records give CheckPhotos's seconds against the whole run's; seeds 0-4
with and without --exclude-flagged, side by side (the optimized graph and
int8 on the test split as labelled); then two copies of the photos, each
with PLANTED training photos moved to another class folder (draws 0 and
1), checked by the CheckPhotos task (its features reused from the first
run by content hash): the share of planted photos flagged with reason
`label`, and how many photos are flagged in all. Prints a table and writes
benchmarks/results/photo_check[_ARCHITECTURE].json.
"""

import csv
import json
import shutil
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from poets.core.images import find_photos, split_of
from runs import archive, base_model_url, dataset_url, luigi, mobile_model, parser, results_path
from stores import complete_folders, read_record
from tasks.check_photos import CheckPhotos

ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(5)
PLANTED = 100
# Two draws of planted errors: the one the method was tuned on, and another.
PLANTED_SEEDS = (0, 1)


def seeds(command, data_dir, extra):
    runs = []
    for seed in SEEDS:
        flags = command + ["--random-seed", str(seed)] + extra
        luigi(flags)
        summary = json.loads(mobile_model(flags).summary.read_text())
        runs.append({"seed": seed, **{f"{variant}_{what}": summary["variants"][variant][what]
                                      for variant in ("optimized", "int8") for what in ("accuracy", "cross_entropy")}})
    mean = {key: float(np.mean([run[key] for run in runs])) for key in runs[0] if key != "seed"}
    return {"runs": runs, "mean": mean}


def plant(photos, out, count, seed=0):
    """A copy of `photos` with `count` training photos moved to another class's folder: [(new path, true label)]."""
    shutil.copytree(photos, out)
    rng = np.random.default_rng(seed)
    listed = [(path, label) for path, label in find_photos(out) if split_of(path, 10, 10) == "training"]
    classes = sorted({label for _, label in listed})
    moved = []
    for index in rng.choice(len(listed), count, replace=False):
        path, label = listed[index]
        wrong = rng.choice([c for c in classes if c != label])
        target = f"{wrong}/{Path(path).name}"
        shutil.move(out / path, out / target)
        moved.append((target, label))
    return moved


def planted_check(command, data_dir, photos, out, seed):
    """CheckPhotos on a copy of `photos` with PLANTED training photos moved (draw `seed`), as a record."""
    moved = plant(photos, out, PLANTED, seed)
    luigi([part if part != "MobileModel" else "CheckPhotos" for part in command[:-2]] + ["--dataset-dir", str(out)])
    # The task the command named (made now, or earlier from the same photos in a reused --data-dir).
    check = mobile_model(command + ["--dataset-dir", str(out)]).clone(CheckPhotos)
    rows = check.rows()
    label_rows = {row["path"]: row for row in rows if row["reason"] == "label"}
    found = [path for path, _ in moved if path in label_rows]
    right = [path for path, truth in moved if path in label_rows and label_rows[path]["suggested"] == truth]
    total = len(find_photos(out))
    return {"seed": seed, "check_photos_version": read_record(check.table.parent)["version"],
            "moved": PLANTED, "flagged_label": len(found), "recall": len(found) / PLANTED,
            "suggested_true_class": len(right), "label_flags": len(label_rows), "photos": total,
            "label_flag_share": len(label_rows) / total, "flagged_all": len(rows)}


def planted_only(args, command, work, data_dir):
    """--planted-only: the planted draws alone, written into the last full run's JSON (whose other
    figures stay as they were measured, with the CheckPhotos version they were measured with)."""
    luigi([part if part != "MobileModel" else "Bottlenecks" for part in command[:-2]]
          + ["--dataset-url", dataset_url(args)])
    with tarfile.open(archive(args)) as tar:
        tar.extractall(work / "extracted", filter="data")
    planted = [planted_check(command, data_dir, next((work / "extracted").iterdir()), work / f"photos{seed}", seed)
               for seed in PLANTED_SEEDS]
    out = results_path("photo_check", args.architecture)
    # Another architecture's file holds only its planted draws.
    result = json.loads(out.read_text()) if out.exists() else {"architecture": args.architecture}
    result["planted"] = planted
    out.write_text(json.dumps(result, indent=2) + "\n")
    for p in planted:
        print(planted_line(p))
    print(f"\nwritten to {out}")


def planted_line(p) -> str:
    """One planted draw's figures, in a sentence."""
    return (f"planted (draw {p['seed']}, CheckPhotos version {p['check_photos_version']}): {p['flagged_label']}/"
            f"{PLANTED} flagged as label ({p['recall']:.0%}), {p['suggested_true_class']} with their true class "
            f"suggested; {p['label_flags']} label flags of {p['photos']} photos ({p['label_flag_share']:.1%}); "
            f"{p['flagged_all']} rows in all")


def main():
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--planted-only", action="store_true",
                           help="only the planted draws, written into results/photo_check.json")
    arguments.add_argument("--data-dir", help="a data dir whose features to reuse (default: a fresh one)")
    args = arguments.parse_args()
    work = Path(tempfile.mkdtemp(prefix="photo-check-"))
    data_dir = Path(args.data_dir) if args.data_dir else work / "data"
    command = [str(Path(sys.executable).parent / "luigi"), "--module", "workflows", "MobileModel",
               "--local-scheduler", "--data-dir", str(data_dir), "--architecture", args.architecture,
               "--base-model-url", base_model_url(args),
               "--quantization-mode", "int8"]
    if args.planted_only:
        planted_only(args, command, work, data_dir)
        shutil.rmtree(work, ignore_errors=True)
        return
    flowers = command + ["--dataset-url", dataset_url(args)]
    cold = luigi(flowers)
    records = [read_record(folder) for folder in complete_folders(data_dir)]
    check = next(r for r in records if r["task"] == "CheckPhotos")
    check_folder = next(f for f in complete_folders(data_dir, "check_photos"))
    findings = json.loads((check_folder / "check.json").read_text())
    with open(check_folder / "photos_to_check.csv", newline="", encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    by_split = Counter(f"{row['reason']}/{row['split']}" for row in rows)
    without = seeds(flowers, data_dir, [])
    excluded = seeds(flowers, data_dir, ["--exclude-flagged"])

    # Planted label errors, in copies of the photos checked through the task: two draws.
    with tarfile.open(archive(args)) as tar:
        tar.extractall(work / "extracted", filter="data")
    planted = [planted_check(command, data_dir, next((work / "extracted").iterdir()), work / f"photos{seed}", seed)
               for seed in PLANTED_SEEDS]

    result = {
        "architecture": args.architecture,
        "cold_run_s": cold,
        "check_photos_s": check["seconds"],
        "check_share_of_cold_run": check["seconds"] / cold,
        "flagged": findings["by_reason"],
        "flagged_by_split": dict(sorted(by_split.items())),
        "duplicate_groups": len(findings["duplicates"]),
        "exact_duplicate_groups": sum(g["exact"] for g in findings["duplicates"]),
        "warnings": findings["warnings"],
        "seeds": {"as_labelled": without, "exclude_flagged": excluded},
        "planted": planted,
    }
    print(f"| cold run | CheckPhotos | share |\n|---|---|---|\n| {cold:.1f} s | {check['seconds']:.1f} s | "
          f"{check['seconds'] / cold:.1%} |\n")
    print("| flagged | " + " | ".join(findings["by_reason"]) + " |\n|---|---|---|---|\n| photos | "
          + " | ".join(str(n) for n in findings["by_reason"].values()) + " |\n")
    print("| seeds 0-4, mean | optimized accuracy | cross-entropy | int8 accuracy | cross-entropy |\n"
          "|---|---|---|---|---|")
    for name, runs in (("as labelled", without), ("--exclude-flagged", excluded)):
        m = runs["mean"]
        print(f"| {name} | {m['optimized_accuracy']:.4f} | {m['optimized_cross_entropy']:.4f} | "
              f"{m['int8_accuracy']:.4f} | {m['int8_cross_entropy']:.4f} |")
    for p in planted:
        print("\n" + planted_line(p))
    out = results_path("photo_check", args.architecture)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
