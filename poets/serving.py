"""Serving a folder of static pages on this machine: the camera app's and the review page's.

The standard library's threading HTTP server in a background thread, with
the MIME types browsers insist on, URL paths mapped under a folder without
climbing out of it, and a page that leaves before its answer arrives (a
closed tab, a photo scrolled past) taken quietly instead of as a traceback.
"""

import sys
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

# What browsers need told: a module script must be JavaScript, and WebAssembly
# compiles while it downloads only when served as application/wasm.
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
         ".tflite": "application/octet-stream", ".json": "application/json"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def under(root: Path, wanted: str) -> str:
    """The file a URL path (after its prefix) names under `root`: its query and fragment cut, its
    "", "." and ".." parts dropped, so no path leads out of `root`."""
    wanted = unquote(wanted.split("?")[0].split("#")[0])
    return str(Path(root, *[part for part in wanted.split("/") if part not in ("", ".", "..")]))


def start(handler, host: str, port: int):
    """Serve `handler` on host:port (0: a free one) in a background thread: (the server, its URL)."""
    import threading

    server = _Server((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return server, f"http://{shown}:{server.server_address[1]}/"
