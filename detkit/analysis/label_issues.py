"""Label errors: the annotations of a split most likely wrong, found by setting them against a
detector's predictions, each with the fix the predictions suggest, and what fixing the first
ones is worth in AP.

The scores are cleanlab's ObjectLab box scores (`cleanlab.object_detection.rank`), one per
label box for a wrong class ("swap") and a badly placed box ("badloc"), and one per confident
prediction that no label box touches ("overlooked"); lower is more likely wrong. cleanlab does
not say which prediction a score came from, so the suggested fix (the model's class or box) is
picked here: the prediction of another class that overlaps the label most (swap), the
same-class prediction that overlaps it most (badloc), the prediction itself (overlooked).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from detkit.data.boxes import xywh_to_xyxy, xyxy_to_xywh
from detkit.data.formats.coco import exhaustive_category_ids
from detkit.evaluation.coco import Results, results_array
from detkit.evaluation.matching import iou_matrix

ISSUE_KINDS = ("overlooked", "swap", "badloc")
FIXES = {
    "overlooked": "add the model's box: an object the labels leave out",
    "swap": "give the box the model's class",
    "badloc": "move the box to the model's",
}


@dataclass(frozen=True)
class LabelIssue:
    """One suspected label error. ``category_id`` / ``bbox`` (xywh) are the label's (for an
    overlooked object, the model's box: there is no label); ``annotation_id`` the label's (None
    when overlooked); ``suggested_*`` what the predictions say instead (None when no prediction
    says it); ``score`` cleanlab's box quality, lower is more likely wrong. ``doubtful``: a badly
    placed label whose model box is another labelled object of its class (IoU >= 0.5): more
    likely the model missed this object than the label is misplaced; ranked after the others."""

    issue_id: int
    image_id: int
    kind: str
    score: float
    category_id: int
    bbox: tuple[float, float, float, float]
    annotation_id: int | None
    suggested_category_id: int | None
    suggested_bbox: tuple[float, float, float, float] | None
    model_score: float | None
    doubtful: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LabelIssues:
    """The suspected errors of a split, most likely first, and each image's label quality
    (cleanlab's score in [0, 1], lower worse)."""

    issues: list[LabelIssue]
    image_quality: dict[int, float]


@dataclass(frozen=True)
class _Image:
    """One image as cleanlab takes it: labels (class index, xyxy) and predictions per class."""

    image_id: int
    annotations: list[dict[str, Any]]
    label_boxes: np.ndarray
    label_classes: np.ndarray
    pred_boxes: np.ndarray
    pred_classes: np.ndarray
    pred_scores: np.ndarray


def find_label_issues(
    ground_truth: dict[str, Any],
    detections: Results,
    max_score: float = 0.5,
    high_score: float = 0.8,
    low_score: float = 0.5,
) -> LabelIssues:
    """The label boxes and overlooked objects of ``ground_truth`` (COCO) whose cleanlab score
    against ``detections`` (COCO results) is at most ``max_score``, most likely wrong first.
    ``high_score``: the least prediction score that may call a label overlooked or swapped
    (cleanlab's default is 0.95; 0.8 found more of the injected errors with a from-scratch
    SSDlite, whose scores run lower: docs/error_analysis.md); ``low_score``: the least that may
    call a label badly placed (cleanlab's default). Crowd regions are not labels; in a partially
    labelled image, predictions of its unlabelled classes say nothing of its labels, left out."""
    # Imported here: cleanlab brings scikit-learn and pandas (a second of start-up) that the
    # error analysis needs only when label errors are asked for.
    from cleanlab.object_detection.rank import (
        compute_badloc_box_scores,
        compute_overlooked_box_scores,
        compute_swap_box_scores,
        get_label_quality_scores,
    )

    category_ids = [c["id"] for c in ground_truth["categories"]]
    images = _images(ground_truth, detections, category_ids)
    if not images:
        return LabelIssues([], {})
    labels = [{"bboxes": image.label_boxes, "labels": image.label_classes} for image in images]
    predictions = [_per_class(image, len(category_ids)) for image in images]
    overlooked = compute_overlooked_box_scores(
        labels=labels, predictions=predictions, high_probability_threshold=high_score
    )
    swap = compute_swap_box_scores(labels=labels, predictions=predictions, high_probability_threshold=high_score)
    badloc = compute_badloc_box_scores(labels=labels, predictions=predictions, low_probability_threshold=low_score)
    quality = get_label_quality_scores(labels, predictions, verbose=False)
    found = []
    for k, image in enumerate(images):
        scores = {"overlooked": overlooked[k], "swap": swap[k], "badloc": badloc[k]}
        found += _image_issues(image, scores, category_ids, max_score, {"swap": high_score, "badloc": low_score})
    found.sort(key=lambda issue: (issue.doubtful, issue.score, issue.image_id))
    ranked = [replace(issue, issue_id=i + 1) for i, issue in enumerate(found)]
    return LabelIssues(ranked, {image.image_id: float(q) for image, q in zip(images, quality)})


def _images(ground_truth: dict[str, Any], detections: Results, category_ids: list[int]) -> list[_Image]:
    index = {cid: i for i, cid in enumerate(category_ids)}
    annotations: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for annotation in ground_truth["annotations"]:
        if not annotation.get("iscrowd", 0):
            annotations[annotation["image_id"]].append(annotation)
    rows = results_array(detections)  # image_id, x, y, w, h, score, category_id
    classes = np.array([index[int(c)] for c in rows[:, 6]], dtype=np.int64)
    order = np.lexsort((classes, rows[:, 0]))  # by image, then class by class: cleanlab's order of predictions
    rows, classes = rows[order], classes[order]
    starts = np.searchsorted(rows[:, 0], [image["id"] for image in ground_truth["images"]], side="left")
    ends = np.searchsorted(rows[:, 0], [image["id"] for image in ground_truth["images"]], side="right")
    images = []
    for entry, start, end in zip(ground_truth["images"], starts, ends):
        own = annotations[entry["id"]]
        labelled = exhaustive_category_ids(entry, {a["category_id"] for a in own})
        mine, mine_classes = rows[start:end], classes[start:end]
        if labelled is not None:  # the image's unlabelled classes: their predictions say nothing of its labels
            judged = np.isin(mine[:, 6], sorted(labelled))
            mine, mine_classes = mine[judged], mine_classes[judged]
        images.append(
            _Image(
                image_id=entry["id"],
                annotations=own,
                label_boxes=_xyxy([a["bbox"] for a in own]),
                label_classes=np.array([index[a["category_id"]] for a in own], dtype=np.int64),
                pred_boxes=xywh_to_xyxy(mine[:, 1:5]),
                pred_classes=mine_classes,
                pred_scores=mine[:, 5],
            )
        )
    return images


def _xyxy(boxes: list[list[float]]) -> np.ndarray:
    return xywh_to_xyxy(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))


