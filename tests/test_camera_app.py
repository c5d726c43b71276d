"""The camera app in a real browser: Debian's Chromium, its fake camera showing generated photos,
the app's labels against MediaPipe Python's on the same model."""

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from poets.apps.camera_app import RUNTIME, RuntimeMismatch, local_runtime, serve
from poets.models.clients import mediapipe_probabilities
from tests.browser import chromium, launch, write_y4m
from tests.helpers import flags, fresh, summary_of

# What the page shows a check: a copy of its state (its own state stays the page's).
APP = "window.poetsApp.snapshot()"

ROOT = Path(__file__).parents[1]
# `npm ci` at the project root installs it (.ci/run does); POETS_WEB_RUNTIME names another copy.
RUNTIME_DIR = Path(os.environ.get("POETS_WEB_RUNTIME", ROOT / "node_modules" / RUNTIME["package"]))
# CI sets POETS_REQUIRE_BROWSER=1: there a missing browser or runtime fails instead of skipping.
REQUIRED = os.environ.get("POETS_REQUIRE_BROWSER") == "1"
MISSING = [what for what, there in (("chromium (apt-get install chromium)", chromium()),
                                    ("the MediaPipe runtime (npm ci)", RUNTIME_DIR.is_dir())) if not there]
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the test extras install it
    sync_playwright = None
    MISSING.append("playwright (pip install -e '.[test]')")

if MISSING and REQUIRED:
    raise RuntimeError(f"POETS_REQUIRE_BROWSER=1 but missing: {', '.join(MISSING)}")
browser_needed = pytest.mark.skipif(bool(MISSING), reason=f"missing: {', '.join(MISSING)}")


def in_browser(test):
    """A test in Chromium: skipped where it is missing, and in the slow part (it starts a browser)."""
    return pytest.mark.slow(browser_needed(test))
READY = f"{APP}.ready || {APP}.error"


@pytest.fixture(scope="module")
def app(completed):
    """The completed run's camera app, served with the local runtime: (app folder, URL, summary)."""
    params, _ = completed
    summary = summary_of(params)
    folder = Path(summary["camera_app"]["path"])
    server, url = serve(folder, runtime=local_runtime(RUNTIME_DIR))
    yield folder, url, summary
    server.shutdown()


@pytest.fixture(scope="module")
def photos(flowers, tmp_path_factory):
    """Two generated photos of each class, and the camera's video of one sunflower photo."""
    chosen = [path for label in ("roses", "sunflowers", "bluebells")
              for path in sorted((flowers["photos"] / label).glob(f"{label}_00[12].jpg"))]
    folder = tmp_path_factory.mktemp("camera")
    shown = write_y4m([flowers["photos"] / "sunflowers" / "sunflowers_003.jpg"], folder / "camera.y4m")
    Image.fromarray(shown[0]).save(folder / "frame.png")
    return chosen, folder / "camera.y4m", folder / "frame.png"


@pytest.fixture(scope="module")
def playwright():
    if MISSING:
        pytest.skip(f"missing: {', '.join(MISSING)}")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chrome(playwright, photos):
    """A Chromium whose camera shows the sunflower photo."""
    browser = launch(playwright, camera=photos[1])
    yield browser
    browser.close()


@pytest.fixture
def page(app, chrome):
    """The app open in a page of its own, the model loaded."""
    page = chrome.new_page()
    page.goto(app[1])
    page.wait_for_function(READY, timeout=60_000)
    yield page
    page.close()


def python_labels(model: Path, photos: list[Path], labels: list[str]):
    scores = mediapipe_probabilities(model, photos, labels)
    return [labels[row.argmax()] for row in scores], scores


