"""How much a COCO metric moves when the images behind it are drawn again: a bootstrap over images.

pycocotools matches detections to ground truth per image and class (``evaluate``), then pools
those per-image results into precision/recall (``accumulate``). A resample of the images with
replacement pools the same per-image results with repeats, so `ImageMatches` runs the matching
once and, for each draw, hands pycocotools' own ``accumulate`` the per-image results in the
drawn order. Scoring each resample from scratch gives the same numbers but repeats the matching
(measured 0.17 s per 80-image sample here, hours for a large dev set at 200 samples); no
library offers image weights in COCOeval.
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

from detkit.evaluation.coco import load_results_into
from detkit.evaluation.partial_labels import apply_partial_labels

MAX_DETECTIONS = 100
IOU_50, IOU_75 = 0, 5  # indices of IoU .50 and .75 in COCOeval's iouThrs


class ImageMatches:
    """COCOeval's per-image matching of one prediction set against ``ground_truth``, kept so that
    any draw of the images can be scored without matching again.

    Scores mAP, mAP50, mAP75 and per class ``AP/<name>`` and ``AP50/<name>`` (all areas,
    100 detections per image), as `evaluate_coco` does; partially labelled images are scored
    with LVIS semantics unless ``partial_labels="naive"``.
    """

    def __init__(
        self, ground_truth: dict[str, Any], detections: list[dict[str, Any]], partial_labels: str = "lvis"
    ) -> None:
        if partial_labels == "lvis":
            ground_truth, detections = apply_partial_labels(ground_truth, detections)
        self.names = {c["id"]: c["name"] for c in ground_truth["categories"]}
        with contextlib.redirect_stdout(io.StringIO()):
            truth = COCO()
            truth.dataset = copy.deepcopy(ground_truth)
            truth.createIndex()
            found = load_results_into(truth, COCO, detections)
            self._evaluator = COCOeval(truth, found, "bbox")
            params = self._evaluator.params
            params.areaRng, params.areaRngLbl, params.maxDets = [params.areaRng[0]], ["all"], [MAX_DETECTIONS]
            self._evaluator.evaluate()
        self._per_image = list(self._evaluator.evalImgs)
        self.image_ids = list(self._evaluator.params.imgIds)

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    def metrics(self, draw: Sequence[int] | None = None) -> dict[str, float]:
        """The metrics of the images at positions ``draw`` of `image_ids` (repeats count as
        separate images); of every image once when ``draw`` is None."""
        evaluator, count = self._evaluator, self.num_images
        draw = np.arange(count) if draw is None else np.asarray(draw)
        classes = len(evaluator.params.catIds)
        evaluator.evalImgs = [self._per_image[k * count + i] for k in range(classes) for i in draw]
        evaluator.params.imgIds = evaluator._paramsEval.imgIds = list(range(len(draw)))
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator.accumulate()
        evaluator.evalImgs, evaluator.params.imgIds = self._per_image, self.image_ids
        evaluator._paramsEval.imgIds = self.image_ids
        return self._summarise(evaluator.eval["precision"][:, :, :, 0, 0])

    def _summarise(self, precision: np.ndarray) -> dict[str, float]:
        """Metrics from COCOeval's ``precision[T, R, K]`` (-1 where undefined)."""
        metrics = {
            "mAP": _mean_defined(precision),
            "mAP50": _mean_defined(precision[IOU_50]),
            "mAP75": _mean_defined(precision[IOU_75]),
        }
        for k, cat_id in enumerate(self._evaluator.params.catIds):
            metrics[f"AP/{self.names[cat_id]}"] = _mean_defined(precision[:, :, k])
            metrics[f"AP50/{self.names[cat_id]}"] = _mean_defined(precision[IOU_50, :, k])
        return metrics


def bootstrap_metrics(matches: ImageMatches, samples: int, seed: int = 0) -> list[dict[str, float]]:
    """The metrics of ``samples`` seeded draws, with replacement, of as many images as there are."""
    rng = np.random.default_rng(seed)
    return [matches.metrics(rng.integers(matches.num_images, size=matches.num_images)) for _ in range(samples)]


def percentile_interval(values: Sequence[float], confidence: float) -> tuple[float, float]:
    """The central ``confidence`` interval of bootstrap ``values`` (percentile method; NaN
    values, draws where the metric was undefined, are left out)."""
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.nanpercentile(np.asarray(values, dtype=float), [tail, 100 - tail])
    return float(low), float(high)


def _mean_defined(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(defined.mean()) if defined.size else -1.0
