"""Where artifacts live: a local folder, or an S3 bucket read through a local cache.

`--data-dir data` keeps every artifact in `data/<stage>/<id>/`, as always.
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

import errno
import functools
import hashlib
import json
import logging
import os
import random
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import luigi

from poets.download import disk_full
from poets.failures import DiskFull, UserFailure

log = logging.getLogger("luigi-interface")

RECORD = "params.json"
# Parallel transfers: object stores answer one small request at a time per connection.
TRANSFER_THREADS = 16
# The retry policy of every S3 request, unless the AWS configuration sets its own (AWS_RETRY_MODE,
# AWS_MAX_ATTEMPTS, or retry_mode and max_attempts in ~/.aws/config). boto3's default, "legacy",
# retries fewer kinds of failure; "standard" retries throttling (503 SlowDown), 5xx answers and
# dropped or timed-out connections, with jittered exponential backoff.
RETRY_MODE = "standard"
MAX_ATTEMPTS = 5
# A downloaded file whose bytes differ from its record is fetched this many more times before the
# bucket's copy is called damaged: a cut transfer is not a damaged artifact.
REFETCHES = 2


class ArtifactDamaged(UserFailure, RuntimeError):
    """An artifact's files are not what its record says it wrote."""


class StoreError(UserFailure, RuntimeError):
    """The bucket cannot be used, or kept failing after the retries: said in one line naming --data-dir."""


def is_remote(data_dir: str) -> bool:
    return str(data_dir).startswith("s3://")


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "poets-workflow")


def sha256_of(path: Path) -> str:
    with open(path, "rb") as data:
        return hashlib.file_digest(data, "sha256").hexdigest()


def file_digests(folder: Path) -> dict:
    """{relative path: {"size", "sha256"}} of every file under `folder` but its record."""
    return {path.relative_to(folder).as_posix(): {"size": path.stat().st_size, "sha256": sha256_of(path)}
            for path in sorted(Path(folder).rglob("*")) if path.is_file() and path.name != RECORD}


def read_record(folder):
    """The record (params.json) of the artifact folder `folder`, or None when
    it has none: a `-luigi-tmp-` leftover, or not an artifact."""
    path = Path(folder, RECORD)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def intact_key(folder: Path):
    """What identifies a complete local artifact as checked: its record's path and time (a folder
    made again under the same id gets a new record). None without a record."""
    record = Path(folder, RECORD)
    return (str(record.resolve()), record.stat().st_mtime_ns) if record.exists() else None


def fetch_once(store, stage, artifact_id, names=None) -> Path:
    """store.fetch, but an artifact fetched whole and found intact is not hashed again in this
    process: one that several tasks read (or every shard reuses) is checked once. fetch itself
    always checks."""
    if names is None and intact_key(store.folder(stage, artifact_id)) in store.intact:
        return store.folder(stage, artifact_id)
    found = store.fetch(stage, artifact_id, names)
    if names is None and (key := intact_key(found)):  # a part is checked file by file, each time
        store.intact.add(key)
    return found


def damage(folder: Path, names=None) -> list[str]:
    """What differs between the files of the artifact `folder` (or only those
    `names`) and its record: [] when they agree."""
    return _differences(read_record(folder), lambda name: Path(folder, name), names)


def _unlisted(record) -> list[str]:
    """[the problem] when `record` lists no files: every artifact this project writes lists them,
    and one that does not cannot be checked, locally or in a bucket."""
    if record is not None and "files" not in record:
        return [f"its {RECORD} lists no files, so nothing in it can be checked"]
    return []


def _differences(record, local_path, names=None):
    if problems := _unlisted(record):
        return problems
    files = (record or {}).get("files") or {}
    problems = [f"{name} is not in the artifact" for name in names or () if name not in files]
    for name, expected in files.items() if names is None else [(n, files[n]) for n in names if n in files]:
        path = local_path(name)
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != expected["size"]:
            problems.append(f"{name} has {path.stat().st_size} bytes, not {expected['size']}")
        elif sha256_of(path) != expected["sha256"]:
            problems.append(f"{name} does not have the sha256 its record gives")
    return problems


def temporary_sibling(final: Path) -> Path:
    """A fresh `-luigi-tmp-` folder beside `final`, renamed onto it when complete."""
    final.parent.mkdir(parents=True, exist_ok=True)
    folder = final.with_name(f"{final.name}-luigi-tmp-{random.randrange(10**10):010d}")
    folder.mkdir()
    return folder


def move_into_place(folder: Path, final: Path) -> bool:
    """Rename the complete `folder` onto `final`; False (and `folder` removed)
    when another process put the same artifact there first: same id, same content."""
    try:
        # rename(2) of a folder onto a non-empty one fails rather than replacing it.
        os.rename(folder, final)
        return True
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not (final / RECORD).exists():
            raise
        shutil.rmtree(folder, ignore_errors=True)
        return False


