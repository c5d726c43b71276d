"""Listing the artifacts under a data dir and cleaning out what no current parameter reaches."""

import json
import os
import time
from pathlib import Path

import pytest

from tests.helpers import build, families, flags, fresh
from workflows import MobileModel, artifacts


@pytest.mark.slow
def test_list_and_clean_keep_what_the_parameters_reach(changeable, capsys):
    base, data_dir = changeable, Path(changeable["data_dir"])
    other = {**base, "quantization_mode": "float16"}
    build(MobileModel(**base), MobileModel(**other))
    leftover = data_dir / "retrain" / "0123456789abcdef-luigi-tmp-0000000001"
    leftover.mkdir()
    recent = data_dir / "retrain" / "fedcba9876543210-luigi-tmp-0000000002"
    recent.mkdir()
    os.utime(leftover, (time.time() - 7200, time.time() - 7200))
    # A run still writing: its folder made two hours ago, a file in it growing now.
    growing = data_dir / "bottleneck_shards" / "00112233445566778-luigi-tmp-0000000003"
    growing.mkdir()
    (growing / "features.npy").write_bytes(b"still coming")
    os.utime(growing, (time.time() - 7200, time.time() - 7200))
    reach = artifacts.reached(MobileModel(**base))

    artifacts.main(["list", *flags(base)])
    listing = capsys.readouterr().out
    assert "quantization_mode=float16" in listing and " unreached " in listing and " incomplete " in listing
    present = sum(1 for f in data_dir.glob("*/*") if (f.parent.name, f.name) in reach)
    assert f"; {present} reached by these parameters" in listing and present >= 22

    before = set(data_dir.glob("*/*"))
    artifacts.main(["clean", *flags(base)])
    dry = capsys.readouterr().out
    assert "would remove" in dry and "--yes" in dry and set(data_dir.glob("*/*")) == before

    artifacts.main(["clean", "--yes", *flags(base)])
    after = set(data_dir.glob("*/*"))
    assert after == {f for f in before if (f.parent.name, f.name) in reach} | {recent, growing}
    assert not leftover.exists() and recent.exists() and growing.exists()
    fresh()
    assert build(MobileModel(**base)) == []
    fresh()
    # The other mode's folders were cleaned: they are made again, from what was kept.
    assert "Quantize" in families(build(MobileModel(**other)))
    assert build(MobileModel(**other)) == []


@pytest.mark.slow
def test_clean_keeps_what_an_explicit_android_variant_ships(changeable, capsys):
    # float16 ships though the run quantizes weights_rounded: its export and
    # evaluation are run() 's dynamic requirements, and reached.
    shipped = {**changeable, "android_variant": "float16"}
    build(MobileModel(**shipped))
    artifacts.main(["clean", "--yes", *flags(shipped)])
    capsys.readouterr()
    fresh()
    assert build(MobileModel(**shipped)) == []


def test_every_record_says_which_versions_and_machine_made_it(completed, capsys):
    import platform

    import numpy

    params, _ = completed
    records = [json.loads(p.read_text()) for p in Path(params["data_dir"]).glob("*/*/params.json")]
    assert records and all(r["made_with"] == records[0]["made_with"] for r in records)
    made_with = records[0]["made_with"]
    assert made_with["python"] == platform.python_version() and made_with["packages"]["numpy"] == numpy.__version__
    assert {"keras", "ai-edge-litert"} <= set(made_with["packages"]) and made_with["cpu"]
    artifacts.main(["list", "--made-with", *flags(params)])
    listing = capsys.readouterr().out
    assert f"    made with: python {platform.python_version()}, " in listing
    assert f"numpy {numpy.__version__}" in listing and made_with["platform"] in listing
