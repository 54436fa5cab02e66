"""What kinds of mistakes a detector makes, and what fixing each kind is worth: TIDE's error
breakdown (Bolya et al., ECCV 2020; reference implementation dbolya/tide ``tidecv/quantify.py``)
on detkit's one matching of detections to ground truth.

Whether a detection is a true positive comes from COCOeval's matching at IoU 0.5
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

Everything is done on the matching's columns (one row per detection and per box; every false
positive paired with its image's boxes), not per image in Python: at 5,000 images x 100
detections that is ~470,000 false positives, and the `errors` objects are made only when asked.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from detkit.evaluation.matching import CocoMatching, mean_defined, paired_iou

FOREGROUND_IOU, BACKGROUND_IOU = 0.5, 0.1
KINDS = ("classification", "localisation", "both", "duplicate", "background", "missed")
FALSE_POSITIVE_KINDS = KINDS[:-1]
CLASSIFICATION, LOCALISATION, BOTH, DUPLICATE, BACKGROUND, MISSED = range(len(KINDS))
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


@dataclass
class ErrorTable:
    """The errors as columns, in `ErrorAnalysis.errors` order: ``kind`` (index into `KINDS`),
    ``detection`` and ``truth`` (rows of the matching's detections and boxes, -1 for none),
    ``iou`` and ``takes`` (see `DetectionError`)."""

    kind: np.ndarray
    detection: np.ndarray
    truth: np.ndarray
    iou: np.ndarray
    takes: np.ndarray


class ErrorAnalysis:
    """The errors of ``detections`` against ``ground_truth`` (COCO dicts; LVIS semantics for
    partially labelled images unless ``partial_labels="naive"``) and what fixing them is worth."""

    def __init__(
        self, ground_truth: dict[str, Any], detections: list[dict[str, Any]] | np.ndarray, partial_labels: str = "lvis"
    ):
        self.matching = CocoMatching(ground_truth, detections, partial_labels, iou_thresholds=[FOREGROUND_IOU])
        found, first = self.matching.found, self.matching.first_threshold
        self._true_positive, self._ignored = found.true_positive[0], found.ignored[0]
        position = {ann["id"]: n for n, ann in enumerate(self.matching.ground_truth["annotations"])}
        in_file = np.array([position[i] for i in first.truth_id.tolist()], dtype=np.int64)
        # an image's boxes by class, those that count first, each in the file's order (COCOeval's)
        self._truth_order = np.lexsort((in_file, first.truth_ignored, first.truth_label, first.truth_image))
        self._matched_score = np.full(len(first.truth_id), -1.0)
        hits = np.flatnonzero(first.truth >= 0)  # a crowd region keeps the last (lowest) score matched
        self._matched_score[self._rows_of_truths(first.truth[hits])] = found.score[hits]
        self.table = self._find_errors()
        unmatched = self._truth_order[~first.truth_ignored[self._truth_order] & ~first.truth_matched[self._truth_order]]
        self.unmatched_truth: list[int] = first.truth_id[unmatched].tolist()
        self._unmatched_rows = unmatched
        self._pooled = self.matching.pool(found.label, found.score, found.true_positive, found.ignored)
        self.class_ap = self.average_precision()

    @property
    def class_names(self) -> list[str]:
        return [self.matching.names[c] for c in self.matching.category_ids]

    # --- what each error is -------------------------------------------------------------------

    def _rows_of_truths(self, truth_ids: np.ndarray) -> np.ndarray:
        first = self.matching.first_threshold
        order = np.argsort(first.truth_id, kind="stable")
        return order[np.searchsorted(first.truth_id[order], truth_ids)]

    def _find_errors(self) -> ErrorTable:
        """TIDE's kind of every false positive and every missed box, image by image (false
        positives by descending score, then the boxes no fix takes), as columns."""
        found, first = self.matching.found, self.matching.first_threshold
        false_positive = np.flatnonzero(~self._true_positive & ~self._ignored)
        # an image's false positives by descending score, then class and place: the order the
        # boxes they aim at are given out in
        false_positive = false_positive[
            np.lexsort((false_positive, -found.score[false_positive], found.image[false_positive]))
        ]
        counting = self._truth_order[~first.truth_ignored[self._truth_order]]
        kind, truth, iou = self._false_positive_kinds(false_positive, counting)
        truth_matched = np.zeros(len(truth), dtype=bool)
        truth_matched[truth >= 0] = first.truth_matched[truth[truth >= 0]]
        aiming = np.flatnonzero(((kind == LOCALISATION) | (kind == CLASSIFICATION)) & ~truth_matched)
        takes = np.zeros(len(false_positive), dtype=bool)
        takes[aiming[np.unique(truth[aiming], return_index=True)[1]]] = True  # the first aimed at each box
        missed = counting[~first.truth_matched[counting] & ~np.isin(counting, truth[takes])]
        image = np.concatenate([found.image[false_positive], first.truth_image[missed]])
        is_missed = np.r_[np.zeros(len(false_positive), dtype=bool), np.ones(len(missed), dtype=bool)]
        order = np.lexsort((np.arange(len(image)), is_missed, image))  # an image's false positives, then its misses
        return ErrorTable(
            kind=np.concatenate([kind, np.full(len(missed), MISSED)])[order],
            detection=np.concatenate([false_positive, np.full(len(missed), -1)])[order],
            truth=np.concatenate([truth, missed])[order],
            iou=np.concatenate([iou, self._best_detection_iou(missed)])[order],
            takes=np.concatenate([takes, np.zeros(len(missed), dtype=bool)])[order],
        )

    def _false_positive_kinds(
        self, false_positive: np.ndarray, counting: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each false positive's kind, the box it concerns (-1 for none) and the IoU behind the
        kind, judged against the boxes that count on its image (rows ``counting``, by image)."""
        found, first = self.matching.found, self.matching.first_threshold
        pair_fp, pair_truth = _pairs(found.image[false_positive], first.truth_image[counting], self.matching.num_images)
        detection_rows, truth_rows = false_positive[pair_fp], counting[pair_truth]
        iou = paired_iou(first.box[detection_rows], first.truth_box[truth_rows])
        same = found.label[detection_rows] == first.truth_label[truth_rows]
        taken = first.truth_matched[truth_rows]
        segments = np.bincount(pair_fp, minlength=len(false_positive))
        same_best, same_at = _segment_argmax(np.where(same, iou, 0.0), segments)
        other_best, other_at = _segment_argmax(np.where(same, 0.0, iou), segments)
        taken_best, taken_at = _segment_argmax(np.where(same & taken, iou, 0.0), segments)
        any_best, _ = _segment_argmax(iou, segments)
        localisation = (same_best >= BACKGROUND_IOU) & (same_best <= FOREGROUND_IOU)
        classification = ~localisation & (other_best >= FOREGROUND_IOU)
        duplicate = ~localisation & ~classification & (taken_best >= FOREGROUND_IOU)
        background = ~localisation & ~classification & ~duplicate & (any_best <= BACKGROUND_IOU)
        chosen = [localisation, classification, duplicate]
        kind = np.select([*chosen, background], [LOCALISATION, CLASSIFICATION, DUPLICATE, BACKGROUND], BOTH)
        at = np.select(chosen, [same_at, other_at, taken_at], -1)  # a pair, for the kinds that name a box
        truth = _take(truth_rows, at, -1)
        return kind, truth, np.select(chosen, [same_best, other_best, taken_best], any_best)

    def _best_detection_iou(self, truths: np.ndarray) -> np.ndarray:
        """The largest IoU any counted detection of each box's class on its image has with it."""
        found, first = self.matching.found, self.matching.first_threshold
        counted = np.flatnonzero(~self._ignored)  # by class, then image
        entry = found.label[counted] * self.matching.num_images + found.image[counted]
        truth_entry = first.truth_label[truths] * self.matching.num_images + first.truth_image[truths]
        entries = len(self.matching.category_ids) * self.matching.num_images
        pair_truth, pair_detection = _pairs(truth_entry, entry, entries)
        iou = paired_iou(first.box[counted[pair_detection]], first.truth_box[truths[pair_truth]])
        best, _ = _segment_argmax(iou, np.bincount(pair_truth, minlength=len(truths)))
        return best

    @cached_property
    def errors(self) -> list[DetectionError]:
        """Every error, in `table` order (made when first asked)."""
        found, first, table = self.matching.found, self.matching.first_threshold, self.table
        detection, truth, missed = table.detection, table.truth, table.detection < 0
        category_ids, image_ids = np.asarray(self.matching.category_ids), np.asarray(self.matching.image_ids)
        image = np.where(missed, _take(first.truth_image, truth, 0), _take(found.image, detection, 0))
        box = np.where(missed[:, None], _take(first.truth_box, truth, 0.0), _take(first.box, detection, 0.0))
        truth_category = np.where(truth >= 0, category_ids[_take(first.truth_label, truth, 0)], -1)
        columns = (
            range(len(detection)),
            [KINDS[k] for k in table.kind.tolist()],
            image_ids[image].tolist(),
            category_ids[self._error_labels].tolist(),
            np.where(missed, math.nan, _take(found.score, detection, 0.0)).tolist(),
            table.iou.tolist(),
            map(tuple, box.tolist()),
            _or_none(_take(first.id, detection, -1)),
            _or_none(_take(first.truth_id, truth, -1)),
            _or_none(truth_category),
            table.takes.tolist(),
        )
        return list(itertools.starmap(DetectionError, zip(*columns)))

    def image_outcomes(self, image_id: int) -> tuple[list[dict], list[dict]]:
        """One image's detections (``outcome``: tp, fp or ignored) and boxes (``ignore``,
        ``matched``), with ``id``, ``category_id``, ``bbox`` xywh and a detection's ``score``."""
        found, first = self.matching.found, self.matching.first_threshold
        index = self.matching.image_ids.index(image_id)
        category_ids = self.matching.category_ids
        detections = [
            dict(
                id=int(first.id[row]),
                category_id=int(category_ids[found.label[row]]),
                score=float(found.score[row]),
                bbox=first.box[row].tolist(),
                outcome="ignored" if self._ignored[row] else "tp" if self._true_positive[row] else "fp",
            )
            for row in np.flatnonzero(found.image == index)
        ]
        truths = [
            dict(
                id=int(first.truth_id[row]),
                matched_score=float(self._matched_score[row]),
                category_id=int(category_ids[first.truth_label[row]]),
                bbox=first.truth_box[row].tolist(),
                ignore=bool(first.truth_ignored[row]),
                matched=bool(first.truth_matched[row]),
            )
            for row in self._truth_order[first.truth_image[self._truth_order] == index]
        ]
        return detections, truths

    # --- what fixing them is worth ------------------------------------------------------------

    def average_precision(self, fixed: Iterable[DetectionError] = (), perfect: str | None = None) -> np.ndarray:
        """AP50 per class (-1 where a class has no boxes) with the ``fixed`` errors fixed by the
        oracle; ``perfect="false_positives"`` also removes every false positive,
        ``"false_negatives"`` every unmatched box."""
        return self._fixed_ap(np.fromiter((e.error_id for e in fixed), dtype=np.int64), perfect)

    def _fixed_ap(self, fixed: np.ndarray, perfect: str | None = None) -> np.ndarray:
        """`average_precision` of the errors at positions ``fixed`` of `table`."""
        found, first, table = self.matching.found, self.matching.first_threshold, self.table
        true_positive, ignored = self._true_positive.copy(), self._ignored.copy()
        truth_left_out = np.zeros(len(first.truth_id), dtype=bool)
        kind, rows, takes = table.kind[fixed], table.detection[fixed], table.takes[fixed]
        truth_left_out[table.truth[fixed[kind == MISSED]]] = True
        true_positive[rows[(kind == LOCALISATION) & takes]] = True
        ignored[rows[(kind != MISSED) & ~((kind == LOCALISATION) & takes)]] = True
        if perfect == "false_positives":
            ignored[table.detection[table.kind != MISSED]] = True
        elif perfect == "false_negatives":
            truth_left_out[self._unmatched_rows] = True
        positives = self.matching.positives(truth_left_out)
        joins = fixed[(kind == CLASSIFICATION) & takes]  # the detection joins its box's class, matched
        if len(joins):
            truths = table.truth[joins]
            detections = table.detection[joins]
            pooled = self.matching.pool(
                label=np.concatenate([found.label, first.truth_label[truths]]),
                score=np.concatenate([found.score, found.score[detections]]),
                true_positive=np.concatenate([true_positive, np.ones(len(joins), dtype=bool)])[None],
                ignored=np.concatenate([ignored, np.zeros(len(joins), dtype=bool)])[None],
                image=np.concatenate([found.image, found.image[detections]]),
                positives=positives,
            )
        else:
            pooled = self._pooled.with_outcomes(true_positive[None], ignored[None], positives)
        precision = pooled.precision()[0]
        return np.array([mean_defined(precision[:, k]) for k in range(precision.shape[1])])

    def breakdown(self, fixes: dict[str, Callable[[DetectionError], bool]] | None = None) -> dict[str, Any]:
        """Per kind (or per named condition in ``fixes``): ``count`` and ``dAP`` (AP50 gained by
        fixing those errors alone), overall and per class; and the special bounds."""
        if fixes is None:
            chosen = {name: np.flatnonzero(self.table.kind == code) for code, name in enumerate(KINDS)}
        else:
            chosen = {
                name: np.array([e.error_id for e in self.errors if condition(e)], dtype=np.int64)
                for name, condition in fixes.items()
            }
        base = self.class_ap
        result: dict[str, Any] = {"AP50": mean_defined(base), "kinds": {}, "special": {}}
        for name, ids in chosen.items():
            result["kinds"][name] = self._summary(ids, self._fixed_ap(ids), base)
        for name in SPECIAL:
            result["special"][name] = {
                "dAP": gain(mean_defined(self._fixed_ap(np.zeros(0, dtype=np.int64), name)), result["AP50"])
            }
        return result

    def _summary(self, chosen: np.ndarray, fixed_ap: np.ndarray, base: np.ndarray) -> dict[str, Any]:
        counts = np.bincount(self._error_labels[chosen], minlength=len(self.matching.category_ids))
        per_class = {
            name: {"count": int(counts[k]), "dAP": gain(float(fixed_ap[k]), float(base[k]))}
            for k, name in enumerate(self.class_names)
        }
        return {"count": len(chosen), "dAP": gain(mean_defined(fixed_ap), mean_defined(base)), "per_class": per_class}

    @cached_property
    def _error_labels(self) -> np.ndarray:
        """Each error's class index (a missed box's own)."""
        found, first, table = self.matching.found, self.matching.first_threshold, self.table
        return np.where(
            table.detection < 0, _take(first.truth_label, table.truth, 0), _take(found.label, table.detection, 0)
        )

    def image_weights(self, score_threshold: float) -> dict[int, float]:
        """How much error each image carries at the operating point ``score_threshold``: the
        scores of its false positives scoring at least that, plus one per box not found at it
        (`boxes_not_found`). Images without such errors are left out."""
        weights: dict[int, float] = defaultdict(float, self.boxes_not_found(score_threshold))
        found, rows = self.matching.found, self.table.detection
        rows = rows[rows >= 0]
        rows = rows[found.score[rows] >= score_threshold]
        image_ids = self.matching.image_ids
        for image, score in zip(found.image[rows].tolist(), found.score[rows].tolist()):
            weights[int(image_ids[image])] += score
        return dict(weights)

    def boxes_not_found(self, score_threshold: float) -> Counter[int]:
        """Per image, the boxes that no detection scoring at least ``score_threshold`` matched."""
        first = self.matching.first_threshold
        rows = self._truth_order[~first.truth_ignored[self._truth_order]]
        rows = rows[self._matched_score[rows] < score_threshold]
        image_ids = self.matching.image_ids
        return Counter(int(image_ids[image]) for image in first.truth_image[rows].tolist())

    def detection_outcomes(self, class_index: int) -> tuple[np.ndarray, np.ndarray, int]:
        """One class's scored detections: scores, whether each is a match at IoU 0.5, and the
        number of boxes to find (ignored detections and boxes left out)."""
        found, first = self.matching.found, self.matching.first_threshold
        rows = np.flatnonzero((found.label == class_index) & ~self._ignored)
        boxes = int(np.count_nonzero((first.truth_label == class_index) & ~first.truth_ignored))
        return found.score[rows].astype(float), self._true_positive[rows], boxes


