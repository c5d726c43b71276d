import hashlib
import http.server
import io
import tarfile
import threading
import time
from pathlib import Path

import pytest

import tasks.download
from poets.core.download import DownloadError, check_url, download, extract_photos
from tests.helpers import build, build_failing, make_archive, make_photos


def test_file_url_downloads(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"weights" * 1000)
    seen = []
    digest = download(source.as_uri(), tmp_path / "copy.bin", lambda d, t: seen.append(d))
    assert digest == hashlib.sha256(source.read_bytes()).hexdigest()
    assert (tmp_path / "copy.bin").read_bytes() == source.read_bytes()
    assert seen[-1] == 7000


def test_http_download_streams_the_body(server, tmp_path):
    folder, url = server
    (folder / "blob.bin").write_bytes(bytes(range(256)) * 5000)
    download(f"{url}/blob.bin", tmp_path / "blob.bin")
    assert (tmp_path / "blob.bin").read_bytes() == (folder / "blob.bin").read_bytes()


def test_missing_file_url_names_it(tmp_path):
    url = (tmp_path / "nope.tgz").as_uri()
    with pytest.raises(DownloadError, match="nope.tgz"):
        download(url, tmp_path / "out")


def make_tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extract_hoists_a_single_top_folder(tmp_path):
    archive = make_tar(tmp_path / "a.tgz", {"flower_photos/daisy/1.jpg": b"1", "flower_photos/LICENSE.txt": b"cc"})
    extract_photos(archive, tmp_path / "photos")
    assert (tmp_path / "photos" / "daisy" / "1.jpg").read_bytes() == b"1"
    assert not (tmp_path / "photos.extract").exists()


def test_extract_refuses_paths_leaving_the_folder(tmp_path):
    archive = make_tar(tmp_path / "evil.tgz", {"daisy/1.jpg": b"1", "../escaped.txt": b"x"})
    with pytest.raises(DownloadError, match="evil.tgz"):
        extract_photos(archive, tmp_path / "out" / "photos")
    assert not (tmp_path / "out" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "out" / "photos").exists()


BODY = b"photos" * 10000


class Unreliable(http.server.BaseHTTPRequestHandler):
    """A server that fails on purpose, by path: /status/500, /flaky/<n>/x (503 n times, then
    the body), /hang (answers after 3 s), /short (announces more bytes than it sends)."""

    hits = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if parts[0] == "status":
            self.send_error(int(parts[1]))
            return
        if parts[0] == "flaky":
            Unreliable.hits[self.path] = Unreliable.hits.get(self.path, 0) + 1
            if Unreliable.hits[self.path] <= int(parts[1]):
                self.send_error(503)
                return
        if parts[0] == "hang":
            time.sleep(3)
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY) * (2 if parts[0] == "short" else 1)))
        self.end_headers()
        self.wfile.write(BODY)


@pytest.fixture(scope="module")
def unreliable():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unreliable)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


FAST = {"timeout": 0.5, "retries": 2, "backoff": 0.01}


@pytest.mark.parametrize("path, expected", [
    ("status/404", "HTTP 404"),
    ("status/500", "HTTP 500"),
    ("hang", "timed out"),
    ("short", "ended after 60000 of 120000 bytes"),
])
def test_failed_downloads_name_the_url_and_why(unreliable, tmp_path, path, expected):
    with pytest.raises(DownloadError) as error:
        download(f"{unreliable}/{path}", tmp_path / "out", **FAST)
    assert f"{unreliable}/{path}" in str(error.value) and expected in str(error.value)


