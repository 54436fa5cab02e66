"""The data health report as a person reads it: a markdown summary, histograms of each split on
one figure, and a contact sheet of the copies that span splits."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from detkit.analysis.figures import subplots, to_png
from detkit.analysis.gallery import label_font
from detkit.data.health.check import Health
from detkit.data.health.object_sizes import ObjectSizes
from detkit.data.health.shift import IMAGE_FEATURES
from detkit.data.images.files import read_rgb
from detkit.files import write_bytes_atomic, write_json_atomic, write_text_atomic
from detkit.markdown import markdown_table
from detkit.runs import layout

THUMB = 160  # px, the longer side of a contact-sheet image
CAPTION = 30  # px of caption under each
SHEET_CLUSTERS = 12  # rows of the contact sheet
SHEET_IMAGES = 6  # images per row at most


def _leak_worth(worth: dict[str, Any]) -> str:
    """A run's dev metric with and without the dev images that have a copy in train, in words."""
    if "note" in worth:
        return f"Not measured: {worth['note']}."
    without = worth["without_train_copies"]
    return (
        f"The run's dev {worth['metric']}: {_number(worth['all'])} on all {worth['dev_images']} dev images, "
        f"{_number(without)} on the {worth['without_train_copies_images']} without a copy in train."
    )


def _number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def render_health(report: dict[str, Any]) -> str:
    """``Health.to_json()`` as markdown."""
    splits = report["splits"]
    names = list(splits)
    rows = [
        ["images", *(splits[n]["images"] for n in names)],
        ["empty images", *(splits[n]["empty_images"] for n in names)],
        ["boxes", *(splits[n]["boxes"] for n in names)],
        ["boxes per image (median)", *(f"{splits[n]['boxes_per_image']['p50']:.0f}" for n in names)],
        *[[f"COCO {size}", *(splits[n]["coco_sizes"][size] for n in names)] for size in ("small", "medium", "large")],
        ["object side at input, p5-p95 px", *(_range(splits[n]["side_at_input"]) for n in names)],
        ["distinct image sizes", *(splits[n]["distinct_image_sizes"] for n in names)],
    ]
    lines = ["# Data health", ""]
    lines += ["## Findings", ""] + ([f"- {f}" for f in report["findings"]] or ["- nothing to report"]) + [""]
    lines += ["## Splits", "", *markdown_table(["", *names], rows), ""]
    classes = next(iter(splits.values()))["classes"] if splits else {}
    lines += ["## Boxes per class", ""]
    lines += [*markdown_table(["", *names], [[c, *(_share(splits[n], c) for n in names)] for c in classes]), ""]
    duplicates = report["duplicates"]
    lines += [
        "## Copies",
        "",
        f"{duplicates['clusters']} cluster(s) of copies hold {duplicates['images_in_clusters']} images; "
        f"{len(duplicates['leaks'])} span splits" + (" (contact sheet: leaks.png)." if duplicates["leaks"] else "."),
        "",
    ]
    leak_rows = [
        [", ".join(c["splits"]), len(c["images"]), ", ".join(c["kinds"]), _files(c)] for c in duplicates["leaks"][:20]
    ]
    if leak_rows:
        lines += [*markdown_table(["splits", "images", "found by", "files"], leak_rows), ""]
    if report["shift"]:
        lines += ["## Shift from train", ""]
        shift_rows = [[name, s["images"], _auc(s["auc"]), s["summary"]] for name, s in report["shift"].items()]
        lines += [*markdown_table(["split", "images", "domain AUC", "in words"], shift_rows), ""]
    if "leak_worth" in report:
        lines += ["## What the copies are worth", "", _leak_worth(report["leak_worth"]), ""]
    if report["unreadable"]:
        lines += ["## Unreadable images", ""] + [f"- {name}: {why}" for name, why in report["unreadable"].items()]
    return "\n".join(lines).rstrip() + "\n"


def _range(sides: dict[str, float]) -> str:
    return f"{sides['p5']:.0f}-{sides['p95']:.0f}"


def _share(profile: dict[str, Any], name: str) -> str:
    count = profile["classes"][name]
    return f"{count} ({count / profile['boxes']:.0%})" if profile["boxes"] else "0"


def _auc(auc: float | None) -> str:
    return "n/a" if auc is None else f"{auc:.2f}"


def _files(cluster: dict[str, Any]) -> str:
    shown = [f"{image['split']}: {image['file_name']}" for image in cluster["images"][:3]]
    return "; ".join(shown) + (" ..." if len(cluster["images"]) > 3 else "")


