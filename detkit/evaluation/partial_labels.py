"""Partially labelled images in the COCO evaluator, with LVIS semantics (lvis-api ``lvis/eval.py``).

Per image and class: if the class was exhaustively labelled there (present or verified absent),
nothing changes; if it was not labelled at all, its detections are dropped; if it has boxes but
was not exhaustively labelled, its unmatched detections are ignored. The last is done inside
pycocotools' own matching: a full-image crowd region of that class absorbs, as ignored, every
detection no real box matched, which is what a crowd region means to COCOeval.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from detkit.data.formats.coco import exhaustive_category_ids


def apply_partial_labels(
    ground_truth: dict[str, Any], detections: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ground truth (with ignore regions added) and detections that score partial labels as
    LVIS does; both unchanged when no image declares partial labels."""
    present: dict[Any, set[int]] = defaultdict(set)
    for ann in ground_truth["annotations"]:
        present[ann["image_id"]].add(ann["category_id"])
    exhaustive = {image["id"]: exhaustive_category_ids(image, present[image["id"]]) for image in ground_truth["images"]}
    if all(known is None for known in exhaustive.values()):
        return ground_truth, detections
    kept = [
        d
        for d in detections
        if exhaustive.get(d["image_id"]) is None
        or d["category_id"] in exhaustive[d["image_id"]]
        or d["category_id"] in present[d["image_id"]]
    ]
    ground_truth = copy.deepcopy(ground_truth)
    next_id = max((a["id"] for a in ground_truth["annotations"]), default=0) + 1
    for image in ground_truth["images"]:
        known = exhaustive[image["id"]]
        for category in sorted(present[image["id"]] - known) if known is not None else []:
            width, height = image["width"], image["height"]
            ground_truth["annotations"].append(
                {
                    "id": next_id,
                    "image_id": image["id"],
                    "category_id": category,
                    "bbox": [0, 0, width, height],
                    "area": width * height,
                    "iscrowd": 1,
                }
            )
            next_id += 1
    return ground_truth, kept