@in_browser
def test_photos_given_to_the_app_get_the_labels_mediapipe_python_gives(app, photos, page):
    folder, _, summary = app
    chosen = photos[0]
    assert page.evaluate(f"{APP}.error") is None
    assert page.evaluate(f"{APP}.variant") == summary["android"]["variant"]
    page.set_input_files("#files", [str(p) for p in chosen])
    page.wait_for_function(f"{APP}.results.length === {len(chosen)}", timeout=30_000)
    results = page.evaluate(f"{APP}.results")
    # A snapshot is a copy: a check that changes it changes nothing on the page.
    assert page.evaluate("(() => { const seen = window.poetsApp.snapshot(); seen.results.length = 0;"
                         " seen.ready = false; const now = window.poetsApp.snapshot();"
                         " return [now.results.length, now.ready]; })()") == [len(chosen), True]
    model = folder / "models" / f"{summary['android']['variant']}.tflite"
    expected, scores = python_labels(model, chosen, summary["labels"])
    assert [r["name"] for r in results] == [p.name for p in chosen]
    assert [r["categories"][0]["label"] for r in results] == expected
    # The browser resizes on WebGL, Python on the CPU: the tiny untrained base model of these tests
    # turns that into visible differences of score, never of label here.
    for result, row in zip(results, scores):
        top = result["categories"][0]
        assert abs(top["score"] - row[summary["labels"].index(top["label"])]) < 0.25
        assert len(result["categories"]) == 3 and result["ms"] > 0
    # Each photo is shown with its answer.
    assert page.locator("#photos > li").count() == len(chosen)
    assert page.locator("#photos > li p").first.inner_text().startswith(expected[0])


@in_browser
def test_the_camera_shows_the_label_mediapipe_python_gives_the_photo_it_sees(app, photos, page):
    folder, _, summary = app
    page.wait_for_function(f"{APP}.frames >= 5", timeout=30_000)
    last = page.evaluate(f"{APP}.last")
    model = folder / "models" / f"{summary['android']['variant']}.tflite"
    expected, _ = python_labels(model, [photos[2]], summary["labels"])
    assert page.evaluate(f"{APP}.camera") == "on"
    assert last["categories"][0]["label"] == expected[0] == "sunflowers"
    assert last["ms"] > 0 and page.locator("#answer").inner_text() == "sunflowers"
    assert "frames a second" in page.locator("#speed").inner_text()


def unsure_photo(photos, model, labels, folder):
    """A photo the model is unsure of (top score under 0.9 in MediaPipe Python): a rose photo faded
    into a bluebell one, the blend chosen from a few. The trained test model is sure of every real
    photo to the last float (a score of 1 stays sure at any threshold)."""
    rose, bluebell = (np.asarray(Image.open(photos[0][i]).convert("RGB"), np.float32) for i in (0, 4))
    for share in (0.5, 0.4, 0.6, 0.3, 0.7, 0.45, 0.55):
        path = folder / f"blend_{share}.png"
        Image.fromarray(np.rint(share * rose + (1 - share) * bluebell).astype(np.uint8)).save(path)
        _, [scores] = python_labels(model, [path], labels)
        if scores.max() < 0.9:
            return path
    pytest.fail("no blend of a rose and a bluebell left the test model unsure")


@in_browser
def test_below_the_threshold_the_app_says_not_sure(app, photos, playwright, tmp_path):
    folder, url, summary = app
    model = folder / "models" / f"{summary['android']['variant']}.tflite"
    photo = unsure_photo(photos, model, summary["labels"], tmp_path)
    write_y4m([photo], tmp_path / "unsure.y4m")
    browser = launch(playwright, camera=tmp_path / "unsure.y4m")
    try:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function(READY, timeout=60_000)
        sure_above = summary["camera_app"]["sure_above"]
        # Its default is the run's calibration: the lowest score that kept the held-out photos 90% right.
        assert float(page.input_value("#threshold")) == pytest.approx(round(sure_above["threshold"], 2))
        page.set_input_files("#files", [str(photo)])
        page.wait_for_function(f"{APP}.results.length >= 1 && {APP}.last", timeout=30_000)
        page.fill("#threshold", "0")  # a range input: fill sets its value and fires 'input'
        # The camera stopped, no frame comes after the threshold's change: the answer on screen follows it.
        page.click("#camera-toggle")
        assert page.evaluate(f"{APP}.camera") == "off"
        assert page.evaluate(f"{APP}.last.sure")
        assert not page.locator("#answer").inner_text().startswith("not sure")
        page.fill("#threshold", "1")
        assert not page.evaluate(f"{APP}.last.sure")
        assert not any(result["sure"] for result in page.evaluate(f"{APP}.results"))
        assert page.locator("#answer").inner_text().startswith("not sure")
        assert page.locator("#photos > li p").first.inner_text().startswith("not sure")
    finally:
        browser.close()


