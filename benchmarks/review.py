"""The review page on the flower photos' check: every flagged photo decided by keyboard in headless
Chromium, the decisions saved, and the next run reading them.

    .venv/bin/python benchmarks/review.py [--data ../shared/data] [--architecture mobilenet_0.75_224]
                                          [--data-dir DIR]

It makes the run's CheckPhotos in --data-dir (a fresh one by default; give a
run's to reuse it), serves `poets-review`'s page for it, and presses one key a
photo as a scripted reviewer: `s` (the suggestion) where the model is at
least SURE of another class, Enter (keep) elsewhere, twice where the page asks
(a test photo). It measures each decision, from the key to the next photo
shown, saves, then runs MobileModel with --label-fixes and reads what the run
says of the test labels. Prints a table and writes
benchmarks/results/review.json.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from runs import ROOT, base_model_url, dataset_url, luigi, mobile_model, parser

# What the page shows a check: a copy of its state (its own state stays the page's).
REVIEW = "window.poetsReview.snapshot()"

SURE = 0.9


def decide_all(url):
    """Press through every photo; returns (decisions {path: key}, ms a decision, test photos asked twice)."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from tests.browser import launch

    decisions, times, asked = {}, [], 0
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function(f"{REVIEW}.ready", timeout=60_000)
        for step in range(page.evaluate(f"{REVIEW}.total")):
            item = page.evaluate(f"{REVIEW}.current")
            sure = [r for r in item["reasons"] if r["reason"] == "label" and r["why"].split("%")[0].isdigit()
                    and int(r["why"].split("%")[0]) >= 100 * SURE]
            key = "s" if sure and item["suggested"] else "Enter"
            started = time.perf_counter()
            page.keyboard.press(key)
            if page.evaluate(f"{REVIEW}.pending"):
                asked += 1
                page.keyboard.press(key)
            page.wait_for_function(f"{REVIEW}.decided === {step + 1}")
            times.append(1000 * (time.perf_counter() - started))
            decisions[item["path"]] = key
        page.click("#save")
        page.wait_for_function(f"{REVIEW}.saved || {REVIEW}.error", timeout=10_000)
        saved = page.evaluate(f"{REVIEW}.saved")
        browser.close()
    return decisions, times, asked, saved


def main():
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--data-dir", help="a data dir whose CheckPhotos to reuse (default: a fresh one)")
    args = arguments.parse_args()
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="review-"))
    flags = ["--data-dir", str(data_dir), "--architecture", args.architecture, "--base-model-url",
             base_model_url(args), "--dataset-url", dataset_url(args), "--quantization-mode", "int8"]
    luigi([str(Path(sys.executable).parent / "luigi"), "--module", "workflows", "CheckPhotos", "--local-scheduler",
           *[f for f in flags if f not in ("--quantization-mode", "int8")]])
    from poets.apps import review
    from tasks.check_photos import CheckPhotos
    from workflows.review import prepare

    out = data_dir.parent / "review_fixes.csv"
    out.unlink(missing_ok=True)  # a review from scratch: the page would start from an earlier one's fixes
    check = mobile_model(flags).clone(CheckPhotos)
    page, photos, dataset = prepare(check, flags, out)
    server, url = review.serve(page, photos, out, dataset)
    decisions, times, asked, saved = decide_all(url)
    server.shutdown()
    seconds = luigi([str(Path(sys.executable).parent / "luigi"), "--module", "workflows", "MobileModel",
                     "--local-scheduler", *flags, "--label-fixes", str(out)])
    summary = json.loads(mobile_model(flags + ["--label-fixes", str(out)]).summary.read_text())
    result = {"architecture": args.architecture, "photos_to_check": len(decisions),
              "took_the_suggestion": sum(key == "s" for key in decisions.values()),
              "test_photos_asked_twice": asked, "fixes_saved": saved["fixes"],
              "ms_a_decision": {"median": float(np.median(times)), "p90": float(np.percentile(times, 90))},
              "next_run_s": seconds, "test_labels_edited": summary["test_labels_edited"],
              "optimized_accuracy": summary["variants"]["optimized"]["accuracy"]}
    print("| photos decided | suggestions taken | test photos asked twice | fixes saved | ms a decision "
          "(median, p90) | next run | test labels edited |\n|---|---|---|---|---|---|---|")
    print(f"| {result['photos_to_check']} | {result['took_the_suggestion']} | {asked} | {saved['fixes']} | "
          f"{result['ms_a_decision']['median']:.0f}, {result['ms_a_decision']['p90']:.0f} | {seconds:.0f} s | "
          f"{summary['test_labels_edited']} |")
    out_json = ROOT / "benchmarks" / "results" / "review.json"
    out_json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {out_json}")


if __name__ == "__main__":
    main()
