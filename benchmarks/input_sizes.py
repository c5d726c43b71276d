"""Each backbone of the default pair fed the whole photo at a larger size than it was trained at,
beside the default's crops of 256, scored as feature_combinations scores the cached features.

    .venv/bin/python benchmarks/input_sizes.py --data-dir DIR [--sizes 256,288]

A network trained on random crops sees objects smaller at its own size than it learnt them, and one
that pools globally takes any input size ("FixRes", Touvron et al. 2019): the whole photo at a size
above the network's own might give better features than the centre crop the default feeds each
backbone. DIR: the data dir of a run of the default, whose Bottlenecks hold the crops' features (and
give the photos, their labels and split). Each backbone at each size is its Keras model rebuilt on a
larger input with the same weights, converted for LiteRT and run on every photo (40-55 s a pass here),
its features cached in DIR-input-sizes/. Each feature set, and the mixes of them with the crops, go
through CheckPhotos' 5-fold softmax regression (feature_combinations.table). Prints a table and
writes benchmarks/results/input_sizes.json (or --out).
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from feature_combinations import cached, table  # noqa: E402

from poets.backbones import architectures  # noqa: E402
from poets.core.images import load_photo, split_of  # noqa: E402


def whole_features(part, size: int, root: Path, paths: list[str], cache: Path) -> np.ndarray:
    """The pooled features of `part` (an EfficientNet-Lite) of each photo resized whole to `size`."""
    import keras

    from poets.models import tflite

    out = cache / f"{part.name}_whole_at_{size}.npy"
    if out.exists():
        return np.load(out)
    model = part.base_model(Path(part.weights_url.removeprefix("file://")))
    # The same layers on a larger input: Keras refuses to call a model on another shape than it was
    # built for, and clone_model rebuilds it there; no weight depends on the input's size.
    larger = keras.models.clone_model(model, input_tensors=keras.Input((size, size, 3), name="input"))
    larger.set_weights(model.get_weights())
    converted = cache / f"{part.name}_whole_at_{size}.tflite"
    converted.write_bytes(tflite.keras_to_tflite(larger, size))
    run = tflite.batch_runner(converted, threads=os.cpu_count())
    features = np.concatenate([run(np.stack([load_photo(root / path, size) for path in paths[start:start + 32]]))
                               for start in range(0, len(paths), 32)])
    np.save(out, features)
    return features


def main():
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--data-dir", required=True, type=Path)
    arguments.add_argument("--sizes", default="256,288")
    arguments.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "input_sizes.json")
    args = arguments.parse_args()
    pair = architectures.get(architectures.DEFAULT)
    found = cached(args.data_dir)
    missing = [branch.name for branch in pair.branches if branch.name not in found]
    if missing:
        raise SystemExit(f"no Bottlenecks of {', '.join(missing)} in {args.data_dir}: run the default there first")
    crops = {branch.part.name: found[branch.name][0] for branch in pair.branches}
    _, paths, labels = found[pair.branches[0].name]
    root = next(args.data_dir.glob("dataset/*/photos"))
    cache = args.data_dir.with_name(args.data_dir.name + "-input-sizes")
    cache.mkdir(exist_ok=True)
    classes = sorted(set(labels))
    truth = np.array([classes.index(label) for label in labels])
    testing = np.array([split_of(path, 10, 10) == "testing" for path in paths])
    first, second = (branch.part for branch in pair.branches)
    combinations = {f"both crops of {pair.size} (the default's)": [crops[first.name], crops[second.name]]}
    for size in [int(size) for size in args.sizes.split(",")]:
        whole = {part.name: whole_features(part, size, root, paths, cache) for part in (first, second)}
        combinations.update({
            f"{first.name} whole at {size}": [whole[first.name]],
            f"{second.name} whole at {size}": [whole[second.name]],
            f"both whole at {size}": [whole[first.name], whole[second.name]],
            f"{first.name} whole at {size} + {second.name} crop": [whole[first.name], crops[second.name]],
            f"{first.name} crop + {second.name} whole at {size}": [crops[first.name], whole[second.name]],
        })
    rows = table(combinations, truth, len(classes), testing)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
