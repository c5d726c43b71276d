"""Many machines on the real flower photos: shard sizes, and 1 and 2 workers on a bucket beside a local run.

    .venv/bin/python benchmarks/many_machines.py [--data ../shared/data] [--architecture mobilenet_0.75_224]

1. Shard size: the dataset and base model made once, then `Bottlenecks`
   alone with --bottleneck-shards 1, 4, 8 and 16, each in a data dir of its
   own (so nothing is reused), on one worker.
2. The cold MobileModel run three ways, side by side: a local data dir with
   the local scheduler; an s3:// data dir (moto's S3 server on loopback) with
   one worker and luigid; the same with two worker processes, each with its
   own working folder and cache, as two machines would have.
Prints a table and writes benchmarks/results/many_machines.json: seconds,
ratios to the local run, bytes uploaded and downloaded, the per-photo and
per-stage figures, and from them benchmarks/README.md's estimates for 100,000 and
1,000,000 photos on 1, 4 and 16 machines (`--estimate` computes them again from the JSON).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from poets.features import bottlenecks
from poets.photos.check import NEAR_DUPLICATE
from poets.photos.neighbours import EXACT_UP_TO, search
from runs import base_model_url, dataset_url, parser
from stores import complete_folders, read_record

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BUCKET = "poets-bench"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on port {port}")


def run_all(commands, env=None, cwds=None):
    """Run the commands at once; (wall seconds for all of them, their stderr)."""
    started = time.monotonic()
    procs = [subprocess.Popen(c, cwd=(cwds or [ROOT] * len(commands))[i], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for i, c in enumerate(commands)]
    logs = [p.communicate()[1] for p in procs]
    seconds = time.monotonic() - started
    for proc, command, log in zip(procs, commands, logs):
        if proc.returncode not in (0, 10, 20, 25):  # see tests/test_many_machines.py
            sys.exit(f"failed ({proc.returncode}): {' '.join(command)}\n{log[-3000:]}")
    return seconds, logs


def size_of(folder):
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def bucket_bytes(client, prefix):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sum(item["Size"] for page in pages for item in page.get("Contents", []))


OUT = ROOT / "benchmarks" / "results" / "many_machines.json"
# Assumed, not measured here: each machine's share of the network to the bucket.
BANDWIDTH = 100e6  # bytes/s, about 1 Gbit/s


ESTIMATED = (100_000, 1_000_000)
# Photos the pair searches are timed at by clusters (neighbours.cluster_blocks).
CLUSTERED = 4 * EXACT_UP_TO


def pair_search_seconds(photos, feature_size):
    """Seconds of CheckPhotos's search over all pairs of photos (poets.photos.neighbours.search: the
    neighbours and the near duplicates in one pass) on `photos` random features of `feature_size`
    values: the part of the photo check that grows faster than the photos (with their square up to
    neighbours.EXACT_UP_TO, to the power 1.5 above it)."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((photos, feature_size), dtype=np.float32)
    started = time.perf_counter()
    search(features, rng.random(photos) < 0.9, NEAR_DUPLICATE)
    return time.perf_counter() - started


