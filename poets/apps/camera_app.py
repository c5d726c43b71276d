"""The camera app: a static web page that runs a run's TFLite models on the camera and on photos.

The page (`poets/apps/web/`) uses MediaPipe Tasks for Web's ImageClassifier, the
same C++ tasks core as MediaPipe's Android sample compiled to WebAssembly, so
it reads the labels and the input normalisation from each model's metadata,
as the phone does. `write_app` puts the page, the models and `app.json` (what
the page shows) in one folder of static files: any web server or static HTTPS
host serves it; `poets-app` does so on this machine.

The runtime is pinned: its version and the sha384 of every file the page
loads are written into app.json, and the browser refuses any other bytes
(subresource integrity), from MediaPipe's CDN or from a local copy alike.
"""

import base64
import hashlib
import json
import shutil
from pathlib import Path

from poets.apps import serving
from poets.core.failures import BadInput

WEB = Path(__file__).with_name("web")
PAGE = ("index.html", "app.js", "common.mjs", "app.css", "sw.js")

# @mediapipe/tasks-vision as npm publishes it; the CDN is the one MediaPipe's own web samples use.
RUNTIME = {
    "package": "@mediapipe/tasks-vision",
    "version": "1.1.0",
    "cdn": "https://cdn.jsdelivr.net/npm/@mediapipe/tasks-vision@1.1.0",
    "files": {
        "vision_bundle.mjs": "sha384-K9SZSZsVUHJTcMp4orEz7jVOD7Ro/2+0a1VxJvrOorWMtdXCO/rYlF17bw+iomf4",
        "wasm/vision_wasm_internal.js": "sha384-jtdjdNIo/J/KCH4Cdzr0WgtLSeu00Z2fb8m+3ZtlUjdU0qa7b2BY2DH+xDyT5h+Z",
        "wasm/vision_wasm_internal.wasm": "sha384-/8GYMkLZzcgbPHE7bao2HMZy558ZB+mbLg8RZv/JcFMf6w+tTW6j0o6bigM78NVV",
        "wasm/vision_wasm_nosimd_internal.js":
            "sha384-G4XQgb6NhKDFJabsQoCsg+N4lSd5gbyGOB4jge8N2MlTIPwczQOfHRaTOq9P7egr",
        "wasm/vision_wasm_nosimd_internal.wasm":
            "sha384-plwF5Ls5qsJga9VXOt3Fx7weOIn1coDRZ0OELHCk+IUlAbziX2YEYqXC16C6zEoG",
    },
}
INSTALL = f"npm install {RUNTIME['package']}@{RUNTIME['version']}"


class RuntimeMismatch(BadInput):
    """A --web-runtime folder that is not the pinned runtime."""


def page_digest(runtime: dict = RUNTIME) -> str:
    """The sha256 of the page's files and the pinned runtime: what the app's id holds beside its models,
    so a changed page reaches existing runs."""
    digest = hashlib.sha256(json.dumps(runtime, sort_keys=True).encode())
    for name in PAGE:
        digest.update(name.encode() + b"\0" + (WEB / name).read_bytes())
    return digest.hexdigest()