@in_browser
def test_switching_the_model_relabels_the_photos_with_the_other_variant(app, photos, page):
    folder, _, summary = app
    others = [name for name in summary["camera_app"]["variants"] if name != summary["android"]["variant"]]
    assert others, "the app offers the float model and the quantized one"
    page.set_input_files("#files", [str(p) for p in photos[0][:2]])
    page.select_option("#variant", others[0])
    page.wait_for_function(f"{APP}.variant === '{others[0]}' && {APP}.ready", timeout=30_000)
    page.wait_for_function(f"{APP}.results.length >= 2", timeout=30_000)
    results = page.evaluate(f"{APP}.results")
    named = {r["name"]: r["categories"][0]["label"] for r in results}
    expected, _ = python_labels(folder / "models" / f"{others[0]}.tflite", photos[0][:2], summary["labels"])
    assert [named[p.name] for p in photos[0][:2]] == expected
    page.wait_for_function(f"{APP}.frames >= 3", timeout=30_000)  # the camera goes on


def open_app(playwright, url, blocked=(), **launched):
    """(the app's state once ready or failed, its camera line, its status line) in a fresh Chromium."""
    chrome = launch(playwright, **launched)
    try:
        page = chrome.new_page()
        for pattern in blocked:
            page.route(pattern, lambda route: route.abort("internetdisconnected"))
        page.goto(url)
        page.wait_for_function(READY, timeout=60_000)
        page.wait_for_function(f"{APP}.camera !== 'off' || {APP}.error", timeout=30_000)
        state = page.evaluate(f"{APP}")
        return state, page.locator("#camera-status").inner_text(), page.locator("#status").inner_text()
    finally:
        chrome.close()


@in_browser
def test_a_refused_camera_is_said_plainly_and_photos_still_work(app, photos, playwright):
    state, camera, _ = open_app(playwright, app[1], camera=photos[1], grant_camera=False)
    assert state["ready"] and state["camera"] == "refused"
    assert "camera was refused" in camera and "photos still work" in camera


@in_browser
def test_no_camera_is_said_plainly(app, playwright):
    state, camera, _ = open_app(playwright, app[1])
    assert state["ready"] and state["camera"] in ("absent", "refused")
    assert ("No camera was found" in camera) or ("camera was refused" in camera)


@in_browser
def test_an_unreachable_runtime_is_said_plainly(app, playwright):
    folder, _, _ = app
    server, url = serve(folder)  # the page loads the runtime from the CDN, here unreachable
    try:
        state, _, status = open_app(playwright, url, blocked=[f"{RUNTIME['cdn']}/**"])
    finally:
        server.shutdown()
    assert not state["ready"] and state["runtime"] == "unreachable"
    assert "The MediaPipe runtime did not load" in status and RUNTIME["cdn"] in status
    assert "--web-runtime" in status and RUNTIME["version"] in status


@in_browser
def test_a_runtime_with_other_bytes_is_refused_by_the_browser(app, playwright, tmp_path):
    folder, _, _ = app
    copy = shutil.copytree(local_runtime(RUNTIME_DIR), tmp_path / "runtime")
    with open(copy / "vision_bundle.mjs", "a") as bundle:
        bundle.write("\n// changed\n")
    with pytest.raises(RuntimeMismatch, match=r"vision_bundle\.mjs is not the file 1\.1\.0 publishes"):
        local_runtime(copy)
    server, url = serve(folder, runtime=copy)  # past the check: the browser's integrity check remains
    try:
        state, _, status = open_app(playwright, url)
    finally:
        server.shutdown()
    assert not state["ready"] and "vision_bundle.mjs" in status and "sha384 differs" in status


