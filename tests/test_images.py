import collections

import numpy as np
import pytest
from PIL import Image

from poets.core.images import UnusablePhoto, find_photos, load_photo, split_of


def test_split_follows_percentages_and_keeps_nohash_variants_together():
    names = [f"photo_{i}.jpg" for i in range(5000)]
    counts = collections.Counter(split_of(name, 10, 20) for name in names)
    assert abs(counts["validation"] / 5000 - 0.10) < 0.02
    assert abs(counts["testing"] / 5000 - 0.20) < 0.02
    for i in range(50):
        sets = {split_of(f"speaker{i}_nohash_{k}.wav", 10, 20) for k in range(5)}
        assert len(sets) == 1
    # Only the base name counts: the class folder does not move a photo.
    assert split_of("daisy/123.jpg", 10, 10) == split_of("tulips/deep/123.jpg", 10, 10)


def test_split_of_matches_retrain_py_for_known_names():
    # Reference values computed with retrain.py's which_set logic.
    import hashlib

    def which_set(name, validation, testing):
        digest = int(hashlib.sha1(name.encode()).hexdigest(), 16)
        percentage = (digest % (2**27)) * (100.0 / (2**27 - 1))
        if percentage < validation:
            return "validation"
        return "testing" if percentage < validation + testing else "training"

    for i in range(300):
        assert split_of(f"x/{i}.jpg", 10, 10) == which_set(f"{i}.jpg", 10, 10)


def test_find_photos_takes_class_folders_and_skips_non_photos(tmp_path):
    for path in ["daisy/a.jpg", "daisy/nested/b.JPEG", "tulips/c.png", "tulips/.hidden.jpg",
                 "tulips/notes.txt", ".git/d.jpg", "loose.jpg", "daisy/.thumbs/e.jpg"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"x")
    assert find_photos(tmp_path) == [("daisy/a.jpg", "daisy"), ("daisy/nested/b.JPEG", "daisy"),
                                     ("tulips/c.png", "tulips")]


def test_load_photo_resizes_and_scales_like_the_codelab(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("L", (300, 200), 192).save(path)
    pixels = load_photo(path, 64)
    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels, (192 - 128) / 128)


def test_undecodable_photo_raises_naming_the_file(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(UnusablePhoto, match="broken.jpg"):
        load_photo(path, 64)


def test_distort_photo_crops_flips_and_brightens_within_bounds(tmp_path):
    from poets.core.images import distort_photo

    pixels = np.zeros((40, 40, 3), np.uint8)
    pixels[:, :20] = 200  # bright left half
    Image.fromarray(pixels).save(tmp_path / "half.png")
    rng = np.random.default_rng(0)
    plain = distort_photo(tmp_path / "half.png", 32, rng)
    np.testing.assert_allclose(plain, load_photo(tmp_path / "half.png", 32), atol=1e-6)
    flips = [distort_photo(tmp_path / "half.png", 32, rng, flip_left_right=True) for _ in range(20)]
    assert {bool(f[:, 0].mean() > f[:, -1].mean()) for f in flips} == {True, False}
    for _ in range(20):
        out = distort_photo(tmp_path / "half.png", 32, rng, random_crop=20, random_scale=30, random_brightness=10)
        assert out.shape == (32, 32, 3)
        assert out.max() <= (200 * 1.1 - 128) / 128 + 1e-5


def test_an_empty_test_split_is_refused_before_training_naming_the_flag():
    from poets.core.failures import BadInput
    from poets.core.images import check_split

    labels, classes = ["roses", "tulips"] * 5, ["roses", "tulips"]
    with pytest.raises(BadInput, match=r"the test split is empty \(10 photos.*raise --testing-percentage"):
        check_split(labels, ["training"] * 8 + ["validation"] * 2, classes)
    check_split(labels, ["training"] * 8 + ["testing"] * 2, classes)
