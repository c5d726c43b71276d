"""Many machines: artifacts in an S3 bucket (moto's real S3 API on loopback),
workers that share nothing but the bucket and luigid, every byte checked."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import BUCKET, SECRET, free_port, run_together, summary_of
from tests.test_interruptions import command, comparable
from tests.test_scheduler import central

# Real luigid, subprocesses, S3 or repeated runs: the slow part of the suite (-m "not slow" skips it).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]


@pytest.fixture
def bucket(moto_endpoint):
    """moto's S3 with an empty bucket, the AWS configuration in the environment; yields the data dir URL."""
    return f"s3://{BUCKET}/run"


def objects(prefix=""):
    import boto3

    client = boto3.client("s3")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}


def get(key):
    import boto3

    return boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()


def remote_summary(data_dir):
    [key] = [key for key in objects("run/mobile_model/") if key.endswith("/summary.json")]
    return json.loads(get(key))


def worker(params, data_dir, cache, port=None, *extra):
    """A `luigi` command as a machine of its own would run it: own working folder and cache."""
    args = central(params, data_dir, port, *extra) if port else [*command(params, data_dir), *extra]
    cache.mkdir(parents=True, exist_ok=True)
    return args + ["--cache-dir", str(cache)]


def test_two_workers_on_a_bucket_split_the_shards_and_match_a_local_run(completed, bucket, luigid, tmp_path):
    params, _ = completed
    port, _ = luigid
    machines = [tmp_path / "a", tmp_path / "b"]
    runs = run_together([worker(params, bucket, machine / "cache", port, "--worker-keep-alive",
                                "--worker-wait-interval", "0.2") for machine in machines], tmp_path, fork=True)
    logs = []
    for code, err in runs:
        # 10, 25: another worker ran some of its tasks; 20: luigi's summary files MobileModel,
        # whose second run() (after its dynamic requirements) the other worker took, under
        # "missing external dependencies". That all of it was made is checked below.
        assert code in (0, 10, 20, 25), err[-3000:]
        logs.append(err)
    both = "".join(logs)
    # Every task ran once, on one machine or the other, and both machines ran some.
    for family in ("DownloadDataset", "DownloadBaseModel", "LiteBaseModel", "Bottlenecks", "Retrain", "Optimize",
                   "Quantize", "CameraApp", "MobileModel"):
        assert both.count(f"done      {family}(") == 1, family
    # The shipped variant's and the camera app's other one.
    assert both.count("done      Export(") == 2
    shards = [log.count("done      BottleneckShard(") for log in logs]
    assert sum(shards) == 8, shards
    # Which worker takes which shard is the scheduler's and the clock's: on two busy cores one worker
    # has been seen to take all eight of the tiny model's shards (a tenth of a second each) before the
    # other asked. That any worker may take any shard is what the shard tasks are for.
    assert min(log.count("done      ") for log in logs) >= 1, [log.count("done      ") for log in logs]
    assert both.count("done      Evaluate(") == 3 and both.count("done      Compress(") == 3

    # Only the machine that made the dataset holds all of it; the other downloads just the
    # photos its tasks read (its shards', the test photos, the samples the checks run on).
    for machine, log in zip(machines, logs):
        if "done      DownloadDataset(" not in log:
            assert [f.name.endswith("-part") for f in (machine / "cache" / "dataset").glob("*")] in ([], [True])

    # The same model as a local run: same metrics, same bytes of the retrained graph.
    summary = remote_summary(bucket)
    made_by = next(m for m in machines if str(m / "cache") in json.dumps(summary))
    assert comparable(summary, made_by / "cache") == comparable(summary_of(params), params["data_dir"])
    [retrained] = [k for k in objects("run/retrain/") if k.endswith("retrained_graph.pb")]
    [local] = Path(params["data_dir"], "retrain").glob("*/retrained_graph.pb")
    assert get(retrained) == local.read_bytes()
    assert retrained.split("/")[2] == local.parent.name  # the same id

    # Nothing secret anywhere: not in the bucket, not in either cache, not in the log.
    assert SECRET not in both
    for key in objects():
        assert SECRET.encode() not in get(key), key
    for machine in machines:
        for path in machine.rglob("*"):
            assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path

    # A byte flipped in the bucket: the next reader fails naming artifact and file; verify says so too.
    [optimized] = [k for k in objects("run/optimize/") if k.endswith(".pb")]
    damaged = bytearray(get(optimized))
    damaged[len(damaged) // 2] ^= 0xFF
    import boto3

    boto3.client("s3").put_object(Bucket=BUCKET, Key=optimized, Body=bytes(damaged))
    rerun = subprocess.run(worker({**params, "quantization_mode": "float16"}, bucket, tmp_path / "c" / "cache"),
                           cwd=ROOT, capture_output=True, text=True)
    assert rerun.returncode != 0
    folder = f"{bucket}/{'/'.join(optimized.split('/')[1:3])}/"
    assert f"artifact {folder} is damaged: {optimized.rsplit('/', 1)[1]} does not have the sha256" in rerun.stderr
    assert not [k for k in objects("run/quantize/") if k.endswith("params.json") and "float16" in get(k).decode()]
    verify = subprocess.run([sys.executable, "-m", "workflows.artifacts", "verify", "--data-dir", bucket,
                             *[f"--{k.replace('_', '-')}={v}" for k, v in params.items() if k != "data_dir"],
                             "--cache-dir", str(tmp_path / "d")],
                            cwd=ROOT, capture_output=True, text=True)
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert f"DAMAGED {folder}" in verify.stdout and "1 damaged" in verify.stdout


KILLER = """
import os, signal, sys
import boto3.s3.inject
real, calls = boto3.s3.inject.upload_file, []
def upload_then_die(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == 20:  # in the middle of the dataset's photos
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, *args, **kwargs)
boto3.s3.inject.upload_file = upload_then_die
import luigi.cmdline
sys.argv = ["luigi"] + sys.argv[1:]
luigi.cmdline.luigi_run()
"""


def test_a_worker_killed_mid_upload_leaves_nothing_that_looks_complete(completed, bucket, tmp_path):
    params, _ = completed
    cache = tmp_path / "cache"
    args = worker(params, bucket, cache)
    killed = subprocess.run([sys.executable, "-c", KILLER, *args[args.index("--module"):]],
                            cwd=ROOT, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    uploaded = objects("run/dataset/")
    assert uploaded and not [key for key in uploaded if key.endswith("params.json")]
    listing = subprocess.run([sys.executable, "-m", "workflows.artifacts", "list", "--data-dir", bucket,
                              "--cache-dir", str(cache), "--dataset-url", params["dataset_url"]],
                             cwd=ROOT, capture_output=True, text=True)
    assert "dataset/" not in listing.stdout, listing.stdout

    [(code, err)] = run_together([args], tmp_path, fork=True)
    assert code == 0, err[-3000:]
    assert comparable(remote_summary(bucket), cache) == comparable(summary_of(params), params["data_dir"])


def test_cached_copies_and_partial_downloads_are_checked_file_by_file(completed, bucket, tmp_path):
    import boto3

    from stores import ArtifactDamaged, S3Store

    params, _ = completed
    up_to_retrain = [arg if arg != "MobileModel" else "Retrain" for arg in worker(params, bucket, tmp_path / "cache")]
    [(code, err)] = run_together([up_to_retrain], tmp_path, fork=True)
    assert code == 0, err[-3000:]
    # A damaged cached copy is downloaded again.
    store = S3Store(bucket, tmp_path / "cache")
    [artifact_id] = store.ids("retrain")
    graph = store.fetch("retrain", artifact_id) / "retrained_graph.pb"
    good = graph.read_bytes()
    os.chmod(graph, 0o644)
    graph.write_bytes(good[:-1])
    assert store.fetch("retrain", artifact_id) == graph.parent
    assert graph.read_bytes() == good

    # A shard downloads only its photos, each checked.
    [artifact_id] = store.ids("dataset")
    elsewhere = S3Store(bucket, tmp_path / "elsewhere")
    photos = ["photos/roses/roses_000.jpg", "photos/sunflowers/sunflowers_003.jpg"]
    part = elsewhere.fetch("dataset", artifact_id, photos)
    assert sorted(p.relative_to(part).as_posix() for p in part.rglob("*") if p.is_file()) == sorted(photos)
    assert not elsewhere.folder("dataset", artifact_id).exists()

    key = f"run/dataset/{artifact_id}/{store.record('dataset', artifact_id)['upload']}/{photos[0]}"
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=get(key)[:-1])
    with pytest.raises(ArtifactDamaged, match="roses/roses_000.jpg has"):
        S3Store(bucket, tmp_path / "third").fetch("dataset", artifact_id, photos)
    # The good photo is kept, checked; nothing of the bad one.
    assert [p.name for p in (tmp_path / "third").rglob("*.jpg*")] == ["sunflowers_003.jpg"]


def test_an_unusable_bucket_fails_naming_the_data_dir(bucket, flowers, tmp_path, monkeypatch):
    from tasks.download import DownloadBaseModel
    from tests.helpers import build_failing

    weights = {"base_model_url": flowers["base_model_url"], "architecture": flowers["architecture"],
               "cache_dir": str(tmp_path / "cache")}
    [(_, error)] = build_failing(DownloadBaseModel(data_dir="s3://no-such-bucket/run", **weights))
    assert "--data-dir s3://no-such-bucket/run: there is no bucket no-such-bucket at http://127.0.0.1:" in str(error)
    assert not list((tmp_path / "cache").rglob("*.h5"))  # failed before any work

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RuntimeError, match=r"--data-dir s3://poets/elsewhere: cannot reach the S3 endpoint"):
        DownloadBaseModel(data_dir="s3://poets/elsewhere", **weights).complete()


