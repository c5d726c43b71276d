"""The reports' photos: thumbnails written beside the page, galleries of them, and the "Photos to
check" section."""

import hashlib
from html import escape
from pathlib import Path

MAX_THUMBNAILS = 48
THUMBNAIL_SIDE = 112


def gallery(indices, evaluation, labels, photos_dir, folder, kind):
    """The test photos `indices` of `evaluation`, each with its true and its predicted label."""
    figures = []
    for i in indices[:MAX_THUMBNAILS]:
        path, label = evaluation.photos[i]
        top = int(evaluation.probabilities[i].argmax())
        figures.append(photo_figure(photos_dir, path, folder, kind, f"true: {escape(label)}<br>predicted: "
                                    f"{escape(labels[top])} {evaluation.probabilities[i][top]:.2f}"))
    return gallery_of(figures, len(indices), kind)


def gallery_of(figures, count, kind):
    """The thumbnails `figures` of `count` photos in a row, and how many more there are."""
    more = count - MAX_THUMBNAILS
    return (f'<div class="{kind}">' + "".join(figures) + "</div>"
            + (f"<p>and {more} more.</p>" if more > 0 else "") if count else "<p>None.</p>")


def photo_figure(photos_dir, path, folder, kind, caption):
    """A <figure> of the photo `path` under `photos_dir`, its thumbnail written beside the report."""
    from PIL import Image, ImageOps

    from poets.core.images import register_heif

    register_heif()
    name = f"thumbnails/{kind}-{hashlib.sha1(path.encode()).hexdigest()[:12]}.jpg"
    with Image.open(Path(photos_dir, path)) as image:
        thumbnail = ImageOps.exif_transpose(image).convert("RGB")
        thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        thumbnail.save(folder / name, quality=80)
    return (f'<figure data-photo="{escape(path)}"><img src="{name}" alt="{escape(path)}">'
            f"<figcaption>{caption}</figcaption></figure>")


# How many duplicate groups the report shows side by side.
MAX_DUPLICATE_GROUPS = 24
REASON_TITLES = {"label": "Labels that look wrong", "duplicate": "Duplicates", "off_topic": "Off-topic photos"}


def _flagged(rows, reason):
    return [row for row in rows if row["reason"] == reason]


def photos_to_show(rows: list, duplicates: list) -> set:
    """The photos the "Photos to check" section shows: its thumbnails need them at hand."""
    shown = set()
    for reason in ("label", "off_topic"):
        shown.update(row["path"] for row in _flagged(rows, reason)[:MAX_THUMBNAILS])
    for group in duplicates[:MAX_DUPLICATE_GROUPS]:
        shown.update(photo["path"] for photo in group["photos"])
    return shown


def photos_to_check_html(check, photos_dir, folder):
    """The "Photos to check" section: warnings, photos per class and split, and
    the flagged photos by reason, the most certain first."""
    rows, findings = check["rows"], check["findings"]
    parts = [f"<h2>Photos to check: {findings['count']}</h2>",
             f'<p>From <code>{escape(check["path"])}</code>: label issues by confident learning on out-of-fold '
             "probabilities, duplicates by content hash and feature similarity, off-topic photos far from every "
             "class. Correct them with <code>--label-fixes</code>, or train without them with "
             "<code>--exclude-flagged</code>.</p>"]
    if findings["warnings"]:
        parts.append("<ul>" + "".join(f"<li>{escape(w)}</li>" for w in findings["warnings"]) + "</ul>")
    head = "".join(f"<th>{split}</th>" for split in ("training", "validation", "testing", "total"))
    counts = "".join(f"<tr><td>{escape(label)}</td>" + "".join(f"<td>{c[split]}</td>" for split in
                                                               ("training", "validation", "testing", "total"))
                     + "</tr>" for label, c in findings["classes"].items())
    parts.append(f"<table><tr><th>class</th>{head}</tr>{counts}</table>")
    for reason in ("label", "off_topic"):
        flagged = _flagged(rows, reason)
        figures = [photo_figure(photos_dir, row["path"], folder, f"check-{reason}",
                                 f"given: {escape(row['label'])}<br>"
                                 + (f"suggested: {escape(row['suggested'])}<br>" if row["suggested"] else "")
                                 + f"score {float(row['score']):.2f}, {escape(row['split'])}")
                   for row in flagged[:MAX_THUMBNAILS]]
        parts += [f"<h3>{REASON_TITLES[reason]}: {len(flagged)}</h3>", gallery_of(figures, len(flagged),
                                                                                  f"check-{reason}")]
    groups = findings["duplicates"]
    parts.append(f"<h3>{REASON_TITLES['duplicate']}: {len(groups)} groups, "
                 f"{findings['by_reason']['duplicate']} photos</h3>")
    for group in groups[:MAX_DUPLICATE_GROUPS]:
        kind = "same bytes" if group["exact"] else f"cosine {group['score']:.3f}"
        figures = "".join(photo_figure(photos_dir, p["path"], folder, "check-duplicate",
                                        f"{escape(p['path'])}<br>{escape(p['label'])}, {escape(p['split'])}")
                          for p in group["photos"])
        parts.append(f'<div class="pair"><p>{kind}</p>{figures}</div>')
    if len(groups) > MAX_DUPLICATE_GROUPS:
        parts.append(f"<p>and {len(groups) - MAX_DUPLICATE_GROUPS} more groups.</p>")
    return "\n".join(parts)
