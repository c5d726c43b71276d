"""A loopback HTTP proxy between an S3 client and an S3 endpoint (moto's
server in the tests) that misbehaves as object storage does: a chosen share
of requests is answered `503 SlowDown` or `500 InternalError`, reset after
part of the body, cut short of its Content-Length, or delayed. Seeded, so a
failing run can be replayed; bounded in how many faults and how long a delay.

    proxy = FaultProxy("http://127.0.0.1:5000", rate=0.2, seed=0)
    proxy.start()        # then AWS_ENDPOINT_URL=proxy.url
    ...
    proxy.stop(); proxy.injected  # {"slowdown": 12, "reset": 9, ...}

moto has no hook for faults at the connection level (resets, short bodies),
so this sits in front of it as a real network would.
"""

import http.client
import http.server
import random
import socket
import struct
import threading
import time
import urllib.parse

KINDS = ("slowdown", "internal", "reset", "short", "delay")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
ERRORS = {"slowdown": (503, "SlowDown", "Please reduce your request rate."),
          "internal": (500, "InternalError", "We encountered an internal error. Please try again.")}


class FaultProxy:
    def __init__(self, upstream: str, rate: float = 0.2, seed: int = 0, kinds=KINDS, limit: int = 10**6,
                 delay_s: float = 0.3, methods=("GET", "HEAD", "PUT", "POST", "DELETE")):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.rate, self.kinds, self.limit, self.delay_s, self.methods = rate, tuple(kinds), limit, delay_s, methods
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.injected = {kind: 0 for kind in self.kinds}
        self.requests = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                body = self._request_body()
                fault = proxy.draw(self.command)
                if fault in ERRORS:
                    return self._error(*ERRORS[fault])
                if fault == "delay":
                    time.sleep(proxy.delay_s)
                status, reason, headers, content = proxy.forward(self.command, self.path, self.headers, body)
                self.send_response_only(status, reason)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                if self.command != "HEAD" and not any(n.lower() == "content-length" for n, _ in headers):
                    self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if fault == "reset":
                    self.wfile.write(content[: len(content) // 2])
                    self.wfile.flush()
                    # RST instead of FIN: a connection reset by peer mid-body.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                if fault == "short" and self.command != "HEAD":
                    self.wfile.write(content[: len(content) // 2])
                    self.close_connection = True
                    return
                if self.command != "HEAD":
                    self.wfile.write(content)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_one

            def _request_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    raw = b""
                    while True:
                        line = self.rfile.readline()
                        raw += line
                        size = int(line.split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while True:  # trailers, then the empty line
                                line = self.rfile.readline()
                                raw += line
                                if line in (b"\r\n", b"\n", b""):
                                    return raw
                        raw += self.rfile.read(size + 2)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _error(self, status, code, message):
                body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                        f"<Message>{message}</Message><RequestId>fault</RequestId></Error>").encode()
                self.send_response_only(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body) if self.command != "HEAD" else 0))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def draw(self, method):
        """The fault for this request, or None: one seeded draw per request, in arrival order."""
        with self.lock:
            self.requests += 1
            roll, kind = self.random.random(), self.random.choice(self.kinds)
            if method not in self.methods or roll >= self.rate or sum(self.injected.values()) >= self.limit:
                return None
            self.injected[kind] += 1
            return kind

    def forward(self, method, path, headers, body):
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() not in ("connection", "keep-alive", "proxy-connection"):
                    connection.putheader(name, value)
            connection.endheaders(body or None)
            response = connection.getresponse()
            content = response.read()
            return response.status, response.reason, response.getheaders(), content
        finally:
            connection.close()

    def start(self):
        # shutdown() waits for the loop's next look at its flag: every 50 ms, not the default 500.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def quick_backoff(monkeypatch):
    """botocore's backoff before retrying a throttled request (0-1 s, doubling with each attempt)
    cut to the 0-50 ms it waits after other faults, in this process and in the processes it starts
    (tests/quick_backoff/sitecustomize.py): the retries are the product's, the seconds of sleep
    are not what the tests check. As conftest's quick_retries does for downloads."""
    import os
    from pathlib import Path

    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "_DEFAULT_BACKOFF_CONFIG",
                        {**ExponentialBackoff._DEFAULT_BACKOFF_CONFIG, "throttling_base_scale": 0.05})
    folder = str(Path(__file__).parent / "quick_backoff")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [folder, os.environ.get("PYTHONPATH")])))
