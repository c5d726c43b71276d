"""Compare: every variant and seed side by side, built from exactly the tasks the separate runs build."""

import json
from pathlib import Path

import pytest

from poets.reports.comparison import by_variant, pareto
from poets.variants.shipping import choose
from tests.helpers import build, families, fresh


def test_the_pareto_front_keeps_what_nothing_beats_on_both_axes():
    # (cost, accuracy): the second is beaten by the first (cheaper, as accurate); the third by nothing.
    assert pareto([(1, 0.9), (2, 0.9), (3, 0.95), (0.5, 0.5), (3, 0.94)]) == [True, False, True, True, False]


def row(variant, seed, accuracy, size=100, latency=0.01):
    return {"architecture": "a", "variant": variant, "random_seed": seed, "accuracy": accuracy,
            "cross_entropy": 1 - accuracy, "size_bytes": size, "latency_s": latency}


def test_the_seed_that_ships_is_chosen_on_held_out_photos_never_on_test_accuracy():
    from poets.reports.comparison import key, seeds_by_held_out

    rows = [row("optimized", 0, 0.90), row("int8", 0, 0.895, size=25), row("optimized", 1, 0.95),
            row("int8", 1, 0.945, size=25)]
    table = {key(r["architecture"], r["variant"], r["random_seed"]): {**r, "shipped_bytes": r["size_bytes"]}
             for r in rows}
    # Seed 1 scores better on the test photos; seed 0's head did better on its held-out photos.
    candidates, reference = seeds_by_held_out(table, {("a", 0): 0.25, ("a", 1): 0.31})
    assert set(candidates) == {key("a", "optimized", 0), key("a", "int8", 0)} and reference == key("a", "optimized", 0)
    # Of seed 0's, the smaller within a point of its float model: its int8, never seed 1's.
    assert choose(candidates, reference=reference) == key("a", "int8", 0)
    # A head without held-out photos comes last; equal figures go to the lower seed.
    assert seeds_by_held_out(table, {("a", 0): None, ("a", 1): 0.31})[1] == key("a", "optimized", 1)
    assert seeds_by_held_out(table, {("a", 0): 0.3, ("a", 1): 0.3})[1] == key("a", "optimized", 0)


def test_a_variant_is_said_to_differ_from_the_float_model_only_beyond_the_seeds_spread():
    rows = [row("optimized", 0, 0.90), row("optimized", 1, 0.92), row("int8", 0, 0.86, 30), row("int8", 1, 0.87, 30),
            row("float16", 0, 0.90, 50), row("float16", 1, 0.915, 50)]
    variants = {v["variant"]: v for v in by_variant(rows)}
    assert variants["int8"]["accuracy"] == pytest.approx(0.865)
    assert variants["int8"]["accuracy_spread"] == [0.86, 0.87]
    assert variants["int8"]["versus_float"] == ("-4.5 points against the float model, more than the seeds move it "
                                                "(2.0 points)")
    assert variants["float16"]["versus_float"].endswith("no more than the seeds move it (2.0 points)")
    assert variants["optimized"]["versus_float"] == "the float model"
    assert [variants[v]["pareto_size"] for v in ("optimized", "int8", "float16")] == [True, True, True]
    one_seed = {v["variant"]: v for v in by_variant(rows[::2])}
    assert one_seed["int8"]["versus_float"] == ("-4.0 points against the float model; "
                                                "one seed: no spread to compare with")


def test_lists_are_parsed_as_people_type_them_and_bad_items_fail_naming_the_flag():
    from workflows import Compare

    compare = Compare.from_str_params({"quantization_modes": "int8, float16", "random_seeds": "0,1,2"})
    assert compare.quantization_modes == ("int8", "float16") and compare.random_seeds == (0, 1, 2)
    assert Compare().quantization_modes == ("weights_rounded", "weights", "float16", "dynamic_range", "int8")
    assert Compare(architecture="mobilenet_0.25_128").compared() == ("mobilenet_0.25_128",)
    for params, message in [({"quantization_modes": "int9"}, "--quantization-modes: 'int9' is not valid"),
                            ({"quantization_modes": ""}, "--quantization-modes: name at least one mode"),
                            ({"random_seeds": "1,x"}, "--random-seeds: 'x' is not an integer"),
                            ({"random_seeds": "0,0"}, "--random-seeds: '0,0' names an item twice"),
                            ({"architectures": "mobilenet_0.25_128,mobilenet_0.50_128", "base_model_url": "file:///w.h5"},
                             "--base-model-url: one file cannot hold the weights of")]:
        with pytest.raises(ValueError, match=message):
            Compare.from_str_params(params)


