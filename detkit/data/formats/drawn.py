"""What the readers of annotation tools' own formats (CVAT for images, LabelMe) share: each
shape a person drew read as the axis-aligned box that holds it (a rectangle, turned or not, a
polygon, an ellipse or circle, a mask's extent, a cuboid's eight corners), shapes that outline
no object (points, lines, skeletons, tags) counted and said, and the images with their boxes
checked as every reader checks them: each image on disk at the size written, each box finite,
not empty, and inside the image up to ``border_margin`` px (then clipped).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

from detkit.data.formats.images import border_overshoot
from detkit.data.formats.problems import image_problems
from detkit.data.formats.roots import ImageRoot
from detkit.data.records import Record

log = logging.getLogger(__name__)


class Drawn(NamedTuple):
    """One image as an annotation tool wrote it: where it was read (for messages), its file name
    relative to the image root, its size, each object's class name and ``xyxy`` box, and the
    problems found in it so far."""

    source: str
    file_name: str
    width: int
    height: int
    names: list[str]
    boxes: list[list[float]]
    problems: list[str]


def points_box(points: Sequence[Sequence[float]]) -> list[float]:
    """The box that holds ``points`` (``[[x, y], ...]``)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return [min(xs), min(ys), max(xs), max(ys)]


def turned_box(box: Sequence[float], degrees: float) -> list[float]:
    """The box that holds the rectangle ``box`` (``xyxy``) turned by ``degrees`` about its
    centre (CVAT's ``rotation``, clockwise on the image)."""
    if not degrees:
        return list(box)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half_w, half_h = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    cos, sin = abs(math.cos(math.radians(degrees))), abs(math.sin(math.radians(degrees)))
    reach_x, reach_y = half_w * cos + half_h * sin, half_w * sin + half_h * cos
    return [cx - reach_x, cy - reach_y, cx + reach_x, cy + reach_y]


def ellipse_box(cx: float, cy: float, rx: float, ry: float, degrees: float = 0.0) -> list[float]:
    """The box that holds the ellipse of centre ``(cx, cy)`` and radii ``rx``, ``ry``, turned
    by ``degrees``."""
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    reach_x, reach_y = math.hypot(rx * cos, ry * sin), math.hypot(rx * sin, ry * cos)
    return [cx - reach_x, cy - reach_y, cx + reach_x, cy + reach_y]


def box_problem(box: Sequence[float], width: int, height: int, margin: float) -> str | None:
    """Why ``box`` (``xyxy``) cannot be an object of a ``width`` x ``height`` image, if so."""
    shown = [round(v, 2) for v in box]
    if not all(math.isfinite(v) for v in box):
        return f"box {shown} holds NaN or infinity; give finite pixel coordinates"
    if box[2] <= box[0] or box[3] <= box[1]:
        return f"box {shown} has zero width or height; fix or remove the shape"
    outside = border_overshoot(list(box), width, height)
    if outside > margin:
        return f"box {shown} lies {outside:.1f} px outside the {width}x{height} image (border_margin={margin})"
    return None


def clipped(box: Sequence[float], width: int, height: int) -> list[float]:
    """``box`` clipped to the image."""
    return [min(max(v, 0.0), (width, height)[k % 2]) for k, v in enumerate(box)]


def report_not_boxes(kinds: Counter, source: str, read: str) -> None:
    """One line: the shapes of ``kinds`` (kind -> count) that outline no object and were not
    read, and which kinds are (``read``)."""
    if kinds:
        listed = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
        log.info(
            "data: %s: %s shape(s) outline no object and are not read as boxes (boxes come from %s)",
            source,
            listed,
            read,
        )


def drawn_records(
    drawn: list[Drawn], images: ImageRoot, class_names: list[str], problems: list[str], left_out: list[int]
) -> list[Record]:
    """The records of the ``drawn`` images whose files are there at their size and whose every
    shape is a box of a class of ``class_names``, numbered from 1 in order; each other image's
    problems go to ``problems`` and the boxes it held to ``left_out`` (as `settle_problems`
    takes them)."""
    index_of = {name: k for k, name in enumerate(class_names)}
    first_of: dict[str, str] = {}  # file name -> the source that named it first
    for image in drawn:
        _check_fields(image, images, index_of)
        if not image.problems and first_of.setdefault(image.file_name, image.source) != image.source:
            image.problems.append(
                f"image {image.file_name!r} is also {first_of[image.file_name]}; keep one annotation of each image"
            )
    placed = [image for image in drawn if not image.problems]
    headers = image_problems([(images.path(d.file_name), d.width, d.height) for d in placed])
    for image, wrong in zip(placed, headers, strict=True):
        if wrong:
            image.problems.append(wrong)
    records = []
    for image in drawn:
        if image.problems:
            problems.extend(f"{image.source}: {p}" for p in image.problems)
            left_out.append(len(image.boxes))
            continue
        labels = [index_of[name] for name in image.names]
        records.append(Record(len(records) + 1, image.file_name, image.width, image.height, image.boxes, labels))
    return records


def _check_fields(image: Drawn, images: ImageRoot, index_of: dict[str, int]) -> None:
    """Add to ``image.problems`` what its own fields hold wrong: its size, a name that leaves the
    image root, a class not in the list."""
    if not (image.width > 0 and image.height > 0):
        image.problems.append(f"width and height must be whole numbers > 0, got {image.width}x{image.height}")
    elif not images.holds(image.file_name):
        image.problems.append(f"image {image.file_name!r} leads outside {images.folder}; keep images inside it")
    unknown = sorted(set(image.names) - index_of.keys())
    if unknown:
        image.problems.append(f"class name(s) {unknown} not in {list(index_of)}; fix the label or the label list")


def given_splits(splits: list[str | None], drawn: list[Drawn], records: list[Record]) -> dict[str, list[int]]:
    """The dataset's own splits, ``splits`` naming detkit's split of each of the ``drawn``
    images (`drawn_records` made ``records`` of those without problems, in order); none unless
    every image has one."""
    if not splits or None in splits:
        return {}
    kept = iter(records)
    given: dict[str, list[int]] = {}
    for split, image in zip(splits, drawn, strict=True):
        if not image.problems:
            given.setdefault(split, []).append(next(kept).image_id)
    return given