class LocalStore:
    """Artifacts in the folder `data_dir`, read and written in place."""

    remote = False

    def __init__(self, data_dir):
        self.root = str(data_dir)
        # Artifacts fetched whole by fetch_once and found intact (intact_key).
        self.intact = set()

    def folder(self, stage, artifact_id) -> Path:
        return Path(self.root, stage, artifact_id)

    def where(self, stage, artifact_id) -> str:
        return str(self.folder(stage, artifact_id))

    def target(self, stage, artifact_id):
        return luigi.LocalTarget(str(self.folder(stage, artifact_id)))

    def record(self, stage, artifact_id):
        return read_record(self.folder(stage, artifact_id))

    def ids(self, stage):
        """The ids of the complete artifacts of `stage`."""
        return sorted(path.parent.name for path in Path(self.root).glob(f"{stage}/*/{RECORD}"))

    def fetch(self, stage, artifact_id, names=None) -> Path:
        """The artifact's folder, its files (or only `names`) checked against its record."""
        folder = self.folder(stage, artifact_id)
        if problems := damage(folder, names):
            raise ArtifactDamaged(f"artifact {folder} is damaged: {'; '.join(problems)}. "
                                  f"Remove the folder and run again to rebuild it")
        return folder

    def check(self):
        """Nothing to check: a missing folder is made when written."""

    def publish(self, stage, artifact_id):
        """Nothing to do: the folder in place is the artifact."""

    def damage(self, stage, artifact_id):
        return damage(self.folder(stage, artifact_id))


class S3Store:
    """Artifacts under `s3://bucket/prefix`, each made and read in a local cache folder."""

    remote = True

    def __init__(self, data_dir, cache_dir):
        self.root = str(data_dir).rstrip("/")
        self.cache = Path(cache_dir or default_cache_dir())
        self._checked = False
        # Complete records read from the bucket, by URL: an id fixes its record, so each is read once.
        self.records = {}
        # Artifacts fetched whole by fetch_once and found intact (intact_key).
        self.intact = set()

    def check(self):
        """Fail, naming --data-dir and saying why, unless the bucket can be reached (once per process)."""
        if not self._checked:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except Exception as error:
                raise self.unusable(error) from None
            self._checked = True

    def unusable(self, error) -> Exception:
        """`error` from the S3 client, said in terms of --data-dir and the AWS configuration."""
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
        )

        from poets.download import redacted

        bucket = self.bucket
        endpoint = redacted(self.client.meta.endpoint_url)
        if isinstance(error, NoCredentialsError):
            why = ("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile "
                   "in ~/.aws/config")
        elif isinstance(error, EndpointConnectionError):
            why = f"cannot reach the S3 endpoint {endpoint} (AWS_ENDPOINT_URL or ~/.aws/config)"
        elif isinstance(error, ClientError):
            code = str(error.response.get("Error", {}).get("Code"))
            why = {"404": f"there is no bucket {bucket} at {endpoint}",
                   "NoSuchBucket": f"there is no bucket {bucket} at {endpoint}",
                   "403": f"the credentials may not use bucket {bucket} at {endpoint}",
                   "AccessDenied": f"the credentials may not use bucket {bucket} at {endpoint}",
                   }.get(code, f"{endpoint} answered {code}")
        else:
            return error
        return StoreError(f"--data-dir {self.root}: {why}")

    def gave_up(self, doing, stage, artifact_id, error) -> StoreError:
        """The store still failing after every retry, said in one line naming --data-dir."""
        cause = str(error).splitlines()[0] if str(error) else type(error).__name__
        return StoreError(f"--data-dir {self.root}: {doing} {stage}/{artifact_id} failed after the retries "
                            f"({cause}); nothing of it reads as complete. Run again, or allow more attempts "
                            f"(AWS_MAX_ATTEMPTS, now {self.client.meta.config.retries.get('total_max_attempts')})")

    @functools.cached_property
    def fs(self):
        from botocore.config import Config
        from luigi.contrib.s3 import S3Client

        return S3Client(config=Config(retries=retries()))

    @property
    def client(self):
        # boto3's low-level client: unlike its resources, safe to share between threads.
        return self.fs.s3.meta.client

    def url(self, stage, artifact_id, name=""):
        return f"{self.root}/{stage}/{artifact_id}/{name}"

    def file_url(self, stage, artifact_id, record, name):
        """Where the file `name` of the artifact whose record is `record` lies: in the folder of the upload
        that won, or beside the record for an artifact uploaded before uploads had folders."""
        upload = record.get("upload")
        return self.url(stage, artifact_id, f"{upload}/{name}" if upload else name)

    @property
    def bucket(self):
        return self._bucket_key(self.root + "/")[0]

    def _bucket_key(self, url):
        bucket, _, key = url[len("s3://"):].partition("/")
        return bucket, key

    def folder(self, stage, artifact_id) -> Path:
        return self.cache / stage / artifact_id

    def where(self, stage, artifact_id) -> str:
        return self.url(stage, artifact_id)

    def target(self, stage, artifact_id):
        return _record_target(self, self.url(stage, artifact_id))

    def record(self, stage, artifact_id):
        url = self.url(stage, artifact_id, RECORD)
        # A complete record never changes (its id fixes it): read each once.
        if url not in self.records:
            try:
                body = self._read(url, lambda body: body.read())
            except FileNotFoundError:
                return None
            self.records[url] = json.loads(body.decode("utf-8"))
        return self.records[url]

    def _read(self, url, consume):
        """consume(the object's streaming body) for the object at `url`; FileNotFoundError
        when there is none. botocore retries a request, not the reading of its body: a body
        cut short or reset midway is asked for again here, up to MAX_ATTEMPTS times in all."""
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            IncompleteReadError,
            ReadTimeoutError,
            ResponseStreamingError,
        )

        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self._bucket_key(url)[1])["Body"]
            except ClientError as error:
                # NoSuchKey; or a bare 404 when the answer's body was cut before it named the code.
                if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    raise FileNotFoundError(url) from None
                raise
            try:
                return consume(body)
            except (ResponseStreamingError, IncompleteReadError, ConnectionClosedError, ReadTimeoutError) as error:
                if attempt == MAX_ATTEMPTS:
                    raise
                log.warning("%s: reading it was cut (%s); asking again", url, error)
            finally:
                body.close()

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
        if problems := _unlisted(record):
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
            (folder / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
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
            if not _differences(record, lambda _: path, [name]):
                return []  # downloaded, and checked, before
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}-luigi-tmp-{random.randrange(10**10):010d}")
            url = self.file_url(stage, artifact_id, record, name)
            try:
                for attempt in range(1 + REFETCHES):
                    self.client.download_file(*self._bucket_key(url), str(partial))
                    if not (problems := _differences(record, lambda _: partial, [name])):
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
            except OSError as error:
                if disk_full(error):
                    raise DiskFull(error.errno, f"--cache-dir {self.cache}: the disk is full (or the quota used up) "
                                               f"while downloading {self.url(stage, artifact_id)}; nothing of it was "
                                               "kept. Free some space, or move --cache-dir, and run again") from error
                raise self.gave_up("downloading", stage, artifact_id, error) from error
            except Exception as error:
                raise self.gave_up("downloading", stage, artifact_id, error) from error
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
            raise self.gave_up("uploading", stage, artifact_id, error) from error
        if not won:
            self._remove(self._bucket_key(self.url(stage, artifact_id, record["upload"] + "/"))[1])
            self.adopt(stage, artifact_id)

    def _put_record(self, stage, artifact_id, record, attempts=MAX_ATTEMPTS) -> bool:
        """Write the record if the artifact has none yet; whether this one is there now."""
        from botocore.exceptions import ClientError

        url = self.url(stage, artifact_id, RECORD)
        body = (json.dumps(record, indent=2) + "\n").encode("utf-8")
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

    def _remove(self, prefix):
        """Remove the objects under `prefix`: a lost upload's files (leftovers only cost space, so failing to
        remove them is not an error)."""
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                if keys := [{"Key": item["Key"]} for item in page.get("Contents", [])]:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
        except Exception as error:
            log.warning("s3://%s/%s: could not remove a lost upload (%s)", self.bucket, prefix, error)

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
        if problems := _unlisted(record):
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
                digest, size = self._read(self.file_url(stage, artifact_id, record, name), hashed)
            except FileNotFoundError:
                return [f"{name} is missing"]
            if size != expected["size"]:
                return [f"{name} has {size} bytes, not {expected['size']}"]
            return [] if digest.hexdigest() == expected["sha256"] else [
                f"{name} does not have the sha256 its record gives"]

        with ThreadPoolExecutor(TRANSFER_THREADS) as pool:
            return [p for found in pool.map(check, (record.get("files") or {}).items()) for p in found]