def gain(fixed: float, base: float) -> float | None:
    """AP50 gained by a fix: None when either AP is undefined (pycocotools' -1: a class, or a
    split, with no boxes left to find; fixing every missed box of a class leaves it none)."""
    return fixed - base if fixed > -1 and base > -1 else None


def _or_none(ids: np.ndarray) -> list[int | None]:
    """Ids as a list, None for -1."""
    return [None if i < 0 else i for i in ids.tolist()]


def _take(values: np.ndarray, rows: np.ndarray, fill: float) -> np.ndarray:
    """``values[rows]``, ``fill`` where a row is -1 (no detection, no box)."""
    taken = np.full((len(rows), *values.shape[1:]), fill, dtype=np.result_type(values.dtype, type(fill)))
    valid = rows >= 0
    taken[valid] = values[rows[valid]]
    return taken


def _pairs(left: np.ndarray, right: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of a ``left`` row and a ``right`` row in the same group (``right`` sorted by
    group), as indices: left rows in order, each with its group's right rows in order."""
    starts = np.searchsorted(right, np.arange(groups))
    sizes = np.bincount(right, minlength=groups)
    counts = sizes[left]
    pair_left = np.repeat(np.arange(len(left)), counts)
    offsets = np.arange(len(pair_left)) - np.repeat(np.cumsum(counts) - counts, counts)
    return pair_left, np.repeat(starts[left], counts) + offsets


def _segment_argmax(values: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per segment of ``values`` (consecutive, of ``sizes``): the largest value (0 for an empty
    segment) and the position of its first occurrence (-1 for an empty one), as numpy's argmax."""
    best = np.zeros(len(sizes))
    at = np.full(len(sizes), -1)
    filled = sizes > 0
    if not filled.any():
        return best, at
    starts = np.cumsum(sizes) - sizes
    best[filled] = np.maximum.reduceat(values, starts[filled])
    segment = np.repeat(np.arange(len(sizes)), sizes)
    hits = np.flatnonzero(values == best[segment])
    first_hit = np.r_[True, segment[hits][1:] != segment[hits][:-1]]
    at[segment[hits[first_hit]]] = hits[first_hit]
    return best, at
