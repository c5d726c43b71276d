"""The review page: the photos to check, one at a time, decided with the keyboard, written as --label-fixes.

`items` turns CheckPhotos' rows into what the page shows: each photo once,
grouped by its first reason (label, duplicate, off-topic), with why in
words, the suggested class, its duplicate twins and its nearest photos of
the class it may belong to. `serve` serves the page (`poets/web/review.*`),
those items, the photos, and saves the decisions the page posts into the
--label-fixes CSV, checked as the run will check it.
"""

import csv
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from poets.failures import BadInput
from poets.photo_check import REASONS, apply_label_fixes, read_label_fixes

WEB = Path(__file__).with_name("web")
PAGE = {"/": "review.html", "/review.html": "review.html", "/review.js": "review.js", "/review.css": "review.css"}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".json": "application/json", ".txt": "text/plain; charset=utf-8",
         ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
         ".webp": "image/webp", ".bmp": "image/bmp"}
# How many of the suggested (or own) class's nearest photos stand beside a flagged one.
NEAREST = 4


def items(rows: list[dict], duplicates: list[dict], features: np.ndarray, paths: list[str],
          labels: list[str]) -> list[dict]:
    """One item a flagged photo: {"path", "label", "split", "suggested", "reasons": [{"reason",
    "suggested", "score", "why"}], "twins": [paths], "nearest": [paths], "nearest_class"}, grouped
    by the first of REASONS it is flagged for, each group in the CSV's order (most certain first).

    `rows` are photos_to_check.csv's, `duplicates` check.json's groups; `features`, `paths` and
    `labels` are every photo's (the Bottlenecks'): the nearest photos are those of the suggested
    class (the photo's own class, when none is suggested) closest to it by cosine, none flagged.
    """
    twins = {photo["path"]: [p["path"] for p in group["photos"] if p["path"] != photo["path"]]
             for group in duplicates for photo in group["photos"]}
    by_path = {}
    for row in rows:
        item = by_path.setdefault(row["path"], {"path": row["path"], "label": row["label"], "split": row["split"],
                                                "suggested": "", "reasons": [], "twins": twins.get(row["path"], [])})
        item["reasons"].append({key: row.get(key, "") for key in ("reason", "suggested", "score", "why")})
        item["suggested"] = item["suggested"] or row["suggested"]
    first = {path: min(REASONS.index(r["reason"]) for r in item["reasons"]) for path, item in by_path.items()}
    ordered = sorted(by_path.values(), key=lambda item: first[item["path"]])  # stable: the CSV's order within
    _add_nearest(ordered, features, paths, labels, set(by_path))
    return ordered


def _add_nearest(ordered, features, paths, labels, flagged):
    index = {path: i for i, path in enumerate(paths)}
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    labels = np.asarray(labels)
    clean = np.array([path not in flagged for path in paths], bool)
    for item in ordered:
        item["nearest_class"] = item["suggested"] or item["label"]
        if item["path"] not in index:
            item["nearest"] = []
            continue
        candidates = np.flatnonzero(clean & (labels == item["nearest_class"]))
        cosine = unit[candidates] @ unit[index[item["path"]]]
        item["nearest"] = [paths[i] for i in candidates[np.argsort(-cosine, kind="stable")[:NEAREST]]]


def save_fixes(body: bytes, out: Path, paths: list[str], labels: list[str], classes: list[str]) -> int:
    """Check the CSV the page posts as the run will (read_label_fixes, then apply_label_fixes on the
    dataset's photos) and write it to `out` whole or not at all. Returns how many fixes it holds."""
    out = Path(out)
    with tempfile.NamedTemporaryFile("wb", dir=out.parent, prefix=f".{out.name}.", delete=False) as temporary:
        temporary.write(body)
    try:
        fixes = read_label_fixes(temporary.name, flag="the page's fixes")
        apply_label_fixes(paths, labels, fixes, classes, str(out), flag="the page's fixes")
        os.replace(temporary.name, out)
    finally:
        Path(temporary.name).unlink(missing_ok=True)
    return len(fixes)


def saved_fixes(out: Path) -> dict:
    """{path: label} of the fixes already in `out`, for the page to start from; {} when none."""
    if not Path(out).is_file():
        return {}
    return {photo: label for photo, (label, _) in read_label_fixes(out, flag="--out").items()}


def fixes_csv(decisions: dict) -> str:
    """The CSV of {path: a class or "exclude"}, as the page writes it (for tests and tools)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label"])
    writer.writerows(sorted(decisions.items()))
    return buffer.getvalue()


def serve(review: dict, photos: Path, out: Path, dataset: tuple, host: str = "127.0.0.1", port: int = 0):
    """Serve the page, `review` (review.json: the items, the classes, where fixes go, the next command)
    and the photos under `photos`; a POST to /fixes saves the page's CSV into `out` once `dataset`
    ((paths, labels, classes) of every photo) accepts it. Returns (the server, its URL)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self._route(self.path.split("?")[0])

        def do_POST(self):
            if self.path != "/fixes":
                return self._send(404, b"not found", ".txt")
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                count = save_fixes(body, out, *dataset)
            except BadInput as error:
                return self._send(400, json.dumps({"error": str(error)}).encode(), ".json")
            self._send(200, json.dumps({"path": str(out), "fixes": count}).encode(), ".json")

        def _route(self, path):
            from urllib.parse import unquote

            if path in PAGE:
                return self._send(200, (WEB / PAGE[path]).read_bytes(), Path(PAGE[path]).suffix)
            if path == "/review.json":
                return self._send(200, json.dumps({**review, "saved": saved_fixes(out)}).encode(), ".json")
            wanted = unquote(path[len("/photos/"):]) if path.startswith("/photos/") else ""
            file = (photos / wanted).resolve()
            if wanted and file.is_relative_to(photos.resolve()) and file.is_file():
                return self._send(200, file.read_bytes(), file.suffix.lower())
            self._send(404, b"not found", ".txt")

        def _send(self, status, body, suffix):
            self.send_response(status)
            self.send_header("Content-Type", TYPES.get(suffix, "application/octet-stream"))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the page went away (closed, or moved on) before its photo arrived

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return server, f"http://{shown}:{server.server_address[1]}/"

