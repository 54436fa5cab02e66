"""What kinds of mistakes a detector makes, and what fixing each kind is worth: TIDE's error
breakdown (Bolya et al., ECCV 2020; reference implementation dbolya/tide ``tidecv/quantify.py``)
on detkit's one matching of detections to ground truth.

Whether a detection is a true positive comes from pycocotools' matching at IoU 0.5
(`CocoMatching`), so crowd regions, LVIS partial labels and the per-class limit of 100
detections mean what they mean to the mAP. Each remaining detection gets the first kind that
fits, in TIDE's order, judged against the image's non-ignored boxes:

1. background: the image has no boxes at all;
2. localisation: IoU between 0.1 and 0.5 with a box of its class (the best such box);
3. classification: IoU >= 0.5 with a box of another class;
4. duplicate: IoU >= 0.5 with a box of its class that a higher-scoring detection took;
5. background: IoU <= 0.1 with every box;
6. both: everything else (wrong class and poorly placed).

A box no detection took is *missed* unless a classification or localisation error aims at it.
The worth of a kind is TIDE's oracle: fix every error of that kind and nothing else, score
AP50 again (the edited matching pooled as pycocotools' ``accumulate`` pools it) and take the difference.
A classification or localisation error becomes a match of its box when that box is unmatched and
it is the highest-scoring such error aimed at it; otherwise, like duplicates, background and
both, the fix removes the detection. Fixing a missed box removes it from the ground truth.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from detkit.evaluation.matching import CocoMatching, PerImage, mean_defined

FOREGROUND_IOU, BACKGROUND_IOU = 0.5, 0.1
KINDS = ("classification", "localisation", "both", "duplicate", "background", "missed")
FALSE_POSITIVE_KINDS = KINDS[:-1]
# TIDE's "special" errors: every false positive removed (perfect precision), or every unmatched
# box removed (perfect recall) — the two bounds the six kinds split between them.
SPECIAL = ("false_positives", "false_negatives")


@dataclass(frozen=True)
class DetectionError:
    """One error: a detection of the wrong kind, or a missed box.

    ``category_id`` is the detection's class (a missed box's own); ``bbox`` is xywh of the
    detection (of the missed box); ``truth_id`` the box concerned: the one a classification or
    localisation error aims at, the one a duplicate repeats, the missed one. ``iou`` is the
    IoU behind the kind (with that box; for background and both, the largest with any box).
    ``takes_truth``: the oracle fix turns the detection into a match of ``truth_id``.
    """

    error_id: int
    kind: str
    image_id: int
    category_id: int
    score: float
    iou: float
    bbox: tuple[float, float, float, float]
    detection_id: int | None = None
    truth_id: int | None = None
    truth_category_id: int | None = None
    takes_truth: bool = False

    @property
    def is_false_positive(self) -> bool:
        return self.kind != "missed"


class ErrorAnalysis:
    """The errors of ``detections`` against ``ground_truth`` (COCO dicts; LVIS semantics for
    partially labelled images unless ``partial_labels="naive"``) and what fixing them is worth."""

    def __init__(self, ground_truth: dict[str, Any], detections: list[dict[str, Any]], partial_labels: str = "lvis"):
        self.matching = CocoMatching(ground_truth, detections, partial_labels, iou_thresholds=[FOREGROUND_IOU])
        self._detection_at: dict[int, tuple[int, int]] = {}
        self._truth_at: dict[int, tuple[int, int]] = {}
        self._image_index = {image_id: i for i, image_id in enumerate(self.matching.image_ids)}
        self.errors: list[DetectionError] = []
        self.unmatched_truth: list[int] = []
        self._images = [self._outcomes(i) for i in range(self.matching.num_images)]  # (detections, boxes)
        for image_index in range(self.matching.num_images):
            self._analyse_image(image_index)
        self.class_ap = self.average_precision()

    def image_outcomes(self, image_id: int) -> tuple[list[dict], list[dict]]:
        """One image's detections (``outcome``: tp, fp or ignored) and boxes (``ignore``,
        ``matched``), with ``id``, ``category_id``, ``bbox`` xywh and a detection's ``score``."""
        return self._images[self._image_index[image_id]]

    @property
    def class_names(self) -> list[str]:
        return [self.matching.names[c] for c in self.matching.category_ids]

    # --- what each error is -------------------------------------------------------------------

    def _analyse_image(self, image_index: int) -> None:
        detections, truths = self._images[image_index]
        false_positives = sorted((d for d in detections if d["outcome"] == "fp"), key=lambda d: -d["score"])
        truths = [t for t in truths if not t["ignore"]]
        iou = _iou([d["bbox"] for d in false_positives], [t["bbox"] for t in truths])
        image_id = self.matching.image_ids[image_index]
        takers: dict[int, int] = {}  # a free box -> the first (highest-scoring) error aimed at it
        for row, detection in enumerate(false_positives):
            kind, column, value = _kind(detection, truths, iou[row])
            truth = truths[column] if column is not None else None
            aims = kind in ("classification", "localisation") and not truth["matched"]
            takes = aims and truth["id"] not in takers
            if takes:
                takers[truth["id"]] = detection["id"]
            self._add(kind, image_id, detection, value, truth, takes)
        for truth in truths:
            if not truth["matched"]:
                self.unmatched_truth.append(truth["id"])
                if truth["id"] not in takers:
                    self._add("missed", image_id, truth, _best_iou(truth, detections), truth, False)

    def _outcomes(self, image_index: int) -> tuple[list[dict], list[dict]]:
        """Every detection (``outcome`` tp, fp or ignored) and box of one image, noting where
        each sits in the matching."""
        detections, truths = [], []
        for k, category_id in enumerate(self.matching.category_ids):
            entry_index = k * self.matching.num_images + image_index
            entry = self.matching.per_image[entry_index]
            if entry is None:
                continue
            for position, det_id in enumerate(entry["dtIds"]):
                self._detection_at[det_id] = (entry_index, position)
                found = self.matching.found.anns[det_id]
                ignored, matched = entry["dtIgnore"][0, position], entry["dtMatches"][0, position] > 0
                outcome = "ignored" if ignored else "tp" if matched else "fp"
                detections.append(
                    dict(
                        id=det_id,
                        category_id=category_id,
                        score=float(found["score"]),
                        bbox=found["bbox"],
                        outcome=outcome,
                    )
                )
            for position, truth_id in enumerate(entry["gtIds"]):
                self._truth_at[truth_id] = (entry_index, position)
                match = int(entry["gtMatches"][0, position])
                truths.append(
                    dict(
                        id=truth_id,
                        matched_score=float(self.matching.found.anns[match]["score"]) if match else -1.0,
                        category_id=category_id,
                        bbox=self.matching.truth.anns[truth_id]["bbox"],
                        ignore=bool(entry["gtIgnore"][position]),
                        matched=entry["gtMatches"][0, position] > 0,
                    )
                )
        return detections, truths

    def _add(self, kind: str, image_id: int, source: dict, iou: float, truth: dict | None, takes: bool) -> None:
        missed = kind == "missed"
        self.errors.append(
            DetectionError(
                error_id=len(self.errors),
                kind=kind,
                image_id=int(image_id),
                category_id=int(source["category_id"]),
                score=math.nan if missed else source["score"],
                iou=float(iou),
                bbox=tuple(float(v) for v in source["bbox"]),
                detection_id=None if missed else int(source["id"]),
                truth_id=None if truth is None else int(truth["id"]),
                truth_category_id=None if truth is None else int(truth["category_id"]),
                takes_truth=takes,
            )
        )

    # --- what fixing them is worth ------------------------------------------------------------

    def average_precision(self, fixed: Iterable[DetectionError] = (), perfect: str | None = None) -> np.ndarray:
        """AP50 per class (-1 where a class has no boxes) with the ``fixed`` errors fixed by the
        oracle; ``perfect="false_positives"`` also removes every false positive,
        ``"false_negatives"`` every unmatched box."""
        per_image = list(self.matching.per_image)
        edited: dict[int, dict[str, Any]] = {}
        for error in fixed:
            self._fix(error, per_image, edited)
        if perfect == "false_positives":
            for error in self.errors:
                if error.is_false_positive:
                    self._remove_detection(error.detection_id, per_image, edited)
        elif perfect == "false_negatives":
            for truth_id in self.unmatched_truth:
                entry_index, position = self._truth_at[truth_id]
                _editable(per_image, edited, entry_index)["gtIgnore"][position] = 1
        for entry in edited.values():  # detections moved to another class were appended: restore score order
            order = np.argsort(-np.asarray(entry["dtScores"]), kind="mergesort")
            entry["dtScores"] = [entry["dtScores"][i] for i in order]
            entry["dtMatches"], entry["dtIgnore"] = entry["dtMatches"][:, order], entry["dtIgnore"][:, order]
        precision = self.matching.precision(per_image)[0]
        return np.array([mean_defined(precision[:, k]) for k in range(precision.shape[1])])

    def _fix(self, error: DetectionError, per_image: PerImage, edited: dict[int, dict[str, Any]]) -> None:
        if error.kind == "missed":
            entry_index, position = self._truth_at[error.truth_id]
            _editable(per_image, edited, entry_index)["gtIgnore"][position] = 1
        elif error.takes_truth and error.kind == "localisation":
            entry_index, position = self._detection_at[error.detection_id]
            _editable(per_image, edited, entry_index)["dtMatches"][0, position] = error.truth_id
        else:
            self._remove_detection(error.detection_id, per_image, edited)
            if error.takes_truth:  # classification: the detection joins its box's class, matched
                entry = _editable(per_image, edited, self._truth_at[error.truth_id][0])
                entry["dtScores"] = [*entry["dtScores"], error.score]
                entry["dtMatches"] = np.append(entry["dtMatches"], [[error.truth_id]], axis=1)
                entry["dtIgnore"] = np.append(entry["dtIgnore"], [[False]], axis=1)

    def _remove_detection(self, detection_id: int, per_image: PerImage, edited: dict[int, dict[str, Any]]) -> None:
        entry_index, position = self._detection_at[detection_id]
        _editable(per_image, edited, entry_index)["dtIgnore"][0, position] = True

    def breakdown(self, fixes: dict[str, Callable[[DetectionError], bool]] | None = None) -> dict[str, Any]:
        """Per kind (or per named condition in ``fixes``): ``count`` and ``dAP`` (AP50 gained by
        fixing those errors alone), overall and per class; and the special bounds."""
        fixes = fixes if fixes is not None else {kind: _of_kind(kind) for kind in KINDS}
        base = self.class_ap
        result: dict[str, Any] = {"AP50": mean_defined(base), "kinds": {}, "special": {}}
        for name, condition in fixes.items():
            chosen = [e for e in self.errors if condition(e)]
            result["kinds"][name] = self._summary(chosen, self.average_precision(chosen), base)
        for name in SPECIAL:
            result["special"][name] = {"dAP": mean_defined(self.average_precision(perfect=name)) - result["AP50"]}
        return result

    def _summary(self, chosen: list[DetectionError], fixed_ap: np.ndarray, base: np.ndarray) -> dict[str, Any]:
        counts = Counter(e.category_id for e in chosen)
        per_class = {
            name: {"count": counts[cat_id], "dAP": float(fixed_ap[k] - base[k]) if base[k] > -1 else None}
            for k, (cat_id, name) in enumerate(zip(self.matching.category_ids, self.class_names))
        }
        return {"count": len(chosen), "dAP": mean_defined(fixed_ap) - mean_defined(base), "per_class": per_class}

    def image_weights(self, score_threshold: float) -> dict[int, float]:
        """How much error each image carries at the operating point ``score_threshold``: the
        scores of its false positives scoring at least that, plus one per box not found at it
        (`boxes_not_found`). Images without such errors are left out."""
        weights: dict[int, float] = defaultdict(float, self.boxes_not_found(score_threshold))
        for error in self.errors:
            if error.is_false_positive and error.score >= score_threshold:
                weights[error.image_id] += error.score
        return dict(weights)

    def boxes_not_found(self, score_threshold: float) -> Counter[int]:
        """Per image, the boxes that no detection scoring at least ``score_threshold`` matched."""
        counts: Counter[int] = Counter()
        for image_id, (_, truths) in zip(self.matching.image_ids, self._images):
            for truth in truths:
                if not truth["ignore"] and truth["matched_score"] < score_threshold:
                    counts[int(image_id)] += 1
        return counts

    def detection_outcomes(self, class_index: int) -> tuple[np.ndarray, np.ndarray, int]:
        """One class's scored detections: scores, whether each is a match at IoU 0.5, and the
        number of boxes to find (ignored detections and boxes left out)."""
        scores, matched, boxes = [], [], 0
        for image_index in range(self.matching.num_images):
            entry = self.matching.entry(class_index, image_index)
            if entry is None:
                continue
            keep = ~entry["dtIgnore"][0]
            scores.extend(np.asarray(entry["dtScores"])[keep])
            matched.extend(entry["dtMatches"][0][keep] > 0)
            boxes += int(np.count_nonzero(np.asarray(entry["gtIgnore"]) == 0))
        return np.asarray(scores, dtype=float), np.asarray(matched, dtype=bool), boxes


