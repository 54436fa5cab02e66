"""Which class a detector calls each object: the confusion matrix over classes + background."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
from faster_coco_eval import COCO
from faster_coco_eval.extra import PreviewResults

from detkit.evaluation.coco import load_results_into

CONFUSION_IOU = 0.5


def confusion_matrix(
    ground_truth: dict[str, Any], detections: list[dict[str, Any]], score_threshold: float
) -> np.ndarray:
    """Counts ``[K + 1, K + 1]``: row = true class (last: background), column = predicted class
    (last: background, i.e. missed), for detections scoring at least ``score_threshold``.

    Detections and boxes are paired regardless of class (faster-coco-eval's ``PreviewResults``
    with ``useCats=False``: COCOeval's greedy matching by score at IoU 0.5, crowd regions
    ignored), so a box found with the wrong class lands off the diagonal rather than counting
    as one miss plus one false positive. Class order: ``ground_truth["categories"]``.
    """
    with _quiet("faster_coco_eval"):
        truth = COCO()
        truth.dataset = copy.deepcopy(ground_truth)
        truth.createIndex()
        found = load_results_into(truth, COCO, detections)
        preview = PreviewResults(truth, found, iou_tresh=CONFUSION_IOU, min_score=score_threshold, useCats=False)
        counts = preview.compute_confusion_matrix()  # [K, K + 2]: matched pairs, then FP and FN per class
    classes = counts.shape[0]
    matrix = np.zeros((classes + 1, classes + 1), dtype=np.int64)
    matrix[:classes, :classes] = counts[:, :classes]
    matrix[classes, :classes] = counts[:, -2]  # found, but nothing is there: background called a class
    matrix[:classes, classes] = counts[:, -1]  # there, but not found: called background
    return matrix


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """The library's progress messages (logged at INFO, and printed) held back for a while."""
    library = logging.getLogger(name)
    level = library.level
    library.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        library.setLevel(level)
