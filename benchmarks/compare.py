"""Compare's cost against separate runs, and its table, on the flower photos.

    .venv/bin/python benchmarks/compare.py [--data ../shared/data] [--architecture mobilenet_0.75_224]

In fresh data dirs, side by side on this machine: one cold MobileModel run
(int8, seed 0); five separate MobileModel runs of the five modes, one after
the other in one data dir (the second and later reuse the first's
bottlenecks and head); Compare of the five modes for seed 0, cold; then the
same Compare for seeds 0-4 (four more seeds on the cached bottlenecks); and
the choice by `--max-size-kb 2500`, checked against the table. Prints the
ratios and the table and writes benchmarks/results/compare.json.
"""

import json
import sys
import tempfile
from pathlib import Path

from poets.variants import quantize
from runs import base_model_url, dataset_url, luigi, parser

ROOT = Path(__file__).resolve().parents[1]


def main():
    args = parser(__doc__.split("\n\n")[0]).parse_args()
    work = Path(tempfile.mkdtemp(prefix="compare-"))
    common = ["--local-scheduler", "--architecture", args.architecture,
              "--dataset-url", dataset_url(args), "--base-model-url", base_model_url(args)]
    luigi_bin = str(Path(sys.executable).parent / "luigi")

    def run(workflow, data_dir, *flags):
        return luigi([luigi_bin, "--module", "workflows", workflow, "--data-dir", str(work / data_dir), *common,
                      *flags])

    seconds = {"one_cold_run": run("MobileModel", "one", "--quantization-mode", "int8")}
    seconds["five_separate_runs"] = sum(run("MobileModel", "separate", "--quantization-mode", mode)
                                        for mode in quantize.MODES)
    seconds["compare_seed_0"] = run("Compare", "compare")
    seconds["compare_four_more_seeds"] = run("Compare", "compare", "--random-seeds", "0,1,2,3,4")
    seconds["compare_max_size_kb_2500"] = run("Compare", "compare", "--random-seeds", "0,1,2,3,4",
                                              "--max-size-kb", "2500")
    [folder] = [p.parent for p in (work / "compare" / "compare").glob("*/compare.json")
                if json.loads(p.read_text())["limits"]]
    comparison = json.loads((folder / "compare.json").read_text())
    fitting = [c for c in comparison["combinations"] if c["size_bytes"] <= 2500 * 1000]
    best = max(c["accuracy"] for c in fitting)
    chosen = comparison["chosen"]
    row = next(c for c in comparison["combinations"] if (c["architecture"], c["variant"], c["random_seed"])
               == (chosen["architecture"], chosen["variant"], chosen["random_seed"]))
    check = {"chosen": f"{chosen['variant']}/seed {chosen['random_seed']}", "size_bytes": row["size_bytes"],
             "accuracy": row["accuracy"], "most_accurate_under_2500_kb": best, "agrees": row["accuracy"] == best}
    ratios = {"compare_seed_0_to_one_cold_run": seconds["compare_seed_0"] / seconds["one_cold_run"],
              "five_separate_runs_to_one_cold_run": seconds["five_separate_runs"] / seconds["one_cold_run"],
              "each_further_seed_to_one_cold_run": seconds["compare_four_more_seeds"] / 4 / seconds["one_cold_run"]}
    result = {"architecture": args.architecture, "seconds": seconds, "ratios": ratios, "max_size_kb_2500": check,
              "variants": comparison["variants"], "combinations": comparison["combinations"]}
    out = ROOT / "benchmarks" / "results" / "compare.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("| run | seconds | against one cold run |\n|---|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {value:.0f} | {value / seconds['one_cold_run']:.2f}x |")
    print(f"\neach further seed: {ratios['each_further_seed_to_one_cold_run']:.2f}x one cold run")
    print("\n| variant | seeds | accuracy mean (range) | cross-entropy mean | size that ships (bytes) | ms a photo "
          "| Pareto (size, latency) | against the float model |\n|---|---|---|---|---|---|---|---|")
    for v in comparison["variants"]:
        print(f"| {v['variant']} | {len(v['seeds'])} | {v['accuracy']:.4f} ({v['accuracy_spread'][0]:.4f}-"
              f"{v['accuracy_spread'][1]:.4f}) | {v['cross_entropy']:.4f} | {v['size_bytes']:,} | "
              f"{1000 * v['latency_s']:.1f} | {v['pareto_size']}, {v['pareto_latency']} | {v['versus_float']} |")
    print(f"\n--max-size-kb 2500 shipped {check['chosen']} ({check['size_bytes']:,} bytes, accuracy "
          f"{check['accuracy']:.4f}); the most accurate under 2,500 KB in the table: {best:.4f}")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
