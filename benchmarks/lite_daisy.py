"""A check of the EfficientNet-Lite weights as built here: ImageNet's class 985 ("daisy") first on daisy photos.

    .venv/bin/python benchmarks/lite_daisy.py [--data ../shared/data] [--photos 40]

Builds each Lite model in Keras from its installed .pth (poets/backbones/efficientnet_lite.py), adds the
ImageNet top the state dict holds (`_fc`, which the pipeline never uses), and classifies the first
--photos daisy photos of the flower archive (sorted by name), each resized to the model's size and
fed as the graph contract's (v - 128) / 128. Writes benchmarks/results/lite_daisy.json.
"""

import json
import tarfile

import numpy as np
from PIL import Image

from poets.backbones import architectures, efficientnet_lite
from poets.backbones.state_dict import read_state_dict
from runs import ROOT, archive, parser

DAISY = 985
LITES = ("efficientnet_lite0_224", "efficientnet_lite1_240", "efficientnet_lite2_260")


def daisy_photos(path, count):
    with tarfile.open(path) as photos:
        members = sorted((m for m in photos.getmembers() if m.name.startswith("flower_photos/daisy/")
                          and m.name.endswith(".jpg")), key=lambda m: m.name)[:count]
        return [Image.open(photos.extractfile(m)).convert("RGB") for m in members]


def main():
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--photos", type=int, default=40)
    args = arguments.parse_args()
    photos = daisy_photos(archive(args), args.photos)
    rows = []
    for name in LITES:
        arch = architectures.get(name)
        state = read_state_dict(arch.weights_url.removeprefix("file://"))
        network = efficientnet_lite.build(arch.model, state)
        pixels = np.stack([np.asarray(p.resize((arch.size, arch.size), Image.BILINEAR), np.float32) for p in photos])
        kernel, bias = efficientnet_lite.imagenet_top(state)
        top = (network.predict((pixels - 128) / 128, verbose=0) @ kernel + bias).argmax(axis=1)
        rows.append({"architecture": name, "photos": len(photos), "daisy_first": int((top == DAISY).sum())})
        print(f"{name:24} daisy (class {DAISY}) first on {rows[-1]['daisy_first']} of {len(photos)} daisy photos")
    (ROOT / "benchmarks" / "results" / "lite_daisy.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
