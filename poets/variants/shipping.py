"""Which variant ships as graph.lite: the one place it is decided.

Without limits (`--android-variant auto`), the smallest within
ANDROID_TOLERANCE of the optimized graph's accuracy. With the phone's limits
(`--max-size-kb`, `--max-latency-ms`, `--min-accuracy`), the most accurate
that meets all of them; none meeting them is an error that says which limit
no variant meets, and the closest one.
"""

from poets.core.contract import is_tflite
from poets.core.failures import BadInput

ANDROID_TOLERANCE = 0.01


class NothingFits(BadInput):
    """No variant meets the limits; the message says which and what comes closest."""


def shipped_size(variants: dict, name: str) -> int:
    """The bytes of the graph.lite `name` ships as: its `shipped_bytes` where
    given; else a .tflite variant as it is, and a .pb variant as a float
    TFLite model the size of the optimized graph, as each converts."""
    v = variants[name]
    if "shipped_bytes" in v:
        return v["shipped_bytes"]
    return v["size_bytes"] if is_tflite(v["path"]) else variants["optimized"]["size_bytes"]


def limits_text(limits: dict) -> str:
    return " and ".join(LIMITS[key][0] + f" {value:g}" for key, value in limits.items())


# key: (flag, what a variant has of it, whether it must be at most the limit, how to show it)
LIMITS = {
    "max_size_kb": ("--max-size-kb", lambda variants, name: shipped_size(variants, name) / 1000, True, "{:,.0f} KB"),
    "max_latency_ms": ("--max-latency-ms", lambda variants, name: 1000 * variants[name]["latency_s"], True,
                       "{:.1f} ms"),
    "min_accuracy": ("--min-accuracy", lambda variants, name: variants[name]["accuracy"], False, "accuracy {:.3f}"),
}


def limits_of(task) -> dict:
    """The limits `task` (MobileModel, Compare) was given, by name: those not 0."""
    return {key: getattr(task, key) for key in LIMITS if getattr(task, key)}


def choose(variants: dict, max_size_kb: float = 0, max_latency_ms: float = 0, min_accuracy: float = 0,
           reference: str = "optimized") -> str:
    """The name of the variant to ship, of `variants` ({name: summary.json's
    figures}). A limit of 0 is no limit.

    With no limit: within ANDROID_TOLERANCE of the `reference` variant's
    accuracy (the optimized graph), the smallest graph.lite; on a tie the
    reference itself. With limits:
    the most accurate that meets all of them; on a tie the smaller, then the
    faster. Raises NothingFits when none meets them.
    """
    limits = {key: value for key, value in (("max_size_kb", max_size_kb), ("max_latency_ms", max_latency_ms),
                                            ("min_accuracy", min_accuracy)) if value}
    if not limits:
        floor = variants[reference]["accuracy"] - ANDROID_TOLERANCE - 1e-9
        candidates = [name for name, v in variants.items() if v["accuracy"] >= floor]
        return min(candidates, key=lambda name: (shipped_size(variants, name), name != reference,
                                                 -variants[name]["accuracy"]))

    def misses(name):
        """{limit: by how much, relative to the limit} for the limits `name` misses."""
        missed = {}
        for key, limit in limits.items():
            value, at_most = LIMITS[key][1](variants, name), LIMITS[key][2]
            if (value > limit) if at_most else (value < limit):
                missed[key] = abs(value - limit) / limit
        return missed

    fitting = [name for name in variants if not misses(name)]
    if fitting:
        return min(fitting, key=lambda name: (-variants[name]["accuracy"], shipped_size(variants, name),
                                              variants[name]["latency_s"]))
    never = [key for key in limits if all(key in misses(name) for name in variants)]
    closest = min(variants, key=lambda name: (len(misses(name)), sum(misses(name).values())))
    shown = ", ".join(LIMITS[key][3].format(LIMITS[key][1](variants, closest)) for key in limits)
    if never:
        raise NothingFits(f"no variant meets {limits_text({key: limits[key] for key in never})}; "
                          f"the closest is {closest} ({shown})")
    raise NothingFits(f"no variant meets {limits_text(limits)} together; the closest is {closest} ({shown})")
