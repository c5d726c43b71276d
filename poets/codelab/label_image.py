"""The codelab's label_image.py: the top 5 labels of one photo.

    python -m poets.codelab.label_image --graph retrained_graph.pb --labels retrained_labels.txt --image photo.jpg

Takes a frozen graph (.pb) or a TFLite model (.tflite, .lite). Prints the
evaluation time of the one image, a blank line, then `label score` lines.
The time covers running the model only: loading the graph, and one warm-up
run on a blank image that lets TensorFlow finish optimizing it, come before.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from poets.core.contract import INPUT, OUTPUT
from poets.core.images import load_photo
from poets.models.graphs import open_model


def label_image(graph: Path, labels: Path, image: Path, input_size: int | None = None, input_layer: str = INPUT,
                output_layer: str = OUTPUT) -> tuple[float, list[tuple[str, float]]]:
    """(seconds for the one image, [(label, score)] best first)."""
    with open_model(graph, input_layer, output_layer) as model:
        size = input_size or model.size or 224
        pixels = load_photo(image, size)[None]
        model(np.zeros_like(pixels))  # warm-up
        started = time.perf_counter()
        probabilities = model(pixels)[0]
        seconds = time.perf_counter() - started
    names = Path(labels).read_text(encoding="utf-8").splitlines()
    order = np.argsort(probabilities)[::-1]
    return seconds, [(names[i], float(probabilities[i])) for i in order]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print the top 5 labels of an image.")
    parser.add_argument("--graph", required=True, help="frozen graph (.pb) or TFLite model (.tflite, .lite)")
    parser.add_argument("--labels", required=True, help="one label a line, in output order")
    parser.add_argument("--image", required=True)
    parser.add_argument("--input_size", type=int, help="default: from the graph's input shape")
    parser.add_argument("--input_layer", default=INPUT)
    parser.add_argument("--output_layer", default=OUTPUT)
    args = parser.parse_args(argv)
    for path in (args.graph, args.labels, args.image):
        if not Path(path).is_file():
            parser.error(f"no such file: {path}")
    seconds, ranked = label_image(args.graph, args.labels, args.image, args.input_size,
                                  args.input_layer, args.output_layer)
    print(f"Evaluation time (1-image): {seconds:.3f}s\n")
    for label, score in ranked[:5]:
        print(f"{label} {score:.5f}")


if __name__ == "__main__":
    sys.exit(main())