def _per_class(image: _Image, num_classes: int) -> list[np.ndarray]:
    """The image's predictions as cleanlab takes them: per class an ``[M, 5]`` array (xyxy, score)."""
    rows = np.concatenate([image.pred_boxes, image.pred_scores[:, None]], axis=1)
    return [rows[image.pred_classes == k] for k in range(num_classes)]


def _image_issues(
    image: _Image,
    scores: dict[str, np.ndarray],
    category_ids: list[int],
    max_score: float,
    least_score: dict[str, float],
) -> list[LabelIssue]:
    """Each label box's likelier error (swap or badloc, by ``scores``, cleanlab's per box) and
    each overlooked prediction, scoring at most ``max_score``; a suggestion comes from a
    prediction scoring above ``least_score`` of its kind, as cleanlab's scores do."""
    overlap = iou_matrix(xyxy_to_xywh(image.label_boxes), xyxy_to_xywh(image.pred_boxes))
    issues = []
    for i, annotation in enumerate(image.annotations):
        own = {kind: scores[kind][i] for kind in ("swap", "badloc")}
        kind = min(own, key=lambda k: np.nan_to_num(own[k], nan=np.inf))
        if not own[kind] <= max_score:
            continue
        same = image.pred_classes == image.label_classes[i]
        usable = (~same if kind == "swap" else same) & (image.pred_scores > least_score[kind])
        best = _best_overlap(overlap[i], usable)
        issues.append(
            LabelIssue(
                issue_id=0,
                image_id=image.image_id,
                kind=kind,
                score=float(own[kind]),
                category_id=annotation["category_id"],
                bbox=tuple(float(v) for v in annotation["bbox"]),
                annotation_id=annotation["id"],
                suggested_category_id=None if best is None else category_ids[image.pred_classes[best]],
                suggested_bbox=None if best is None else _xywh(image.pred_boxes[best]),
                model_score=None if best is None else float(image.pred_scores[best]),
                doubtful=kind == "badloc"
                and best is not None
                and _found_elsewhere(overlap, image.label_classes, i, best),
            )
        )
    for j in np.flatnonzero(np.nan_to_num(scores["overlooked"], nan=np.inf) <= max_score):
        box, category_id = _xywh(image.pred_boxes[j]), category_ids[image.pred_classes[j]]
        score, model_score = float(scores["overlooked"][j]), float(image.pred_scores[j])
        issues.append(
            LabelIssue(
                issue_id=0,
                image_id=image.image_id,
                kind="overlooked",
                score=score,
                category_id=category_id,
                bbox=box,
                annotation_id=None,
                suggested_category_id=category_id,
                suggested_bbox=box,
                model_score=model_score,
            )
        )
    return issues


