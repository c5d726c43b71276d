"""The user's fixes to the labels (`--label-fixes`): a CSV of `path,label`, a class or "exclude"
for each photo to change, read and applied here; and how many test photos they touch, which is
said beside every test figure."""

import csv
from pathlib import Path

import numpy as np

from poets.core.failures import BadInput

EXCLUDE = "exclude"


def read_label_fixes(path: str | Path, flag: str = "--label-fixes") -> dict[str, tuple[str, int]]:
    """{photo path under the dataset root: (class name or "exclude", line)} from a CSV
    with the columns `path,label` (more columns, as photos_to_check.csv has,
    are ignored). Raises ValueError naming the flag, the file and the line."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"{flag}: cannot read {path}: {error}") from None
    lines = text.splitlines()
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header or "path" not in header or "label" not in header:
        raise BadInput(f"{flag}: {path}, line 1: expected a header with the columns path,label; got {header!r}")
    at_path, at_label = header.index("path"), header.index("label")
    fixes = {}
    for number, fields in enumerate(reader, start=2):
        if not fields or not "".join(fields).strip():
            continue
        if len(fields) <= max(at_path, at_label) or not fields[at_path].strip() or not fields[at_label].strip():
            raise BadInput(f"{flag}: {path}, line {number}: expected a photo path and a label, got {fields!r}")
        photo, label = fields[at_path].strip(), fields[at_label].strip()
        if photo in fixes and fixes[photo][0] != label:
            raise BadInput(f"{flag}: {path}, line {number}: {photo} is given two labels, "
                           f"{fixes[photo][0]!r} (line {fixes[photo][1]}) and {label!r}")
        fixes[photo] = (label, number)
    return fixes


def apply_label_fixes(paths: list[str], labels: list[str], fixes: dict[str, tuple[str, int]], classes: list[str],
                      source: str, flag: str = "--label-fixes") -> tuple[np.ndarray, list[str]]:
    """(a mask of the photos kept, their labels with `fixes` applied) for the
    photos `paths` labelled `labels`. Raises ValueError naming the flag and the
    file `source`: a photo that is not among them, a class that is not one of
    `classes`, or fixes that leave a class without photos."""
    index = {path: i for i, path in enumerate(paths)}
    kept, fixed = np.ones(len(paths), bool), list(labels)
    for photo, (label, line) in fixes.items():
        if photo not in index:
            raise BadInput(f"{flag}: {source}, line {line}: {photo!r} is not a photo of the dataset "
                           f"(paths are relative to its root, like roses/123.jpg)")
        if label != EXCLUDE and label not in classes:
            raise BadInput(f"{flag}: {source}, line {line}: {label!r} is not a class; choose one of: "
                           f"{', '.join(classes)}, or {EXCLUDE}")
        if label == EXCLUDE:
            kept[index[photo]] = False
        else:
            fixed[index[photo]] = label
    left = {label for label, keep in zip(fixed, kept) if keep}
    for label in classes:
        if label not in left:
            raise BadInput(f"{flag}: {source}: the fixes leave class {label!r} without photos")
    return kept, fixed


def test_label_edits(fixes: dict[str, tuple[str, int]], validation_percentage: int,
                     testing_percentage: int) -> dict:
    """{"relabelled", "excluded"}: how many of `fixes` (read_label_fixes's) give a test photo another
    class than its folder's, or leave it out. Either moves the test figures away from the split others
    measure on (and towards the model's own answers, where the fixes took its suggestions): never silent."""
    from poets.core.images import split_of

    tested = [(photo, label) for photo, (label, _) in fixes.items()
              if split_of(photo, validation_percentage, testing_percentage) == "testing"]
    return {"relabelled": sum(label not in (EXCLUDE, photo.split("/")[0]) for photo, label in tested),
            "excluded": sum(label == EXCLUDE for _, label in tested)}
