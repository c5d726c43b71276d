"""The camera app in headless Chromium on the flower model: speed per variant, and agreement
with MediaPipe Python.

    .venv/bin/python benchmarks/camera_app.py [--data ../shared/data] [--architecture mobilenet_0.75_224]
        [--data-dir /tmp/poets-camera] [--seconds 10] [--camera-photos 20]
    .venv/bin/python benchmarks/camera_app.py --page-against REV [--rounds 3]   # this page against REV's

Runs MobileModel on the flower photos with --quantization-mode dynamic_range and int8 (the float
model comes with both), then puts the three TFLite variants (optimized, dynamic_range, int8) in one
camera app and opens it in Debian's Chromium, with the runtime from node_modules (`npm ci`):

- speed: the fake camera plays test photos at 30 frames a second; for each variant, the frames
  classified a second and the median ms a frame over --seconds, side by side in one browser;
- photos: every test photo given through the file input, each variant's top-1 label against
  MediaPipe Python's (`vision.ImageClassifier`) on the same file and model;
- camera: --camera-photos test photos each shown alone to the fake camera (a browser each), the
  shipped variant's label of the frames against MediaPipe Python's of the frame as the video shows it.

Prints a table and writes benchmarks/results/camera_app[_ARCHITECTURE].json.

With --page-against REV, only speed, of this page against the page of git revision REV: the same
models and app.json in two app folders, their int8 frames a second measured alternately (old, new,
old, new, ...) --rounds times in one browser, so the machine's drift falls on both; prints each
round and the ratio of the medians, and writes benchmarks/results/camera_page[_ARCHITECTURE].json.
"""

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runs import ROOT, base_model_url, dataset_url, luigi, mobile_model, parser, results_path

sys.path.insert(0, str(ROOT))  # tests/browser.py: Chromium with a fake camera

from PIL import Image  # noqa: E402

from poets.apps.camera_app import PAGE, RUNTIME, local_runtime, serve, write_app  # noqa: E402
from poets.models.clients import mediapipe_probabilities  # noqa: E402
from tasks.artifact import check_intact  # noqa: E402
from tests.browser import launch, write_y4m  # noqa: E402

VARIANTS = ("optimized", "dynamic_range", "int8")
RUNTIME_DIR = ROOT / "node_modules" / RUNTIME["package"]
# What the page shows checks: its snapshot(); a page from before it (--page-against) kept it on window.poetsApp.
APP = "(window.poetsApp.snapshot ? window.poetsApp.snapshot() : window.poetsApp)"
READY = f"{APP}.ready || {APP}.error"


def runs(args):
    """The MobileModel tasks of the two runs, made if need be: {mode: task}."""
    made = {}
    for mode in ("dynamic_range", "int8"):
        flags = ["--data-dir", args.data_dir, "--dataset-url", dataset_url(args), "--base-model-url",
                 base_model_url(args), "--architecture", args.architecture, "--quantization-mode", mode]
        seconds = luigi([".venv/bin/luigi", "--module", "workflows", "MobileModel", "--local-scheduler", *flags])
        print(f"MobileModel --quantization-mode {mode}: {seconds:.0f} s", flush=True)
        made[mode] = mobile_model(flags)
    return made


def combined_app(tasks, folder):
    """One app offering the three variants, from the two runs' apps; returns (its folder, labels,
    the test photos [(path, label)], the dataset's photos folder)."""
    models, accuracy = {}, {}
    for task in tasks.values():
        app = Path(json.loads(task.summary.read_text())["camera_app"]["path"])
        config = json.loads((app / "app.json").read_text())
        for variant in config["variants"]:
            models[variant["name"]], accuracy[variant["name"]] = app / variant["model"], variant["accuracy"]
    variants = [{"name": name, "model": models[name], "size_bytes": models[name].stat().st_size,
                 "accuracy": accuracy[name]} for name in VARIANTS]
    write_app(folder, title=config["title"], labels=config["labels"], variants=variants, shipped="int8",
              sure_above=config["sure_above"])
    int8 = tasks["int8"]
    photos = check_intact(int8.requires()["dataset"]) / "photos"
    return folder, config["labels"], int8.requires()["evaluate"]["optimized"].photos(), photos