def plot_health(health: Health, image_size: int, keep_aspect_ratio: bool) -> bytes:
    """Histograms of each split on one figure: object side at the input, box aspect, boxes per
    image, and the images' brightness, sharpness and width."""
    figure, axes = subplots(2, 3, figsize=(13, 7))
    data = health.data
    for name in data.split_names:
        subset = data.subset(name)
        features = health.features.get(name, np.zeros((0, len(IMAGE_FEATURES))))
        columns = {
            "object side at input (px)": ObjectSizes.of(subset, image_size, keep_aspect_ratio).sides,
            "box aspect, log2(width / height)": _aspects(subset.records),
            "boxes per image": np.array([len(r.boxes) for r in subset.records], dtype=float),
            "brightness": features[:, IMAGE_FEATURES.index("brightness")],
            "sharpness (Laplacian spread)": features[:, IMAGE_FEATURES.index("sharpness")],
            "image width (px)": np.array([r.width for r in subset.records], dtype=float),
        }
        for axis, (title, values) in zip(axes.ravel(), columns.items()):
            if len(values):
                axis.hist(values, bins=30, histtype="step", density=True, label=name, linewidth=1.5)
            axis.set_title(title)
    axes[0, 0].legend()
    return to_png(figure)


def _aspects(records: list) -> np.ndarray:
    boxes = np.concatenate([r.boxes for r in records]) if records else np.zeros((0, 4))
    widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return np.log2(np.clip(widths, 1e-3, None) / np.clip(heights, 1e-3, None))


def leak_sheet(health: Health) -> bytes | None:
    """A PNG with one row per cluster of copies that spans splits (the first `SHEET_CLUSTERS`),
    each image captioned right under it with its split and file name (shortened to the column);
    each row as tall as its tallest image; None when there are none."""
    if not health.leaks:
        return None
    rows = [cluster.members[:SHEET_IMAGES] for cluster, _ in health.leaks[:SHEET_CLUSTERS]]
    records = health.data.dataset.records
    thumbs = [[_thumbnail(health.data.dataset.image_path(records[member])) for member in row] for row in rows]
    heights = [max((THUMB if thumb is None else thumb.height) for thumb in row) for row in thumbs]
    columns = max(len(row) for row in rows)
    sheet = Image.new("RGB", (8 + columns * (THUMB + 8), 8 + sum(h + CAPTION + 8 for h in heights)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.truetype(label_font(), 11)
    top = 8
    for members, row_thumbs, height in zip(rows, thumbs, heights):
        for column, (member, thumb) in enumerate(zip(members, row_thumbs)):
            left = 8 + column * (THUMB + 8)
            if thumb is None:  # unreadable: an empty red frame in its place
                draw.rectangle((left, top, left + THUMB, top + height), outline="red")
            else:
                sheet.paste(thumb, (left, top))
            name = _fitted(Path(records[member].file_name).name, font, THUMB)
            draw.text((left, top + height + 2), health.split_of.get(member, "-"), fill="black", font=font)
            draw.text((left, top + height + 15), name, fill="dimgray", font=font)
        top += height + CAPTION + 8
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()


def _thumbnail(path: Path) -> Image.Image | None:
    """The image fitted in a `THUMB` square, or None when it cannot be read."""
    try:
        thumb = Image.fromarray(read_rgb(path, THUMB))
    except OSError:
        return None
    thumb.thumbnail((THUMB, THUMB))
    return thumb


def _fitted(text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """``text``, its middle replaced by an ellipsis until it fits ``width`` px (a file name's
    start and its suffix both say something)."""
    for keep in range(len(text), 0, -1):
        head = (keep + 1) // 2
        shown = text if keep == len(text) else f"{text[:head]}…{text[len(text) - (keep - head) :]}"
        if font.getlength(shown) <= width:
            return shown
    return "…"


def write_health(
    out: Path,
    health: Health,
    image_size: int,
    keep_aspect_ratio: bool,
    plots: bool = True,
    leak_worth: dict[str, Any] | None = None,
) -> dict:
    """``health.json``, ``health.md``, ``leaks.png`` (when copies span splits) and, with
    ``plots``, ``distributions.png`` in ``out``, each written once, atomically; with
    ``leak_worth`` (a run's dev metric with and without the dev images copied in train) both
    reports hold it. Returns the json."""
    report = health.to_json()
    if leak_worth is not None:
        report["leak_worth"] = leak_worth
    write_json_atomic(layout.report_file(out, "health", ".json"), report)
    write_text_atomic(layout.report_file(out, "health", ".md"), render_health(report))
    sheet = leak_sheet(health)
    if sheet is not None:
        write_bytes_atomic(layout.report_file(out, "leaks", ".png"), sheet)
    if plots:
        write_bytes_atomic(
            layout.report_file(out, "distributions", ".png"), plot_health(health, image_size, keep_aspect_ratio)
        )
    return report
