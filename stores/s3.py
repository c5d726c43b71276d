"""Artifacts in an S3 bucket, read through a local cache.

`--data-dir s3://bucket/prefix` keeps them under that prefix in any
S3-compatible store; the endpoint and the credentials come from the standard
AWS configuration (the environment, `~/.aws/config`, `AWS_ENDPOINT_URL`), never
from a parameter, so none of it reaches a task id, a record or the log. Tasks
still read and write plain local folders: an artifact is made in the cache
(`--cache-dir`, by default `~/.cache/poets-workflow`), then uploaded, its files
first and its record last, so the record's presence in the bucket is what
makes it complete (luigi's S3FlagTarget with the record as the flag) and a
killed upload never looks finished. An artifact another machine made is
downloaded into the cache the first time a task reads it; an id fixes the
content, so the cache never goes stale and is shared by every data dir.

Two machines may make the same artifact at once. Each uploads its files
into a folder of its own under the artifact (`<stage>/<id>/<upload>/`, the
record's `upload`), and the record is written only if none is there yet
(S3's conditional write, If-None-Match): one record wins, and whichever it
is, every file it lists is there with the bytes it lists. The machine that
lost removes its files and takes the winner's copy into its cache, so every
reader sees the same bytes. (A store without conditional writes lets the
last record win; each record still matches its files.)

Every file downloaded is checked against the size and sha256 its record
lists before anything reads it: a file that differs is fetched again
(REFETCHES times), and only then fails naming the artifact and the file;
nothing of bad bytes stays in the cache. Every request retries by RETRY_MODE
and MAX_ATTEMPTS unless the AWS configuration says otherwise.

boto3 (through luigi's S3Client, which builds it from luigi.cfg's `[s3]`
section or else boto3's own configuration) rather than s3fs: luigi's S3
targets already are what luigi workers use to decide completeness, and
boto3's client is thread-safe, so the thousands of photos of a dataset move
on a pool of threads without another layer.
"""

import hashlib
import json
import logging
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from poets.core.download import disk_full
from poets.core.failures import DiskFull
from stores.bucket import MAX_ATTEMPTS, Bucket
from stores.records import (
    RECORD,
    ArtifactDamaged,
    damage,
    differences,
    move_into_place,
    read_record,
    record_bytes,
    temporary_name,
    temporary_sibling,
    unlisted,
    write_record,
)
from stores.store import Store

log = logging.getLogger("luigi-interface")

# Parallel transfers: object stores answer one small request at a time per connection.
TRANSFER_THREADS = 16
# A downloaded file whose bytes differ from its record is fetched this many more times before the
# bucket's copy is called damaged: a cut transfer is not a damaged artifact.
REFETCHES = 2


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "poets-workflow")


