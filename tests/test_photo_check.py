"""The photo check's parts without a run: confident learning, the neighbour searches, out-of-fold
probabilities, the fixes file, HEIC photos."""



import numpy as np
import pytest
from PIL import Image

from poets.core import label_fixes
from poets.core.images import load_photo, split_of
from poets.core.metrics import wilson_interval
from poets.photos import check as photo_check
from poets.photos import neighbours, out_of_fold
from tests.helpers import FAST_TRAINING, write_fixes

TESTING = FAST_TRAINING["testing_percentage"]


def test_off_topic_is_a_photo_like_no_other_not_a_tight_group_far_from_its_class_centre():
    """Close-ups of a flower sit far from their class's centre but near each other: not off-topic. A
    photo that nothing resembles is, whatever its label."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (2, 64))
    features = np.concatenate([centres[i] + rng.normal(0, 0.3, (40, 64)) for i in range(2)]
                              + [centres[0] + 2.5 * rng.normal(0, 1, 64) + rng.normal(0, 0.1, (12, 64)),
                                 rng.normal(0, 1, (1, 64))])
    pool = np.ones(len(features), bool)
    pool[::7] = False  # test photos are scored too, against the pool alone
    deviations, ratios = neighbours.off_topic_scores(neighbours.neighbour_distances(features, pool))
    flagged = set(np.flatnonzero(deviations > photo_check.OFF_TOPIC))
    assert flagged == {len(features) - 1}, flagged
    assert ratios[-1] > 1.5
    # A photo is not its own neighbour: two copies of a lone photo are each other's.
    twice = np.concatenate([features, features[-1:]])
    assert neighbours.neighbour_distances(twice, np.ones(len(twice), bool), k=1)[-1] < 1e-6


@pytest.mark.parametrize("content, message", [
    ("photo,class\nroses/a.jpg,roses\n", "line 1: expected a header with the columns path,label"),
    ("path,label\nroses/a.jpg\n", "line 2: expected a photo path and a label"),
    ("path,label\nroses/a.jpg,roses\nroses/a.jpg,tulips\n", "line 3: roses/a.jpg is given two labels"),
])
def test_a_malformed_fixes_file_fails_naming_the_flag_file_and_line(tmp_path, content, message):
    from tasks.retrain import Retrain

    path = tmp_path / "fixes.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=f"--label-fixes: {path}, {message}"):
        Retrain(label_fixes=str(path))


def test_an_unreadable_fixes_file_fails_naming_the_flag(tmp_path):
    from tasks.retrain import Retrain

    with pytest.raises(ValueError, match=f"--label-fixes: cannot read {tmp_path / 'missing.csv'}"):
        Retrain(label_fixes=str(tmp_path / "missing.csv"))


@pytest.mark.parametrize("fix, message", [
    (("roses/nope.jpg", "roses"), "line 2: 'roses/nope.jpg' is not a photo of the dataset"),
    (("roses/a.jpg", "tulips"), "line 2: 'tulips' is not a class; choose one of: roses, sunflowers, or exclude"),
    (("sunflowers/c.jpg", "exclude"), "the fixes leave class 'sunflowers' without photos"),
])
def test_fixes_that_do_not_fit_the_photos_fail_naming_the_flag_and_file(tmp_path, fix, message):
    path = write_fixes(tmp_path / "fixes.csv", [fix])
    with pytest.raises(ValueError, match=f"--label-fixes: {path}, {message}" if "line" in message
                       else f"--label-fixes: {path}: {message}"):
        label_fixes.apply_label_fixes(["roses/a.jpg", "roses/b.jpg", "sunflowers/c.jpg"],
                                      ["roses", "roses", "sunflowers"], label_fixes.read_label_fixes(path),
                                      ["roses", "sunflowers"], path)


def test_confident_learning_flags_the_confident_off_diagonal():
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9], [0.95, 0.05], [0.6, 0.4]])
    truth = np.array([0, 0, 1, 1, 1, 1])
    # Class 0's threshold is 0.85, class 1's 0.51: row 4 is confidently 0, row 5 reaches neither.
    assert photo_check.label_issues(probabilities, truth) == [(4, 0, pytest.approx(0.9))]


def test_each_label_loses_as_many_photos_as_the_confident_joint_counts_those_it_fits_least():
    probabilities = np.array([[.9, .05, .05], [.85, .1, .05], [.2, .78, .02], [.1, .45, .45],
                              [.1, .8, .1], [.1, .75, .15], [.1, .1, .8], [.1, .2, .7]])
    truth = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    # Photo 2 is confidently class 1 (0.78 reaches its 0.77): one label-0 photo is wrong. The one class 0
    # fits least is photo 3 (0.1), which reaches no threshold: it is flagged, with the likeliest other
    # class suggested.
    assert photo_check.label_issues(probabilities, truth) == [(3, 1, pytest.approx(0.35))]


def test_a_class_threshold_is_what_two_thirds_of_its_photos_reach_not_lowered_by_its_wrong_labels():
    # Class 0: seven photos it fits well and two (7, 8: wrong labels) it does not; their mean, 0.76,
    # would count photo 9, labelled 1, as confidently class 0 at 0.8. Two thirds of class 0's photos
    # reach 0.95, which photo 10 (0.97) does.
    probabilities = np.array([[.95, .05]] * 7 + [[.1, .9]] * 2 + [[.8, .2], [.97, .03]] + [[.1, .9]] * 6)
    truth = np.array([0] * 9 + [1] * 8)
    assert photo_check.THRESHOLD_QUANTILE == pytest.approx(1 / 3)
    flagged = [(row, suggested) for row, suggested, _ in photo_check.label_issues(probabilities, truth)]
    assert flagged == [(10, 0), (7, 1), (8, 1)]


def test_of_two_photos_the_label_fits_as_badly_its_neighbours_outvoted_is_flagged():
    # Photo 4 is confidently class 1 (0.65 reaches class 1's 0.6): label 0 loses one photo. Photos 2
    # and 3 fit label 0 worst (0.3, 0.32); all of photo 2's neighbours are labelled 0, none of photo 3's.
    probabilities = np.array([[.9, .05, .05], [.9, .05, .05], [.3, .2, .5], [.32, .18, .5], [.35, .65, 0],
                              [.1, .6, .3], [.1, .6, .3]])
    truth = np.array([0, 0, 0, 0, 0, 1, 1])
    votes = np.eye(3)[[0, 0, 0, 1, 1, 1, 1]]
    assert [row for row, _, _ in photo_check.label_issues(probabilities, truth)] == [2]
    # Photo 3's label fits it least in the two views averaged (0.16), and class 1 is suggested.
    assert photo_check.label_issues(probabilities, truth, votes=votes) == [(3, 1, pytest.approx(0.43))]


@pytest.mark.parametrize("search", ["nearest", "near_pairs"])
def test_the_searches_over_all_pairs_hold_a_bounded_block_of_cosines_the_same_answer(search, monkeypatch):
    import tracemalloc

    rng = np.random.default_rng(0)
    features = rng.normal(size=(3000, 64)).astype(np.float32)
    features[1] = features[0] * 1.001  # one near duplicate pair
    pool = rng.random(3000) < 0.9

    def run():
        tracemalloc.start()
        found = (neighbours.nearest(features, pool) if search == "nearest" else photo_check.near_pairs(features))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return found, peak

    whole, whole_peak = run()
    monkeypatch.setattr(neighbours, "BLOCK_COSINES", 3000 * 8)
    assert neighbours.rows_per_block(3000, 512) == 8 and neighbours.rows_per_block(10**9, 512) == 1
    blocked, blocked_peak = run()
    # A block of 512 (or 2048) rows against 3,000 photos is tens of megabytes with its sort; of 8 rows, far less.
    assert blocked_peak < whole_peak / 5
    if search == "nearest":
        assert np.array_equal(whole[0], blocked[0]) and np.allclose(whole[1], blocked[1])
    else:
        assert [pair[:2] for pair in whole] == [pair[:2] for pair in blocked] == [(0, 1)]


def clustered(photos=3000, size=32, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(30, size))
    features = (centres[rng.integers(0, 30, photos)] + 0.7 * rng.normal(size=(photos, size))).astype(np.float32)
    features[1] = features[0] * 1.0001  # near duplicates, one pair
    features[11] = features[10] + 1e-4
    return features, rng.random(photos) < 0.9


def test_past_exact_up_to_the_clusters_searched_hold_most_neighbours_and_the_duplicates(monkeypatch):
    features, pool = clustered()
    exact_rows, exact_cosines = neighbours.nearest(features, pool)
    exact_pairs = photo_check.near_pairs(features, 0.95)
    monkeypatch.setattr(neighbours, "EXACT_UP_TO", 1000)
    rows, cosines = neighbours.nearest(features, pool)
    pairs = photo_check.near_pairs(features, 0.95)
    recall = np.mean([len(set(a) & set(b)) for a, b in zip(rows, exact_rows)]) / neighbours.NEIGHBOURS
    assert 0.9 <= recall < 1  # approximate, and close
    assert pool[rows].all() and not (rows == np.arange(len(rows))[:, None]).any()
    unit = neighbours.unit_rows(features)
    assert np.allclose(cosines, np.einsum("id,ikd->ik", unit, unit[rows]), atol=1e-5)
    assert (np.sort(cosines, axis=1) <= np.sort(exact_cosines, axis=1) + 1e-5).all()
    assert {(0, 1), (10, 11)} <= {pair[:2] for pair in pairs} <= {pair[:2] for pair in exact_pairs}
    assert all(i < j for i, j, _ in pairs)


@pytest.mark.parametrize("exact_up_to", [1000, neighbours.EXACT_UP_TO])
def test_the_check_finds_neighbours_and_near_duplicates_in_one_pass_over_the_pairs(exact_up_to, monkeypatch):
    features, pool = clustered()
    monkeypatch.setattr(neighbours, "EXACT_UP_TO", exact_up_to)
    alone = neighbours.nearest(features, pool), photo_check.near_pairs(features)
    products = []
    unit_rows = neighbours.unit_rows
    monkeypatch.setattr(neighbours, "unit_rows", lambda f: products.append(len(f)) or unit_rows(f))
    monkeypatch.setattr(neighbours, "clusters", counted(neighbours.clusters, calls := []))
    labels = np.where(pool, "a", "b")
    findings = photo_check.check(features, [f"{i}.jpg" for i in range(len(features))], list(labels),
                                 ["training" if p else "testing" for p in pool], [str(i) for i in range(len(features))],
                                 ["a", "b"], np.tile([0.5, 0.5], (len(features), 1)))
    assert len(products) == 1 and len(calls) == (exact_up_to < len(features))
    assert sorted(sorted(g["photos"][i]["path"] for i in (0, 1)) for g in findings.duplicates) == \
        sorted(sorted(f"{i}.jpg" for i in pair[:2]) for pair in alone[1])
    rows, cosines, pairs = neighbours.search(features, pool, photo_check.NEAR_DUPLICATE)
    assert np.array_equal(rows, alone[0][0]) and np.allclose(cosines, alone[0][1]) and pairs == alone[1]


def counted(function, calls):
    def wrapped(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)
    return wrapped


def test_a_photo_whose_clusters_hold_too_few_of_the_pool_is_searched_in_every_cluster(monkeypatch):
    features, _ = clustered()
    pool = np.zeros(len(features), bool)
    pool[::300] = True  # 10 photos: most clusters searched hold fewer than the 9 others asked for
    exact_rows, exact_cosines = neighbours.nearest(features, pool)
    monkeypatch.setattr(neighbours, "EXACT_UP_TO", 1000)
    rows, cosines = neighbours.nearest(features, pool)
    assert np.isfinite(cosines).all()
    assert np.array_equal(np.sort(rows, axis=1), np.sort(exact_rows, axis=1))


def test_neighbours_vote_with_the_labels_of_the_pool_alone():
    features = np.array([[1, 0], [1, .1], [1, .2], [0, 1], [.1, 1], [1, .05]], float)
    truth = np.array([0, 0, 1, 1, 1, 1])
    pool = np.array([True] * 5 + [False])
    alike, cosines = neighbours.nearest(features, pool, k=2)
    assert sorted(alike[0]) == [1, 2] and sorted(alike[5]) == [0, 1]  # itself left out; test photo 5 never
    assert np.allclose(neighbours.neighbour_votes(alike, truth, 2)[[0, 5, 3]], [[.5, .5], [1, 0], [0, 1]])
    assert np.allclose(1 - cosines.mean(axis=1), neighbours.neighbour_distances(features, pool, k=2))


def test_test_photos_are_scored_against_thresholds_they_do_not_set():
    # Photo 4, a training photo labelled 0, leans to class 1; photos 5-8 are test photos of class 1.
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.4, 0.6], [0.35, 0.65]]
                             + [[0.05, 0.95]] * 4)
    truth = np.array([0, 0, 1, 1, 0, 1, 1, 1, 1])
    pool = np.array([True] * 5 + [False] * 4)
    # Class 1's threshold from the training photos is 0.6: photo 4 reaches it and is flagged.
    assert photo_check.label_issues(probabilities, truth, pool) == [(4, 1, pytest.approx(0.3))]
    # Counting the test photos' labels would raise it to 0.83 and hide photo 4: what training
    # leaves out (--exclude-flagged) would then depend on test labels.
    assert photo_check.label_issues(probabilities, truth) == []


def test_out_of_fold_probabilities_never_see_the_label_they_score():
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 30)
    features = rng.normal(0, 1, (90, 8)) + 3 * np.eye(3, 8)[truth]
    features[1] = features[61]  # a class-0 photo of the pool that looks like class 2
    pool = np.ones(90, bool)
    pool[::10] = False
    probabilities, l2 = out_of_fold.out_of_fold(features, truth, 3, pool)
    assert l2 in out_of_fold.L2_GRID
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert (probabilities.argmax(axis=1) == truth).mean() > 0.9
    # Scored without its own label, it looks like what it looks like.
    assert probabilities[1].argmax() == 2
    from poets.core.folds import stratified_folds

    folds = stratified_folds(truth, 5)
    assert all(np.bincount(folds[truth == c], minlength=5).tolist() == [6] * 5 for c in range(3))


def test_out_of_fold_probabilities_of_pure_noise_are_chance_for_pool_and_test_photos():
    """Features that say nothing, more of them than photos, and almost no penalty: a model that saw a
    photo's label memorizes it (its probability near 1), a model that did not is at chance. So any
    leak of a scored photo's own label, in the pool or outside it, shows as a probability far above 1/3."""
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 120)
    features = rng.normal(0, 1, (120, 300))
    pool = np.arange(120) % 4 != 0
    probabilities, _ = out_of_fold.out_of_fold(features, truth, 3, pool, l2=1e-3)
    own = probabilities[np.arange(120), truth]
    assert own[pool].mean() < 0.45 and own[~pool].mean() < 0.45, (own[pool].mean(), own[~pool].mean())
    # The same model fitted on every label does memorize them: the check can tell.
    seen = out_of_fold.predict(out_of_fold.fit(features, truth, 3, 1e-3), features)[np.arange(120), truth]
    assert seen.mean() > 0.9


