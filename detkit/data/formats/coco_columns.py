"""A COCO file's annotations read a column at a time, when every one of them is well formed.

Checking annotations one by one (`coco.load_coco`'s loop, which names each problem) costs
14 us an annotation: most of the reading of a file of 800,000 boxes. Here msgspec reads the
annotations straight into typed records in C (whole ids, four numbers a box, a crowd flag,
an area; other keys, segmentations included, are skipped unread), and the remaining checks
(known images and categories, positive sizes, the border, the areas' range) run on arrays.
When any check fails, nothing is taken and the loop names every problem; what is taken is
what the loop takes (``tests/data/test_coco.py`` compares the two).
"""

from __future__ import annotations

import itertools
import math
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

from detkit.data.boxes import xywh_to_xyxy
from detkit.data.formats.fields import collector_paused
from detkit.data.formats.images import border_overshoots

MAX_AREA = float(np.finfo(np.float32).max)  # areas are kept as float32
Objects = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # an image's boxes, labels, iscrowd, areas
NO_OBJECTS: Objects = (  # shared by every image without annotations: arrays of no elements cannot be written to
    np.zeros((0, 4), dtype=np.float32),
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=bool),
    np.zeros(0, dtype=np.float32),
)
EXACT_INTEGERS = 2**52  # a number past it would not compare as the loop compares Python ints


class Annotation(msgspec.Struct, gc=False):
    """One annotation as the loop accepts its types (its values are checked on the columns)."""

    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    iscrowd: int | bool = 0
    area: float = math.nan  # absent (JSON has no NaN): the box's own area


class _WellTypedFile(msgspec.Struct, gc=False):
    images: list[dict[str, Any]]
    annotations: list[Annotation]
    categories: list[dict[str, Any]]


_READ_FILE = msgspec.json.Decoder(_WellTypedFile)


def read_well_typed(text: str) -> dict[str, list[Any]] | None:
    """A COCO file's three lists, the annotations as `Annotation`s, or None when any entry is
    not of the types the loop accepts (or the file is not such an object): the caller then
    parses it as plain JSON and checks it entry by entry."""
    try:
        with collector_paused():
            typed = _READ_FILE.decode(text)
    except (msgspec.DecodeError, RecursionError):  # nesting past Python's limit: the plain parse names it
        return None
    return {"images": typed.images, "annotations": typed.annotations, "categories": typed.categories}


def object_columns(
    annotations: list[Annotation], images: dict[int, dict[str, Any]], category_ids: list[int], margin: float
) -> dict[int, Objects] | None:
    """Each image's `Objects`, by image id, when every annotation passes the loop's checks
    against ``images`` (the entries kept), ``category_ids`` (sorted) and the border ``margin``;
    None, taking nothing, when any does not."""
    if not annotations:
        return {}
    if not images:
        return None
    count = len(annotations)
    try:
        ids = np.fromiter(map(attrgetter("image_id"), annotations), np.int64, count)
        classes = np.fromiter(map(attrgetter("category_id"), annotations), np.int64, count)
        crowd = np.fromiter(map(attrgetter("iscrowd"), annotations), np.int64, count)
        image_ids = np.fromiter(images, np.int64, len(images))
        known_ids = np.asarray(category_ids, dtype=np.int64)
    except OverflowError:  # an id past 64 bits
        return None
    boxes = np.fromiter(itertools.chain.from_iterable(map(attrgetter("bbox"), annotations)), np.float64, 4 * count)
    boxes = boxes.reshape(count, 4)
    area = np.fromiter(map(attrgetter("area"), annotations), np.float64, count)
    given = ~np.isnan(area)
    by_id = np.argsort(image_ids)
    at = np.searchsorted(image_ids[by_id], ids).clip(max=len(image_ids) - 1)
    known_category = np.isin(classes, known_ids)
    if not (
        (image_ids[by_id[at]] == ids).all()
        and known_category.all()
        and ((crowd == 0) | (crowd == 1)).all()
        and np.isfinite(boxes).all()
        and np.abs(boxes).max() < EXACT_INTEGERS
        and (boxes[:, 2:] > 0).all()
        and (np.isfinite(area[given]) & (area[given] >= 0) & (area[given] <= MAX_AREA)).all()
    ):
        return None
    sizes = np.array([(image["width"], image["height"]) for image in images.values()], dtype=np.float64)[by_id[at]]
    if (border_overshoots(np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1), sizes) > margin).any():
        return None
    areas = np.where(given, area, boxes[:, 2] * boxes[:, 3])
    return _per_image(ids, boxes, sizes, np.searchsorted(category_ids, classes), crowd, areas)


def _per_image(
    ids: np.ndarray,
    boxes: np.ndarray,
    sizes: np.ndarray,
    labels: np.ndarray,
    crowd: np.ndarray,
    areas: np.ndarray,
) -> dict[int, Objects]:
    """Each image's slice of the columns, its annotations in the file's order, as the loop
    builds them: float32 xyxy clipped to the image."""
    order = np.argsort(ids, kind="stable")
    xyxy = image_boxes(boxes.astype(np.float32)[order], sizes[order, 0, None], sizes[order, 1, None])
    areas32, labels, crowded = areas.astype(np.float32)[order], labels[order], crowd.astype(bool)[order]
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    ends = [*starts[1:].tolist(), len(order)]
    return {
        image_id: (xyxy[start:end], labels[start:end], crowded[start:end], areas32[start:end])
        for image_id, start, end in zip(sorted_ids[starts].tolist(), starts.tolist(), ends)
    }


def image_boxes(xywh: np.ndarray, widths: np.ndarray | int, heights: np.ndarray | int) -> np.ndarray:
    """float32 ``xyxy`` of float32 COCO ``[x, y, w, h]`` boxes, clipped to their images
    (``widths`` and ``heights``: ``[N, 1]``, one per box, or one for all)."""
    xyxy = xywh_to_xyxy(xywh)
    xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], 0, widths)
    xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], 0, heights)
    return xyxy
