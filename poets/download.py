"""Fetching the dataset archive and the base model weights.

urllib handles http://, https:// and file:// alike, so offline users point
the workflow at a local copy with a file:// URL and the same code runs.
"""

import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    pass


def download(url, dest, progress=None, timeout=60):
    """Stream `url` into the file `dest`; `progress(done_bytes, total_bytes)`.

    Raises DownloadError naming the URL on any failure, including a body
    shorter than the Content-Length the server announced.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"cannot download {url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"cannot download {url}: {reason}") from error
    if total and done != total:
        raise DownloadError(f"cannot download {url}: got {done} of {total} bytes")
    return done


def extract_photos(archive, dest):
    """Extract a photo archive into the folder `dest`, one sub-folder a class.

    tarfile's "data" filter refuses absolute paths, `..`, links that leave the
    folder and device files. An archive holding one top folder (the codelab's
    flower_photos.tgz holds flower_photos/) has that folder's content moved up.
    """
    staging = Path(str(dest) + ".extract")
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
    except (tarfile.TarError, OSError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadError(f"cannot extract {archive}: {error}") from error
    entries = [p for p in staging.iterdir() if not p.name.startswith(".")]
    root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
    root.rename(dest)
    shutil.rmtree(staging, ignore_errors=True)