def retries() -> dict:
    """botocore's `retries` setting: RETRY_MODE and MAX_ATTEMPTS, each unless the
    environment or the AWS profile sets it (botocore then takes that one)."""
    import botocore.session

    session = botocore.session.Session()
    try:
        profile = session.get_scoped_config()
    except Exception:  # a named profile that is not there: botocore says so when the client is made
        profile = {}
    policy = {}
    if not (os.environ.get("AWS_RETRY_MODE") or "retry_mode" in profile):
        policy["mode"] = RETRY_MODE
    if not (os.environ.get("AWS_MAX_ATTEMPTS") or "max_attempts" in profile):
        policy["total_max_attempts"] = MAX_ATTEMPTS
    return policy


def _record_target(store, url):
    from luigi.contrib.s3 import S3FlagTarget

    class RecordTarget(S3FlagTarget):
        """The folder is complete when its record is there."""

        def exists(self):
            try:
                # One HEAD: S3FlagTarget's exists() also probes for folder markers, three more requests.
                return self.fs.get_key(self.path + self.flag) is not None
            except Exception as error:
                raise store.unusable(error) from None

    return RecordTarget(url, client=store.fs, flag=RECORD)


@functools.cache
def store_for(data_dir: str, cache_dir: str = ""):
    """The store of `--data-dir` (one per process, so an S3 client is built once and each record
    read once)."""
    return S3Store(data_dir, cache_dir) if is_remote(data_dir) else LocalStore(data_dir)
