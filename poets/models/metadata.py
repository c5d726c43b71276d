"""TFLite model metadata: the labels and the input normalisation inside the model file.

MediaPipe Tasks' ImageClassifier (behind Google's Android, iOS, web and
Python image-classification samples) and the Android Task library read
them from the model itself, so a client needs nothing but the one file. The
metadata follows the TFLite metadata schema (`metadata_schema.fbs`), as
both Model Makers write it: a `TFLITE_METADATA` buffer in the model's
flatbuffer, and the label file appended to the model as a zip archive.

Written here rather than with a library writer: MediaPipe's
(`mediapipe.tasks.python.metadata`) imports a compiled module that its PyPI
wheel lacks, and tflite-support's needs the system's libusb and has had no
release since 2023. The schema's generated classes come from the mediapipe
wheel (the metadata) and from LiteRT's (the model), the writing is the few
steps of their populator.
"""

import io
import zipfile
from pathlib import Path

import numpy as np

from poets.core.contract import INPUT_MEAN, INPUT_STD

METADATA_FIELD = "TFLITE_METADATA"
LABELS_FILE = "labels.txt"
# Every field written here is in the schema's first version (1.0.0); the
# versions after it add tokenizers, tensor groups, audio and custom metadata.
MIN_PARSER_VERSION = "1.0.0"
AUTHOR = "poets-workflow"


class MetadataError(ValueError):
    """The model or the labels cannot be described as an image classifier."""


def with_metadata(model: bytes, labels_path: Path, name: str, description: str, version: str,
                  model_path: str = "the model") -> bytes:
    """`model` with image-classifier metadata and the labels file packed in.

    Args:
      model: TFLite bytes, with or without metadata already (it is replaced).
      labels_path: one label a line, in the order of the model's outputs.
      name, description, version: the model's, as clients show them.
      model_path: how errors name the model.

    Returns:
      The new model bytes: the flatbuffer, then a zip holding `labels.txt`.

    Raises:
      MetadataError: the input is not one float32 RGB image, or the labels
        do not match the outputs; the message names the file at fault.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    tree = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    (height, width), labels = _image_and_labels(tree.subgraphs[0], labels_path, model_path, schema)
    metadata = _image_classifier(name, description, version, height=height, width=width, classes=len(labels))
    builder = flatbuffers.Builder(0)
    builder.Finish(metadata.Pack(builder), b"M001")
    _set_metadata(tree, bytes(builder.Output()), schema)
    builder = flatbuffers.Builder(0)
    builder.Finish(tree.Pack(builder), b"TFL3")
    return _with_labels_file(bytes(builder.Output()), labels)


def _image_and_labels(subgraph, labels_path, model_path, schema) -> tuple[tuple[int, int], list[str]]:
    """((height, width) of the model's one image input, the labels of its one output); MetadataError
    naming the file at fault unless it is an image classifier with as many outputs as labels."""
    if len(subgraph.inputs) != 1 or len(subgraph.outputs) != 1:
        raise MetadataError(f"{model_path}: {len(subgraph.inputs)} inputs and {len(subgraph.outputs)} outputs; "
                            "an image classifier has one of each")
    image, scores = subgraph.tensors[subgraph.inputs[0]], subgraph.tensors[subgraph.outputs[0]]
    shape = [int(d) for d in image.shape]
    if len(shape) != 4 or shape[3] != 3 or image.type != schema.TensorType.FLOAT32:
        raise MetadataError(f"{model_path}: its input is {_describe(image, schema)}, not an image "
                            "(float32 [1, height, width, 3])")
    labels = Path(labels_path).read_text(encoding="utf-8").splitlines()
    classes = int(scores.shape[-1])
    if len(labels) != classes:
        raise MetadataError(f"{labels_path}: {len(labels)} labels, but {model_path} gives {classes} "
                            "class probabilities")
    return (shape[1], shape[2]), labels


def _set_metadata(tree, metadata: bytes, schema) -> None:
    """Put the `metadata` flatbuffer into the model `tree` as its TFLITE_METADATA."""
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, np.uint8)
    tree.metadata = tree.metadata or []
    entry = next((entry for entry in tree.metadata if entry.name.decode() == METADATA_FIELD), None)
    if entry:  # written before: replaced in place, leaving no orphan buffer
        tree.buffers[entry.buffer] = buffer
    else:
        tree.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = METADATA_FIELD, len(tree.buffers) - 1
        tree.metadata.append(entry)


def _with_labels_file(model: bytes, labels: list[str]) -> bytes:
    """The flatbuffer `model`, then a zip holding the labels file (what MediaPipe reads the labels from)."""
    packed = io.BytesIO()
    packed.write(model)
    # A fixed time on the packed file, as writestr would stamp the current one: the same model and
    # labels give the same bytes, run after run.
    packed_file = zipfile.ZipInfo(LABELS_FILE, date_time=(1980, 1, 1, 0, 0, 0))
    packed_file.external_attr = 0o600 << 16  # what writestr gives a file named by a string
    with zipfile.ZipFile(packed, "a") as archive:
        archive.writestr(packed_file, "\n".join(labels) + "\n")
    return packed.getvalue()


def _describe(tensor, schema):
    types = {code: name for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
    return f"{types.get(tensor.type, tensor.type).lower()} {[int(d) for d in tensor.shape]}"


def _image_classifier(name, description, version, height, width, classes):
    """ModelMetadataT of an image classifier with the graph contract's input."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    normalization = fb.ProcessUnitT(optionsType=fb.ProcessUnitOptions.NormalizationOptions,
                                    options=fb.NormalizationOptionsT(mean=[INPUT_MEAN], std=[INPUT_STD]))
    image = fb.TensorMetadataT(
        name="image",
        description=f"An RGB photo resized to {width}x{height}, each channel value v as "
                    f"(v - {INPUT_MEAN:g}) / {INPUT_STD:g}.",
        content=fb.ContentT(contentPropertiesType=fb.ContentProperties.ImageProperties,
                            contentProperties=fb.ImagePropertiesT(
                                colorSpace=fb.ColorSpaceType.RGB,
                                defaultSize=fb.ImageSizeT(width=width, height=height))),
        processUnits=[normalization],
        stats=fb.StatsT(max=[(255 - INPUT_MEAN) / INPUT_STD], min=[(0 - INPUT_MEAN) / INPUT_STD]),
    )
    probability = fb.TensorMetadataT(
        name="probability",
        description=f"Probabilities of the {classes} labels, in the order of {LABELS_FILE}.",
        content=fb.ContentT(contentPropertiesType=fb.ContentProperties.FeatureProperties,
                            contentProperties=fb.FeaturePropertiesT()),
        stats=fb.StatsT(max=[1.0], min=[0.0]),
        associatedFiles=[fb.AssociatedFileT(name=LABELS_FILE, description="The labels, one a line.",
                                            type=fb.AssociatedFileType.TENSOR_AXIS_LABELS)],
    )
    subgraph = fb.SubGraphMetadataT(name="image_classifier", inputTensorMetadata=[image],
                                    outputTensorMetadata=[probability])
    return fb.ModelMetadataT(name=name, description=description, version=version, author=AUTHOR,
                             subgraphMetadata=[subgraph], minParserVersion=MIN_PARSER_VERSION)


