"""What the bucket's store does when the network or the store misbehaves."""

import hashlib
import json
import logging
import sys
from types import SimpleNamespace

import pytest

import stores
from stores.bucket import MAX_ATTEMPTS, RETRY_MODE
from stores.s3 import REFETCHES
from tests.fault_proxy import quick_backoff


class CuttingClient:
    """An S3 client whose first `cut` downloads of each object come back short."""

    def __init__(self, body, cut):
        self.body, self.cut, self.calls = body, cut, 0

    def download_file(self, bucket, key, filename):
        self.calls += 1
        with open(filename, "wb") as out:
            out.write(self.body[: len(self.body) // 2] if self.calls <= self.cut else self.body)


def bucket_with(client, tmp_path):
    s3 = stores.S3Store("s3://bucket/prefix", tmp_path / "cache")
    s3.__dict__["fs"] = SimpleNamespace(s3=SimpleNamespace(meta=SimpleNamespace(client=client)))
    return s3


BODY = bytes(range(256)) * 64
RECORD = {"files": {"a.bin": {"size": len(BODY), "sha256": hashlib.sha256(BODY).hexdigest()}}}


def test_a_cut_transfer_is_fetched_again_before_the_artifact_is_called_damaged(tmp_path, caplog):
    # An earlier luigi.build(log_level="CRITICAL") leaves the logger above warnings.
    caplog.set_level(logging.WARNING, logger="luigi-interface")
    client = CuttingClient(BODY, cut=REFETCHES)
    bucket_with(client, tmp_path)._download("retrain", "0123", RECORD, ["a.bin"], tmp_path / "into")
    assert (tmp_path / "into" / "a.bin").read_bytes() == BODY and client.calls == 1 + REFETCHES
    assert "differ from the record" in caplog.text and "fetching it again" in caplog.text
    assert sorted(p.name for p in (tmp_path / "into").iterdir()) == ["a.bin"]


def test_bytes_that_keep_differing_fail_naming_the_artifact_and_leave_nothing(tmp_path):
    client = CuttingClient(BODY, cut=1 + REFETCHES)
    with pytest.raises(stores.ArtifactDamaged, match=r"s3://bucket/prefix/retrain/0123/ is damaged: a.bin"):
        bucket_with(client, tmp_path)._download("retrain", "0123", RECORD, ["a.bin"], tmp_path / "into")
    assert client.calls == 1 + REFETCHES and list((tmp_path / "into").iterdir()) == []


class FailingClient:
    """An S3 client whose downloads raise `error`."""

    meta = SimpleNamespace(config=SimpleNamespace(retries={"total_max_attempts": MAX_ATTEMPTS}))

    def __init__(self, error):
        self.error = error

    def download_file(self, bucket, key, filename):
        raise self.error


def test_only_the_stores_errors_become_its_one_line_a_local_file_is_named_a_bug_keeps_its_traceback(tmp_path):
    from botocore.exceptions import EndpointConnectionError

    from stores.bucket import CacheFileError

    def download(error):
        bucket_with(FailingClient(error), tmp_path)._download("retrain", "0123", RECORD, ["a.bin"], tmp_path / "in")

    with pytest.raises(stores.StoreError, match="downloading retrain/0123 failed after the retries"):
        download(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    with pytest.raises(CacheFileError) as local:
        download(PermissionError(13, "Permission denied", str(tmp_path / "in" / "a.bin")))
    assert str(tmp_path / "in" / "a.bin") in str(local.value) and "after the retries" not in str(local.value)
    with pytest.raises(TypeError, match="a bug"):
        download(TypeError("a bug"))


def test_the_retry_policy_is_the_projects_unless_the_aws_configuration_sets_one(tmp_path, monkeypatch):
    import boto3

    # boto3's default session reads the configuration once: each store below gets a new one.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    client = stores.S3Store("s3://bucket/prefix", tmp_path).client
    assert client.meta.config.retries == {"mode": RETRY_MODE, "total_max_attempts": MAX_ATTEMPTS}
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    (tmp_path / "config").write_text("[default]\nmax_attempts = 3\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    client = stores.S3Store("s3://bucket/prefix", tmp_path).client
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 3}


def through(proxy, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    quick_backoff(monkeypatch)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    stores.store_for.cache_clear()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["slowdown", "internal", "reset", "short", "delay"])
def test_each_fault_of_the_store_is_retried_and_the_artifact_arrives_whole(moto_endpoint, tmp_path, monkeypatch,
                                                                           kind):
    from tests.fault_proxy import FaultProxy

    maker = tmp_path / "maker" / "retrain" / "0123456789abcdef"
    maker.mkdir(parents=True)
    files = {"graph.pb": BODY * 40, "labels.txt": b"roses\nsunflowers\n", "summaries/train.events": BODY[:999]}
    for name, content in files.items():
        (maker / name).parent.mkdir(parents=True, exist_ok=True)
        (maker / name).write_bytes(content)
    (maker / stores.RECORD).write_text(json.dumps({"task": "Retrain", "files": stores.file_digests(maker)}))
    # Every one of the first requests faulted: each of upload, listing, reading and checking meets some.
    for role in ("upload", "download", "verify"):
        proxy = FaultProxy(moto_endpoint, rate=1.0, kinds=(kind,), limit=3, delay_s=0.05).start()
        through(proxy, monkeypatch)
        s3 = stores.S3Store("s3://poets/run", tmp_path / ("maker" if role == "upload" else role))
        try:
            if role == "upload":
                s3.publish("retrain", "0123456789abcdef")
            elif role == "download":
                folder = s3.fetch("retrain", "0123456789abcdef")
                assert {name: (folder / name).read_bytes() for name in files} == files
                assert s3.ids("retrain") == ["0123456789abcdef"]
            else:
                assert s3.damage("retrain", "0123456789abcdef") == []
        finally:
            proxy.stop()
        assert proxy.injected[kind] == 3, (role, proxy.injected)
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    direct = boto3.client("s3", endpoint_url=moto_endpoint)
    prefix = "run/retrain/0123456789abcdef/"
    upload = json.loads(direct.get_object(Bucket="poets", Key=prefix + stores.RECORD)["Body"].read())["upload"]
    for name, content in files.items():
        assert direct.get_object(Bucket="poets", Key=f"{prefix}{upload}/{name}")["Body"].read() == content


@pytest.mark.slow
def test_a_whole_run_through_a_store_that_faults_a_fifth_of_its_requests_matches_a_local_run(
        completed, moto_endpoint, tmp_path, monkeypatch):
    import subprocess
    from pathlib import Path

    from tests.fault_proxy import FaultProxy
    from tests.helpers import summary_of
    from tests.test_interruptions import command, comparable

    params, _ = completed
    root = Path(__file__).parents[1]
    proxy = FaultProxy(moto_endpoint, rate=0.2, seed=0, delay_s=0.1).start()
    through(proxy, monkeypatch)
    try:
        run = subprocess.run(command(params, "s3://poets/run") + ["--cache-dir", str(tmp_path / "cache")],
                             cwd=root, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "Traceback" not in run.stderr
        verify = subprocess.run([sys.executable, "-m", "workflows.artifacts", "verify", "--data-dir", "s3://poets/run",
                                 "--cache-dir", str(tmp_path / "cache"),
                                 *[arg for name, value in params.items() if name != "data_dir"
                                   for arg in ("--" + name.replace("_", "-"), str(value))]],
                                cwd=root, capture_output=True, text=True, timeout=600)
        assert verify.returncode == 0 and ", 0 damaged" in verify.stdout, verify.stdout[-2000:] + verify.stderr[-2000:]
    finally:
        proxy.stop()
    assert sum(proxy.injected.values()) >= 20 and min(proxy.injected.values()) >= 1, proxy.injected
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    client = boto3.client("s3")
    [key] = [item["Key"] for item in client.list_objects_v2(Bucket="poets", Prefix="run/mobile_model/")["Contents"]
             if item["Key"].endswith("/summary.json")]
    summary = json.loads(client.get_object(Bucket="poets", Key=key)["Body"].read())
    assert comparable(summary, tmp_path / "cache") == comparable(summary_of(params), params["data_dir"])


@pytest.mark.slow
def test_a_store_that_keeps_failing_fails_the_upload_in_one_line_naming_the_data_dir(moto_endpoint, tmp_path,
                                                                                       monkeypatch):
    import boto3

    from tests.fault_proxy import FaultProxy

    folder = tmp_path / "cache" / "retrain" / "0123456789abcdef"
    folder.mkdir(parents=True)
    (folder / "graph.pb").write_bytes(BODY)
    (folder / stores.RECORD).write_text(json.dumps({"task": "Retrain", "files": stores.file_digests(folder)}))
    proxy = FaultProxy(moto_endpoint, rate=1.0, kinds=("slowdown",), methods=("PUT",)).start()
    through(proxy, monkeypatch)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    try:
        with pytest.raises(RuntimeError) as error:
            stores.S3Store("s3://poets/run", tmp_path / "cache").publish("retrain", "0123456789abcdef")
    finally:
        proxy.stop()
    message = str(error.value)
    assert message.startswith("--data-dir s3://poets/run: uploading retrain/0123456789abcdef failed after the retries")
    assert "SlowDown" in message and "(AWS_MAX_ATTEMPTS, now 2)" in message and "\n" not in message
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    listed = boto3.client("s3", endpoint_url=moto_endpoint).list_objects_v2(Bucket="poets").get("Contents", [])
    assert not [item for item in listed if item["Key"].endswith(stores.RECORD)]


def made(cache, content):
    """A complete artifact retrain/0123456789abcdef in the cache folder `cache`, its graph holding `content`."""
    folder = cache / "retrain" / "0123456789abcdef"
    (folder / "summaries").mkdir(parents=True)
    (folder / "graph.pb").write_bytes(content)
    (folder / "summaries" / "events").write_bytes(content[:100])
    (folder / stores.RECORD).write_text(json.dumps({"task": "Retrain", "files": stores.file_digests(folder)}))
    return folder


@pytest.mark.parametrize("conditional", [True, False], ids=["conditional-writes", "last-record-wins"])
def test_two_machines_uploading_the_same_artifact_at_once_leave_one_whole_artifact(moto_endpoint, tmp_path,
                                                                                   monkeypatch, conditional):
    """The bytes differ, as a float16 conversion's may from one run to the next: both uploads pass the check
    that no record is there, both upload every file, then both write the record."""
    import threading

    import boto3

    contents = {"a": BODY * 3, "b": BODY[::-1] * 3}
    machines = {name: stores.S3Store("s3://poets/run", tmp_path / name) for name in contents}
    for name, content in contents.items():
        made(machines[name].cache, content)
    both_uploaded = threading.Barrier(2, timeout=30)
    put_record = stores.S3Store._put_record
    raced = []

    def racing(self, stage, artifact_id, record, attempts=MAX_ATTEMPTS):
        both_uploaded.wait()
        raced.append(self.cache.name)
        if not conditional:  # a store that ignores If-None-Match: the last record written stays
            self.client.put_object(Bucket=self.bucket, Key=f"run/{stage}/{artifact_id}/{stores.RECORD}",
                                   Body=json.dumps(record).encode())
            self.records.clear()
            return True
        return put_record(self, stage, artifact_id, record, attempts)

    monkeypatch.setattr(stores.S3Store, "_put_record", racing)
    failures = []

    def publish(s3):
        try:
            s3.publish("retrain", "0123456789abcdef")
        except BaseException as error:  # a thread's exception would otherwise vanish with the thread
            failures.append(error)

    threads = [threading.Thread(target=publish, args=(s3,)) for s3 in machines.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads) and failures == []
    # Both reached the record together (the barrier let them through): the race happened.
    assert sorted(raced) == sorted(contents)
    reader = stores.S3Store("s3://poets/run", tmp_path / "reader")
    assert reader.ids("retrain") == ["0123456789abcdef"]
    assert reader.damage("retrain", "0123456789abcdef") == []
    bucket = (reader.fetch("retrain", "0123456789abcdef") / "graph.pb").read_bytes()
    assert bucket in contents.values()
    keys = [item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket="poets", Prefix="run/")["Contents"]]
    if conditional:
        # The loser took the winner's copy into its cache and removed its own upload.
        for s3 in machines.values():
            assert (s3.folder("retrain", "0123456789abcdef") / "graph.pb").read_bytes() == bucket
            assert s3.damage("retrain", "0123456789abcdef") == []
        assert len(keys) == 3, keys  # the record and the winner's two files


def test_a_failure_said_in_one_line_is_logged_without_its_traceback(tmp_path, caplog):
    import luigi

    from tasks.artifact import ArtifactTask

    class FailsToRun(ArtifactTask):
        stage = "fails_to_run"

        def run(self):
            raise stores.StoreError("--data-dir s3://poets/run: uploading x/0123 failed after the retries (SlowDown)")

    class FailsToCheck(ArtifactTask):
        stage = "fails_to_check"

        def complete(self):
            raise stores.StoreError("--data-dir s3://poets/run: cannot reach the S3 endpoint http://127.0.0.1:9")

    class Plain(ArtifactTask):
        stage = "plain"

        def run(self):
            raise KeyError("a bug")

    for task in (FailsToRun, FailsToCheck, Plain):
        assert not luigi.build([task(data_dir=str(tmp_path))], local_scheduler=True, log_level="INFO")
    said = {name: [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and name in r.getMessage()]
            for name in ("FailsToRun", "FailsToCheck", "Plain")}
    assert [line.endswith(f"failed    FailsToRun(data_dir={tmp_path}): --data-dir s3://poets/run: uploading "
                          "x/0123 failed after the retries (SlowDown)") for line in said["FailsToRun"]] == [True]
    assert [line.endswith("due to error in complete() method: --data-dir s3://poets/run: cannot reach the S3 "
                          "endpoint http://127.0.0.1:9") for line in said["FailsToCheck"]] == [True]
    explained, _, other = caplog.text.partition("Plain")
    assert "Traceback" not in explained
    # Any other failure keeps luigi's traceback.
    assert "Traceback" in other and "KeyError: 'a bug'" in other


def test_a_bucket_record_that_lists_no_files_is_not_taken_on_trust(moto_endpoint, tmp_path):
    import boto3

    boto3.client("s3").put_object(Bucket="poets", Key=f"run/retrain/0123456789abcdef/{stores.RECORD}",
                                  Body=json.dumps({"task": "Retrain"}).encode())
    s3 = stores.S3Store("s3://poets/run", tmp_path / "cache")
    assert s3.damage("retrain", "0123456789abcdef") == [f"its {stores.RECORD} lists no files, so nothing in it "
                                                         "can be checked"]
    with pytest.raises(stores.ArtifactDamaged, match="s3://poets/run/retrain/0123456789abcdef/ is damaged: its "
                                                    "params.json lists no files"):
        s3.fetch("retrain", "0123456789abcdef")
    assert not s3.folder("retrain", "0123456789abcdef").exists()
