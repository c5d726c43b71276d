"""What the bucket's store does when the network or the store misbehaves."""

import hashlib
from types import SimpleNamespace

import pytest

from tasks import store


class CuttingClient:
    """An S3 client whose first `cut` downloads of each object come back short."""

    def __init__(self, body, cut):
        self.body, self.cut, self.calls = body, cut, 0

    def download_file(self, bucket, key, filename):
        self.calls += 1
        with open(filename, "wb") as out:
            out.write(self.body[: len(self.body) // 2] if self.calls <= self.cut else self.body)


def bucket_with(client, tmp_path):
    s3 = store.S3Store("s3://bucket/prefix", tmp_path / "cache")
    s3.__dict__["fs"] = SimpleNamespace(s3=SimpleNamespace(meta=SimpleNamespace(client=client)))
    return s3


BODY = bytes(range(256)) * 64
RECORD = {"files": {"a.bin": {"size": len(BODY), "sha256": hashlib.sha256(BODY).hexdigest()}}}


def test_a_cut_transfer_is_fetched_again_before_the_artifact_is_called_damaged(tmp_path, caplog):
    client = CuttingClient(BODY, cut=store.REFETCHES)
    bucket_with(client, tmp_path)._download("retrain", "0123", RECORD, ["a.bin"], tmp_path / "into")
    assert (tmp_path / "into" / "a.bin").read_bytes() == BODY and client.calls == 1 + store.REFETCHES
    assert "differ from the record" in caplog.text and "fetching it again" in caplog.text
    assert sorted(p.name for p in (tmp_path / "into").iterdir()) == ["a.bin"]


def test_bytes_that_keep_differing_fail_naming_the_artifact_and_leave_nothing(tmp_path):
    client = CuttingClient(BODY, cut=1 + store.REFETCHES)
    with pytest.raises(store.ArtifactDamaged, match=r"s3://bucket/prefix/retrain/0123/ is damaged: a.bin"):
        bucket_with(client, tmp_path)._download("retrain", "0123", RECORD, ["a.bin"], tmp_path / "into")
    assert client.calls == 1 + store.REFETCHES and list((tmp_path / "into").iterdir()) == []


def test_the_retry_policy_is_the_projects_unless_the_aws_configuration_sets_one(tmp_path, monkeypatch):
    import boto3

    # boto3's default session reads the configuration once: each store below gets a new one.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    client = store.S3Store("s3://bucket/prefix", tmp_path).client
    assert client.meta.config.retries == {"mode": store.RETRY_MODE, "total_max_attempts": store.MAX_ATTEMPTS}
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    (tmp_path / "config").write_text("[default]\nmax_attempts = 3\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    client = store.S3Store("s3://bucket/prefix", tmp_path).client
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 3}