def read_metadata(model: bytes) -> dict | None:
    """The metadata of `model` as plain values, or None when it has none:
    {"name", "description", "version", "min_parser_version", "mean", "std",
    "color_space", "size": [width, height], "labels_file", "labels"}."""
    from ai_edge_litert import schema_py_generated as schema
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    root = schema.Model.GetRootAs(model, 0)
    buffer = next((root.Buffers(root.Metadata(i).Buffer()).DataAsNumpy().tobytes()
                   for i in range(root.MetadataLength()) if root.Metadata(i).Name().decode() == METADATA_FIELD), None)
    if buffer is None:
        return None
    metadata = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAs(buffer, 0))
    image = metadata.subgraphMetadata[0].inputTensorMetadata[0]
    probability = metadata.subgraphMetadata[0].outputTensorMetadata[0]
    normalization = next((unit.options for unit in image.processUnits or []
                          if unit.optionsType == fb.ProcessUnitOptions.NormalizationOptions), None)
    properties = image.content.contentProperties if image.content else None
    labels_file = next((f.name.decode() for f in probability.associatedFiles or []
                        if f.type == fb.AssociatedFileType.TENSOR_AXIS_LABELS), None)
    labels = None
    if labels_file and zipfile.is_zipfile(io.BytesIO(model)):
        with zipfile.ZipFile(io.BytesIO(model)) as archive:
            if labels_file in archive.namelist():
                labels = archive.read(labels_file).decode("utf-8").splitlines()
    spaces = {code: name for name, code in vars(fb.ColorSpaceType).items() if not name.startswith("_")}
    return {
        "name": _text(metadata.name), "description": _text(metadata.description),
        "version": _text(metadata.version), "min_parser_version": _text(metadata.minParserVersion),
        "mean": [float(v) for v in normalization.mean] if normalization else None,
        "std": [float(v) for v in normalization.std] if normalization else None,
        "color_space": spaces.get(properties.colorSpace) if properties else None,
        "size": [properties.defaultSize.width, properties.defaultSize.height]
        if properties and properties.defaultSize else None,
        "labels_file": labels_file, "labels": labels,
    }


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value
