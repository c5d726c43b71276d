"""poets-app --lan: the camera app over HTTPS for a phone on the network, with a self-signed certificate
made once and kept, its URL as a QR code. Every request here goes to 127.0.0.1 under the name phone.test
(the certificate's name; the connection itself is to loopback)."""

import datetime
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from poets.apps import lan, serving

ROOT = Path(__file__).parents[1]


def names_of(pem: Path) -> set[str]:
    from cryptography import x509

    return lan._names_of(x509.load_pem_x509_certificate(pem.read_bytes()))


def test_the_certificate_is_made_once_kept_and_grown_for_new_names(tmp_path):
    pem = lan.certificate(tmp_path, ["phone.test", "192.168.1.5"])
    assert names_of(pem) == {"phone.test", "192.168.1.5"}
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600  # it holds the private key
    first = pem.read_bytes()
    assert lan.certificate(tmp_path, ["192.168.1.5"]).read_bytes() == first  # kept: the phone accepted this one
    # On another network: one certificate for both, not one that forgets the first.
    assert names_of(lan.certificate(tmp_path, ["10.0.0.7"])) == {"phone.test", "192.168.1.5", "10.0.0.7"}
    pem.write_text("cut off")
    assert names_of(lan.certificate(tmp_path, ["phone.test"])) == {"phone.test"}
    assert not list(tmp_path.glob("*.part"))


def test_a_certificate_near_its_end_is_made_again(tmp_path, monkeypatch):
    monkeypatch.setattr(lan, "VALID", datetime.timedelta(days=20))
    old = lan.certificate(tmp_path, ["phone.test"]).read_bytes()
    monkeypatch.setattr(lan, "VALID", datetime.timedelta(days=397))
    assert lan.certificate(tmp_path, ["phone.test"]).read_bytes() != old


def test_names_given_are_answered_and_others_refused():
    assert serving.host_allowed("phone.test:8443", "127.0.0.1", ("phone.test",))
    assert serving.host_allowed("PHONE.test.:8443", "0.0.0.0", ("phone.test",))
    assert not serving.host_allowed("other.test:8443", "0.0.0.0", ("phone.test",))
    assert not serving.host_allowed("phone.test:8443", "127.0.0.1")


def get(port: int, path: str, cafile: Path) -> tuple[int, bytes]:
    """GET over HTTPS from 127.0.0.1:port as https://phone.test/ (the certificate checked for that name)."""
    context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="phone.test") as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: phone.test:{port}\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture
def app(tmp_path):
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "app.json").write_text(json.dumps({"title": "t", "variants": []}))
    (folder / "index.html").write_text("<p>app</p>")
    return folder


def test_poets_app_lan_serves_https_prints_a_qr_code_and_how_to_accept(app, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    process = subprocess.Popen([sys.executable, "-m", "workflows.app", str(app), "--lan", "--host", "127.0.0.1",
                                "--name", "phone.test", "--port", "0", "--no-browser"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        url = lines[1].split()[1]
        assert url.startswith("https://phone.test:")
        printed = []
        while not printed or not printed[-1].startswith("The phone will warn"):
            printed.append(process.stdout.readline())
            assert printed[-1], "no line on the certificate"
        qr, accept = printed[:-1], printed[-1]
        assert len(qr) >= 10 and all(set(line.strip()) <= set("█▀▄ ") for line in qr)  # half-height blocks
        assert "phone.test, 127.0.0.1, localhost" in accept and "Proceed" in accept
        pem = tmp_path / "cache" / "poets-workflow" / "lan" / "lan.pem"
        port = int(url.split(":")[2].strip("/"))
        assert get(port, "/app.json", pem) == (200, (app / "app.json").read_bytes())
        # Plain HTTP to the HTTPS port: a closed connection, no traceback.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: phone.test\r\n\r\n")
            plain.recv(100)
        assert get(port, "/index.html", pem)[0] == 200
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    assert "Traceback" not in errors


def test_name_without_lan_is_one_line(app):
    result = subprocess.run([sys.executable, "-m", "workflows.app", str(app), "--name", "phone.test", "--no-browser"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.strip() == (
        "poets-app: --name goes with --lan (the names of the HTTPS certificate)")
