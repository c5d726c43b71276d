"""The apps people run an exported model in, each preparing photos its own way.

- MediaPipe Tasks' ImageClassifier, the runtime behind Google's current
  Android, iOS, web and Python image-classification samples: it loads the
  model by path and reads the labels and the input normalisation from the
  model's metadata, and resizes photos its own way.
- The codelab's Android app (`ImageClassifier.java`): a camera frame scaled
  (not centre-cropped) to the input size as an 8-bit ARGB bitmap, each
  channel written as (channel - 128) / 128 in RGB order.
"""

from pathlib import Path

import numpy as np

from poets.core import quiet
from poets.core.contract import normalized


def mediapipe_probabilities(model_path: Path, photos: list[Path], labels: list[str]) -> np.ndarray:
    """MediaPipe's scores [photos, labels] for `photos`, columns in `labels` order.

    The classifier is created from the model path and nothing else, as the
    samples do. Raises KeyError when it names a label not in `labels`.
    """
    column = {label: i for i, label in enumerate(labels)}
    scores = np.zeros((len(photos), len(labels)), np.float32)
    with quiet.chatter_filtered():
        import mediapipe as mp
        from mediapipe.tasks.python import vision

        classifier = vision.ImageClassifier.create_from_model_path(str(model_path))
        try:
            for row, photo in enumerate(photos):
                result = classifier.classify(mp.Image.create_from_file(str(photo)))
                for category in result.classifications[0].categories:
                    scores[row, column[category.category_name]] = category.score
        finally:
            classifier.close()
    return scores


def android_pixels(path: Path, size: int) -> np.ndarray:
    """float32 [size, size, 3]: the photo as the codelab's Android app feeds it.

    The app takes an 8-bit bitmap of the frame scaled bilinearly to size x
    size, whole (no crop, no EXIF rotation: camera frames have none), and
    writes ((pixel >> 16) & 0xFF - 128) / 128.0f and so on for R, G, B.
    """
    from PIL import Image

    with Image.open(path) as image:
        bitmap = image.convert("RGB").resize((size, size), Image.BILINEAR)
    return normalized(np.asarray(bitmap, np.float32))


def top_label_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of rows of two [photos, classes] score arrays with the same top label."""
    return float((np.asarray(a).argmax(axis=1) == np.asarray(b).argmax(axis=1)).mean())