def camera_video(files, work: Path) -> Path:
    """The fake camera's video every speed is measured on: the first 20 test photos, half a second each."""
    camera = work / "camera.y4m"
    write_y4m(files[:20], camera, frames_each=15)
    return camera


def open_page(browser, url, variant):
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function(READY, timeout=120_000)
    if page.evaluate(f"{APP}.variant") != variant:
        page.select_option("#variant", variant)
        page.wait_for_function(f"{APP}.variant === '{variant}' && {APP}.ready", timeout=120_000)
    return page


def speed(browser, url, variant, seconds):
    """(frames a second, median ms a frame) of the camera, after a second of warm-up."""
    page = open_page(browser, url, variant)
    page.wait_for_function(f"{APP}.frames >= 10", timeout=60_000)
    time.sleep(1)
    start_frames, started, times = page.evaluate(f"{APP}.frames"), time.monotonic(), []
    while time.monotonic() - started < seconds:
        times.append(page.evaluate(f"{APP}.last.ms"))
        time.sleep(0.05)
    fps = (page.evaluate(f"{APP}.frames") - start_frames) / (time.monotonic() - started)
    page.close()
    return fps, statistics.median(times)


def photo_agreement(browser, url, variant, files, labels, model):
    """(top-1 agreement with MediaPipe Python, photos, median ms a photo in the browser)."""
    page = open_page(browser, url, variant)
    page.set_input_files("#files", [str(f) for f in files])
    page.wait_for_function(f"{APP}.results.length === {len(files)}", timeout=600_000)
    results = page.evaluate(f"{APP}.results")
    page.close()
    python = mediapipe_probabilities(model, files, labels).argmax(axis=1)
    same = sum(r["categories"][0]["label"] == labels[p] for r, p in zip(results, python))
    return same / len(files), len(files), statistics.median(r["ms"] for r in results)


def camera_agreement(playwright, url, files, labels, model, folder):
    """Each photo alone on the fake camera: (share of photos whose frames the app labels as Python labels
    the frame, photos)."""
    same = 0
    for index, photo in enumerate(files):
        shown = write_y4m([photo], folder / f"camera{index}.y4m", frames_each=10)
        Image.fromarray(shown[0]).save(folder / f"frame{index}.png")
        expected = labels[mediapipe_probabilities(model, [folder / f"frame{index}.png"], labels)[0].argmax()]
        browser = launch(playwright, camera=folder / f"camera{index}.y4m")
        page = open_page(browser, url, "int8")
        page.wait_for_function(f"{APP}.frames >= 5", timeout=60_000)
        same += page.evaluate(f"{APP}.last.categories[0].label") == expected
        browser.close()
    return same / len(files), len(files)


# Where the page's files have lived: poets/web/ until poets/ moved into subpackages.
PAGE_FOLDERS = ("poets/apps/web", "poets/web")


def page_of(revision: str, app: Path, into: Path) -> Path:
    """A copy of the app folder `app` with the page's files as they were at git `revision`
    (those it had: an older page has no service worker)."""
    def shown(name):
        for folder in PAGE_FOLDERS:
            found = subprocess.run(["git", "show", f"{revision}:{folder}/{name}"], cwd=ROOT, capture_output=True)
            if found.returncode == 0:
                return found.stdout
        return None

    if shown("index.html") is None:
        sys.exit(f"--page-against {revision}: no camera app page there (in {' or '.join(PAGE_FOLDERS)})")
    shutil.copytree(app, into)
    for name in PAGE:
        (into / name).unlink(missing_ok=True)
        if (page := shown(name)) is not None:
            (into / name).write_bytes(page)
    return into


def page_against(args, browser, app: Path, work: Path, runtime: Path):
    """int8 frames a second of REV's page and this one, alternately: {"old": [...], "new": [...]}."""
    old = page_of(args.page_against, app, work / "old")
    servers = {"old": serve(old, runtime=runtime), "new": serve(app, runtime=runtime)}
    rounds = {"old": [], "new": []}
    for round_ in range(args.rounds):
        for which in ("old", "new"):
            fps, ms = speed(browser, servers[which][1], "int8", args.seconds)
            rounds[which].append(fps)
            print(f"round {round_ + 1}, {which} page: {fps:.1f} frames/s, {ms:.1f} ms a frame", flush=True)
    for server, _ in servers.values():
        server.shutdown()
    return rounds