def test_two_machines_with_their_own_schedulers_make_the_same_artifacts_at_once_and_agree(completed, bucket,
                                                                                          tmp_path):
    """No luigid: each machine makes every artifact up to Retrain itself, at the same moment, on one bucket."""
    from stores import RECORD, S3Store

    params, _ = completed
    machines = [tmp_path / "a", tmp_path / "b"]
    meeting = tmp_path / "2"  # tests.racing: both machines' first uploads wait for each other before the record
    meeting.mkdir()
    args = [arg if arg != "MobileModel" else "Retrain" for arg in command(
        {k: v for k, v in params.items() if k != "data_dir"}, bucket)]
    args[1:3] = ["-m", "tests.racing", str(meeting)]
    logs = []
    for code, err in run_together([args + ["--cache-dir", str(machine / "cache")] for machine in machines], tmp_path,
                                  fork=True):
        assert code == 0, err[-3000:]
        logs.append(err)
    reader = S3Store(bucket, tmp_path / "reader")
    artifacts = [(stage, artifact_id) for stage in ("dataset", "base_model", "bottleneck_shards", "bottlenecks",
                                                    "retrain") for artifact_id in reader.ids(stage)]
    assert len(artifacts) == 12, artifacts  # one of each, eight shards
    # The race happened: one machine's record of the first artifact lost to the other's.
    assert "".join(logs).count("another machine uploaded it first") >= 1
    for stage, artifact_id in artifacts:
        record = reader.record(stage, artifact_id)
        assert reader.damage(stage, artifact_id) == [], (stage, artifact_id)
        # One upload's files in the bucket: the loser of a race removed its own.
        uploads = {key.split("/")[3] for key in objects(f"run/{stage}/{artifact_id}/") if not key.endswith(RECORD)}
        assert uploads == {record["upload"]}, (stage, artifact_id, uploads)
        # Every reader agrees: each machine's cached copy holds the bucket's bytes.
        for machine in machines:
            cached = machine / "cache" / stage / artifact_id / RECORD
            if cached.exists():
                assert json.loads(cached.read_text())["files"] == record["files"], (machine.name, stage)
