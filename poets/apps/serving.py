"""Serving a folder of static pages on this machine: the camera app's and the review page's.

The standard library's threading HTTP server in a background thread, with
the MIME types browsers insist on, URL paths mapped under a folder without
climbing out of it, and a page that leaves before its answer arrives (a
closed tab, a photo scrolled past) taken quietly instead of as a traceback.

`LocalHandler` answers only requests addressed to this machine: a web page
elsewhere can make the browser send requests here, and through DNS
rebinding (its own name pointed at 127.0.0.1) read the answers, but it
cannot make the browser put this machine's name in the Host header.
"""

import ipaddress
import json
import re
import ssl
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

# What browsers need told: a module script must be JavaScript, and WebAssembly
# compiles while it downloads only when served as application/wasm.
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
         ".tflite": "application/octet-stream", ".json": "application/json"}
EVERY_ADDRESS = ("0.0.0.0", "", "::")


class OutsideFolder(LookupError):
    """A URL path that names nothing the server serves."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    names: tuple[str, ...] = ()

    def handle_error(self, request, client_address):
        # A browser that has not accepted the certificate yet hangs up in the TLS handshake: expected.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ssl.SSLError)):
            super().handle_error(request, client_address)


def url_parts(wanted: str) -> list[str]:
    """The folder names and file name a URL path (after its prefix) names: its query and fragment cut,
    percent-decoded, its "", "." and ".." parts dropped.

    Raises OutsideFolder for a part that could leave the folder on some OS once decoded: a backslash
    (Windows' separator), a colon (a drive, `C:`, or a stream), a NUL, or only dots and spaces
    (Windows drops trailing ones: `.. ` is `..` there). Refused on every OS, so what is safe here is
    safe on Windows too."""
    wanted = unquote(wanted.split("?")[0].split("#")[0])
    parts = [part for part in wanted.split("/") if part not in ("", ".", "..")]
    if any("\\" in part or ":" in part or "\0" in part or not part.rstrip(". ") for part in parts):
        raise OutsideFolder(wanted)
    return parts


def under(root: Path, wanted: str) -> str:
    """The file a URL path (after its prefix) names under `root` (url_parts): none leads out of it."""
    return str(Path(root, *url_parts(wanted)))


def is_address(name: str) -> bool:
    """Whether `name` is an IP address literal (not a host name)."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def loopback(name: str) -> bool:
    """Whether a host name or address is this machine's loopback (reachable from this machine only)."""
    name = name.strip("[]").rstrip(".").lower()
    return name == "localhost" or (is_address(name) and ipaddress.ip_address(name).is_loopback)


def host_allowed(host: str | None, listening: str, names: tuple[str, ...] = ()) -> bool:
    """Whether a request's Host header names this server: a loopback name or address always; the
    address it listens on; the host names it was given; and, listening on every address, any address
    literal (a browser sends one only when its user typed it: there is no name for another site to
    point here).

    Args:
      host: the Host header, as sent (`localhost:8000`, `[::1]:8000`); None when absent.
      listening: the address the server is bound to.
      names: host names this machine is reached by (`poets-app --lan --name`), as the user gave them.
    """
    if not host or not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
        return False
    try:
        name = (urlsplit("//" + host).hostname or "").rstrip(".")
    except ValueError:
        return False
    if loopback(name) or name.lower() in (n.lower().rstrip(".") for n in names):
        return True
    if listening in EVERY_ADDRESS:
        return is_address(name)
    return name == listening.lower()


class LocalHandler(SimpleHTTPRequestHandler):
    """A static-file handler that refuses, in one line on the server's console and a 403, any
    request whose Host is not this machine's (host_allowed), and answers 404 for a path outside
    what it serves (OutsideFolder) instead of a traceback."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **TYPES}
    # Who says the refusals: the command's name.
    speaker = "poets"
    quiet = True

    def parse_request(self):
        if not super().parse_request():
            return False
        host = self.headers.get("Host")
        if host_allowed(host, self.server.server_address[0], self.server.names):
            return True
        self.refuse(f"its Host {host!r} is not this machine's (another site may be probing it)")
        return False

    def refuse(self, why: str, status: int = 403):
        """Answer `status` with `why`, and say on the console, in one line, what was refused."""
        self.close_connection = True  # a refused POST's body is left unread: never parse it as a request
        print(f"{self.speaker}: refused {self.command} {self.path[:200]!r}: {why}", file=sys.stderr, flush=True)
        self.send_json(status, {"error": f"refused: {why}"})

    def send_json(self, status: int, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_head(self):
        try:
            return super().send_head()
        except OutsideFolder:
            self.send_error(404)
            return None

    def log_message(self, *args):
        if not self.quiet:
            super().log_message(*args)


def start(handler, host: str, port: int, tls: ssl.SSLContext | None = None, names: tuple[str, ...] = ()):
    """Serve `handler` on host:port (0: a free one) in a background thread, over HTTPS with `tls`,
    answering to the host `names` too (host_allowed): (the server, its URL, under the first name)."""
    import threading

    server = _Server((host, port), handler)
    server.names = tuple(names)
    if tls is not None:
        # The handshake happens in the request's thread, at its first read: a phone that stops at the
        # certificate warning holds no other request up.
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shown = names[0] if names else "127.0.0.1" if host in EVERY_ADDRESS else host
    shown = f"[{shown}]" if ":" in shown else shown
    return server, f"{'https' if tls else 'http'}://{shown}:{server.server_address[1]}/"


def serve_until_stopped(server, url: str, browse: bool) -> int:
    """Open `url` in the browser when `browse`, then serve until Ctrl-C; the exit code, 0."""
    import time
    import webbrowser

    if browse:
        webbrowser.open(url)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
    return 0


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (a free one) to 65535."""
    import argparse

    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give 0 (a free one) to 65535")
    return port
