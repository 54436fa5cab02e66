"""The one matching of detections to ground truth: pycocotools' own, run once and kept.

pycocotools matches detections to ground truth per image and class (``COCOeval.evaluate``:
greedy by score, each detection to the best unmatched box at each IoU threshold, crowd regions
absorbing what they cover) and then pools those per-image results into precision/recall
(``accumulate``). `CocoMatching` keeps the per-image results, so that pooling can be re-run on
an edited or resampled copy of them: the bootstrap over images (`detkit.evaluation.bootstrap`)
draws images again, error analysis (`detkit.analysis.errors`) fixes errors; both pool with
`detkit.evaluation.accumulate` (pycocotools' ``accumulate`` in array operations, the same numbers)
and never match a second time.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detkit.evaluation.accumulate import PooledMatching
from detkit.evaluation.coco import load_results_into
from detkit.evaluation.partial_labels import apply_partial_labels

MAX_DETECTIONS = 100
PerImage = list[dict[str, Any] | None]


class CocoMatching:
    """COCOeval's per-image matching of ``detections`` against ``ground_truth`` (area all, 100
    detections per image and class), at ``iou_thresholds`` (default: COCO's .50:.05:.95).

    Partially labelled images are scored with LVIS semantics unless ``partial_labels="naive"``;
    ``ground_truth`` and ``detections`` then hold what was scored (ignore regions added).
    ``per_image`` is COCOeval's ``evalImgs``: entry ``k * num_images + i`` for class ``k`` and
    image ``i`` (None where the image has neither boxes nor detections of the class).
    """

    def __init__(
        self,
        ground_truth: dict[str, Any],
        detections: list[dict[str, Any]],
        partial_labels: str = "lvis",
        iou_thresholds: Sequence[float] | None = None,
    ) -> None:
        if partial_labels == "lvis":
            ground_truth, detections = apply_partial_labels(ground_truth, detections)
        self.ground_truth, self.detections = ground_truth, detections
        self.names = {c["id"]: c["name"] for c in ground_truth["categories"]}
        with contextlib.redirect_stdout(io.StringIO()):
            self.truth = COCO()
            self.truth.dataset = copy.deepcopy(ground_truth)
            self.truth.createIndex()
            self.found = load_results_into(self.truth, COCO, detections)
            self._evaluator = COCOeval(self.truth, self.found, "bbox")
            params = self._evaluator.params
            params.areaRng, params.areaRngLbl, params.maxDets = [params.areaRng[0]], ["all"], [MAX_DETECTIONS]
            if iou_thresholds is not None:
                params.iouThrs = np.asarray(iou_thresholds, dtype=float)
            self._evaluator.evaluate()
        self.per_image: PerImage = list(self._evaluator.evalImgs)
        self.image_ids: list[int] = list(params.imgIds)
        self.category_ids: list[int] = list(params.catIds)
        self._pooled: PooledMatching | None = None

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    def entry(self, class_index: int, image_index: int) -> dict[str, Any] | None:
        """The matching of one class on one image (COCOeval's ``evalImgs`` entry)."""
        return self.per_image[class_index * self.num_images + image_index]

    def precision(self, per_image: PerImage | None = None, draw: Sequence[int] | None = None) -> np.ndarray:
        """pycocotools' interpolated precision ``[T, R, K]`` (-1 where a class has no ground truth),
        pooled from ``per_image`` (default: as matched) over the images at positions ``draw``
        (default: every image once; repeats count as separate images), exactly as its
        ``accumulate`` pools them (`detkit.evaluation.accumulate`)."""
        if per_image is None:
            if self._pooled is None:
                self._pooled = self._pool(self.per_image)
            return self._pooled.precision(draw)
        return self._pool(per_image).precision(draw)

    def _pool(self, per_image: PerImage) -> PooledMatching:
        thresholds = len(self._evaluator.params.iouThrs)
        return PooledMatching(per_image, len(self.category_ids), self.num_images, thresholds, MAX_DETECTIONS)


def mean_defined(values: np.ndarray) -> float:
    """The mean of COCOeval values that are defined (> -1); -1 when none is."""
    defined = values[values > -1]
    return float(defined.mean()) if defined.size else -1.0