def estimate(result, photos, pairs_s, clustered, machines=(1, 4, 16), test_share=0.1):
    """Seconds and bytes for `photos` photos on each number of machines, scaled from the
    local run's per-photo stage times and artifact sizes, with --bottleneck-shards at 4
    per machine; transfers at BANDWIDTH per machine. The photo check runs on one machine:
    its pair searches grow with the square of the photos up to EXACT_UP_TO (`pairs_s` seconds
    at the measured count), to the power 1.5 above it (`clustered`: (photos, seconds) timed by
    clusters), the rest of it with the photos."""
    measured = result["photos"]
    local = result["local"]
    per_photo = {stage: seconds / measured for stage, seconds in local["stage_seconds"].items()}
    size = {stage: size / measured for stage, size in local["artifact_bytes"].items()}
    # The other stages (training, converting, the report) do not depend on the photo count.
    fixed = sum(seconds for stage, seconds in local["stage_seconds"].items()
                if stage not in ("dataset", "bottleneck_shards", "bottlenecks", "evaluate", "check_photos"))
    # Evaluate runs three variants on the test photos: per test photo and variant.
    evaluate = local["stage_seconds"]["evaluate"] / (3 * measured * test_share)
    scale = photos / measured
    searches = pairs_s * scale**2 if photos <= EXACT_UP_TO else clustered[1] * (photos / clustered[0]) ** 1.5
    check = (local["stage_seconds"]["check_photos"] - pairs_s) * scale + searches
    rows = {}
    for n in machines:
        shards = 4 * n
        dataset = photos * (per_photo["dataset"] + size["dataset"] / BANDWIDTH)  # extract and upload, one machine
        elsewhere = (n - 1) / n  # the share of the work done on a machine other than the one holding the data
        features = (-(-shards // n)) * (photos / shards) * (per_photo["bottleneck_shards"]
                                                              + elsewhere * size["dataset"] / BANDWIDTH)
        merge = photos * (per_photo["bottlenecks"] + 2 * size["bottleneck_shards"] / BANDWIDTH)
        evaluations = -(-3 // n) * photos * test_share * (evaluate + elsewhere * size["dataset"] / BANDWIDTH)
        # Up: the photos, the shards' features, the merged features (and small artifacts); down: the
        # same to the machines that did not make them, and the test photos to each evaluating machine.
        up = photos * (size["dataset"] + 2 * size["bottleneck_shards"])
        down = elsewhere * up + max(0, min(n, 3) - 1) * photos * test_share * size["dataset"]
        rows[n] = {"shards": shards, "features_s": features, "check_photos_s": check,
                   "total_s": dataset + features + merge + check + fixed + evaluations, "bytes_moved": up + down,
                   # The merged features, held whole by Bottlenecks, CheckPhotos and Retrain.
                   "features_in_memory_bytes": photos * result["feature_size"] * 4}
    return rows


def estimates(result):
    """estimate() for each count of ESTIMATED photos, the pair searches timed once at the measured
    count and once by clusters at CLUSTERED photos."""
    pairs_s = pair_search_seconds(result["photos"], result["feature_size"])
    clustered = (CLUSTERED, pair_search_seconds(CLUSTERED, result["feature_size"]))
    return {"pair_search_s": pairs_s, "clustered_search": clustered,
            **{str(photos): estimate(result, photos, pairs_s, clustered) for photos in ESTIMATED}}


def print_estimates(rows):
    for photos in ESTIMATED:
        print(f"estimate for {photos:,} photos (--bottleneck-shards = 4 per machine, {BANDWIDTH / 1e6:.0f} MB/s "
              f"each; the photo check's pair searches {rows['pair_search_s']:.2f} s at the measured count, "
              f"{rows['clustered_search'][1]:.1f} s by clusters at {rows['clustered_search'][0]:,}):")
        for n, row in rows[str(photos)].items():
            print(f"  {n:>2} machine{'s' * (n > 1)}: features {row['features_s'] / 60:6.1f} min, photo check "
                  f"{row['check_photos_s'] / 60:6.1f} min, whole run {row['total_s'] / 60:6.1f} min, "
                  f"{row['bytes_moved'] / 1e9:6.1f} GB moved, features in memory "
                  f"{row['features_in_memory_bytes'] / 1e9:.1f} GB")


def main():
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--shards", default="1,4,8,16")
    arguments.add_argument("--estimate", action="store_true", help="only print the estimate from the last results")
    args = arguments.parse_args()
    if args.estimate:
        result = json.loads(OUT.read_text())
        result["estimates"] = estimates(result)
        print_estimates(result["estimates"])
        OUT.write_text(json.dumps(result, indent=2) + "\n")
        return

    work = Path(tempfile.mkdtemp(prefix="poets-many-"))
    urls = ["--architecture", args.architecture, "--dataset-url", dataset_url(args),
            "--base-model-url", base_model_url(args)]
    luigi = [str(BIN / "luigi"), "--module", "workflows"]
    result = {"architecture": args.architecture}
    try:
        # 1. Shard size: only the features, from the same dataset and base model artifacts.
        base = work / "base"
        run_all([luigi + ["DownloadDataset", "--local-scheduler", "--data-dir", str(base)] + urls[2:4]])
        run_all([luigi + ["DownloadBaseModel", "--local-scheduler", "--data-dir", str(base)] + urls[:2] + urls[4:]])
        shard_runs = {}
        for shards in [int(s) for s in args.shards.split(",")]:
            data_dir = work / f"shards-{shards}"
            shutil.copytree(base, data_dir, copy_function=os.link)
            seconds, _ = run_all([luigi + ["Bottlenecks", "--local-scheduler", "--data-dir", str(data_dir),
                                           "--bottleneck-shards", str(shards)] + urls])
            shard_runs[shards] = {
                "seconds": seconds,
                "shard_seconds": [read_record(f)["seconds"] for f in complete_folders(data_dir, "bottleneck_shards")],
            }
            shutil.rmtree(data_dir)
        # The dataset's files, as its record lists them: asked of the artifact layer, not read from params.json.
        photos = len(read_record(next(iter(complete_folders(work / "base", "dataset"))))["files"])
        result["photos"] = photos
        result["shards"] = shard_runs

        # 2. The cold run: local, and on a bucket with one and two workers.
        local_dir = work / "local"
        local_seconds, _ = run_all([luigi + ["MobileModel", "--local-scheduler", "--data-dir", str(local_dir)] + urls])
        stages = {}
        for folder in complete_folders(local_dir):
            stages.setdefault(folder.parent.name, []).append(read_record(folder)["seconds"])
        result["local"] = {"seconds": local_seconds, "stage_seconds": {k: sum(v) for k, v in stages.items()},
                           "stage_tasks": {k: len(v) for k, v in stages.items()},
                           "artifact_bytes": {k: size_of(local_dir / k) for k in stages}}
        merged = next(iter(complete_folders(local_dir, "bottlenecks"))) / "bottlenecks.npz"
        result["feature_size"] = int(bottlenecks.load(merged)[0].shape[1])

        moto_port, luigid_port = free_port(), free_port()
        servers = [subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                   subprocess.Popen([str(BIN / "luigid"), "--address", "127.0.0.1", "--port", str(luigid_port),
                                     "--state-path", str(work / "luigid.pickle"), "--logdir", str(work)],
                                    cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        try:
            wait_for(moto_port)
            wait_for(luigid_port)
            env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}", "AWS_ACCESS_KEY_ID": "bench",
                   "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
            os.environ.update(env)
            import boto3

            client = boto3.client("s3")
            client.create_bucket(Bucket=BUCKET)
            for workers in (1, 2):
                machines = [work / f"s3-{workers}-machine-{i}" for i in range(workers)]
                commands = [luigi + ["MobileModel", "--data-dir", f"s3://{BUCKET}/w{workers}",
                                     "--cache-dir", str(m / "cache"), "--scheduler-host", "127.0.0.1",
                                     "--scheduler-port", str(luigid_port), "--worker-keep-alive",
                                     "--worker-wait-interval", "0.5"] + urls for m in machines]
                for m in machines:
                    m.mkdir()
                seconds, logs = run_all(commands, env=env, cwds=machines)
                uploaded = bucket_bytes(client, f"w{workers}/")
                cached = [size_of(m / "cache") for m in machines]
                result[f"s3_{workers}_workers"] = {
                    "seconds": seconds,
                    "ratio_to_local": seconds / local_seconds,
                    "bytes_uploaded": uploaded,
                    # Each cache holds what its machine made (uploaded once) and what it downloaded.
                    "bytes_downloaded": sum(cached) - uploaded,
                    "shards_per_worker": [log.count("running   BottleneckShard(") for log in logs],
                    "tasks_per_worker": [log.count(" running   ") for log in logs],
                }
        finally:
            for server in servers:
                server.terminate()
                server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = [("run", "seconds", "ratio", "uploaded MB", "downloaded MB", "tasks per worker")]
    rows.append(("local data dir, 1 worker", f"{local_seconds:.1f}", "1.00", "-", "-", "-"))
    for workers in (1, 2):
        r = result[f"s3_{workers}_workers"]
        rows.append((f"s3 + luigid, {workers} worker{'s' * (workers > 1)}", f"{r['seconds']:.1f}",
                     f"{r['ratio_to_local']:.2f}", f"{r['bytes_uploaded'] / 1e6:.1f}",
                     f"{r['bytes_downloaded'] / 1e6:.1f}", "/".join(map(str, r["tasks_per_worker"]))))
    k1 = shard_runs[min(shard_runs)]["seconds"]
    for shards, r in shard_runs.items():
        rows.append((f"Bottlenecks, {shards} shard{'s' * (shards > 1)}", f"{r['seconds']:.1f}",
                     f"{r['seconds'] / k1:.2f}", "-", "-", "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    result["estimates"] = estimates(result)
    print_estimates(result["estimates"])
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {OUT}")


if __name__ == "__main__":
    main()
