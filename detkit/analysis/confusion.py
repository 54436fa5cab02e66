"""Which class a detector calls each object: the confusion matrix over classes + background."""

from __future__ import annotations

from typing import Any

import numpy as np

from detkit.evaluation.coco import results_array
from detkit.evaluation.matching import CocoMatching

CONFUSION_IOU = 0.5


def confusion_matrix(
    ground_truth: dict[str, Any],
    detections: list[dict[str, Any]] | np.ndarray,
    score_threshold: float,
    class_agnostic: bool = True,
) -> np.ndarray:
    """Counts ``[K + 1, K + 1]``: row = true class (last: background), column = predicted class
    (last: background, i.e. missed), for detections scoring at least ``score_threshold``.

    By default detections and boxes are paired regardless of class (the one matching,
    `CocoMatching`, with ``use_categories=False``: COCOeval's greedy matching by score at IoU
    0.5, 100 detections per image, crowd regions absorbing what they cover and counted nowhere),
    so a box found with the wrong class lands off the diagonal rather than counting as one miss
    plus one false positive; ``class_agnostic=False`` pairs them within a class, as mAP does (the
    matrix is then diagonal but for its background row and column). Class order:
    ``ground_truth["categories"]``. ``ground_truth`` and ``detections`` are taken as scored
    (partial labels already applied).
    """
    found = results_array(detections)
    found = found[found[:, 5] >= score_threshold]
    matching = CocoMatching(
        ground_truth, found, "naive", iou_thresholds=[CONFUSION_IOU], use_categories=not class_agnostic
    )
    first = matching.first_threshold
    classes = len(matching.category_ids)
    predicted = np.searchsorted(np.asarray(matching.category_ids), found[first.id - 1, 6])
    matched = first.truth != -1
    by_id = np.argsort(first.truth_id)
    row = by_id[np.searchsorted(first.truth_id, first.truth[matched], sorter=by_id)]  # the box each matched
    counted = ~first.truth_ignored[row]  # a crowd region absorbs what it covers: counted nowhere
    matrix = np.zeros((classes + 1, classes + 1), dtype=np.int64)
    np.add.at(matrix, (first.truth_label[row][counted], predicted[matched][counted]), 1)
    np.add.at(matrix[classes], predicted[~matched], 1)  # found, but nothing is there: background called a class
    missed = ~first.truth_matched & ~first.truth_ignored
    np.add.at(matrix[:, classes], first.truth_label[missed], 1)  # there, but not found: called background
    return matrix
