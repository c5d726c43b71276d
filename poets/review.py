"""The review page: the photos to check, one at a time, decided with the keyboard, written as --label-fixes.

`items` turns CheckPhotos' rows into what the page shows: each photo once,
grouped by its first reason (label, duplicate, off-topic), with why in
words, the suggested class, its duplicate twins and its nearest photos of
the class it may belong to. `serve` serves the page (`poets/web/review.*`),
those items, the photos, and saves the decisions the page posts into the
--label-fixes CSV, checked as the run will check it.
"""

import json
import os
import threading
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import numpy as np

from poets import serving
from poets.failures import BadInput
from poets.label_fixes import apply_label_fixes, read_label_fixes
from poets.photo_check import REASONS

WEB = Path(__file__).with_name("web")
PAGE = {"/": "review.html", "/review.html": "review.html", "/review.js": "review.js", "/review.css": "review.css"}
PHOTOS = "/photos/"
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
    # Beside it, opened as any file is (tempfile's would leave the user's file readable by them alone);
    # one a saving thread, as the server answers each request in its own.
    temporary = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}")
    temporary.write_bytes(body)
    try:
        fixes = read_label_fixes(temporary, flag="the page's fixes")
        apply_label_fixes(paths, labels, fixes, classes, str(out), flag="the page's fixes")
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    return len(fixes)


def saved_fixes(out: Path) -> dict:
    """{path: label} of the fixes already in `out`, for the page to start from; {} when none."""
    if not Path(out).is_file():
        return {}
    return {photo: label for photo, (label, _) in read_label_fixes(out, flag="--out").items()}


def serve(review: dict, photos: Path, out: Path, dataset: tuple, host: str = "127.0.0.1", port: int = 0):
    """Serve the page, `review` (review.json: the items, the classes, where fixes go, the next command)
    and the photos under `photos`; a POST to /fixes saves the page's CSV into `out` once `dataset`
    ((paths, labels, classes) of every photo) accepts it. Returns (the server, its URL)."""
    handler = type("Handler", (ReviewHandler,), {"review": review, "photos": photos, "out": out, "dataset": dataset})
    return serving.start(handler, host, port)


class ReviewHandler(SimpleHTTPRequestHandler):
    """The review page's requests; serve() gives a subclass the run's `review`, `photos`, `out` and `dataset`."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **serving.TYPES}
    review: dict
    photos: Path
    out: Path
    dataset: tuple

    def do_GET(self):
        path = self.path.split("?")[0].split("#")[0]
        if path == "/review.json":
            return self._json(200, {**self.review, "saved": saved_fixes(self.out)})
        if path in PAGE or path.startswith(PHOTOS):
            return super().do_GET()
        self.send_error(404)

    def do_POST(self):
        if self.path != "/fixes":
            return self.send_error(404)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            self._json(200, {"path": str(self.out), "fixes": save_fixes(body, self.out, *self.dataset)})
        except BadInput as error:
            self._json(400, {"error": str(error)})

    def translate_path(self, path):
        path = path.split("?")[0].split("#")[0]
        if path.startswith(PHOTOS):
            return serving.under(self.photos, path[len(PHOTOS):])
        return str(WEB / PAGE[path])

    def list_directory(self, path):
        self.send_error(404)  # a photo or nothing: the dataset's folders are not listed

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def _json(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass
