"""The review page in a real browser (Debian's Chromium): every flagged photo decided with the keyboard
alone, the decisions kept over a reload, saved as the --label-fixes file the next run reads."""

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from poets.apps import review
from tests.helpers import build, flags, fresh
from tests.test_camera_app import in_browser, playwright  # noqa: F401 (a fixture)
from workflows.review import prepare, without_fixes

# What the page shows a check: a copy of its state (its own state stays the page's).
REVIEW = "window.poetsReview.snapshot()"

ROOT = Path(__file__).parents[1]
# Each test reads a photo check made on the planted set (the base model runs): the slow part.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(checked, planted, tmp_path_factory):
    """The planted set's photos to check, served: (URL, the fixes file, review.json's content)."""
    out = tmp_path_factory.mktemp("review") / "fixes.csv"
    page, photos, dataset = prepare(checked, flags(planted["params"]), out)
    server, url = review.serve(page, photos, out, dataset)
    yield url, out, page
    server.shutdown()


def test_each_flagged_photo_is_one_item_grouped_by_its_first_reason(served, planted):
    _, _, page = served
    paths = [item["path"] for item in page["items"]]
    assert len(paths) == len(set(paths))
    reasons = [item["reasons"][0]["reason"] for item in page["items"]]
    assert reasons == sorted(reasons, key=["label", "duplicate", "off_topic"].index)
    items = {item["path"]: item for item in page["items"]}
    for path in planted["twins"]:
        assert items[path]["twins"] == sorted(planted["twins"] - {path})
    moved = next(path for path in planted["moved"] if path in items)
    assert items[moved]["suggested"] == "roses" and items[moved]["nearest_class"] == "roses"
    assert items[moved]["nearest"] and all(path.startswith("roses/") and path not in items
                                           for path in items[moved]["nearest"])
    assert page["command"].endswith(f"--label-fixes {page['out']}") and "--data-dir" in page["command"]


def test_the_server_saves_only_fixes_the_run_would_accept(served, planted):
    url, out, _ = served

    with urllib.request.urlopen(url + "review.json") as response:
        token = json.loads(response.read())["token"]

    def post(body):
        request = urllib.request.Request(url + "fixes", data=body.encode(), method="POST",
                                         headers={"X-Poets-Token": token})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    status, answer = post(f"path,label\n{planted['moved'][0]},orchids\n")
    assert status == 400 and "'orchids' is not a class" in answer["error"] and not out.exists()
    status, answer = post("path,label\nroses/not_there.jpg,roses\n")
    assert status == 400 and "is not a photo of the dataset" in answer["error"] and not out.exists()
    for outside in ("photos/../../../etc/passwd", "photos/roses/", "index.html"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + outside)  # out of the photos, a folder's listing, the camera app's page
        assert refused.value.code == 404, outside


def test_the_command_to_run_next_replaces_the_runs_own_fixes():
    assert without_fixes(["--a", "1", "--label-fixes", "old.csv", "--b"]) == ["--a", "1", "--b"]
    assert without_fixes(["--label-fixes=old.csv", "--a", "1"]) == ["--a", "1"]


def test_poets_review_without_a_photo_check_says_how_to_make_one(tmp_path):
    result = subprocess.run([sys.executable, "-m", "workflows.review", "--data-dir", str(tmp_path / "none"),
                             "--no-browser"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("poets-review: these flags have no photo check yet; make it first with: "
                                    "luigi --module workflows MobileModel --local-scheduler --data-dir")


def fixes_csv(decisions):
    """The --label-fixes CSV of {path: a class or "exclude"}, as the page writes it: sorted, only changes."""
    return "path,label\n" + "".join(f"{path},{label}\n" for path, label in sorted(decisions.items()))


def key_for(item, planted):
    """What a person decides for each planted photo: the moved roses take the suggestion, the stripes are
    excluded, the test twin too (a test photo: asked twice); every other photo keeps its label."""
    if item["path"] in planted["moved"] and item["suggested"] == "roses":
        return "s"
    if item["path"] == planted["off_topic"] or (item["path"] in planted["twins"] and item["split"] == "testing"):
        return "x"
    return "Enter"


@in_browser
def test_a_person_decides_every_photo_by_keyboard_and_the_next_run_uses_the_decisions(
        served, planted, playwright, tmp_path):  # noqa: F811 (playwright: the fixture imported above)
    from tasks.retrain import Retrain
    from tests.browser import launch

    url, out, page_data = served
    browser = launch(playwright)
    page = browser.new_page(accept_downloads=True)
    page.goto(url)
    page.wait_for_function(f"{REVIEW}.ready || {REVIEW}.error", timeout=30_000)
    total = page.evaluate(f"{REVIEW}.total")
    assert total == len(page_data["items"]) and total >= 5
    # A snapshot is a copy: a check that changes it decides nothing.
    assert page.evaluate("(() => { const seen = window.poetsReview.snapshot(); seen.current.label = 'x';"
                         f" seen.classes.length = 0; const now = {REVIEW};"
                         " return [now.current.label === 'x', now.classes.length, now.decided]; })()"
                         ) == [False, len(page_data["classes"]), 0]
    expected, warned = {}, {"relabelled": 0, "excluded": 0}
    for step in range(total):
        item = page.evaluate(f"{REVIEW}.current")
        key = key_for(item, planted)
        page.keyboard.press(key)
        if item["split"] == "testing" and key != "Enter":
            # A test photo: the first press only warns, and decides nothing.
            assert page.is_visible("#warning") and "test photo" in page.inner_text("#warning")
            assert page.evaluate(f"{REVIEW}.decided") == step
            warned["excluded" if key == "x" else "relabelled"] += 1
            page.keyboard.press(key)
        if key != "Enter":
            expected[item["path"]] = "roses" if key == "s" else "exclude"
        # Decided, and on to the next photo not decided yet.
        assert page.evaluate(f"{REVIEW}.decided") == step + 1
    assert warned["excluded"] >= 1  # the test twin (the stripes and a moved rose may be test photos too)
    assert page.inner_text("#progress").startswith(f"{total} of {total} decided")
    # A reload keeps every decision (local storage).
    page.reload()
    page.wait_for_function(f"{REVIEW}.ready", timeout=30_000)
    assert page.evaluate(f"{REVIEW}.decided") == total
    # Saved into the file, and the same CSV downloaded.
    page.click("#save")
    page.wait_for_function(f"{REVIEW}.saved || {REVIEW}.error", timeout=10_000)
    assert page.evaluate(f"{REVIEW}.saved.fixes") == len(expected)
    assert page.is_visible("#next") and page.inner_text("#command") == page_data["command"]
    with page.expect_download() as download:
        page.click("#download")
    assert Path(download.value.path()).read_text() == out.read_text() == fixes_csv(expected)
    browser.close()
    # The next run's labels are those decisions.
    fresh()
    params = {k: v for k, v in planted["params"].items() if k in Retrain.get_param_names()}
    task = Retrain(**params, label_fixes=str(out))
    build(task)
    photos = {path: label for split in json.loads(task.path("split.json").read_text()).values()
              for path, label in split}
    for path, decision in expected.items():
        assert photos.get(path) == (None if decision == "exclude" else decision), path
    assert task.test_label_edits() == warned


def test_saved_fixes_get_the_mode_any_new_file_gets_and_leave_nothing_beside(tmp_path):
    out, plain = tmp_path / "fixes.csv", tmp_path / "plain.csv"
    plain.write_text("")
    assert review.save_fixes(b"path,label\na/1.jpg,b\n", out, ["a/1.jpg", "a/2.jpg", "b/3.jpg"], ["a", "a", "b"],
                             ["a", "b"]) == 1
    assert out.stat().st_mode == plain.stat().st_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fixes.csv", "plain.csv"]


def go_to(page, path):
    """Move the review page to the photo `path` with the arrow keys."""
    total = page.evaluate(f"{REVIEW}.total")
    for _ in range(total):
        page.keyboard.press("ArrowLeft")
    for _ in range(total):
        if page.evaluate(f"{REVIEW}.current.path") == path:
            return
        page.keyboard.press("ArrowRight")
    raise AssertionError(f"{path} is not on the page")


@in_browser
def test_a_second_review_keeps_every_fix_of_the_first(served, planted, playwright):  # noqa: F811
    """The README's loop: review, run with the fixes, review again. The second page starts from the
    saved fixes (the photos still flagged show them decided) and saving it again loses none, though
    the run's labels now carry them."""
    from tasks.check_photos import CheckPhotos
    from tests.browser import launch

    url, out, page_data = served
    out.unlink(missing_ok=True)  # a first review from scratch (another test may have saved)
    items = {item["path"]: item for item in page_data["items"]}
    # A duplicate stays flagged whatever its label: relabel the training twin, and one more photo.
    twin = next(path for path in sorted(planted["twins"]) if items[path]["split"] != "testing")
    other = next(path for path, item in items.items() if path not in planted["twins"] and item["split"] != "testing")
    classes = page_data["classes"]
    relabel = {path: next(label for label in classes if label != items[path]["folder"]) for path in (twin, other)}
    browser = launch(playwright)
    first = browser.new_context().new_page()
    first.goto(url)
    first.wait_for_function(f"{REVIEW}.ready", timeout=30_000)
    for path, label in relabel.items():
        go_to(first, path)
        first.keyboard.press(str(classes.index(label) + 1))
    first.click("#save")
    first.wait_for_function(f"{REVIEW}.saved || {REVIEW}.error", timeout=10_000)
    assert out.read_text() == fixes_csv(relabel)
    # The run with those fixes, then its review, in a browser that remembers nothing of the first.
    fresh()
    check = CheckPhotos(**{k: v for k, v in planted["params"].items() if k in CheckPhotos.get_param_names()},
                        label_fixes=str(out))
    build(check)
    again, photos, dataset = prepare(check, flags(planted["params"]) + ["--label-fixes", str(out)], out)
    again_items = {item["path"]: item for item in again["items"]}
    assert again_items[twin]["label"] == relabel[twin] and again_items[twin]["folder"] == items[twin]["folder"]
    # The nearest photos shown are of the class by the run's labels, the fixes applied.
    for item in again["items"]:
        assert all(relabel.get(path, path.split("/")[0]) == item["nearest_class"] for path in item["nearest"])
    server, second_url = review.serve(again, photos, out, dataset)
    try:
        second = browser.new_context().new_page()
        second.goto(second_url)
        second.wait_for_function(f"{REVIEW}.ready", timeout=30_000)
        go_to(second, twin)
        assert second.inner_text("#decision") == f"Decided: keep {relabel[twin]}."
        assert f"its folder says {items[twin]['folder']}" in second.inner_text("#caption")
        second.click("#save")
        second.wait_for_function(f"{REVIEW}.saved || {REVIEW}.error", timeout=10_000)
        assert second.evaluate(f"{REVIEW}.saved.fixes") == len(relabel)
        assert out.read_text() == fixes_csv(relabel)
        # Deciding the folder's label takes the fix back out.
        second.keyboard.press(str(classes.index(items[twin]["folder"]) + 1))
        second.click("#save")
        second.wait_for_function(f"{REVIEW}.saved.fixes === {len(relabel) - 1}", timeout=10_000)
        assert out.read_text() == fixes_csv({other: relabel[other]})
    finally:
        server.shutdown()
        browser.close()
