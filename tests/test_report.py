"""report.html: self-contained, and every figure in it is what the evaluations say."""

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from poets.reports.report import DOCS, Evaluation, write_html
from tests.helpers import make_photos
from workflows import MobileModel


class Page(HTMLParser):
    """The images, links and listed photos of a page, by gallery."""

    def __init__(self):
        super().__init__()
        self.sources, self.links, self.galleries, self.gallery, self.rows = [], [], {}, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.sources.append(attrs["src"])
        if tag == "a":
            self.links.append(attrs["href"])
        if tag == "div" and attrs.get("class") in ("mistakes", "disagreements"):
            self.gallery = self.galleries.setdefault(attrs["class"], [])
        if tag == "figure" and self.gallery is not None:
            self.gallery.append(attrs["data-photo"])

    def handle_endtag(self, tag):
        if tag == "div":
            self.gallery = None


def parse(page):
    parser = Page()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    return parser


def check_self_contained(page, parser):
    assert parser.sources
    for source in parser.sources:
        assert "http" not in source
        image = page.parent / source
        assert image.stat().st_size > 0
        with Image.open(image) as opened:
            assert opened.format in ("PNG", "JPEG")
            opened.verify()
    assert all(link == DOCS for link in parser.links if "http" in link)


def test_report_html_is_self_contained_and_lists_exactly_the_mistakes(completed):
    from tasks.evaluate import Evaluate

    params, _ = completed
    workflow = MobileModel(**params)
    page = Path(workflow.output().path, "report.html")
    parser = parse(page)
    check_self_contained(page, parser)
    summary = json.loads(workflow.summary.read_text())
    labels = summary["labels"]
    # Per-class figures, computed here from probabilities.npy.
    for name in summary["variants"]:
        evaluate = workflow.clone(Evaluate, variant=name)
        probabilities = np.load(evaluate.path("probabilities.npy"))
        truth = np.array([labels.index(label) for _, label in json.loads(evaluate.path("photos.json").read_text())])
        predicted = probabilities.argmax(axis=1)
        for i, label in enumerate(labels):
            figures = summary["variants"][name]["per_class"][label]
            right = int(((predicted == i) & (truth == i)).sum())
            assert figures["count"] == int((truth == i).sum())
            assert figures["recall"] == pytest.approx(right / (truth == i).sum())
            assert figures["precision"] == (pytest.approx(right / (predicted == i).sum()) if (predicted == i).any()
                                            else None)
    shipped = workflow.clone(Evaluate, variant=summary["android"]["variant"])
    photos = json.loads(shipped.path("photos.json").read_text())
    probabilities = np.load(shipped.path("probabilities.npy"))
    wrong = {path for (path, label), p in zip(photos, probabilities) if labels[p.argmax()] != label}
    assert sorted(parser.galleries.get("mistakes", [])) == sorted(wrong)
    optimized = np.load(workflow.clone(Evaluate, variant="optimized").path("probabilities.npy")).argmax(axis=1)
    rounded = np.load(workflow.clone(Evaluate, variant="weights_rounded").path("probabilities.npy")).argmax(axis=1)
    assert sorted(parser.galleries.get("disagreements", [])) == sorted(
        path for (path, _), a, b in zip(photos, optimized, rounded) if a != b)


def test_report_md_and_html_give_the_same_variants_table(completed):
    import html
    import re

    params, _ = completed
    folder = Path(MobileModel(**params).output().path)
    markdown = (folder / "report.md").read_text(encoding="utf-8").split("\n")
    first = next(i for i, line in enumerate(markdown) if line.startswith("| variant |"))
    lines = markdown[first:markdown.index("", first)]
    md_rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if not line.startswith("|---")]
    page = (folder / "report.html").read_text(encoding="utf-8")
    table = page[page.index("<h2>Variants</h2>"):]
    table = table[:table.index("</table>")]
    html_rows = [[html.unescape(cell).removesuffix(" (shipped)") for cell in re.findall(r"<t[hd]>(.*?)</t[hd]>", row)]
                 for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)]
    assert len(md_rows) == 4 and md_rows == html_rows
    assert "gzip saves" in md_rows[0]


def test_a_hundred_classes_and_a_class_without_test_photos_stay_readable(tmp_path):
    rng = np.random.default_rng(0)
    labels = [f"class_{i:03d}" for i in range(100)]
    photos_dir = make_photos(tmp_path / "photos", per_class=2, size=32)
    files = sorted(p.relative_to(photos_dir).as_posix() for p in photos_dir.rglob("*.jpg"))
    # 300 test photos over 99 classes: class_099 has none.
    photos = [(files[i % len(files)], labels[i % 99]) for i in range(300)]
    evaluations = {name: Evaluation(photos, rng.dirichlet(np.ones(100) * 0.1, 300).astype(np.float32))
                   for name in ("retrained", "optimized", "int8")}
    truth = np.array([labels.index(label) for _, label in photos])
    from poets.core.metrics import per_class

    variants = {name: {"accuracy": 0.5, "accuracy_interval": [0.4, 0.6], "cross_entropy": 1.0, "ece": 0.1,
                       "size_bytes": 1000, "gzip_bytes": 900,
                       "latency_s": 0.001, "agreement": 0.9,
                       "per_class": per_class(e.probabilities, truth, labels)} for name, e in evaluations.items()}
    summary = {"architecture": "mobilenet_0.25_128", "labels": labels, "variants": variants,
               "android": {"variant": "int8"}}
    training = {"best_step": 200, "history": [{"step": s, "train_accuracy": 0.5, "validation_accuracy": 0.4,
                                               "train_cross_entropy": 1.0, "validation_cross_entropy": 1.2}
                                              for s in (100, 200, 300)]}
    page = write_html(summary, tmp_path, evaluations, photos_dir, training, [{"photo": "a/x.jpg", "reason": "bad"}])
    parser = parse(page)
    check_self_contained(page, parser)
    assert len(parser.galleries["mistakes"]) == 48  # then a count
    text = page.read_text()
    assert "<td>class_099</td><td>no test photo</td>" in text and "and " in text and "a/x.jpg" in text
    size = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".html", ".png", ".jpg"))
    assert size < 3 * 2**20