def compare_pages(args, tasks, work):
    from playwright.sync_api import sync_playwright

    app, _, test, photos = combined_app(tasks, work / "app")
    camera = camera_video([photos / path for path, _ in test], work)
    with sync_playwright() as playwright:
        browser = launch(playwright, camera=camera)
        rounds = page_against(args, browser, app, work, local_runtime(RUNTIME_DIR))
        browser.close()
    old, new = statistics.median(rounds["old"]), statistics.median(rounds["new"])
    print(f"\nint8 frames a second, median of {args.rounds} rounds each, run alternately: {args.page_against}'s page "
          f"{old:.1f}, this page {new:.1f}: {new / old:.2f}x")
    result = {"architecture": args.architecture, "against": args.page_against,
              "revision": subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                                         text=True).stdout.strip(),
              "variant": "int8", "seconds_measured": args.seconds, "rounds": rounds,
              "old_frames_a_second": old, "new_frames_a_second": new, "ratio": new / old}
    results_path("camera_page", args.architecture).write_text(json.dumps(result, indent=1) + "\n")


def main():
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "poets-camera"))
    arguments.add_argument("--seconds", type=float, default=10)
    arguments.add_argument("--camera-photos", type=int, default=20)
    arguments.add_argument("--page-against", metavar="REV",
                           help="only speed: this page against git revision REV's, run alternately")
    arguments.add_argument("--rounds", type=int, default=3)
    args = arguments.parse_args()
    from playwright.sync_api import sync_playwright

    tasks = runs(args)
    work = Path(tempfile.mkdtemp(prefix="camera-bench-"))
    if args.page_against:
        return compare_pages(args, tasks, work)
    app, labels, test, photos = combined_app(tasks, work / "app")
    files = [photos / path for path, _ in test]
    server, url = serve(app, runtime=local_runtime(RUNTIME_DIR))
    camera = camera_video(files, work)
    table = {}
    with sync_playwright() as playwright:
        browser = launch(playwright, camera=camera)
        for variant in VARIANTS:
            fps, ms = speed(browser, url, variant, args.seconds)
            agreement, count, photo_ms = photo_agreement(browser, url, variant, files, labels,
                                                         app / "models" / f"{variant}.tflite")
            table[variant] = {"frames_a_second": fps, "ms_a_frame": ms, "photo_agreement": agreement,
                              "photos": count, "ms_a_photo": photo_ms,
                              "size_bytes": (app / "models" / f"{variant}.tflite").stat().st_size}
            print(f"{variant}: {fps:.1f} frames/s, {ms:.1f} ms a frame, top-1 agreement {agreement:.3f} "
                  f"on {count} photos", flush=True)
        browser.close()
        camera_same, camera_count = camera_agreement(playwright, url, files[:args.camera_photos], labels,
                                                     app / "models" / "int8.tflite", work)
    server.shutdown()
    float_ms = table["optimized"]["ms_a_frame"]
    print(f"\n{'variant':<14} {'MB':>6} {'frames/s':>9} {'ms/frame':>9} {'vs float':>9} {'agreement':>10}")
    for variant, row in table.items():
        print(f"{variant:<14} {row['size_bytes'] / 1e6:>6.2f} {row['frames_a_second']:>9.1f} "
              f"{row['ms_a_frame']:>9.1f} {row['ms_a_frame'] / float_ms:>8.2f}x {row['photo_agreement']:>10.3f}")
    print(f"camera frames (int8): {camera_same:.3f} of {camera_count} photos labelled as MediaPipe Python "
          f"labels the frame; the camera plays 30 frames a second")
    result = {"architecture": args.architecture, "variants": table, "camera_agreement": camera_same,
              "camera_photos": camera_count, "camera_frames_a_second": 30, "runtime": RUNTIME["version"],
              "seconds_measured": args.seconds}
    results_path("camera_app", args.architecture).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