def poets_app(*args):
    """Start poets-app (it prints two lines, the second with the URL)."""
    return subprocess.Popen([sys.executable, "-m", "workflows.app", "--no-browser", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_poets_app_serves_the_app_of_a_runs_flags(completed):
    params, _ = completed
    given = flags(params)
    process = poets_app(*given, "--web-runtime", str(RUNTIME_DIR)) if RUNTIME_DIR.is_dir() else poets_app(*given)
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        url = lines[1].split()[1]
        assert url.startswith("http://127.0.0.1:")
        config = json.loads(urllib.request.urlopen(url.split("?")[0] + "app.json", timeout=10).read())
        summary = summary_of(params)
        assert config["shipped"] == summary["android"]["variant"]
        assert [v["name"] for v in config["variants"]] == summary["camera_app"]["variants"]
        assert config["sure_above"] == summary["camera_app"]["sure_above"]
        model = urllib.request.urlopen(url.split("?")[0] + config["variants"][0]["model"], timeout=10)
        assert model.headers["Content-Type"] == "application/octet-stream"
        if RUNTIME_DIR.is_dir():
            assert url.endswith("?runtime=runtime")
            wasm = urllib.request.urlopen(url.split("?")[0] + "runtime/wasm/vision_wasm_internal.wasm", timeout=10)
            assert wasm.headers["Content-Type"] == "application/wasm"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_poets_app_makes_an_app_of_one_export(completed):
    params, _ = completed
    export = Path(summary_of(params)["android"]["model"]).parents[1]
    process = poets_app(str(export), "--host", "0.0.0.0")
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        url = lines[1].split()[1]
        # Served on every address, with the phone's rule said: the camera needs HTTPS or localhost.
        port = url.split(":")[2].rstrip("/")
        assert f"adb reverse tcp:{port} tcp:{port}" in lines[2] and "HTTPS" in lines[2]
        config = json.loads(urllib.request.urlopen(url + "app.json", timeout=10).read())
        assert [v["name"] for v in config["variants"]] == [config["shipped"]] and config["sure_above"] is None
        assert config["labels"] == summary_of(params)["labels"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_poets_app_says_in_one_line_what_is_missing(completed, tmp_path):
    params, _ = completed
    cases = [([str(tmp_path)], "no camera app there"),
             (["--data-dir", str(tmp_path / "empty"), "--dataset-url", "http://127.0.0.1:9/x.tgz"],
              "no finished run yet"),
             ([str(tmp_path), "--web-runtime", str(tmp_path)], "--web-runtime"),
             (["--architecture", "x"], "--architecture: 'x' is not valid")]
    for args, message in cases:
        result = subprocess.run([sys.executable, "-m", "workflows.app", "--no-browser", *args], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_apps_id_holds_its_page_files_and_the_runtime(tmp_path, monkeypatch):
    """A fixed app.js reaches runs made before it: the page's files are in CameraApp's id."""
    import poets.apps.camera_app
    from tasks.camera_app import CameraApp

    def app_id():
        fresh()
        return CameraApp(data_dir=str(tmp_path / "data")).artifact_id

    before, original = app_id(), poets.apps.camera_app.WEB
    assert app_id() == before
    page = tmp_path / "web"
    shutil.copytree(poets.apps.camera_app.WEB, page)
    monkeypatch.setattr(poets.apps.camera_app, "WEB", page)
    assert app_id() == before
    (page / "app.js").write_text((page / "app.js").read_text() + "\n// fixed\n")
    assert app_id() != before
    monkeypatch.setattr(poets.apps.camera_app, "WEB", original)
    monkeypatch.setitem(poets.apps.camera_app.RUNTIME, "version", "9.9.9")
    assert app_id() != before


@in_browser
def test_edited_test_labels_are_said_beside_the_apps_accuracies(app, playwright, tmp_path):
    folder, _, _ = app
    edited = tmp_path / "app"
    shutil.copytree(folder, edited)
    config = json.loads((edited / "app.json").read_text())
    (edited / "app.json").write_text(json.dumps({**config, "test_labels_edited": {"relabelled": 2, "excluded": 1}}))
    server, url = serve(edited, runtime=local_runtime(RUNTIME_DIR))
    browser = launch(playwright)
    try:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function(READY, timeout=60_000)
        assert page.is_visible("#edited")
        assert page.inner_text("#edited").startswith("Test labels edited: 3 (2 relabelled, 1 excluded")
        options = page.locator("#variant option").all_inner_texts()
        assert options and all("on the test photos (test labels edited)" in text for text in options)
        # The run's own app, with no edits, says nothing of them.
        page.goto(app[1])
        page.wait_for_function(READY, timeout=60_000)
        assert not page.is_visible("#edited")
    finally:
        browser.close()
        server.shutdown()


@in_browser
def test_the_exported_app_labels_the_camera_and_photos_offline_once_opened(app, photos, playwright, tmp_path):
    """poets-app --export: the folder holds everything the page loads; served by a plain static server and
    opened once, it keeps itself (a service worker), and with that server gone, a reload still labels the
    camera's frame and a photo as before."""
    import functools
    import http.server
    import threading

    from poets.apps.camera_app import export_app
    from tests.helpers import QuietHandler

    folder, _, summary = app
    site = export_app(folder, tmp_path / "site", local_runtime(RUNTIME_DIR))
    assert (site / "runtime" / "vision_bundle.mjs").is_file() and (site / "manifest.webmanifest").is_file()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    browser = launch(playwright, camera=photos[1])
    try:
        page = browser.new_context().new_page()
        page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/")
        page.wait_for_function(READY, timeout=60_000)
        assert page.evaluate(f"{APP}.error") is None
        page.wait_for_function(f"{APP}.offline === 'kept'", timeout=60_000)
        page.wait_for_function(f"{APP}.last", timeout=30_000)
        online = page.evaluate(f"{APP}.last.categories[0].label")
        page.set_input_files("#files", [str(photos[0][0])])
        page.wait_for_function(f"{APP}.results.length === 1", timeout=30_000)
        photo = page.evaluate(f"{APP}.results[0].categories[0].label")
        httpd.shutdown()
        httpd.server_close()
        page.reload()
        page.wait_for_function(READY, timeout=60_000)
        assert page.evaluate(f"{APP}.error") is None
        page.wait_for_function(f"{APP}.last", timeout=30_000)
        assert page.evaluate(f"{APP}.last.categories[0].label") == online
        page.set_input_files("#files", [str(photos[0][0])])
        page.wait_for_function(f"{APP}.results.length === 1", timeout=30_000)
        assert page.evaluate(f"{APP}.results[0].categories[0].label") == photo
    finally:
        browser.close()
        httpd.server_close()


@in_browser  # (the runtime from npm, not the browser)
def test_an_export_goes_into_a_new_folder_only(app, tmp_path):
    from poets.apps.camera_app import export_app
    from poets.core.failures import BadInput

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("mine")
    with pytest.raises(BadInput, match="the folder is not empty"):
        export_app(app[0], tmp_path / "site", local_runtime(RUNTIME_DIR))
    assert (tmp_path / "site" / "index.html").read_text() == "mine"


# Chromium sends phone.test to loopback, nowhere else; the certificate is poets-app --lan's own.
PHONE_TEST = ("--host-resolver-rules=MAP phone.test 127.0.0.1", "--ignore-certificate-errors")


@in_browser
def test_under_a_host_name_the_camera_works_over_https_and_not_over_http(app, photos, playwright, tmp_path):
    """poets-app --lan's server, reached as a phone reaches it: by a name that is not localhost, on a 360x740
    touch screen. Over HTTPS (a self-signed certificate) the camera starts and its frame is labelled, the
    label in view without scrolling; over plain HTTP the browser gives no camera, the page says how to get
    one, and a photo is still labelled."""
    from poets.apps import lan

    folder, _, summary = app
    runtime = local_runtime(RUNTIME_DIR)
    tls = lan.tls_context(lan.certificate(tmp_path, ["phone.test"]))
    secure, secure_url = serve(folder, runtime=runtime, tls=tls, names=("phone.test",))
    plain, plain_url = serve(folder, runtime=runtime, names=("phone.test",))
    assert secure_url.startswith("https://phone.test:") and plain_url.startswith("http://phone.test:")
    browser = launch(playwright, camera=photos[1], flags=PHONE_TEST)
    try:
        phone = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
        page = phone.new_page()
        page.goto(secure_url)
        page.wait_for_function(READY, timeout=60_000)
        page.wait_for_function(f"{APP}.frames >= 5", timeout=30_000)
        assert page.evaluate("window.isSecureContext") and page.evaluate(f"{APP}.camera") == "on"
        expected, _ = python_labels(folder / "models" / f"{summary['android']['variant']}.tflite", [photos[2]],
                                    summary["labels"])
        assert page.evaluate(f"{APP}.last.categories[0].label") == expected[0]
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        answer = page.locator("#answer").bounding_box()
        assert answer["x"] >= 0 and answer["x"] + answer["width"] <= 360 and answer["y"] + answer["height"] <= 740

        page = phone.new_page()
        page.goto(plain_url)
        page.wait_for_function(READY, timeout=60_000)
        page.wait_for_function(f"{APP}.camera !== 'off'", timeout=30_000)
        assert not page.evaluate("window.isSecureContext") and page.evaluate(f"{APP}.camera") == "insecure"
        said = page.locator("#camera-status").inner_text()
        assert "only over HTTPS or on localhost" in said and "poets-app --lan" in said
        page.set_input_files("#files", [str(photos[0][0])])
        page.wait_for_function(f"{APP}.results.length === 1", timeout=30_000)
        assert page.evaluate(f"{APP}.results[0].categories[0].label") in summary["labels"]
    finally:
        browser.close()
        secure.shutdown()
        plain.shutdown()