def test_the_out_of_fold_fits_hold_no_float64_copy_of_every_photos_features():
    """A fit's rows are standardized in float64 as it takes them (the pool's, then each fold's), and
    the mean and spread a few columns at a time: at a million photos a float64 copy of every photo's
    features, beside the pool's copy, held about four times the features themselves."""
    import tracemalloc

    import scipy.optimize  # noqa: F401  (imported before the count: its modules are not the fits' memory)

    rng = np.random.default_rng(0)
    features = rng.random((3000, 256), dtype=np.float32)
    truth, pool = rng.integers(0, 3, 3000), rng.random(3000) < 0.9
    tracemalloc.start()
    out_of_fold.out_of_fold(features, truth, 3, pool, l2=0.01)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # The pool's rows in float64 (1.8x the float32 features) and their float32 gather (0.9x), little else.
    assert peak < 3 * features.nbytes, peak / features.nbytes


def test_wilson_interval_of_a_small_test_split():
    low, high = wilson_interval(0.9, 40)
    assert (round(low, 2), round(high, 2)) == (0.77, 0.96)
    assert wilson_interval(1.0, 10)[1] == 1.0 and wilson_interval(0.0, 10)[0] == 0.0
    for count in range(1, 200):
        for right in (0, count // 3, count):
            low, high = wilson_interval(right / count, count)
            assert low <= right / count <= high


def test_heic_photo_is_decoded_like_its_jpeg_twin_with_its_orientation(tmp_path):
    from pillow_heif import register_heif_opener

    register_heif_opener()
    # An asymmetric gradient, so a missed rotation shows.
    y, x = np.mgrid[0:60, 0:80]
    pixels = np.stack([x * 3, y * 4, np.full_like(x, 90)], axis=-1).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    for name, options in (("photo.jpg", {"quality": 95}), ("photo.heic", {"quality": 95})):
        Image.fromarray(pixels).save(tmp_path / name, exif=exif.tobytes(), **options)
    jpeg, heic = load_photo(tmp_path / "photo.jpg", 32), load_photo(tmp_path / "photo.heic", 32)
    unrotated = load_photo(_saved(tmp_path / "plain.jpg", pixels), 32)
    assert np.abs(heic - jpeg).mean() < 0.03
    assert np.abs(unrotated - jpeg).mean() > 0.1


def _saved(path, pixels):
    Image.fromarray(pixels).save(path, quality=95)
    return path


def test_test_label_edits_count_only_test_photos_given_another_class_or_left_out():

    names = [f"roses/{i}.jpg" for i in range(200)]
    test = [n for n in names if split_of(n, 10, 10) == "testing"][:3]
    training = [n for n in names if split_of(n, 10, 10) == "training"][:2]
    fixes = {test[0]: ("tulips", 2), test[1]: ("exclude", 3), test[2]: ("roses", 4),  # the last keeps its label
             training[0]: ("tulips", 5), training[1]: ("exclude", 6)}
    assert label_fixes.test_label_edits(fixes, 10, 10) == {"relabelled": 1, "excluded": 1}
    assert label_fixes.test_label_edits({}, 10, 10) == {"relabelled": 0, "excluded": 0}
