"""The one evaluator: COCO box mAP with pycocotools semantics, on in-memory COCO dicts.

Two backends: ultrafast-pycocotools, the default, chosen by measurement (``benchmarks/evaluation.py``;
issue 19: the fastest of four at COCO size, pycocotools' precision, recall and twelve numbers to
the bit on detkit's cases, ``tests/evaluation/test_coco_eval.py``; its engine also feeds the one
matching, `detkit.evaluation.matching`), and pycocotools, the reference. hotcoco (as exact; 8-12 %
slower on arrays and files, faster on result dicts, which training never builds) and
faster-coco-eval (10x slower, the last bit off) were dropped in issue 41: one fast backend and
the reference. Every backend receives the same
ground-truth dict, so crowd regions and the annotations' own ``area`` are honoured as
pycocotools does, and detections as one ``[N, 7]`` array (`results_array`), which the Rust
backends read without a Python dict per detection.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from detkit.data import limits
from detkit.data.formats.coco import load_coco, load_results, results_to_array
from detkit.data.formats.fields import is_whole, parse_json, read_text
from detkit.evaluation.partial_labels import apply_partial_labels
from detkit.exceptions import ConfigError, DatasetError

BACKENDS = ("ultrafast_pycocotools", "pycocotools")
DEFAULT_BACKEND = BACKENDS[0]
Results = list[dict[str, Any]] | np.ndarray  # COCO results, or their `results_array`
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
    detections: Results,
    backend: str = DEFAULT_BACKEND,
    partial_labels: str = "lvis",
) -> dict[str, float]:
    """COCO box metrics of ``detections`` (COCO results: image_id, category_id, bbox xywh, score;
    or their `results_array`).

    Returns the twelve summary numbers of `SUMMARY_NAMES` and ``AP/<class name>`` per category
    (AP at IoU .50:.95, all areas, 100 detections; -1 where the category has no ground truth,
    as pycocotools reports undefined values). Images that declare partial labels are scored
    with LVIS semantics (`apply_partial_labels`), or ``partial_labels="naive"`` as if every
    unlabelled class were absent.
    """
    check_evaluation_options(backend, partial_labels)
    coco_cls, eval_cls = coco_backend(backend)
    detections = results_array(detections)
    if partial_labels == "lvis":
        ground_truth, detections = apply_partial_labels(ground_truth, detections)
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


def check_evaluation_options(backend: str, partial_labels: str) -> None:
    """A `ConfigError` naming the valid choices unless both are known (checked before training)."""
    check_backend(backend)
    if partial_labels not in PARTIAL_LABELS:
        raise ConfigError(f"partial_labels={partial_labels!r}; choose one of {', '.join(PARTIAL_LABELS)}")


def check_backend(name: str) -> None:
    """A `ConfigError` naming the backends unless ``name`` is one of them."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown evaluation backend {name!r}; choose one of {', '.join(BACKENDS)}")


def coco_backend(name: str) -> tuple[Callable[[], Any], Callable[..., Any]]:
    """The COCO and COCOeval classes of backend ``name`` (one of `BACKENDS`); what they print
    goes to stdout, which `evaluate_coco` holds back."""
    check_backend(name)
    if name == "ultrafast_pycocotools":
        from ultrafast_pycocotools import COCO, COCOeval

        return partial(COCO, verbose=False), COCOeval
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    return COCO, COCOeval


def results_array(detections: Results) -> np.ndarray:
    """COCO results as pycocotools' ``[N, 7]`` array (image_id, x, y, w, h, score, category_id),
    the form every backend's ``loadRes`` takes; an array is returned as it is."""
    return detections if isinstance(detections, np.ndarray) else results_to_array(detections)


def load_results_into(gt: Any, coco_cls: Callable[[], Any], detections: Results) -> Any:
    """``detections`` as a results object of ``coco_cls`` for the ground truth ``gt``."""
    if len(detections):
        if isinstance(detections, np.ndarray):
            return gt.loadRes(detections)
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
    annotations: str | Path, predictions: str | Path, backend: str = DEFAULT_BACKEND, partial_labels: str = "lvis"
) -> dict[str, float]:
    """Score a COCO results file against a COCO annotations file; no images, no model.

    The annotations are checked first (one clear error for what cannot be used) and then
    given to the evaluator exactly as written.
    """
    check_evaluation_options(backend, partial_labels)
    ground_truth = checked_ground_truth(annotations)
    return evaluate_coco(ground_truth, load_results(predictions, ground_truth), backend, partial_labels)


def checked_ground_truth(annotations: str | Path, images: str | Path | None = None) -> dict[str, Any]:
    """A COCO annotations file as written, once `load_coco` found nothing wrong with it (with
    ``images``, the folder its file names are in, the images' sizes too)."""
    load_coco(annotations, image_root=images, check_images=images is not None)
    ground_truth = parse_json(read_text(annotations, limit=limits.JSON_BYTES), str(annotations))
    _check_annotation_ids(ground_truth["annotations"], str(annotations))
    return ground_truth


def _check_annotation_ids(annotations: list[dict[str, Any]], source: str) -> None:
    """Refuse annotations without a unique 64-bit 'id': the evaluators key boxes by it (training
    needs none, so `load_coco` does not ask for it)."""
    seen: set[int] = set()
    for index, ann in enumerate(annotations):
        given = ann.get("id")
        if not is_whole(given) or given in seen:
            wrong = "missing" if "id" not in ann else "repeated" if is_whole(given) else f"{given!r}"
            raise DatasetError(
                f"annotations[{index}]: id {wrong}; scoring needs a unique whole 'id' of at most 64 bits on every "
                "annotation (tools/convert.py to=coco writes them)",
                source=source,
            )
        seen.add(given)