@pytest.mark.slow
def test_compare_builds_what_the_separate_runs_build_once_and_a_new_mode_adds_only_its_own(changeable):
    from workflows import Compare, MobileModel

    # Beside what a MobileModel run made (weights_rounded, seed 0).
    params = changeable
    compare = Compare(**params, quantization_modes=("weights_rounded", "float16"), random_seeds=(0, 1))
    ran = families(build(compare))
    # Seed 1: a head, its optimized graph, two quantized ones, four variants evaluated and gzipped;
    # seed 0: only float16's graph, evaluation and gzip.
    assert [ran.count(f) for f in ("Retrain", "Optimize", "Quantize", "Evaluate", "Compress", "Bottlenecks")] \
        == [1, 1, 3, 5, 5, 0]
    assert ran.count("Export") <= 1 and ran.count("Compare") == 1
    comparison = json.loads(compare.comparison.read_text())
    assert len(comparison["combinations"]) == 8 and len(comparison["variants"]) == 4
    for combination in comparison["combinations"]:
        assert {"architecture", "variant", "random_seed", "accuracy", "cross_entropy", "size_bytes", "latency_s",
                "gzip_bytes", "accuracy_interval", "count", "agreement", "runtime"} <= set(combination)
    chosen = comparison["chosen"]
    assert Path(chosen["model"]).name == "graph.lite" and Path(chosen["labels"]).name == "labels.txt"
    page = (compare.comparison.parent / "compare.html").read_text()
    assert "accuracy_vs_size_latency.png" in page and page.count("<tr") == 1 + 4 + 1 + 8
    assert (compare.comparison.parent / "accuracy_vs_size_latency.png").stat().st_size > 0
    # No --label-fixes: nothing to say; with test labels edited, it is said above both tables.
    assert comparison["test_labels_edited"] == {"relabelled": 0, "excluded": 0} and "Test labels edited" not in page
    from poets.reports.comparison import write_html

    (edited := compare.comparison.parent.parent / "edited").mkdir()
    edited_page = write_html({**comparison, "test_labels_edited": {"relabelled": 3, "excluded": 1}}, edited)
    assert edited_page.read_text().count("Test labels edited: 4 (3 relabelled, 1 excluded by --label-fixes); "
                                         "not comparable with the published split") == 2

    # The separate runs find every evaluation, gzip and graph made.
    for mode in ("weights_rounded", "float16"):
        for seed in (0, 1):
            fresh()
            again = families(build(MobileModel(**params, quantization_mode=mode, random_seed=seed)))
            # Compare makes no camera app: a MobileModel run adds its own (and the export it offers).
            assert set(again) <= {"MobileModel", "CheckPhotos", "Export", "CameraApp"}, again

    # One more mode: only its own graph, evaluations and gzips, one per seed.
    fresh()
    more = Compare(**params, quantization_modes=("weights_rounded", "float16", "dynamic_range"), random_seeds=(0, 1))
    ran = families(build(more))
    assert set(ran) <= {"Quantize", "Evaluate", "Compress", "Compare", "Export"}
    assert [ran.count(f) for f in ("Quantize", "Evaluate", "Compress", "Compare")] == [2, 2, 2, 1]



def test_a_url_template_names_the_downloads_and_the_installed_lite_weights_take_none(tmp_path):
    from tasks.download import DownloadBaseModel
    from workflows.compare import Compare

    fresh()
    compare = Compare(architectures=("mobilenet_0.25_128", "efficientnet_lite0_224"), data_dir=str(tmp_path),
                      base_model_url="http://127.0.0.1:9/models/{weights_file}")
    urls = {a: compare.of(DownloadBaseModel, a, 0, "optimized").base_model_url
            for a in ("mobilenet_0.25_128", "efficientnet_lite0_224")}
    assert urls == {"mobilenet_0.25_128": "http://127.0.0.1:9/models/mobilenet_2_5_128_tf_no_top.h5",
                    "efficientnet_lite0_224": ""}