def _of_kind(kind: str) -> Callable[[DetectionError], bool]:
    return lambda error: error.kind == kind


def _kind(detection: dict, truths: list[dict], ious: np.ndarray) -> tuple[str, int | None, float]:
    """TIDE's kind of a false positive, the box it concerns (index into ``truths``) and the IoU."""
    if not truths:  # an image without boxes: whatever is found there is background
        return "background", None, 0.0
    same = np.array([t["category_id"] == detection["category_id"] for t in truths])
    taken = np.array([t["matched"] for t in truths])
    same_iou = np.where(same, ious, 0.0)
    column = int(same_iou.argmax())
    if BACKGROUND_IOU <= same_iou[column] <= FOREGROUND_IOU:
        return "localisation", column, float(same_iou[column])
    other_iou = np.where(same, 0.0, ious)
    column = int(other_iou.argmax())
    if other_iou[column] >= FOREGROUND_IOU:
        return "classification", column, float(other_iou[column])
    taken_iou = np.where(same & taken, ious, 0.0)
    column = int(taken_iou.argmax())
    if taken_iou[column] >= FOREGROUND_IOU:
        return "duplicate", column, float(taken_iou[column])
    if ious.max() <= BACKGROUND_IOU:
        return "background", None, float(ious.max())
    return "both", None, float(ious.max())