class S3Store(Bucket, Store):
    """Artifacts under `s3://bucket/prefix`, each made and read in a local cache folder."""

    remote = True

    def __init__(self, data_dir, cache_dir):
        Store.__init__(self)
        Bucket.__init__(self, data_dir)
        self.cache = Path(cache_dir or default_cache_dir())
        # Complete records read from the bucket, by URL: an id fixes its record, so each is read once.
        self.records = {}

    def url(self, stage, artifact_id, name=""):
        return f"{self.root}/{stage}/{artifact_id}/{name}"

    def file_url(self, stage, artifact_id, record, name):
        """Where the file `name` of the artifact whose record is `record` lies: in the folder of the upload
        that won, or beside the record for an artifact uploaded before uploads had folders."""
        upload = record.get("upload")
        return self.url(stage, artifact_id, f"{upload}/{name}" if upload else name)

    def folder(self, stage, artifact_id) -> Path:
        return self.cache / stage / artifact_id

    def where(self, stage, artifact_id) -> str:
        return self.url(stage, artifact_id)

    def target(self, stage, artifact_id):
        # The folder is complete when its record is there.
        return self.flag_target(self.url(stage, artifact_id), RECORD)

    def record(self, stage, artifact_id):
        url = self.url(stage, artifact_id, RECORD)
        # A complete record never changes (its id fixes it): read each once.
        if url not in self.records:
            try:
                body = self.read(url, lambda body: body.read())
            except FileNotFoundError:
                return None
            self.records[url] = json.loads(body.decode("utf-8"))
        return self.records[url]

    def ids(self, stage):
        bucket, prefix = self._bucket_key(f"{self.root}/{stage}/")
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                artifact_id, _, name = item["Key"][len(prefix):].partition("/")
                if name == RECORD:
                    found.append(artifact_id)
        return sorted(found)

    def fetch(self, stage, artifact_id, names=None) -> Path:
        """The artifact's local folder in the cache, downloaded and checked if it is not there.

        With `names`, only those files: a folder `<id>-part` in the cache
        that collects them one by one, each checked (a shard needs its
        photos, not the whole dataset).
        """
        final = self.folder(stage, artifact_id)
        if final.exists():
            if not (problems := damage(final, names)):
                return final
            log.warning("%s: the cached copy is damaged (%s); downloading it again", final, "; ".join(problems))
            shutil.rmtree(final)
        record = self.record(stage, artifact_id)
        if record is None:
            raise FileNotFoundError(f"{self.url(stage, artifact_id)} has no {RECORD}: it is not a complete artifact")
        if problems := unlisted(record):
            raise self.damaged(stage, artifact_id, problems)
        files = record.get("files") or {}
        if names is not None:
            if missing := [name for name in names if name not in files]:
                raise FileNotFoundError(f"{self.url(stage, artifact_id)} has no {', '.join(missing[:3])}")
            part = self.cache / stage / f"{artifact_id}-part"
            self._download(stage, artifact_id, record, names, part)
            return part
        folder = temporary_sibling(final)
        try:
            self._download(stage, artifact_id, record, list(files), folder)
            write_record(folder, record)
            move_into_place(folder, final)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return final

    def _download(self, stage, artifact_id, record, names, into):
        """Download the files `names` of the artifact into the folder `into`, each taking its
        name there only once checked against `record`; one already there and intact is kept."""

        def get(name):
            path = into / name
            if not differences(record, lambda _: path, [name]):
                return []  # downloaded, and checked, before
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = temporary_name(path)
            url = self.file_url(stage, artifact_id, record, name)
            try:
                for attempt in range(1 + REFETCHES):
                    self.client.download_file(*self._bucket_key(url), str(partial))
                    if not (problems := differences(record, lambda _: partial, [name])):
                        os.replace(partial, path)
                        return []
                    if attempt < REFETCHES:
                        log.warning("%s: the downloaded bytes differ from the record (%s); fetching it again",
                                    url, "; ".join(problems))
                return problems
            finally:
                partial.unlink(missing_ok=True)

        with ThreadPoolExecutor(TRANSFER_THREADS) as pool:
            try:
                problems = [p for found in pool.map(get, names) for p in found]
            except Exception as error:
                if isinstance(error, OSError) and disk_full(error):
                    doing = f"downloading {self.url(stage, artifact_id)}"
                    raise DiskFull.of(error, f"--cache-dir {self.cache}", doing, "--cache-dir") from error
                if said := self.transfer_failure(error, "downloading", stage, artifact_id):
                    raise said from error
                raise
        if problems:
            raise self.damaged(stage, artifact_id, problems)

    def damaged(self, stage, artifact_id, problems) -> ArtifactDamaged:
        return ArtifactDamaged(f"artifact {self.url(stage, artifact_id)} is damaged: {'; '.join(problems)}. "
                               f"Remove it from the bucket and run again to rebuild it")

    def publish(self, stage, artifact_id):
        """Upload the cached folder: every file first, into this upload's own folder, then the record, unless
        another machine's is there first; then theirs replaces ours in the cache."""
        folder = self.folder(stage, artifact_id)
        if self.record(stage, artifact_id) is not None:
            return self.adopt(stage, artifact_id)
        record = {**read_record(folder), "upload": uuid.uuid4().hex[:16]}
        names = sorted(record.get("files") or {})

        def put(name):
            self.client.upload_file(str(folder / name), *self._bucket_key(self.file_url(stage, artifact_id, record,
                                                                                        name)))

        try:
            with ThreadPoolExecutor(TRANSFER_THREADS) as pool:
                list(pool.map(put, names))
            won = self._put_record(stage, artifact_id, record)
        except Exception as error:
            if said := self.transfer_failure(error, "uploading", stage, artifact_id):
                raise said from error
            raise
        if not won:
            self.remove(self._bucket_key(self.url(stage, artifact_id, record["upload"] + "/"))[1])
            self.adopt(stage, artifact_id)

    def _put_record(self, stage, artifact_id, record, attempts=MAX_ATTEMPTS) -> bool:
        """Write the record if the artifact has none yet; whether this one is there now."""
        from botocore.exceptions import ClientError

        url = self.url(stage, artifact_id, RECORD)
        body = record_bytes(record)
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._bucket_key(url)[1], Body=body, IfNoneMatch="*")
        except ClientError as error:
            # 412: a record is there. A retried request whose first try landed reads 412 too: it may be ours.
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") not in (409, 412):
                raise
            self.records.pop(url, None)
            theirs = self.record(stage, artifact_id)
            if theirs is None and attempts > 1:  # 409: another conditional write was under way, and failed
                return self._put_record(stage, artifact_id, record, attempts - 1)
            if theirs is None:
                raise
            return theirs.get("upload") == record["upload"]
        self.records[url] = record
        return True

    def adopt(self, stage, artifact_id):
        """Another machine's upload of the artifact won: its copy replaces ours in the cache unless the
        files are the same, so readers here read what readers everywhere read."""
        log.info("%s: another machine uploaded it first; keeping theirs", self.url(stage, artifact_id))
        final, theirs = self.folder(stage, artifact_id), self.record(stage, artifact_id)
        if (read_record(final) or {}).get("files") == theirs.get("files"):
            return
        aside = temporary_sibling(final)
        os.replace(final, aside / final.name)
        shutil.rmtree(aside, ignore_errors=True)
        self.fetch(stage, artifact_id)

    def damage(self, stage, artifact_id):
        """Rehash the artifact's files in the bucket against its record."""
        record = self.record(stage, artifact_id)
        if problems := unlisted(record):
            return problems
        record = record or {}

        def hashed(body):
            digest, size = hashlib.sha256(), 0
            for chunk in body.iter_chunks(1 << 20):
                digest.update(chunk)
                size += len(chunk)
            return digest, size

        def check(item):
            name, expected = item
            try:
                digest, size = self.read(self.file_url(stage, artifact_id, record, name), hashed)
            except FileNotFoundError:
                return [f"{name} is missing"]
            if size != expected["size"]:
                return [f"{name} has {size} bytes, not {expected['size']}"]
            return [] if digest.hexdigest() == expected["sha256"] else [
                f"{name} does not have the sha256 its record gives"]

        with ThreadPoolExecutor(TRANSFER_THREADS) as pool:
            return [p for found in pool.map(check, (record.get("files") or {}).items()) for p in found]