def _found_elsewhere(overlap: np.ndarray, label_classes: np.ndarray, label: int, prediction: int) -> bool:
    """Whether the prediction is another label's object of the same class (IoU >= 0.5 with it)."""
    others = (label_classes == label_classes[label]) & (np.arange(len(label_classes)) != label)
    return bool(np.any(overlap[others, prediction] >= 0.5))


def _best_overlap(ious: np.ndarray, usable: np.ndarray) -> int | None:
    """The usable prediction that overlaps the label most; None when none overlaps it."""
    candidates = np.flatnonzero(usable & (ious > 0))
    return None if not len(candidates) else int(candidates[np.argmax(ious[candidates])])


def _xywh(box: np.ndarray) -> tuple[float, float, float, float]:
    return tuple(float(v) for v in xyxy_to_xywh(box[None].astype(np.float64))[0])


def fixed_ground_truth(ground_truth: dict[str, Any], issues: Sequence[LabelIssue]) -> dict[str, Any]:
    """``ground_truth`` with ``issues`` fixed as their suggestions say (an issue without a
    suggestion stays as it is); the input is not changed."""
    fixed = copy.deepcopy(ground_truth)
    by_id = {a["id"]: a for a in fixed["annotations"]}
    next_id = max(by_id, default=0) + 1
    for issue in issues:
        if issue.suggested_category_id is None:
            continue
        if issue.kind == "overlooked":
            x, y, w, h = issue.suggested_bbox
            fixed["annotations"].append(
                {
                    "id": next_id,
                    "image_id": issue.image_id,
                    "category_id": issue.suggested_category_id,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
            next_id += 1
        elif issue.kind == "swap":
            by_id[issue.annotation_id]["category_id"] = issue.suggested_category_id
        else:
            x, y, w, h = issue.suggested_bbox
            by_id[issue.annotation_id].update(bbox=[x, y, w, h], area=w * h)
    return fixed


def recovered_errors(issues: Sequence[LabelIssue], injected: Sequence[dict[str, Any]], ks: Sequence[int]) -> list[dict]:
    """For data whose label errors are known (the shapes generator's ``label_noise.json``): at
    each k of ``ks``, the share of the first k issues that point at an injected error (precision)
    and the share of the injected errors they point at (recall). An issue points at an error of
    its image when its box and the error's (as given; the true one for an overlooked object)
    overlap with IoU >= 0.5."""
    targets: dict[int, list[int]] = defaultdict(list)
    for n, error in enumerate(injected):
        targets[error["image_id"]].append(n)
    hit_by = []
    for issue in issues:
        candidates = targets.get(issue.image_id, [])
        boxes = [injected[n]["given_box"] or injected[n]["true_box"] for n in candidates]
        overlap = iou_matrix(np.array([issue.bbox], dtype=np.float64), np.array(boxes, dtype=np.float64))[0]
        hit_by.append({candidates[j] for j in np.flatnonzero(overlap >= 0.5)})
    rows = []
    for k in ks:
        first = hit_by[:k]
        found = set().union(*first) if first else set()
        rows.append(
            {
                "k": k,
                "precision": sum(bool(h) for h in first) / len(first) if first else float("nan"),
                "recall": len(found) / len(injected) if injected else float("nan"),
            }
        )
    return rows
