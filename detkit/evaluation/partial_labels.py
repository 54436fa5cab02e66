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
from typing import Any, TypeVar

import numpy as np

from detkit.data.formats.coco import exhaustive_category_ids

ResultsT = TypeVar("ResultsT", list[dict[str, Any]], np.ndarray)


def apply_partial_labels(ground_truth: dict[str, Any], detections: ResultsT) -> tuple[dict[str, Any], ResultsT]:
    """The ground truth (with ignore regions added) and detections that score partial labels as
    LVIS does; both unchanged when no image declares partial labels. ``detections``: COCO
    results, or their ``[N, 7]`` array (`detkit.evaluation.coco.results_array`)."""
    present: dict[Any, set[int]] = defaultdict(set)
    for ann in ground_truth["annotations"]:
        present[ann["image_id"]].add(ann["category_id"])
    exhaustive = {image["id"]: exhaustive_category_ids(image, present[image["id"]]) for image in ground_truth["images"]}
    if all(known is None for known in exhaustive.values()):
        return ground_truth, detections

    def kept(image_id: Any, category_id: Any) -> bool:
        known = exhaustive.get(image_id)
        return known is None or category_id in known or category_id in present[image_id]

    if isinstance(detections, np.ndarray):
        ids = detections[:, [0, 6]].astype(np.int64).tolist()
        detections = detections[np.array([kept(i, c) for i, c in ids], dtype=bool).reshape(-1)]
    else:
        detections = [d for d in detections if kept(d["image_id"], d["category_id"])]
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
    return ground_truth, detections
