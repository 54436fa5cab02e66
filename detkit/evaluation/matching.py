"""The one matching of detections to ground truth, run once and kept as one row per detection.

COCOeval matches detections to ground truth per image and class (``evaluate``: greedy by score,
each detection to the best unmatched box at each IoU threshold, crowd regions absorbing what they
cover) and then pools those per-image results into precision/recall (``accumulate``).
`CocoMatching` runs that matching in ultrafast-pycocotools (detkit's default evaluator, the same
matching as pycocotools to the bit: ``tests/evaluation/test_accumulate.py``), reads its verdicts
column-wise (``per_instance``: no Python object per detection) and keeps them as arrays, so that
pooling can be re-run on an edited or resampled copy: any draw of the images
(`detkit.evaluation.image_matches`: subsets, the bootstrap) is scored again, error analysis (`detkit.analysis.tide`)
fixes errors; both pool with `detkit.evaluation.accumulate` and never match a second time.
The confusion matrix reads the same matching made regardless of class (``use_categories=False``),
and the IoU of boxes is computed here only (`paired_iou`, `iou_matrix`).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from ultrafast_pycocotools._ufcoco import OUTCOME_IGNORED, OUTCOME_TRUE_POSITIVE

from detkit.evaluation.accumulate import PooledMatching
from detkit.evaluation.coco import coco_backend, load_results_into, results_array, writable_copy
from detkit.evaluation.partial_labels import apply_partial_labels

MAX_DETECTIONS = 100
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)  # iouThrs


@dataclass
class MatchedDetections:
    """The detections scored (each class and image's first 100 by score), one row each, in
    COCOeval's order (by class, image, then descending score: the row is the tie-breaking key):
    ``image`` and ``label`` indices, ``score``; per IoU threshold ``true_positive`` (matched to a
    box that counts) and ``ignored`` (matched to a crowd region, so neither true nor false)."""

    image: np.ndarray
    label: np.ndarray
    score: np.ndarray
    true_positive: np.ndarray  # [T, D]
    ignored: np.ndarray  # [T, D]


@dataclass
class FirstThreshold:
    """The matching at the first IoU threshold, row for row with `MatchedDetections`: each
    detection's result ``id`` (its place in the results, from 1), ``box`` xywh and ``truth``
    (the box it matched, a crowd region too; -1 when none); and the ground-truth boxes, one row each: annotation
    ``truth_id``, ``truth_image`` and ``truth_label`` indices, ``truth_box`` xywh,
    ``truth_ignored`` (crowd regions) and ``truth_matched``."""

    id: np.ndarray
    box: np.ndarray
    truth: np.ndarray
    truth_id: np.ndarray
    truth_image: np.ndarray
    truth_label: np.ndarray
    truth_box: np.ndarray
    truth_ignored: np.ndarray
    truth_matched: np.ndarray


class CocoMatching:
    """COCOeval's matching of ``detections`` against ``ground_truth`` (area all, 100 detections
    per image and class) at ``iou_thresholds`` (default: COCO's .50:.05:.95).

    Partially labelled images are scored with LVIS semantics unless ``partial_labels="naive"``;
    ``ground_truth`` and ``detections`` then hold what was scored (ignore regions added). With
    ``use_categories=False`` detections are matched to boxes of any class (COCOeval's
    ``useCats=0``: 100 detections per image), as a confusion matrix pairs them.
    """

    def __init__(
        self,
        ground_truth: dict[str, Any],
        detections: list[dict[str, Any]] | np.ndarray,
        partial_labels: str = "lvis",
        iou_thresholds: Sequence[float] | None = None,
        use_categories: bool = True,
    ) -> None:
        detections = results_array(detections)
        if partial_labels == "lvis":
            ground_truth, detections = apply_partial_labels(ground_truth, detections)
        self.ground_truth, self.detections = ground_truth, detections
        self.names = {c["id"]: c["name"] for c in ground_truth["categories"]}
        self.image_ids: list[int] = sorted({image["id"] for image in ground_truth["images"]})
        self.category_ids: list[int] = sorted(self.names)
        thresholds = COCO_IOU_THRESHOLDS if iou_thresholds is None else np.asarray(iou_thresholds, dtype=float)
        self._evaluator = _evaluated(ground_truth, detections, thresholds, use_categories)
        # every threshold's outcome in one call; the engine is ultrafast-pycocotools' own (pinned
        # in constraints.txt; its public per_instance answers one threshold at a time, 0.4 s each
        # at 5,000 images, against 0.08 s for all ten here)
        outcomes = self._evaluator._engine.outcomes(0, MAX_DETECTIONS)
        outcome = outcomes["outcome"].T  # [T, D]
        self.found = MatchedDetections(
            image=np.searchsorted(np.asarray(self.image_ids, dtype=np.int64), outcomes["image_id"]),
            label=outcomes["cat_slot"].astype(np.int64),
            score=outcomes["score"],
            true_positive=outcome == OUTCOME_TRUE_POSITIVE,
            ignored=outcome == OUTCOME_IGNORED,
        )
        self._pooled: PooledMatching | None = None
        self._first: FirstThreshold | None = None

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    def positives(self, left_out: np.ndarray | None = None) -> np.ndarray:
        """``[K, I]``: the boxes that count (not crowd regions, nor the rows of
        `FirstThreshold`'s boxes marked in ``left_out``) per class and image."""
        counts = np.zeros((len(self.category_ids), self.num_images), dtype=np.int64)
        first = self.first_threshold
        kept = ~first.truth_ignored if left_out is None else ~first.truth_ignored & ~left_out
        np.add.at(counts, (first.truth_label[kept], first.truth_image[kept]), 1)
        return counts

    @property
    def first_threshold(self) -> FirstThreshold:
        """The matching at the first IoU threshold, with ids and boxes (read once, when asked)."""
        if self._first is None:
            found, boxes = self._evaluator.per_instance(iou_thr=float(self._evaluator.params.iouThrs[0]))
            ids = found["dt_id"]
            annotation_of = {ann["id"]: ann for ann in self.ground_truth["annotations"]}
            truths = [annotation_of[i] for i in boxes["gt_id"].tolist()]
            # matched regardless of class (use_categories=False), the engine reports category -1
            categories = boxes["category_id"] if self._evaluator.params.useCats else [a["category_id"] for a in truths]
            self._first = FirstThreshold(
                id=ids,
                box=self.detections[ids - 1, 1:5],  # loadRes numbers the results from 1, in order
                truth=found["gt_id"],
                truth_id=boxes["gt_id"],
                truth_image=np.searchsorted(np.asarray(self.image_ids, dtype=np.int64), boxes["image_id"]),
                truth_label=np.searchsorted(np.asarray(self.category_ids, dtype=np.int64), categories),
                truth_box=np.array([a["bbox"] for a in truths], dtype=float).reshape(-1, 4),
                truth_ignored=boxes["ignore"],
                truth_matched=boxes["matched"],
            )
        return self._first

    def precision(self, draw: Sequence[int] | None = None) -> np.ndarray:
        """pycocotools' interpolated precision ``[T, R, K]`` (-1 where a class has no ground
        truth), pooled over the images at positions ``draw`` (default: every image once; repeats
        count as separate images), exactly as its ``accumulate`` pools them."""
        if self._pooled is None:
            found = self.found
            self._pooled = self.pool(found.label, found.score, found.true_positive, found.ignored)
        return self._pooled.precision(draw)

    def pool(
        self,
        label: np.ndarray,
        score: np.ndarray,
        true_positive: np.ndarray,
        ignored: np.ndarray,
        image: np.ndarray | None = None,
        key: np.ndarray | None = None,
        positives: np.ndarray | None = None,
    ) -> PooledMatching:
        """A copy of the matching, edited, to pool: the detections' rows as given (``image``,
        ``key`` and ``positives`` default to the matching's own; rows past the matching's break
        ties after them)."""
        image = self.found.image if image is None else image
        key = np.arange(len(label)) if key is None else key
        positives = self.positives() if positives is None else positives
        return PooledMatching(image, label, key, score, true_positive, ignored, positives, MAX_DETECTIONS)


def _evaluated(
    ground_truth: dict[str, Any], detections: np.ndarray, thresholds: np.ndarray, use_categories: bool
) -> Any:
    """ultrafast-pycocotools' COCOeval after ``evaluate`` at area all and 100 detections."""
    coco_cls, eval_cls = coco_backend("ultrafast_pycocotools")
    with contextlib.redirect_stdout(io.StringIO()):
        truth = coco_cls()
        truth.dataset = writable_copy(ground_truth)
        truth.createIndex()
        evaluator = eval_cls(truth, load_results_into(truth, coco_cls, detections), "bbox")
        params = evaluator.params
        params.areaRng, params.areaRngLbl, params.maxDets = [params.areaRng[0]], ["all"], [MAX_DETECTIONS]
        params.iouThrs = thresholds
        params.useCats = int(use_categories)
        evaluator.evaluate()
    return evaluator


def mean_defined(values: np.ndarray) -> float:
    """The mean of COCOeval values that are defined (> -1); -1 when none is."""
    defined = values[values > -1]
    return float(defined.mean()) if defined.size else -1.0


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xywh box pairs, row by row, with pycocotools' float operations (``bbIou`` in
    ``maskApi.c``, no crowd). By hand because pycocotools' ``iou`` takes one image's boxes per
    call, a Python call per image, and these pairs span every image at once."""
    if not len(a):
        return np.zeros(0)
    ax, ay, aw, ah = a.T
    bx, by, bw, bh = b.T
    w = np.minimum(aw + ax, bw + bx) - np.maximum(ax, bx)
    h = np.minimum(ah + ay, bh + by) - np.maximum(ay, by)
    overlaps = (w > 0) & (h > 0)
    inter = np.where(overlaps, w * h, 0.0)
    union = aw * ah + bw * bh - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=overlaps)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xywh box of ``a`` with every one of ``b``: ``[len(a), len(b)]`` (pycocotools' ``iou``)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    return np.asarray(mask_utils.iou(a, b, [0] * len(b))).reshape(len(a), len(b))
