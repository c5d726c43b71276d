"""The export: TFLite models that clients load from the one file, checked on real photos.

Every TFLite model the pipeline writes goes through `for_clients`: the
metadata of `poets.models.metadata` written in, then proven harmless (the same
probabilities as before) and loadable by MediaPipe's ImageClassifier.
`check_against_graph` proves a converted model computes what its graph does.
"""

from pathlib import Path

import numpy as np

from poets.models import graphs
from poets.models.clients import top_label_agreement
from poets.models.metadata import with_metadata
from poets.models.tflite import TFLiteClassifier, runtime_needs

# The TFLite kernels sum in another order than TensorFlow's.
FLOAT_TOLERANCE = 1e-4
# A quantized model may change its mind on a photo the float one finds close.
MIN_AGREEMENT = 0.8
# Metadata is data beside the model: it must not move any output at all.
METADATA_TOLERANCE = 1e-6


class ExportCheckFailed(AssertionError):
    pass


def check_against_graph(model: bytes, reference: Path, pixels: np.ndarray, exact: bool) -> dict:
    """Run `model` and the frozen graph `reference` on `pixels`.

    With `exact`, the model is a conversion of that graph and must give its
    probabilities within FLOAT_TOLERANCE; otherwise (a quantized model against
    the optimized graph) its top label must agree on MIN_AGREEMENT of them.

    Returns {"reference", "photos_checked", "max_difference", "agreement"}.
    Raises ExportCheckFailed, naming the graph, when the check fails.
    """
    with graphs.Classifier(graphs.load(reference)) as classify:
        expected = classify(pixels)
    got = TFLiteClassifier(model_content=model)(pixels)
    check = {"reference": Path(reference).name, "photos_checked": len(pixels),
             "max_difference": float(np.abs(got - expected).max()),
             "agreement": top_label_agreement(got, expected)}
    if exact and not check["max_difference"] <= FLOAT_TOLERANCE:
        raise ExportCheckFailed(f"the TFLite model differs from {reference} by {check['max_difference']:.3g}")
    if not check["agreement"] >= MIN_AGREEMENT:
        raise ExportCheckFailed(
            f"the TFLite model agrees with {reference} on only {check['agreement']:.0%} of {len(pixels)} photos")
    return check


def for_clients(model: bytes, labels_path: Path, arch, variant: str, version: str,
                pixels: np.ndarray, model_path: Path) -> tuple[bytes, dict]:
    """`model` with its metadata written in, and what clients need to know of it.

    Args:
      model: TFLite bytes as the converter wrote them.
      labels_path: the labels file, one a line in output order.
      arch, variant: what the model is (an Architecture, a variant's name), for its metadata's name.
      version: the metadata's version (the id of the artifact writing it).
      pixels: photos as the model's input expects them, for the checks.
      model_path: where the model will be written, for error messages.

    Returns:
      (the model with metadata, {"size_bytes", "size_without_metadata",
      "min_runtime_version", "builtin_ops", "metadata_max_difference"}).

    Raises:
      MetadataError: the model is not an image classifier, or the labels do
        not fit it. ExportCheckFailed: the metadata changed the outputs.
    """
    classes = len(Path(labels_path).read_text(encoding="utf-8").splitlines())
    described = with_metadata(model, labels_path, name=f"{arch.name} retrained ({variant})",
                              description=f"Classifies photos into {classes} classes.", version=version,
                              model_path=str(model_path))
    difference = float(np.abs(TFLiteClassifier(model_content=described)(pixels)
                              - TFLiteClassifier(model_content=model)(pixels)).max())
    if not difference <= METADATA_TOLERANCE:
        raise ExportCheckFailed(f"{model_path}: writing its metadata changed its outputs by {difference:.3g}")
    return described, {"size_bytes": len(described), "size_without_metadata": len(model),
                       **runtime_needs(model), "metadata_max_difference": difference}


def check_client_loads(model_path: Path, labels: list[str]) -> None:
    """MediaPipe's ImageClassifier loads `model_path` from the file alone and
    scores a photo with the model's labels; raises ExportCheckFailed naming
    the file if not."""
    import tempfile

    from PIL import Image

    from poets.models.clients import mediapipe_probabilities

    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder, "grey.png")
        Image.new("RGB", (64, 64), (128, 128, 128)).save(photo)
        try:
            scores = mediapipe_probabilities(model_path, [photo], labels)
        except (ValueError, RuntimeError, OSError, KeyError) as error:
            raise ExportCheckFailed(f"{model_path}: MediaPipe's ImageClassifier cannot use it: {error}") from error
    if not scores.sum() > 0.99:
        raise ExportCheckFailed(f"{model_path}: MediaPipe's ImageClassifier gives scores summing to {scores.sum():.3g}")
