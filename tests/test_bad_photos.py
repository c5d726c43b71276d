"""People's own photo folders: odd formats are read, broken files are skipped and listed,
datasets that cannot train fail early saying why."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from poets.core.images import UnusablePhoto, load_photo, split_of
from tasks.bottlenecks import Bottlenecks
from tasks.retrain import Retrain
from tests.helpers import FAST_TRAINING, TINY, build, build_failing, make_archive, make_photos, summary_of
from workflows import MobileModel

RNG = np.random.default_rng(5)


def photo(mode="RGB", size=(40, 30), colour=(200, 40, 60)):
    pixels = np.clip(np.array(colour) + RNG.normal(0, 10, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels).convert(mode) if mode != "RGB" else Image.fromarray(pixels)


def jpeg_bytes(image, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **kwargs)
    return buffer.getvalue()


def odd_files(folder):
    """Write every odd file into `folder`; return {name: expected reason fragment or None if usable}."""
    folder.mkdir(parents=True, exist_ok=True)
    good = jpeg_bytes(photo())
    files = {
        "corrupt.jpg": (b"\xff\xd8\xff\xe0" + bytes(RNG.integers(0, 256, 500, dtype=np.uint8)), "truncated file read"),
        "truncated.jpg": (good[: len(good) // 2], "truncated"),
        "empty.jpg": (b"", "cannot identify"),
        "notes.txt": (b"my flowers", "not a photo"),
        "Thumbs.db": (b"\0" * 64, "not a photo"),
        ".DS_Store": (b"\0" * 64, None),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    usable = {
        "png_named.jpg": lambda p: photo().save(p, "PNG"),
        "real.png": lambda p: photo().save(p),
        "anim.gif": lambda p: photo().save(p),
        "bitmap.bmp": lambda p: photo().save(p),
        "modern.webp": lambda p: photo().save(p),
        "cmyk.jpg": lambda p: photo("CMYK").save(p),
        "grey.jpg": lambda p: photo("L").save(p),
        "palette.png": lambda p: photo("P").save(p, transparency=0),
        "sixteen.png": lambda p: Image.fromarray((RNG.random((30, 40)) * 65535).astype(np.uint16)).save(p),
        "rgba.png": lambda p: photo("RGBA").save(p),
        "nested/deeper/inner.jpg": lambda p: photo().save(p),
        ".hidden/secret.jpg": lambda p: photo().save(p),
    }
    for name, write in usable.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        write(folder / name)
    # A decompression bomb: a tiny file that would decode to 400 million pixels.
    Image.new("1", (20000, 20000)).save(folder / "bomb.png")
    expected = {name: reason for name, (_, reason) in files.items()}
    expected.update({name: None for name in usable})
    expected["bomb.png"] = "decompression bomb"
    return expected


@pytest.fixture(scope="module")
def messy(tmp_path_factory, flowers, with_base_model):
    """A generated dataset full of odd files, with classes named with spaces and accents."""
    root = tmp_path_factory.mktemp("messy") / "my photos"
    make_photos(root, per_class=24)
    (root / "bluebells").rename(root / "Löwenzahn blüten")
    expected = odd_files(root / "roses")
    archive = make_archive(root, tmp_path_factory.mktemp("served") / "messy.tgz")
    params = {"data_dir": with_base_model(tmp_path_factory.mktemp("data")), "dataset_url": archive.as_uri(),
              "base_model_url": flowers["base_model_url"], "architecture": TINY, **FAST_TRAINING}
    build(MobileModel(**params))
    return params, expected


def test_odd_formats_are_read_and_broken_files_listed_with_reasons(messy):
    params, expected = messy
    summary = summary_of(params)
    skipped = {Path(e["photo"]).name: e["reason"] for e in json.loads(Path(summary["skipped"]["report"]).read_text())}
    should_skip = {name: reason for name, reason in expected.items() if reason}
    assert set(skipped) == set(should_skip)
    for name, reason in should_skip.items():
        assert reason in skipped[name].lower(), (name, skipped[name])
    assert summary["skipped"]["count"] == len(should_skip)


def test_classes_may_have_spaces_and_accents(messy):
    params, _ = messy
    summary = summary_of(params)
    assert summary["labels"] == ["Löwenzahn blüten", "roses", "sunflowers"]
    assert Path(summary["android"]["labels"]).read_text(encoding="utf-8").splitlines() == summary["labels"]
    assert summary["variants"]["optimized"]["accuracy"] >= 0.8


def test_usable_odd_formats_decode_to_the_graphs_input(tmp_path):
    expected = odd_files(tmp_path / "x")
    for name, reason in expected.items():
        if reason is None and not name.startswith("."):
            pixels = load_photo(tmp_path / "x" / name, 32)
            assert pixels.shape == (32, 32, 3) and -1 <= pixels.min() and pixels.max() < 1, name
    # 16-bit values are scaled, not clipped to white.
    assert load_photo(tmp_path / "x" / "sixteen.png", 32).mean() == pytest.approx(0, abs=0.1)
    with pytest.raises(UnusablePhoto, match="bomb.png"):
        load_photo(tmp_path / "x" / "bomb.png", 32)


def test_exif_orientation_is_applied(tmp_path):
    image = photo(size=(60, 30))
    image.paste((0, 0, 255), (0, 0, 30, 30))  # blue left half
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    (tmp_path / "rotated.jpg").write_bytes(jpeg_bytes(image, exif=exif, quality=95))
    image.transpose(Image.ROTATE_270).save(tmp_path / "upright.jpg", quality=95)
    np.testing.assert_allclose(load_photo(tmp_path / "rotated.jpg", 32), load_photo(tmp_path / "upright.jpg", 32),
                               atol=0.1)


def dataset(tmp_path, layout):
    """A .tgz of generated photos: layout maps class folder -> list of file names."""
    root = tmp_path / "photos"
    for label, names in layout.items():
        (root / label).mkdir(parents=True)
        for name in names:
            photo(colour=RNG.integers(0, 255, 3)).save(root / label / name)
    return make_archive(root, tmp_path / "photos.tgz", top="photos") if layout else _empty_archive(tmp_path)


def _empty_archive(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "README.txt").write_text("no photos yet")
    return make_archive(tmp_path / "photos", tmp_path / "photos.tgz", top="photos")


def names_in(split, count, prefix):
    names, i = [], 0
    while len(names) < count:
        if split_of(f"{prefix}{i}.jpg", 10, 10) == split:
            names.append(f"{prefix}{i}.jpg")
        i += 1
    return names


@pytest.mark.parametrize("layout, message", [
    ({}, "no photos found in class folders"),
    ({"daisy": [f"{i}.jpg" for i in range(10)]}, "only one class ('daisy')"),
    ({"daisy": [f"{i}.jpg" for i in range(10)], "notes": []}, "no photos of class 'notes'"),
    # An empty class folder would otherwise vanish, and the model have a class fewer than the folders.
    ({"daisy": [f"{i}.jpg" for i in range(10)], "roses": [f"{i}.jpg" for i in range(10)], "tulips": []},
     "no photos of class 'tulips' under --dataset-url {url}: the model would have 1 class fewer than the 3 "
     "folders; add photos, or remove the folder"),
])
def test_datasets_that_cannot_train_fail_before_the_bottlenecks(tmp_path, flowers, with_base_model, layout,
                                                                message):
    archive = dataset(tmp_path, layout)
    task = Bottlenecks(data_dir=with_base_model(tmp_path / "data"), dataset_url=archive.as_uri(),
                       base_model_url=flowers["base_model_url"], architecture=TINY)
    [(failed, error)] = build_failing(task)
    # Once, where the photos arrive, naming the flag that brought them; no shard starts.
    assert failed.task_family == "DownloadDataset" and message.format(url=archive.as_uri()) in str(error)
    assert f"--dataset-url {archive.as_uri()}" in str(error)
    for stage in ("dataset", "bottleneck_shards", "bottlenecks"):
        assert not list((tmp_path / "data").glob(f"{stage}/*/params.json")), stage


def test_a_class_whose_photos_all_fail_to_decode_fails_naming_it_instead_of_vanishing(tmp_path, flowers,
                                                                                     with_base_model):
    archive = dataset(tmp_path, {"daisy": [f"{i}.jpg" for i in range(8)], "roses": [f"{i}.jpg" for i in range(8)]})
    broken = tmp_path / "broken"
    import tarfile

    with tarfile.open(archive) as tar:
        tar.extractall(broken, filter="data")
    for name in (broken / "photos" / "roses").iterdir():
        name.write_bytes(b"not a jpeg")
    (broken / "photos" / "tulips").mkdir()
    photo().save(broken / "photos" / "tulips" / "0.jpg")
    task = Bottlenecks(data_dir=with_base_model(tmp_path / "data"), dataset_dir=str(broken / "photos"),
                       base_model_url=flowers["base_model_url"], architecture=TINY)
    [(failed, error)] = build_failing(task)
    assert failed.task_family == "Bottlenecks"
    assert (f"no photos of class 'roses' under --dataset-dir {broken / 'photos'} " in str(error)
            and "once the photos that cannot be decoded are left out: the model would have 1 class fewer than "
                "the 3 folders" in str(error)), str(error)
    assert not list((tmp_path / "data").glob("bottlenecks/*/params.json"))


def test_a_class_without_training_photos_fails_before_training(tmp_path, flowers, with_base_model):
    archive = dataset(tmp_path, {"daisy": names_in("training", 12, "d"), "tulips": names_in("testing", 3, "t")})
    task = Retrain(data_dir=with_base_model(tmp_path / "data"), dataset_url=archive.as_uri(),
                   base_model_url=flowers["base_model_url"], architecture=TINY, training_steps=10)
    [(failed, error)] = build_failing(task)
    assert failed.task_family == "Retrain"
    assert "class 'tulips' has no photos in the training split (3 photos in all)" in str(error)


def test_a_class_too_small_for_a_test_split_still_trains_and_is_evaluated_without_it(tmp_path, flowers,
                                                                                    with_base_model, caplog):
    layout = {"daisy": names_in("training", 12, "d") + names_in("testing", 3, "d"),
              "roses": names_in("training", 12, "r") + names_in("testing", 3, "r"),
              "tulips": names_in("training", 4, "t")}
    archive = dataset(tmp_path, layout)
    params = {"data_dir": with_base_model(tmp_path / "data"), "dataset_url": archive.as_uri(),
              "base_model_url": flowers["base_model_url"], "architecture": TINY, "training_steps": 100}
    build(MobileModel(**params))
    assert "class 'tulips' has no photo in the test split" in caplog.text
    summary = summary_of(params)
    assert summary["labels"] == ["daisy", "roses", "tulips"]
    evaluated = json.loads(next(Path(params["data_dir"], "evaluate").glob("*/metrics.json")).read_text())
    assert evaluated["count"] == 6
    # The report shows the class as untested, not as a division by zero.
    tulips = summary["variants"]["optimized"]["per_class"]["tulips"]
    assert tulips["count"] == 0 and tulips["recall"] is None and tulips["f1"] is None
    report = Path(MobileModel(**params).output().path, "report.html").read_text()
    assert "<td>tulips</td><td>no test photo</td>" in report
