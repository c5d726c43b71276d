"""A cold run on a bucket whose store misbehaves, against one where it does not.

    .venv/bin/python benchmarks/store_faults.py [--data ../shared/data] [--architecture mobilenet_0.75_224]

moto's S3 on loopback, with tests/fault_proxy.py in front of it: one cold
MobileModel run (int8) through the proxy with no fault, three with 20% of
requests faulted (mixed kinds, proxy seeds 0-2) and one with 60%, each into
a prefix and a cache of its own. Per run: the exit code and the log's last
line, seconds, faults injected by kind, `poets-artifacts verify` on the
bucket, and whether the variants' figures equal the fault-free run's.
Prints a table and writes benchmarks/results/store_faults.json.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runs import base_model_url, dataset_url, parser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.fault_proxy import FaultProxy  # noqa: E402
from tests.helpers import free_port  # noqa: E402

RUNS = [("no faults", 0.0, 0), ("20%, seed 0", 0.2, 0), ("20%, seed 1", 0.2, 1), ("20%, seed 2", 0.2, 2),
        ("60%, seed 0", 0.6, 0)]


def figures(summary):
    return {name: (v["accuracy"], round(v["cross_entropy"], 6), v["size_bytes"])
            for name, v in summary["variants"].items()}


def main():
    args = parser(__doc__.split("\n\n")[0]).parse_args()
    work = Path(tempfile.mkdtemp(prefix="store-faults-"))
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    moto = f"http://127.0.0.1:{port}"
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto, "AWS_CONFIG_FILE": "/nonexistent"})
    import boto3

    client = boto3.client("s3")
    client.create_bucket(Bucket="poets")
    flags = ["--architecture", args.architecture, "--quantization-mode", "int8",
             "--dataset-url", dataset_url(args), "--base-model-url", base_model_url(args)]
    results = []
    for index, (label, rate, seed) in enumerate(RUNS):
        prefix = f"s3://poets/run{index}"
        proxy = FaultProxy(moto, rate=rate, seed=seed).start()
        env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url}
        started = time.monotonic()
        run = subprocess.run([str(Path(sys.executable).parent / "luigi"), "--module", "workflows", "MobileModel",
                              "--local-scheduler", "--data-dir", prefix, "--cache-dir", str(work / f"cache{index}"),
                              *flags], cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - started
        proxy.stop()
        verify = subprocess.run([sys.executable, "-m", "workflows.artifacts", "verify", "--data-dir", prefix,
                                 "--cache-dir", str(work / f"cache{index}"), *flags], cwd=ROOT, capture_output=True,
                                text=True)
        keys = [item["Key"] for page in client.get_paginator("list_objects_v2").paginate(
            Bucket="poets", Prefix=f"run{index}/mobile_model/") for item in page.get("Contents", [])]
        summary = [json.loads(client.get_object(Bucket="poets", Key=k)["Body"].read()) for k in keys
                   if k.endswith("/summary.json")]
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        results.append({"run": label, "rate": rate, "seed": seed, "returncode": run.returncode,
                        "last_line": lines[-1] if lines else "", "traceback": "Traceback" in run.stderr,
                        "failures": [line for line in lines
                                     if line.startswith("ERROR:") or "error in complete()" in line],
                        "seconds": seconds, "requests": proxy.requests, "injected": proxy.injected,
                        "verify": (verify.stdout.strip().splitlines() or [""])[-1],
                        "figures": figures(summary[0]) if summary else None})
        print(f"{label}: rc {run.returncode}, {seconds:.0f} s, {sum(proxy.injected.values())} faults, "
              f"{results[-1]['verify']}", flush=True)
    server.stop()
    clean = results[0]
    for result in results:
        result["same_figures"] = result["figures"] == clean["figures"] if result["figures"] else None
        result["time_against_no_faults"] = result["seconds"] / clean["seconds"]
    out = ROOT / "benchmarks" / "results" / "store_faults.json"
    out.write_text(json.dumps({"architecture": args.architecture, "runs": results}, indent=2) + "\n")
    print("\n| run | exit | seconds | against no faults | requests | faults (slowdown, internal, reset, short, delay) "
          "| verify | figures as without faults |\n|---|---|---|---|---|---|---|---|")
    for r in results:
        faults = ", ".join(str(r["injected"][k]) for k in ("slowdown", "internal", "reset", "short", "delay"))
        print(f"| {r['run']} | {r['returncode']} | {r['seconds']:.0f} | {r['time_against_no_faults']:.2f}x | "
              f"{r['requests']} | {sum(r['injected'].values())} ({faults}) | {r['verify']} | {r['same_figures']} |")
    for r in results:
        if r["returncode"]:
            print(f"\n{r['run']} failed ({'with' if r['traceback'] else 'no'} traceback):", *r["failures"], sep="\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
