"""A cold run at 1x, 2x and 4x the photos: its time and its memory against the photo count.

    .venv/bin/python benchmarks/scale.py [--data ../shared/data] [--architecture mobilenet_0.75_224]
                                         [--times 1,2,4]

The flower photos, extracted once, then for each multiple a folder of them
and (times - 1) transformed copies of each in its class (COPIES: mirrored,
the centre 85% enlarged back, both; JPEG quality 90), so that no copy is the
same bytes. For each multiple, a cold `MobileModel` run (default flags,
--dataset-dir the folder) in a fresh data dir, in a process of its own
whose peak resident memory is read (getrusage of the waited-for run); each
stage's seconds from the records (runs.stages). Prints a table (seconds,
seconds per 1,000 photos, time and photos as multiples of the 1x run, the
peak memory, the stages that grew most) and writes
benchmarks/results/scale[_ARCHITECTURE].json.
"""

import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageOps

from runs import ROOT, archive, base_model_url, parser, results_path, stages

# The transformed copies a photo gets, in this order, as the multiple grows.
COPIES = ("mirrored", "cropped", "mirrored_cropped")
# Reads the peak resident memory of the command it runs (the run is one process: the local
# scheduler's single worker runs every task in it).
PEAK = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def transformed(photo: Image.Image, how: str) -> Image.Image:
    if "cropped" in how:
        width, height = photo.size
        photo = photo.crop((round(width * 0.075), round(height * 0.075), round(width * 0.925),
                            round(height * 0.925))).resize((width, height), Image.BILINEAR)
    return ImageOps.mirror(photo) if "mirrored" in how else photo


def photo_folder(photos: Path, out: Path, times: int) -> int:
    """`out`: every photo of `photos` (hard links) and its first times - 1 COPIES; the photo count."""
    count = 0
    for path in sorted(photos.rglob("*.jpg")):
        target = out / path.relative_to(photos)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.hardlink_to(path)
        count += 1
        if times > 1:
            with Image.open(path) as photo:
                photo = photo.convert("RGB")
                for how in COPIES[:times - 1]:
                    transformed(photo, how).save(target.with_name(f"{target.stem}_{how}.jpg"), quality=90)
                    count += 1
    return count


def cold_run(args, folder: Path, data_dir: Path) -> tuple[float, float]:
    """(seconds, peak resident MB) of a cold MobileModel run on the photo folder `folder`."""
    command = [sys.executable, "-c", PEAK, str(Path(sys.executable).parent / "luigi"), "--module", "workflows",
               "MobileModel", "--local-scheduler", "--data-dir", str(data_dir), "--architecture", args.architecture,
               "--base-model-url", base_model_url(args), "--dataset-dir", str(folder)]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-3000:]}")
    return seconds, int(result.stdout.split()[-1]) / 1024


def main():
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--times", default="1,2,4", help="the multiples of the photos, at most 4")
    args = arguments.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scale-"))
    with tarfile.open(archive(args)) as tar:
        tar.extractall(work / "extracted", filter="data")
    photos = next(p for p in (work / "extracted").iterdir() if p.is_dir())
    rows = []
    for times in map(int, args.times.split(",")):
        folder = work / f"photos_{times}x"
        count = photo_folder(photos, folder, times)
        seconds, peak = cold_run(args, folder, work / f"data_{times}x")
        rows.append({"times": times, "photos": count, "cold_run_s": seconds, "peak_rss_mb": peak,
                     "stages": stages(work / f"data_{times}x")})
    first = rows[0]
    print(f"{args.architecture}: cold MobileModel runs, --dataset-dir, default flags\n")
    print("| photos | seconds | s per 1,000 photos | time, x the first | photos, x the first | peak memory MB | "
          "grew most (stage: x its seconds in the first) |\n|---|---|---|---|---|---|---|")
    for row in rows:
        grew = sorted(((name, stage["seconds"] / max(first["stages"].get(name, stage)["seconds"], 1e-9))
                       for name, stage in row["stages"].items() if stage["seconds"] > 1), key=lambda item: -item[1])
        print(f"| {row['photos']:,} | {row['cold_run_s']:.1f} | {1000 * row['cold_run_s'] / row['photos']:.1f} | "
              f"{row['cold_run_s'] / first['cold_run_s']:.2f} | {row['photos'] / first['photos']:.2f} | "
              f"{row['peak_rss_mb']:,.0f} | {', '.join(f'{name} {ratio:.1f}' for name, ratio in grew[:3])} |")
    out = results_path("scale", args.architecture)
    out.write_text(json.dumps({"architecture": args.architecture, "rows": rows}, indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
