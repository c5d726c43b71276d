"""The two local servers (poets-review's and poets-app's) against the web: another site's page can make
the browser send requests to them, but changes nothing and reads nothing; URL paths stay in their folder
under Windows' rules too; bad requests and flags get one line, never a traceback."""

import http.client
import json
import subprocess
import sys
from pathlib import Path, PureWindowsPath

import pytest

from poets.apps import review, serving
from poets.apps.camera_app import serve as serve_app

ROOT = Path(__file__).parents[1]


@pytest.fixture
def server(tmp_path):
    """A review server of three photos (no pipeline): (its port, the fixes file, the photos' folder)."""
    photos = tmp_path / "photos"
    for path in ("daisy/1.jpg", "daisy/3.jpg", "roses/2.jpg"):
        (photos / path).parent.mkdir(parents=True, exist_ok=True)
        (photos / path).write_bytes(b"not really a jpeg")
    (tmp_path / "secret.txt").write_text("secret")
    out = tmp_path / "fixes.csv"
    page = {"id": "x", "classes": ["daisy", "roses"], "items": [], "out": str(out), "command": "luigi ..."}
    started, _ = review.serve(page, photos, out, (["daisy/1.jpg", "daisy/3.jpg", "roses/2.jpg"],
                                                  ["daisy", "daisy", "roses"], ["daisy", "roses"]))
    yield started.server_address[1], out, photos
    started.shutdown()


def ask(port, method, path, headers=None, body=None, host=None):
    """(status, body as text) of one request to 127.0.0.1:port, with the Host header `host` if given."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest(method, path, skip_host=host is not None)
    if host is not None:
        connection.putheader("Host", host)
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    if body is not None and "Content-Length" not in (headers or {}):
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    answer = response.status, response.read().decode(errors="replace")
    connection.close()
    return answer


def token_of(port):
    status, text = ask(port, "GET", "/review.json")
    assert status == 200
    return json.loads(text)["token"]


FIX = b"path,label\ndaisy/1.jpg,roses\n"


def test_the_page_saves_with_its_token_from_its_own_origin(server):
    port, out, _ = server
    headers = {"X-Poets-Token": token_of(port), "Origin": f"http://127.0.0.1:{port}"}
    status, text = ask(port, "POST", "/fixes", headers, FIX)
    assert status == 200 and json.loads(text)["fixes"] == 1 and out.read_bytes() == FIX


def test_a_request_from_another_site_changes_nothing_and_reads_nothing(server, capfd):
    port, out, _ = server
    out.write_bytes(FIX)
    token = token_of(port)
    # Another site's page: a simple POST (no custom header, so no preflight), with or without its Origin.
    for headers in ({"Origin": "http://evil.example", "Content-Type": "text/plain"},
                    {"Origin": "http://evil.example", "X-Poets-Token": token},
                    {"Content-Type": "text/plain"}, {"X-Poets-Token": "guessed"}):
        status, text = ask(port, "POST", "/fixes", headers, b"path,label\n")
        assert status == 403 and "refused" in text, headers
    assert out.read_bytes() == FIX
    # DNS rebinding: the other site's name pointed at 127.0.0.1; its page reads nothing.
    for path in ("/review.json", "/photos/daisy/1.jpg", "/", "/review.js"):
        status, text = ask(port, "GET", path, host=f"evil.example:{port}")
        assert status == 403 and token not in text and str(out) not in text and "jpeg" not in text, path
    status, _ = ask(port, "POST", "/fixes", {"X-Poets-Token": token}, b"path,label\n", host=f"evil.example:{port}")
    assert status == 403 and out.read_bytes() == FIX
    said = capfd.readouterr().err.splitlines()
    assert said and all(line.startswith("poets-review: refused ") for line in said)
    assert any("evil.example" in line and "Host" in line for line in said)


def test_this_machines_names_are_answered():
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "localhost", "127.0.0.2:1"):
        assert serving.host_allowed(host, "127.0.0.1"), host
    for host in ("evil.example:8000", "127.0.0.1.evil.example", "", None, "localhost.evil.example", "a b",
                 "192.168.1.5:8000"):
        assert not serving.host_allowed(host, "127.0.0.1"), host
    # Listening on an address: that address; on every address: any address literal, never a name.
    assert serving.host_allowed("192.168.1.5:8000", "192.168.1.5")
    assert serving.host_allowed("192.168.1.5:8000", "0.0.0.0")
    assert not serving.host_allowed("phone.evil.example:8000", "0.0.0.0")


NASTY = ["..%5c..%5csecret.txt", "..\\..\\secret.txt", "C:/Windows/win.ini", "C%3A/secret.txt", "%2e%2e/secret.txt",
         "a/..%2f..%2fsecret.txt", "//server/share/x", "..%20/secret.txt", "...%2fsecret.txt", "x%00.jpg",
         "daisy/1.jpg:stream", "..%2F..%2F..%2Fsecret.txt"]


@pytest.mark.parametrize("wanted", NASTY)
def test_a_url_path_never_leaves_its_folder_under_windows_rules_either(wanted):
    """Each either is refused or, joined as Windows would join it, stays under the folder."""
    root = PureWindowsPath("C:/srv/photos")
    try:
        parts = serving.url_parts(wanted)
    except serving.OutsideFolder:
        return
    joined = PureWindowsPath(root, *parts)
    assert joined.is_relative_to(root) and ".." not in joined.parts and joined.drive == "C:", wanted


def test_windows_escapes_are_refused_and_plain_paths_kept():
    for wanted in ("..%5c..%5csecret", "C:/x", "C%3A/x", "a\\b.jpg", "..%20/x"):
        with pytest.raises(serving.OutsideFolder):
            serving.url_parts(wanted)
    assert serving.url_parts("daisy/my%20photo.jpg?v=1#x") == ["daisy", "my photo.jpg"]
    assert serving.url_parts("../../daisy/./1.jpg") == ["daisy", "1.jpg"]


def test_bad_requests_get_an_answer_not_a_traceback(server, capfd):
    port, out, _ = server
    token = token_of(port)
    for path in NASTY:
        status, text = ask(port, "GET", "/photos/" + path)
        assert status == 404 and "secret" not in text.replace(path, ""), path
    assert ask(port, "HEAD", "/nothing/here")[0] == 404
    assert ask(port, "HEAD", "/review.js")[0] == 200
    status, text = ask(port, "POST", "/fixes", {"X-Poets-Token": token, "Content-Length": "many"}, b"")
    assert status == 400 and "Content-Length" in text
    # The fixes file made invalid while the server runs: the page is told why.
    out.write_text("not,a fixes file\n")
    status, text = ask(port, "GET", "/review.json")
    assert status == 500 and "expected a header with the columns path,label" in json.loads(text)["error"]
    assert "Traceback" not in capfd.readouterr().err


def test_the_camera_apps_server_answers_only_this_machine(tmp_path):
    (tmp_path / "index.html").write_text("<p>app</p>")
    started, _ = serve_app(tmp_path)
    port = started.server_address[1]
    try:
        assert ask(port, "GET", "/index.html")[0] == 200
        assert ask(port, "GET", "/index.html", host=f"evil.example:{port}")[0] == 403
        assert ask(port, "HEAD", "/not/there")[0] == 404
    finally:
        started.shutdown()


@pytest.mark.parametrize("command", ["workflows.review", "workflows.app"])
def test_a_port_out_of_range_is_one_line(command):
    result = subprocess.run([sys.executable, "-m", command, "--port", "70000", "--no-browser"], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'70000' is not a port: give 0 (a free one) to 65535" in result.stderr