def _iou(detections: list[list[float]], truths: list[list[float]]) -> np.ndarray:
    """IoU ``[D, G]`` of xywh boxes, as pycocotools computes it."""
    if not detections or not truths:
        return np.zeros((len(detections), len(truths)))
    return np.asarray(mask_utils.iou(detections, truths, [0] * len(truths)), dtype=float).reshape(
        len(detections), len(truths)
    )


def _best_iou(truth: dict, detections: list[dict]) -> float:
    """The largest IoU any detection of the box's class has with it (0 when there is none)."""
    same = [d["bbox"] for d in detections if d["category_id"] == truth["category_id"] and d["outcome"] != "ignored"]
    return float(_iou(same, [truth["bbox"]]).max()) if same else 0.0


def _editable(per_image: PerImage, edited: dict[int, dict[str, Any]], entry_index: int) -> dict[str, Any]:
    """A copy of one matching entry, made once, that fixes may change."""
    if entry_index not in edited:
        entry = per_image[entry_index]
        edited[entry_index] = entry | {
            "dtScores": list(entry["dtScores"]),
            "dtMatches": entry["dtMatches"].copy(),
            "dtIgnore": entry["dtIgnore"].copy(),
            "gtIgnore": np.asarray(entry["gtIgnore"]).copy(),
        }
        per_image[entry_index] = edited[entry_index]
    return edited[entry_index]