def write_app(folder: Path, title: str, labels: list[str], variants: list[dict], shipped: str,
              sure_above: dict | None, runtime: dict = RUNTIME, test_labels_edited: dict | None = None) -> Path:
    """Write the camera app into `folder` (which must not exist yet).

    Args:
      folder: where the app goes: index.html, app.js, app.css, sw.js, app.json, models/, and
        manifest.webmanifest with its icons (a phone's home screen).
      title: what the page calls the model.
      labels: the model's labels, in output order.
      variants: one {"name", "model" (the .tflite's path), "size_bytes", and optionally "accuracy" and
        "test_photos"} each, in the order the page offers them.
      shipped: the variant the page opens with.
      sure_above: poets.head.calibration.sure_above's record: the "not sure" threshold's default.
      runtime: the MediaPipe runtime the page loads (RUNTIME).
      test_labels_edited: {"relabelled", "excluded"}: test photos --label-fixes changed, said beside
        the accuracies (poets.core.label_fixes.test_label_edits).

    Returns the path of app.json.
    """
    folder = Path(folder)
    (folder / "models").mkdir(parents=True)
    for name in PAGE:
        shutil.copyfile(WEB / name, folder / name)
    offered = []
    for variant in variants:
        model = f"models/{variant['name']}.tflite"
        shutil.copyfile(variant["model"], folder / model)
        offered.append({**variant, "model": model})
    config = {"title": title, "labels": list(labels), "shipped": shipped, "variants": offered,
              "sure_above": sure_above, "runtime": runtime, "test_labels_edited": test_labels_edited}
    (folder / "app.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    _write_manifest(folder, title)
    return folder / "app.json"


def sri(path: Path) -> str:
    """The subresource-integrity string (sha384) of a file."""
    return sri_of(Path(path).read_bytes())


def sri_of(data: bytes) -> str:
    """The subresource-integrity string (sha384) of some bytes."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def local_runtime(directory: Path) -> Path:
    """The folder of a local copy of the pinned runtime: `directory` itself, or the package under
    its node_modules/ (where `npm install` puts it).

    Raises RuntimeMismatch, naming the folder and the file, when a file the page loads is missing
    or differs from the pinned one.
    """
    directory = Path(directory).expanduser()
    packages = {folder: json.loads((folder / "package.json").read_text(encoding="utf-8"))
                for folder in (directory / "node_modules" / RUNTIME["package"], directory)
                if (folder / "package.json").is_file()}
    found = next((folder for folder, package in packages.items() if package.get("name") == RUNTIME["package"]), None)
    if found is None:
        raise RuntimeMismatch(f"--web-runtime {directory}: no {RUNTIME['package']} there (no package.json of it); "
                              f"make one with: {INSTALL}")
    version = packages[found].get("version")
    if version != RUNTIME["version"]:
        raise RuntimeMismatch(f"--web-runtime {found}: it is version {version}; the page is pinned to "
                              f"{RUNTIME['version']}: {INSTALL}")
    for name, integrity in RUNTIME["files"].items():
        if not (found / name).is_file():
            raise RuntimeMismatch(f"--web-runtime {found}: {name} is missing; reinstall it: {INSTALL}")
        if sri(found / name) != integrity:
            raise RuntimeMismatch(f"--web-runtime {found}: {name} is not the file {RUNTIME['version']} publishes "
                                  f"(its sha384 differs); reinstall it: {INSTALL}")
    return found


def cached_runtime(cache: Path) -> Path:
    """The pinned runtime, fetched once from its CDN into `cache` (each file checked against its pinned
    sha384, a file that differs never kept) and taken from there after: for poets-app, never the pipeline."""
    import urllib.request

    from poets.core.failures import UserFailure

    folder = Path(cache).expanduser() / "web-runtime" / RUNTIME["version"]
    for name, integrity in RUNTIME["files"].items():
        path = folder / name
        if path.is_file() and sri(path) == integrity:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(f"{RUNTIME['cdn']}/{name}", timeout=60) as response:
                body = response.read()
        except OSError as error:
            raise UserFailure(f"cannot fetch the MediaPipe runtime from {RUNTIME['cdn']} ({error}); offline, "
                              f"give a local copy: {INSTALL}, then --web-runtime node_modules/{RUNTIME['package']}")
        if sri_of(body) != integrity:
            raise RuntimeMismatch(f"{RUNTIME['cdn']}/{name}: not the file {RUNTIME['version']} publishes (its sha384 "
                                  "differs); nothing was kept")
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(body)
        partial.replace(path)
    return folder


RUNTIME_PATH = "runtime"
ICONS = (192, 512)
PUBLISH = ("Publish it on any static HTTPS host, as it is: GitHub Pages (push the folder to a gh-pages branch), "
           "a bucket (aws s3 sync {folder} s3://BUCKET/ --acl public-read), Netlify (drag the folder in). "
           "Opened once there, it works offline and can be added to a phone's home screen.")


def export_app(app: Path, into: Path, runtime: Path) -> Path:
    """Write `app` (a camera app folder) into the new folder `into` with everything the page loads:
    the pinned runtime copied from `runtime` (a local_runtime() folder) under runtime/, a web app
    manifest with its icons, and offline.json, the files the service worker keeps. Returns `into`."""
    into = Path(into)
    if into.exists() and any(into.iterdir()):
        raise BadInput(f"--export {into}: the folder is not empty; give a new one")
    shutil.copytree(app, into, dirs_exist_ok=True)
    for name in RUNTIME["files"]:
        (into / RUNTIME_PATH / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(runtime) / name, into / RUNTIME_PATH / name)
    config = json.loads((into / "app.json").read_text(encoding="utf-8"))
    (into / "app.json").write_text(json.dumps({**config, "runtime_path": RUNTIME_PATH}, indent=1) + "\n",
                                   encoding="utf-8")
    files = sorted(path.relative_to(into).as_posix() for path in into.rglob("*") if path.is_file())
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0" + (into / name).read_bytes())
    offline = {"version": digest.hexdigest()[:16], "files": ["./", *files]}
    (into / "offline.json").write_text(json.dumps(offline, indent=1) + "\n", encoding="utf-8")
    return into


def _write_manifest(folder: Path, title: str):
    from PIL import Image, ImageDraw

    icons = []
    for size in ICONS:
        image = Image.new("RGB", (size, size), (34, 113, 177))
        draw, r = ImageDraw.Draw(image), size / 8
        for dx, dy in ((0, -1), (1, 0), (0, 1), (-1, 0)):  # four petals round a centre: a flower
            x, y = size / 2 + dx * 1.3 * r, size / 2 + dy * 1.3 * r
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255))
        draw.ellipse((size / 2 - r, size / 2 - r, size / 2 + r, size / 2 + r), fill=(240, 180, 41))
        image.save(folder / f"icon-{size}.png")
        icons.append({"src": f"icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"})
    manifest = {"name": f"Camera: {title}", "short_name": "Camera", "start_url": "./", "scope": "./",
                "display": "standalone", "background_color": "#f6f7f7", "theme_color": "#2271b1", "icons": icons}
    (folder / "manifest.webmanifest").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def serve(app: Path, host: str = "127.0.0.1", port: int = 0, runtime: Path | None = None, quiet: bool = True,
          tls=None, names: tuple[str, ...] = ()):
    """Serve the app folder `app` over HTTP (HTTPS with the ssl context `tls`) in a background
    thread, answering to the host `names` too; with `runtime` (a local_runtime() folder), serve it
    under /runtime/ too. Returns (the server, the URL to open: with ?runtime=runtime when the
    runtime is served here)."""
    import functools

    class Handler(serving.LocalHandler):
        speaker = "poets-app"

        def translate_path(self, path):
            prefix = f"/{RUNTIME_PATH}/"
            if runtime is not None and path.startswith(prefix):
                return serving.under(runtime, path[len(prefix):])
            return super().translate_path(path)

    Handler.quiet = quiet

    server, url = serving.start(functools.partial(Handler, directory=str(app)), host, port, tls, names)
    return server, url + (f"?runtime={RUNTIME_PATH}" if runtime else "")
