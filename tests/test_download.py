import io
import tarfile

import pytest

from poets.download import DownloadError, download, extract_photos


def test_file_url_downloads(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"weights" * 1000)
    seen = []
    assert download(source.as_uri(), tmp_path / "copy.bin", lambda d, t: seen.append(d)) == 7000
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