def test_404_is_not_retried_but_500_is(unreliable, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404") as error:
        download(f"{unreliable}/status/404", tmp_path / "out", **FAST)
    assert "gave up" not in str(error.value)
    with pytest.raises(DownloadError, match="gave up after 3 tries"):
        download(f"{unreliable}/status/500", tmp_path / "out", **FAST)


def test_transient_failures_are_retried_with_backoff(unreliable, tmp_path):
    started = time.monotonic()
    download(f"{unreliable}/flaky/2/a", tmp_path / "out", timeout=2, retries=3, backoff=0.2)
    assert (tmp_path / "out").read_bytes() == BODY
    assert time.monotonic() - started >= 0.2 + 0.4  # two waits, the second twice the first
    with pytest.raises(DownloadError, match="gave up after 2 tries"):
        download(f"{unreliable}/flaky/5/b", tmp_path / "out", timeout=2, retries=1, backoff=0.01)


def test_checksum_mismatch_is_refused(unreliable, tmp_path):
    good = hashlib.sha256(BODY).hexdigest()
    assert download(f"{unreliable}/ok", tmp_path / "out", sha256=good.upper(), **FAST) == good
    with pytest.raises(DownloadError, match=f"sha256 is {good}, expected 00ff"):
        download(f"{unreliable}/ok", tmp_path / "out", sha256="00ff", **FAST)


def test_only_http_https_and_file_urls_are_accepted():
    assert check_url("file:///x.tgz") == "file:///x.tgz"
    with pytest.raises(ValueError, match="--dataset-url: 'ftp://host/x.tgz' is not an http"):
        check_url("ftp://host/x.tgz", "--dataset-url")
    with pytest.raises(ValueError, match="not an http"):
        check_url("/home/me/flower_photos.tgz")


def hostile(tmp_path, kind):
    """An archive with one good photo and one hostile member of `kind`."""
    path = tmp_path / f"{kind}.tgz"
    with tarfile.open(path, "w:gz") as tar:
        good = tarfile.TarInfo("daisy/1.jpg")
        good.size = 1
        tar.addfile(good, io.BytesIO(b"1"))
        member = tarfile.TarInfo({"parent": "../escaped.txt", "absolute": "/tmp/escaped.txt"}.get(kind, "daisy/evil"))
        if kind == "symlink":
            member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
        elif kind == "relative_symlink":
            member.type, member.linkname = tarfile.SYMTYPE, "../../../../outside"
        elif kind == "hardlink":
            member.type, member.linkname = tarfile.LNKTYPE, "/etc/passwd"
        elif kind == "device":
            member.type, member.devmajor, member.devminor = tarfile.CHRTYPE, 1, 3
        member.size = 1 if kind in ("parent", "absolute") else 0
        tar.addfile(member, io.BytesIO(b"x") if member.size else None)
    return path


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink", "relative_symlink", "hardlink", "device"])
def test_hostile_archives_are_refused_and_write_nothing(tmp_path, kind):
    archive = hostile(tmp_path, kind)
    dest = tmp_path / "data" / "photos"
    dest.parent.mkdir()
    with pytest.raises(DownloadError, match=f"cannot extract .*{kind}.tgz"):
        extract_photos(archive, dest)
    assert list((tmp_path / "data").iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "outside").exists()


def test_archive_expanding_past_the_limit_is_refused(tmp_path):
    archive = make_tar(tmp_path / "big.tgz", {f"daisy/{i}.jpg": b"\0" * 1000 for i in range(5)})
    with pytest.raises(DownloadError, match="expands past 3000 bytes"):
        extract_photos(archive, tmp_path / "photos", max_bytes=3000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tgz"]
    extract_photos(archive, tmp_path / "photos", max_bytes=5000)
    assert len(list((tmp_path / "photos" / "daisy").iterdir())) == 5


def test_local_archive_is_extracted_in_place(tmp_path, monkeypatch):
    archive = make_archive(make_photos(tmp_path / "photos", per_class=2), tmp_path / "photos.tgz")

    def no_copy(*args, **kwargs):
        raise AssertionError("a file:// archive was copied")

    monkeypatch.setattr(tasks.download, "download", no_copy)
    task = tasks.download.DownloadDataset(data_dir=str(tmp_path / "data"), dataset_url=archive.as_uri())
    build(task)
    assert sorted(p.name for p in task.photos.iterdir()) == ["bluebells", "roses", "sunflowers"]
    assert not list((tmp_path / "data").rglob("*.tgz"))


@pytest.mark.parametrize("name, sha256, message", [("missing.tgz", "", "no such file"),
                                                   ("photos.tgz", "0" * 64, "sha256 is")])
def test_bad_local_archive_fails_naming_the_url_and_leaves_nothing(tmp_path, name, sha256, message):
    make_archive(make_photos(tmp_path / "photos", per_class=1), tmp_path / "photos.tgz")
    url = (tmp_path / name).as_uri()
    [(_, error)] = build_failing(tasks.download.DownloadDataset(
        data_dir=str(tmp_path / "data"), dataset_url=url, dataset_sha256=sha256))
    assert url in str(error) and message in str(error)
    assert list((tmp_path / "data").rglob("*")) == [tmp_path / "data" / "dataset"]


def test_the_default_archive_is_fetched_over_https_and_checked_against_its_known_sha256():
    from tasks.download import DownloadDataset

    task = DownloadDataset()
    assert task.dataset_url.startswith("https://") and task.dataset_sha256 == ""
    assert task.expected_sha256 == "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c"
    assert DownloadDataset(dataset_url="https://example.com/mine.tgz").expected_sha256 == ""
    assert DownloadDataset(dataset_sha256="ab" * 32).expected_sha256 == "ab" * 32


def test_a_url_with_credentials_works_and_its_secret_is_written_nowhere(flowers, tmp_path, caplog):
    import base64
    import functools

    from tasks.download import DownloadDataset
    from tests.helpers import fresh

    secret = "s3cr3t-pa55"
    folder = Path(flowers["photos"]).parent

    class Guarded(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.headers.get("Authorization") != "Basic " + base64.b64encode(f"poet:{secret}".encode()).decode():
                self.send_error(401, "Unauthorized")
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    make_archive(flowers["photos"], folder / "guarded.tgz")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Guarded, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://poet:{secret}@127.0.0.1:{server.server_address[1]}/guarded.tgz"
        fresh()
        task = DownloadDataset(data_dir=str(tmp_path / "data"), dataset_url=url)
        caplog.set_level("DEBUG")
        build(task)
        assert list(task.photos.glob("*/*.jpg"))
        # luigi's lines naming the task are seen (conftest leaves its logging to pytest), redacted.
        assert "DownloadDataset(" in caplog.text and "poet:***@" in caplog.text
        assert secret not in task.task_id and secret not in repr(task) and secret not in caplog.text
        for path in (tmp_path / "data").rglob("*"):
            if path.is_file() and path.suffix in (".json", ".txt", ""):
                assert secret.encode() not in path.read_bytes(), path
        assert "poet:***@" in (task.path("params.json")).read_text()
        # A wrong password fails, naming the URL without it.
        fresh()
        wrong = url.replace(secret, "wrong-pa55")
        [(_, error)] = build_failing(DownloadDataset(data_dir=str(tmp_path / "other"), dataset_url=wrong))
        assert "401" in str(error) and "poet:***@127.0.0.1" in str(error) and "wrong-pa55" not in str(error)
    finally:
        server.shutdown()


def test_a_photo_edited_in_place_after_a_dataset_dir_run_leaves_the_snapshot_as_it_was(tmp_path):
    from stores.records import damage

    photos = make_photos(tmp_path / "mine", per_class=3)
    task = tasks.download.DownloadDataset(data_dir=str(tmp_path / "data"), dataset_dir=str(photos))
    build(task)
    photo = photos / "roses" / "roses_000.jpg"
    kept = (task.photos / "roses" / "roses_000.jpg").read_bytes()
    with open(photo, "r+b") as edited:  # in place: the same inode, as an editor saving over it may
        edited.seek(100)
        edited.write(b"\0" * 16)
    assert (task.photos / "roses" / "roses_000.jpg").read_bytes() == kept != photo.read_bytes()
    assert damage(task.folder) == []
