"""The one evaluator: COCO box mAP with pycocotools semantics, on in-memory COCO dicts.

``faster-coco-eval`` is the default backend (same numbers, several times faster);
``pycocotools`` is the reference. Both receive the same ground-truth dict, so crowd regions and
the annotations' own ``area`` are honoured exactly as pycocotools does.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from detkit.data.formats.coco import load_coco, load_results
from detkit.data.formats.fields import read_text
from detkit.evaluation.partial_labels import apply_partial_labels

BACKENDS = ("faster_coco_eval", "pycocotools")
PARTIAL_LABELS = ("lvis", "naive")

# Names of COCOeval.stats, in its order.
SUMMARY_NAMES = (
    "mAP",
    "mAP50",
    "mAP75",
    "mAP_small",
    "mAP_medium",
    "mAP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
)


def evaluate_coco(
    ground_truth: dict[str, Any],
    detections: list[dict[str, Any]],
    backend: str = "faster_coco_eval",
    partial_labels: str = "lvis",
) -> dict[str, float]:
    """COCO box metrics of ``detections`` (COCO results: image_id, category_id, bbox xywh, score).

    Returns the twelve summary numbers of `SUMMARY_NAMES` and ``AP/<class name>`` per category
    (AP at IoU .50:.95, all areas, 100 detections; -1 where the category has no ground truth,
    as pycocotools reports undefined values). Images that declare partial labels are scored
    with LVIS semantics (`apply_partial_labels`), or ``partial_labels="naive"`` as if every
    unlabelled class were absent.
    """
    if partial_labels not in PARTIAL_LABELS:
        raise ValueError(f"partial_labels={partial_labels!r}; choose one of {PARTIAL_LABELS}")
    if partial_labels == "lvis":
        ground_truth, detections = apply_partial_labels(ground_truth, detections)
    coco_cls, eval_cls = coco_backend(backend)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = coco_cls()
        gt.dataset = writable_copy(ground_truth)
        gt.createIndex()
        dt = load_results_into(gt, coco_cls, detections)
        evaluator = eval_cls(gt, dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    metrics = {name: float(v) for name, v in zip(SUMMARY_NAMES, evaluator.stats)}
    metrics.update(_per_class_ap(evaluator.eval["precision"], ground_truth["categories"], evaluator.params.catIds))
    return metrics


def writable_copy(ground_truth: dict[str, Any]) -> dict[str, Any]:
    """A copy the evaluator may write into: it adds keys to annotation dicts (``ignore``), and
    to nothing else, so one level of copying is enough (a deep copy cost as much as evaluating)."""
    copied = {key: list(value) if isinstance(value, list) else value for key, value in ground_truth.items()}
    copied["annotations"] = [dict(annotation) for annotation in ground_truth["annotations"]]
    return copied


def coco_backend(name: str) -> tuple[Callable[[], Any], Callable[..., Any]]:
    """The COCO and COCOeval classes of ``name`` ("faster_coco_eval" or "pycocotools"), quiet."""
    if name == "faster_coco_eval":
        from faster_coco_eval import COCO, COCOeval_faster

        quiet = logging.getLogger(__name__).debug  # its summary goes to logging, not to stdout
        return partial(COCO, print_function=quiet), partial(COCOeval_faster, print_function=quiet)
    if name == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        return COCO, COCOeval
    raise ValueError(f"unknown evaluation backend {name!r}; choose one of {BACKENDS}")


def load_results_into(gt: Any, coco_cls: Callable[[], Any], detections: list[dict[str, Any]]) -> Any:
    """``detections`` as a results object of ``coco_cls`` for the ground truth ``gt``."""
    if detections:
        return gt.loadRes([dict(d) for d in detections])  # loadRes adds keys to the dicts it is given
    # pycocotools' loadRes cannot take an empty list; an empty result set scores 0, not an error.
    dt = coco_cls()
    dt.dataset = {"images": list(gt.dataset["images"]), "categories": list(gt.dataset["categories"]), "annotations": []}
    dt.createIndex()
    return dt


def _per_class_ap(precision: np.ndarray, categories: list[dict[str, Any]], cat_ids: list[int]) -> dict[str, float]:
    """AP per category from COCOeval's ``precision[T, R, K, A, M]`` (area all, maxDets 100)."""
    names = {c["id"]: c["name"] for c in categories}
    result = {}
    for k, cat_id in enumerate(cat_ids):
        values = precision[:, :, k, 0, -1]
        values = values[values > -1]
        result[f"AP/{names[cat_id]}"] = float(values.mean()) if values.size else -1.0
    return result


def score_files(
    annotations: str | Path, predictions: str | Path, backend: str = "faster_coco_eval", partial_labels: str = "lvis"
) -> dict[str, float]:
    """Score a COCO results file against a COCO annotations file; no images, no model.

    The annotations are checked first (one clear error for what cannot be used) and then
    given to the evaluator exactly as written.
    """
    ground_truth = checked_ground_truth(annotations)
    return evaluate_coco(ground_truth, load_results(predictions, ground_truth), backend, partial_labels)


def checked_ground_truth(annotations: str | Path, images: str | Path | None = None) -> dict[str, Any]:
    """A COCO annotations file as written, once `load_coco` found nothing wrong with it (with
    ``images``, the folder its file names are in, the images' sizes too)."""
    load_coco(annotations, image_root=images, check_images=images is not None)
    return json.loads(read_text(Path(annotations)))
