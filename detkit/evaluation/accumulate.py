"""pycocotools' ``COCOeval.accumulate`` for one area range and one detection limit, with numpy.

pycocotools pools its per-image matching (``evalImgs``) in Python loops: per class it sorts the
detections by score, walks the precision from the right to make it non-increasing, and reads
it at 101 recall points one by one. That is most of a bootstrap draw's cost (2.5 s per draw at
1,000 images), and no evaluator library takes image weights or resampled images. Here the
matching is one row per detection (`PooledMatching`), and any draw of the images (repeats count
as separate images, in the order drawn) is pooled with array operations that give pycocotools'
numbers exactly:

- the detections are sorted once by class and descending score. A draw repeats each as often
  as its image was drawn; copies of one detection are neighbours in pycocotools' order unless
  another detection of its class has its score, so each counts once with its image's weight,
  and only tied detections are laid out one copy at a time, in the order pycocotools' stable
  mergesort leaves them: images as drawn, then each image's own order;
- the interpolated precision at a recall point is the largest precision at a true positive from
  the first one reaching that recall to the class's end (elsewhere the precision only falls), so
  only true positives and ignored detections are looked at after one cumulative sum of weights;
  the counts are integers and the precision ``tp / (fp + tp + eps)`` the same float operations;
- the recall point ``r`` is reached at the first detection with ``tp / npig >= r``: the smallest
  such ``tp`` is found exactly per class, then ``searchsorted`` on the integer counts.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

RECALL_POINTS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)  # COCOeval's recThrs


class PooledMatching:
    """One area range's matching as one row per detection, pooled by `precision` for any draw.

    ``image``, ``label``: each detection's image and class index; ``key``: its place among the
    detections of its image and class with its score (pycocotools: the results' order, i.e.
    the result id); ``true_positive`` and ``ignored`` ``[T, D]``: matched to a box that counts,
    and matched to an ignored box (or otherwise left out), at each IoU threshold;
    ``positives`` ``[K, I]``: the boxes that count per class and image. Each class and image's
    first ``max_detections`` detections by descending score count, as in ``accumulate``.
    """

    def __init__(
        self,
        image: np.ndarray,
        label: np.ndarray,
        key: np.ndarray,
        score: np.ndarray,
        true_positive: np.ndarray,
        ignored: np.ndarray,
        positives: np.ndarray,
        max_detections: int,
    ) -> None:
        self.num_classes, self.num_images = np.shape(positives)
        kept = _first_per_entry(image, label, key, score, self.num_images, max_detections)
        # (class, descending score, image, key): pycocotools' order when each image is drawn once
        self.order = kept[np.lexsort((key[kept], image[kept], -score[kept], label[kept]))]
        self.image_of, self.label_of = image[self.order], label[self.order]
        ordered_scores = score[self.order]
        new_group = np.ones(len(self.order), dtype=bool)
        new_group[1:] = (self.label_of[1:] != self.label_of[:-1]) | (ordered_scores[1:] != ordered_scores[:-1])
        self.group = np.cumsum(new_group) - 1  # a detection's class-and-score group, in sorted order
        sizes = np.bincount(self.group) if len(self.order) else np.zeros(0, dtype=np.int64)
        tied = sizes[self.group] > 1  # its place among its group depends on the order images are drawn in
        tied_positions = np.flatnonzero(tied)
        self.untied = np.flatnonzero(~tied) if len(tied_positions) else None
        self.tied_by_image = tied_positions[np.lexsort((tied_positions, self.image_of[tied_positions]))]
        self.tied_starts = np.searchsorted(self.image_of[self.tied_by_image], np.arange(self.num_images))
        self.tied_counts = np.bincount(self.image_of[self.tied_by_image], minlength=self.num_images)
        self.class_start = np.searchsorted(self.label_of, np.arange(self.num_classes))
        self._set_outcomes(true_positive, ignored, positives)

    def with_outcomes(self, true_positive: np.ndarray, ignored: np.ndarray, positives: np.ndarray) -> PooledMatching:
        """A copy with other verdicts for the same detections (rows as given to the constructor)
        and other box counts: an oracle's fix, pooled without sorting again."""
        edited = copy.copy(self)
        edited._set_outcomes(true_positive, ignored, positives)
        return edited

    def _set_outcomes(self, true_positive: np.ndarray, ignored: np.ndarray, positives: np.ndarray) -> None:
        self.positives = np.asarray(positives, dtype=np.int64)
        self.thresholds = len(true_positive)
        true_positive, ignored = true_positive[:, self.order], ignored[:, self.order]
        # only true positives and ignored detections are looked at once the weights are summed
        self.looked_at = true_positive.any(axis=0) | ignored.any(axis=0)
        self.looked = np.flatnonzero(self.looked_at)  # sorted positions
        self.look_index = np.cumsum(self.looked_at) - 1  # of a looked-at sorted position in `looked`
        self._all_looked = np.arange(len(self.looked))
        self.true_positive = true_positive[:, self.looked]
        self.ignored = ignored[:, self.looked] if ignored.any() else None

    def precision(self, draw: Sequence[int] | None = None) -> np.ndarray:
        """Interpolated precision ``[T, R, K]`` (-1 where a class has no boxes in the draw) of the
        images at positions ``draw`` (default: each image once), as ``accumulate`` gives it."""
        draw = np.arange(self.num_images) if draw is None else np.asarray(draw, dtype=np.int64)
        copies = np.bincount(draw, minlength=self.num_images).astype(float)  # integer counts, exact as floats
        precision = np.full((self.thresholds, len(RECALL_POINTS), self.num_classes), -1.0)
        positives = self.positives @ copies
        scored = np.flatnonzero(positives > 0)
        if not len(scored):
            return precision
        looked, weights, counted = self._places(draw, copies)
        labels = self.label_of[self.looked[looked]]
        class_first = np.searchsorted(labels, np.arange(self.num_classes + 1))
        per_class = np.diff(class_first)
        first, end = class_first[scored], class_first[scored + 1]
        hit = self.true_positive if looked is self._all_looked else self.true_positive[:, looked]  # [T, places]
        units = hit * weights
        tp_running, tp_before = _running_sum(units, class_first[:-1])
        tp = tp_running - np.repeat(tp_before, per_class, axis=1)
        fp = counted - tp
        if self.ignored is not None:
            ignored_running, ignored_before = _running_sum(self.ignored[:, looked] * weights, class_first[:-1])
            fp -= ignored_running - np.repeat(ignored_before, per_class, axis=1)
        values = np.zeros((self.thresholds, len(looked) + 1))  # one more: a class may end at the last place
        np.divide(tp, fp + tp + np.spacing(1), out=values[:, :-1], where=hit)  # pycocotools' floats
        reach = _smallest_tp_reaching(RECALL_POINTS, positives[scored])  # [K scored, R]
        # the first place of each class whose count reaches each recall point, searched on the
        # running count over all classes (non-decreasing), each threshold's row lifted above the
        # last, and taken from the class's first place on (which reaches recall 0)
        rows = np.arange(self.thresholds)[:, None]
        lift = rows * (weights.sum() + reach.max() + 1)
        targets = (tp_before[:, scored] + lift)[:, :, None] + reach[None]
        at = np.searchsorted((tp_running + lift).ravel(), targets.ravel()).reshape(targets.shape)
        at = np.maximum(at - (rows * len(looked))[:, :, None], first[None, :, None])
        row_start = (rows * (len(looked) + 1))[:, :, None]
        best = _suffix_max(
            values.ravel(),
            (at + row_start).reshape(-1, len(RECALL_POINTS)),
            (at < end[None, :, None]).reshape(-1, len(RECALL_POINTS)),
            (end[None, :, None] + row_start).ravel(),
        )
        precision[:, :, scored] = best.reshape(self.thresholds, len(scored), -1).transpose(0, 2, 1)
        return precision

    def _places(self, draw: np.ndarray, copies: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The looked-at detections of the draw in pycocotools' order (indices into `looked`),
        each one's weight, and the detections counted so far in its class up to it.

        pycocotools' order: by class and descending score, each detection as many times as its
        image was drawn; an untied detection's copies are neighbours and count once, weighted;
        tied ones are laid out one copy at a time, in the order their images were drawn (each
        image's tied detections gathered draw by draw)."""
        if self.untied is None:
            weights = copies[self.image_of]
            running = np.cumsum(weights)
            before_class = np.concatenate([[0], running])[self.class_start]
            counted = running[self.looked] - before_class[self.label_of[self.looked]]
            return self._all_looked, weights[self.looked], counted
        lengths = self.tied_counts[draw]
        starts = self.tied_starts[draw] - (np.cumsum(lengths) - lengths)
        tied = self.tied_by_image[np.repeat(starts, lengths) + np.arange(int(lengths.sum()))]
        tied = tied[np.argsort(self.group[tied], kind="stable")]  # tie groups in sorted order, images as drawn
        at = np.searchsorted(self.untied, tied)
        sequence = np.insert(self.untied, at, tied)
        weights = np.insert(copies[self.image_of[self.untied]], at, 1)
        running = np.cumsum(weights)
        before_class = np.concatenate([[0], running])[
            np.searchsorted(self.label_of[sequence], np.arange(self.num_classes))
        ]
        places = np.flatnonzero(self.looked_at[sequence])
        detections = sequence[places]
        counted = running[places] - before_class[self.label_of[detections]]
        return self.look_index[detections], weights[places], counted


def _first_per_entry(
    image: np.ndarray, label: np.ndarray, key: np.ndarray, score: np.ndarray, num_images: int, limit: int
) -> np.ndarray:
    """The rows among each class and image's first ``limit`` by descending score, then key."""
    order = np.lexsort((key, -score, image, label))
    entry = label[order] * num_images + image[order]
    starts = np.flatnonzero(np.r_[True, entry[1:] != entry[:-1]]) if len(order) else np.zeros(0, dtype=np.int64)
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return np.sort(order[rank < limit])


def _running_sum(values: np.ndarray, class_first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The running sum of each row of ``values`` ``[T, places]`` and, per class, its value
    before the class's first place ``[T, K]``."""
    running = np.cumsum(values, axis=1)
    return running, np.concatenate([np.zeros((len(values), 1), dtype=running.dtype), running], axis=1)[:, class_first]


def _smallest_tp_reaching(points: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """``[K, R]``: the smallest count ``tp`` with ``tp / positives >= point`` in floats, as
    pycocotools compares recall (the float ceiling of the product can be one off either way)."""
    guess = np.ceil(points[None, :] * positives[:, None]).astype(np.int64)
    below, at = guess - 1, guess
    reaches_below = (below >= 0) & (below / positives[:, None] >= points[None, :])
    reaches_at = at / positives[:, None] >= points[None, :]
    return np.where(reaches_below, below, np.where(reaches_at, at, guess + 1))


def _suffix_max(values: np.ndarray, at: np.ndarray, reached: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``[K, R]``: the maximum of ``values[at[k, r]:ends[k]]`` where ``reached``, else 0 (what
    pycocotools reads after its right-to-left running maximum; 0 past the last recall reached)."""
    bounds = np.concatenate([at, ends[:, None]], axis=1)
    keep = np.concatenate([reached, np.ones((len(ends), 1), dtype=bool)], axis=1)
    blocks = np.full(bounds.shape, -np.inf)
    blocks[keep] = np.maximum.reduceat(values, bounds[keep])
    blocks[:, -1] = -np.inf  # the block from a class's end onwards is the next class's
    running = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1][:, :-1]
    return np.where(reached, running, 0.0)
