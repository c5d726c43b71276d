"""Fetching the dataset archive and the base model weights.

urllib handles http://, https:// and file:// alike, so offline users point
the workflow at a local copy with a file:// URL and the same code runs. A
local archive need not be copied before it is extracted: `local_file` gives
its path, checked like a download.
"""

import base64
import errno
import hashlib
import http.client
import logging
import shutil
import socket
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from poets.core.failures import BadInput, UserFailure

log = logging.getLogger(__name__)

CHUNK = 1 << 20
SCHEMES = ("http", "https", "file")
# Server errors and rate limiting may pass; a 404 will not.
TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}
# Refuse archives that would expand past this (a gzip bomb, or the wrong URL).
MAX_EXTRACTED_BYTES = 50 * 2**30


class DownloadError(UserFailure, RuntimeError):
    pass


class TransientError(DownloadError):
    """Worth another try: the server or the network may recover."""


def check_url(url: str, flag: str = "URL") -> str:
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in SCHEMES:
        raise BadInput(f"{flag}: {redacted(url)!r} is not an http://, https:// or file:// URL")
    return url


def redacted(url: str) -> str:
    """`url` with the password in it, if any, shown as ***: what records, ids,
    logs and errors may show of a URL like https://user:secret@host/file."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _request(url):
    """A urllib Request for `url`. User info in the URL becomes a Basic
    Authorization header: urllib itself would take it for part of the host name."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return urllib.request.Request(url)
    bare = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    request = urllib.request.Request(bare)
    request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode("ascii"))
    return request


def download(url: str, dest: Path, progress: Callable[[int, int], None] | None = None, timeout: float = 60,
             retries: int = 3, backoff: float = 1.0, sha256: str | None = None) -> str:
    """Stream `url` into the file `dest`; `progress(done_bytes, total_bytes)`.

    Transient failures (5xx, 429, timeouts, dropped connections, a body
    shorter than its Content-Length) are retried `retries` times, waiting
    backoff, 2 * backoff, 4 * backoff... seconds. Raises DownloadError naming
    the URL when it gives up, or at once for a permanent failure (404, a host
    name that does not resolve, a refused connection) or a sha256 that does
    not match. `dest` is left partial on failure: write it
    in a temporary place.
    """
    for attempt in range(retries + 1):
        try:
            digest = _fetch(url, dest, progress, timeout)
            break
        except TransientError as error:
            if attempt == retries:
                raise DownloadError(f"{error} (gave up after {retries + 1} tries)") from error
            wait = backoff * 2**attempt
            log.warning("%s; retrying in %.1fs", error, wait)
            time.sleep(wait)
    _check_digest(url, digest, sha256)
    return digest


def _check_digest(url, digest, sha256):
    if sha256 and digest != sha256.lower():
        raise DownloadError(f"cannot download {redacted(url)}: sha256 is {digest}, expected {sha256.lower()}")


def disk_full(error: BaseException) -> bool:
    """Whether `error` is the disk (or the quota) running out of space."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def is_local(url: str) -> bool:
    return urllib.parse.urlparse(url).scheme == "file"


def local_file(url: str, sha256: str | None = None) -> Path:
    """The path a file:// URL names, after the checks `download` makes: it
    must be a file, and its sha256 `sha256` when given. Raises DownloadError
    naming the URL."""
    path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    if not path.is_file():
        raise DownloadError(f"cannot download {redacted(url)}: no such file")
    if sha256:
        with open(path, "rb") as data:
            _check_digest(url, hashlib.file_digest(data, "sha256").hexdigest(), sha256)
    return path


def _fetch(url, dest, progress, timeout):
    digest = hashlib.sha256()
    shown = redacted(url)  # what errors may say of the URL
    try:
        with urllib.request.urlopen(_request(url), timeout=timeout) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except urllib.error.HTTPError as error:
        kind = TransientError if error.code in TRANSIENT_HTTP else DownloadError
        raise kind(f"cannot download {shown}: HTTP {error.code} {error.reason}") from error
    except (http.client.IncompleteRead, ConnectionError, socket.timeout, TimeoutError) as error:
        raise TransientError(f"cannot download {shown}: {error!r}") from error
    except urllib.error.URLError as error:
        # A host name that does not resolve (a typo, no network) or a port
        # nobody listens on will not change in the seconds a retry waits.
        if isinstance(error.reason, socket.gaierror):
            host = urllib.parse.urlparse(url).hostname
            raise DownloadError(f"cannot download {shown}: the host name {host!r} does not resolve "
                                f"({error.reason.strerror}): check the URL and the network") from error
        if isinstance(error.reason, ConnectionRefusedError):
            raise DownloadError(f"cannot download {shown}: connection refused (nothing listens there)") from error
        if isinstance(error.reason, (ConnectionError, socket.timeout, TimeoutError, OSError)) and not is_local(url):
            raise TransientError(f"cannot download {shown}: {error.reason}") from error
        raise DownloadError(f"cannot download {shown}: {error.reason}") from error
    except (OSError, ValueError) as error:
        if disk_full(error):
            raise  # not the download's fault: the task says which disk, and what to do
        raise DownloadError(f"cannot download {shown}: {error}") from error
    if total and done != total:
        raise TransientError(f"cannot download {shown}: the response ended after {done} of {total} bytes")
    return digest.hexdigest()


def extract_photos(archive: Path, dest: Path, max_bytes: int = MAX_EXTRACTED_BYTES) -> None:
    """Extract a photo archive into the folder `dest`, one sub-folder a class.

    tarfile's "data" filter refuses `..`, links that leave the folder and
    device files; on top of it, absolute paths are refused and the archive may
    not expand past `max_bytes`. An archive holding one top folder (the codelab's
    flower_photos.tgz holds flower_photos/) has that folder's content moved up.
    Nothing is left behind on failure.
    """
    staging = Path(str(dest) + ".extract")
    total = 0

    def data_within_limit(member, path):
        nonlocal total
        # The data filter would strip the leading / and extract inside; an archive
        # of photos has no business naming absolute paths, so refuse it.
        if member.name.startswith(("/", "\\")):
            raise tarfile.AbsolutePathError(member)
        member = tarfile.data_filter(member, path)
        total += member.size
        if total > max_bytes:
            raise tarfile.FilterError(f"the archive expands past {max_bytes} bytes")
        return member

    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter=data_within_limit)
    except (tarfile.TarError, OSError, EOFError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        if disk_full(error):
            raise
        raise DownloadError(f"cannot extract {archive}: {error}") from error
    entries = [p for p in staging.iterdir() if not p.name.startswith(".")]
    # A lone top folder of folders wraps the classes; a lone folder of photos is a class.
    wrapped = len(entries) == 1 and entries[0].is_dir() and any(p.is_dir() for p in entries[0].iterdir())
    root = entries[0] if wrapped else staging
    root.rename(dest)
    shutil.rmtree(staging, ignore_errors=True)
