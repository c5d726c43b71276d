"""The review page: the photos to check, one at a time, decided with the keyboard, written as --label-fixes.

`items` turns CheckPhotos' rows into what the page shows: each photo once,
grouped by its first reason (label, duplicate, off-topic), with why in
words, the suggested class, its duplicate twins and its nearest photos of
the class it may belong to. `serve` serves the page (`poets/apps/web/review.*`),
those items, the photos, and saves the decisions the page posts into the
--label-fixes CSV, checked as the run will check it.
"""

import hmac
import os
import secrets
import threading
from pathlib import Path

import numpy as np

from poets.apps import serving
from poets.core.failures import BadInput
from poets.core.label_fixes import apply_label_fixes, read_label_fixes
from poets.photos.check import REASONS

WEB = Path(__file__).with_name("web")
PAGE = {"/": "review.html", "/review.html": "review.html", "/review.js": "review.js", "/review.css": "review.css",
        "/common.mjs": "common.mjs"}
PHOTOS = "/photos/"
# How many of the suggested (or own) class's nearest photos stand beside a flagged one.
NEAREST = 4


def items(rows: list[dict], duplicates: list[dict], features: np.ndarray, paths: list[str],
          labels: list[str], folder_labels: dict[str, str]) -> list[dict]:
    """One item a flagged photo: {"path", "label", "folder", "split", "suggested", "reasons":
    [{"reason", "suggested", "score", "why"}], "twins": [paths], "nearest": [paths], "nearest_class"},
    grouped by the first of REASONS it is flagged for, each group in the CSV's order (most certain first).

    `rows` are photos_to_check.csv's (their label is the run's, after its --label-fixes),
    `duplicates` check.json's groups; `features`, `paths` and `labels` are those of the photos the
    run kept, with its fixes applied: the nearest photos are those of the suggested class (the
    photo's own class, when none is suggested) closest to it by cosine, none flagged.
    `folder_labels` gives every photo's label before any fix (its folder's): "folder", what a
    decision is a change from, so a fix the run already applied is still written the next time.
    """
    twins = {photo["path"]: [p["path"] for p in group["photos"] if p["path"] != photo["path"]]
             for group in duplicates for photo in group["photos"]}
    by_path = {}
    for row in rows:
        item = by_path.setdefault(row["path"], {"path": row["path"], "label": row["label"],
                                                "folder": folder_labels[row["path"]], "split": row["split"],
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
    ((paths, labels, classes) of every photo) accepts it. Returns (the server, its URL).

    Each serve makes a token that review.json gives the page and every POST must carry in its
    X-Poets-Token header: another site's page can send a POST here but cannot read review.json
    (the same-origin policy), nor send a custom header without a CORS preflight, never granted."""
    review = {**review, "token": secrets.token_urlsafe(24)}
    handler = type("Handler", (ReviewHandler,), {"review": review, "photos": photos, "out": out, "dataset": dataset})
    return serving.start(handler, host, port)


class ReviewHandler(serving.LocalHandler):
    """The review page's requests; serve() gives a subclass the run's `review`, `photos`, `out` and `dataset`."""

    speaker = "poets-review"
    review: dict
    photos: Path
    out: Path
    dataset: tuple

    def do_GET(self):
        path = self.path.split("?")[0].split("#")[0]
        if path == "/review.json":
            # The page starts from the fixes saved so far; before any, from those the run was made with.
            run_fixes = self.review.get("run_fixes")
            start = self.out if self.out.exists() or not run_fixes else Path(run_fixes)
            try:
                return self.send_json(200, {**self.review, "saved": saved_fixes(start)})
            except BadInput as error:  # the file was made invalid since poets-review started
                return self.send_json(500, {"error": str(error)})
        if path in PAGE or path.startswith(PHOTOS):
            return super().do_GET()
        self.send_error(404)

    def do_POST(self):
        if self.path != "/fixes":
            return self.send_error(404)
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.headers['Host']}":
            return self.refuse(f"it comes from the page of another site, {origin[:100]!r}")
        if not hmac.compare_digest(self.headers.get("X-Poets-Token", ""), self.review["token"]):
            return self.refuse("it lacks this page's token (only the review page may save)")
        try:
            length = int(self.headers.get("Content-Length", 0))
        except ValueError:
            return self.send_json(400, {"error": "Content-Length is not a number"})
        body = self.rfile.read(length)
        try:
            self.send_json(200, {"path": str(self.out), "fixes": save_fixes(body, self.out, *self.dataset)})
        except BadInput as error:
            self.send_json(400, {"error": str(error)})
        except OSError as error:  # the folder went away or became read-only since the start
            self.send_json(500, {"error": f"cannot write {self.out}: {error.strerror or error}"})

    def translate_path(self, path):
        path = path.split("?")[0].split("#")[0]
        if path.startswith(PHOTOS):
            return serving.under(self.photos, path[len(PHOTOS):])
        if path not in PAGE:
            raise serving.OutsideFolder(path)
        return str(WEB / PAGE[path])

    def list_directory(self, path):
        self.send_error(404)  # a photo or nothing: the dataset's folders are not listed

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()
