"""The COCO metrics of any draw of a split's images (subsets, bootstrap resamples, repeats),
from one matching of its detections to its objects (`detkit.evaluation.matching.CocoMatching`):
per-image results pooled in the drawn order with array operations that give pycocotools'
``accumulate`` numbers exactly (`detkit.evaluation.accumulate`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detkit.evaluation.matching import CocoMatching, mean_defined

IOU_50, IOU_75 = 0, 5  # indices of IoU .50 and .75 in COCOeval's iouThrs


class ImageMatches:
    """One prediction set matched against ``ground_truth`` once, so that any draw of the images
    can be scored without matching again.

    Scores mAP, mAP50, mAP75 and per class ``AP/<name>`` and ``AP50/<name>`` (all areas,
    100 detections per image), as `evaluate_coco` does; partially labelled images are scored
    with LVIS semantics unless ``partial_labels="naive"``.
    """

    def __init__(
        self, ground_truth: dict[str, Any], detections: list[dict[str, Any]], partial_labels: str = "lvis"
    ) -> None:
        self.matching = CocoMatching(ground_truth, detections, partial_labels)
        self.image_ids = self.matching.image_ids

    @property
    def num_images(self) -> int:
        return self.matching.num_images

    def metrics(self, draw: Sequence[int] | None = None) -> dict[str, float]:
        """The metrics of the images at positions ``draw`` of `image_ids` (repeats count as
        separate images); of every image once when ``draw`` is None."""
        precision = self.matching.precision(draw=draw)
        metrics = {
            "mAP": mean_defined(precision),
            "mAP50": mean_defined(precision[IOU_50]),
            "mAP75": mean_defined(precision[IOU_75]),
        }
        per_class, per_class_50 = _class_means(precision), _class_means(precision[IOU_50 : IOU_50 + 1])
        for k, cat_id in enumerate(self.matching.category_ids):
            name = self.matching.names[cat_id]
            metrics[f"AP/{name}"], metrics[f"AP50/{name}"] = float(per_class[k]), float(per_class_50[k])
        return metrics


def _class_means(precision: np.ndarray) -> np.ndarray:
    """`mean_defined` of each class of ``precision`` ``[T, R, K]`` at once (-1 where undefined)."""
    defined = precision > -1
    counts = defined.sum(axis=(0, 1))
    sums = np.where(defined, precision, 0.0).sum(axis=(0, 1))
    return np.where(counts > 0, sums / np.maximum(counts, 1), -1.0)
