"""One `s3://bucket/prefix` through boto3: its client and retry policy, reads that survive a cut
body, removals, and its failures said in one line naming --data-dir. What an artifact is in it
is stores/s3.py's business."""

import functools
import logging
import os

from poets.core.failures import UserFailure

log = logging.getLogger("luigi-interface")

# The retry policy of every S3 request, unless the AWS configuration sets its own (AWS_RETRY_MODE,
# AWS_MAX_ATTEMPTS, or retry_mode and max_attempts in ~/.aws/config). boto3's default, "legacy",
# retries fewer kinds of failure; "standard" retries throttling (503 SlowDown), 5xx answers and
# dropped or timed-out connections, with jittered exponential backoff.
RETRY_MODE = "standard"
MAX_ATTEMPTS = 5


class StoreError(UserFailure, RuntimeError):
    """The bucket cannot be used, or kept failing after the retries: said in one line naming --data-dir."""


class CacheFileError(UserFailure, OSError):
    """A file of the local cache could not be read or written (not the store's fault): said naming the file."""


def store_errors() -> tuple:
    """The exceptions that are the store's or the network's: they become StoreError's one line. Any
    other (a TypeError, say) is a bug and keeps its traceback."""
    import socket

    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, Boto3Error, ConnectionError, TimeoutError, socket.gaierror)


class Bucket:
    """The bucket and prefix of `data_dir`, and the S3 client that reaches them."""

    def __init__(self, data_dir):
        self.root = str(data_dir).rstrip("/")
        self._checked = False

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

        from poets.core.download import redacted

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

    def transfer_failure(self, error: BaseException, doing: str, stage: str, artifact_id: str):
        """What an exception of an upload or a download becomes: the store's and the network's errors
        StoreError (gave_up); a local file's error CacheFileError naming the file; None for any other,
        which the caller raises as it is."""
        if isinstance(error, store_errors()):
            return self.gave_up(doing, stage, artifact_id, error)
        if isinstance(error, OSError) and error.filename:
            return CacheFileError(error.errno, f"{doing} {self.root}/{stage}/{artifact_id}: cannot use the local "
                                               f"file: {error.strerror or error}", error.filename)
        return None

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

    @property
    def bucket(self):
        return self._bucket_key(self.root + "/")[0]

    def _bucket_key(self, url):
        bucket, _, key = url[len("s3://"):].partition("/")
        return bucket, key

    def read(self, url, consume):
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

    def remove(self, prefix):
        """Remove the objects under `prefix`: a lost upload's files (leftovers only cost space, so failing to
        remove them is not an error)."""
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                if keys := [{"Key": item["Key"]} for item in page.get("Contents", [])]:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
        except Exception as error:
            log.warning("s3://%s/%s: could not remove a lost upload (%s)", self.bucket, prefix, error)

    def flag_target(self, url, flag):
        """A luigi target for the folder at `url`, there once the object `flag` in it is."""
        from luigi.contrib.s3 import S3FlagTarget

        bucket = self

        class FlagTarget(S3FlagTarget):
            def exists(self):
                try:
                    # One HEAD: S3FlagTarget's exists() also probes for folder markers, three more requests.
                    return self.fs.get_key(self.path + self.flag) is not None
                except Exception as error:
                    raise bucket.unusable(error) from None

        return FlagTarget(url, client=self.fs, flag=flag)


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
