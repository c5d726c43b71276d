"""The codelab's architecture names and the Keras application behind each.

`mobilenet_<alpha>_<size>` is MobileNet v1 (keras.applications.MobileNet),
`mobilenet_v2_<alpha>_<size>` is MobileNetV2; both without the ImageNet top,
average-pooled, so the base model maps an image to one feature vector.
"""

from dataclasses import dataclass

KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/"

V1_ALPHAS = {"1.0": "1_0", "0.75": "7_5", "0.50": "5_0", "0.25": "2_5"}
V1_SIZES = (224, 192, 160, 128)
V2_ALPHAS = ("0.35", "0.50", "0.75", "1.0", "1.3", "1.4")
V2_SIZES = (224, 192, 160, 128, 96)

DEFAULT = "mobilenet_v2_1.0_224"


@dataclass(frozen=True)
class Architecture:
    name: str
    version: int
    alpha: float
    size: int

    @property
    def weights_file(self):
        """The file name keras.applications downloads for this model, no top."""
        if self.version == 1:
            alpha_text = V1_ALPHAS[self.name.split("_")[1]]
            return f"mobilenet_{alpha_text}_{self.size}_tf_no_top.h5"
        return (
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_"
            f"{float(self.alpha)}_{self.size}_no_top.h5"
        )

    @property
    def weights_url(self):
        folder = "mobilenet/" if self.version == 1 else "mobilenet_v2/"
        return KERAS_WEIGHTS + folder + self.weights_file

    def base_model(self, weights_path):
        """The Keras base model: (v - 128) / 128 pixels in, pooled features out."""
        import keras

        application = keras.applications.MobileNet if self.version == 1 else keras.applications.MobileNetV2
        return application(
            input_shape=(self.size, self.size, 3),
            alpha=self.alpha,
            include_top=False,
            weights=str(weights_path) if weights_path else None,
            pooling="avg",
        )


    def feature_extractor(self, weights_path):
        """A tf.function from a batch of (v - 128) / 128 pixels to pooled features."""
        import tensorflow as tf

        model = self.base_model(weights_path)
        return tf.function(lambda pixels: model(pixels, training=False), input_signature=[
            tf.TensorSpec([None, self.size, self.size, 3], tf.float32)])


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
    return names


ARCHITECTURES = _all()


def get(name):
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(
            f"unknown architecture {name!r}; valid: {', '.join(ARCHITECTURES)}"
        ) from None
