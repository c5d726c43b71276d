"""Which variant ships: by the optimized graph's accuracy, or by the phone's limits."""

import pytest

from poets.variants.shipping import NothingFits, choose


def variant(path, accuracy, size, ms):
    return {"path": path, "accuracy": accuracy, "size_bytes": size, "latency_s": ms / 1000}


# A .pb variant ships as a float TFLite model the size of the optimized graph (2,000 KB here).
TABLE = {"retrained": variant("r.pb", 0.92, 2_100_000, 30), "optimized": variant("o.pb", 0.92, 2_000_000, 20),
         "float16": variant("f.tflite", 0.92, 1_000_000, 12), "dynamic_range": variant("d.tflite", 0.915, 540_000, 9),
         "int8": variant("i.tflite", 0.90, 520_000, 4), "weights_rounded": variant("w.pb", 0.925, 2_000_000, 21)}


def test_without_limits_the_smallest_within_a_point_of_the_optimized_graph_ships():
    assert choose(TABLE) == "dynamic_range"


@pytest.mark.parametrize("limits, shipped", [
    ({"max_size_kb": 2500}, "weights_rounded"),  # the most accurate; a .pb ships at the optimized graph's size
    ({"max_size_kb": 1999}, "float16"),  # the float graphs are 2,000 KB on the phone
    ({"max_size_kb": 530}, "int8"),
    ({"max_latency_ms": 10}, "dynamic_range"),
    # weights_rounded takes 21 ms; optimized and float16 tie on accuracy: the smaller
    ({"max_latency_ms": 20}, "float16"),
    ({"min_accuracy": 0.92, "max_size_kb": 1500}, "float16"),
    ({"min_accuracy": 0.9}, "weights_rounded"),
])
def test_the_most_accurate_variant_within_every_limit_ships(limits, shipped):
    assert choose(TABLE, **limits) == shipped


def test_a_limit_no_variant_meets_fails_in_one_line_naming_it_and_the_closest():
    with pytest.raises(NothingFits) as error:
        choose(TABLE, max_size_kb=100, min_accuracy=0.5)
    assert str(error.value) == "no variant meets --max-size-kb 100; the closest is int8 (520 KB, accuracy 0.900)"
    with pytest.raises(NothingFits, match=r"^no variant meets --min-accuracy 0.95; the closest is weights_rounded "):
        choose(TABLE, min_accuracy=0.95)


def test_limits_each_met_but_never_together_fail_naming_them_together():
    with pytest.raises(NothingFits) as error:
        choose(TABLE, max_latency_ms=5, min_accuracy=0.91)
    message = str(error.value)
    assert message.startswith("no variant meets --max-latency-ms 5 and --min-accuracy 0.91 together; the closest is ")
    assert "\n" not in message


def test_limits_go_with_auto_only_and_bad_values_name_their_flag():
    from workflows import MobileModel

    with pytest.raises(ValueError, match="--android-variant int8: the limits \\(--max-size-kb\\)"):
        MobileModel(android_variant="int8", max_size_kb=100)
    with pytest.raises(ValueError, match="--min-accuracy: 1.5 is not in the range"):
        MobileModel(min_accuracy=1.5)
    with pytest.raises(ValueError, match="--max-latency-ms: -1.0 is not in the range"):
        MobileModel(max_latency_ms=-1.0)


def test_an_impossible_limit_fails_the_run_in_one_line_and_leaves_no_summary(completed):
    from tests.helpers import build_failing
    from workflows import MobileModel

    params, _ = completed
    task = MobileModel(**params, max_size_kb=1)
    [(failed, error)] = build_failing(task)
    assert failed.task_family == "MobileModel" and isinstance(error, NothingFits)
    assert str(error).startswith("no variant meets --max-size-kb 1; the closest is ") and "\n" not in str(error)
    assert not task.output().exists()
