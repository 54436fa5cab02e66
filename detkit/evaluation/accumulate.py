"""pycocotools' ``COCOeval.accumulate`` for one area range and one detection limit, with numpy.

pycocotools pools its per-image matching (``evalImgs``) in Python loops: per class it sorts the
detections by score, walks the precision from the right to make it non-increasing, and reads
it at 101 recall points one by one. That is most of a bootstrap draw's cost (2.5 s per draw at
1,000 images), and no evaluator library takes image weights or resampled images. Here the
matching is kept as flat arrays, and any draw of the images (repeats count as separate images,
in the order drawn) is pooled with array operations that give pycocotools' numbers exactly:

- the detections are sorted once by class and descending score; a draw repeats each as often
  as its image was drawn, and where scores tie, puts them in the order pycocotools' stable
  mergesort leaves them: images as drawn, then each image's own order;
- cumulative true and false positives and the precision ``tp / (fp + tp + eps)`` are the same
  float operations;
- the recall point ``r`` is reached at the first detection with ``tp / npig >= r``: the smallest
  such ``tp`` is found exactly per class, then ``searchsorted`` on the integer counts;
- the precision there, after the right-to-left running maximum, is the maximum of the precision
  from that detection to the class's last one: ``np.maximum.reduceat`` over the blocks between
  recall points, then a running maximum over at most 101 blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

RECALL_POINTS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)  # COCOeval's recThrs


class PooledMatching:
    """COCOeval's ``evalImgs`` for ``num_classes`` x ``num_images`` (entry ``k * num_images + i``,
    None where an image has neither boxes nor detections of the class) at ``num_thresholds`` IoU
    thresholds, as flat arrays, pooled by `precision` for any draw of the images. Each entry's
    first ``max_detections`` detections count, as in ``accumulate``."""

    def __init__(
        self,
        per_image: Sequence[dict[str, Any] | None],
        num_classes: int,
        num_images: int,
        num_thresholds: int,
        max_detections: int,
    ) -> None:
        self.num_classes, self.num_images, self.thresholds = num_classes, num_images, num_thresholds
        self.counts = np.zeros((num_classes, num_images), dtype=np.int64)  # detections per class and image
        self.positives = np.zeros((num_classes, num_images), dtype=np.int64)  # boxes not ignored
        present = [index for index, entry in enumerate(per_image) if entry is not None]
        entries = [per_image[index] for index in present]
        # one pass of plain Python over the entries, numpy on the concatenations (per-entry numpy
        # calls cost more than the pooling itself at a few thousand images)
        scores = [entry["dtScores"][:max_detections] for entry in entries]
        sizes = np.array([len(kept) for kept in scores], dtype=np.int64)
        self.counts.ravel()[present] = sizes
        ignored_truth = [entry["gtIgnore"] for entry in entries]
        truth_sizes = np.array([len(flags) for flags in ignored_truth], dtype=np.int64)
        if truth_sizes.sum():
            entry_of_box = np.repeat(np.arange(len(entries)), truth_sizes)
            ignored_boxes = np.bincount(entry_of_box[np.concatenate(ignored_truth) != 0], minlength=len(entries))
            self.positives.ravel()[present] = truth_sizes - ignored_boxes
        over = sizes < np.array([len(entry["dtScores"]) for entry in entries], dtype=np.int64)
        matched = [e["dtMatches"][:, :max_detections] if o else e["dtMatches"] for e, o in zip(entries, over)]
        ignored = [e["dtIgnore"][:, :max_detections] if o else e["dtIgnore"] for e, o in zip(entries, over)]
        matched_all = np.concatenate(matched, axis=1) != 0 if matched else np.zeros((self.thresholds, 0), dtype=bool)
        counted = ~(np.concatenate(ignored, axis=1).astype(bool) if ignored else np.zeros_like(matched_all))
        scores = np.fromiter((score for kept in scores for score in kept), dtype=float, count=int(sizes.sum()))
        classes = np.repeat(np.arange(num_classes), self.counts.sum(axis=1))
        images = np.tile(np.arange(num_images), num_classes).repeat(self.counts.ravel())
        # (class, descending score, image, position in the image): pycocotools' order when each
        # image is drawn once; lexsort is stable, so the flat order (image, position) breaks ties
        self.order = np.lexsort((-scores, classes))
        self.true_positive = (matched_all & counted)[:, self.order]
        self.false_positive = (~matched_all & counted)[:, self.order]
        self.image_of = images[self.order]
        # a detection whose class and score another detection shares: its place among those
        # depends on the order the images are drawn in
        ordered_classes, ordered_scores = classes[self.order], scores[self.order]
        new_group = np.ones(len(scores), dtype=bool)
        new_group[1:] = (ordered_classes[1:] != ordered_classes[:-1]) | (ordered_scores[1:] != ordered_scores[:-1])
        self.group = np.cumsum(new_group) - 1  # of each detection in sorted order
        sizes = np.bincount(self.group) if len(scores) else np.zeros(0, dtype=np.int64)
        self.tied = sizes[self.group] > 1
        tied = np.flatnonzero(self.tied)  # sorted positions of tied detections
        by_image = tied[np.lexsort((tied, self.image_of[tied]))]  # each image's, in sorted order
        self.tied_by_image = by_image
        self.tied_starts = np.searchsorted(self.image_of[by_image], np.arange(num_images))
        self.tied_counts = np.bincount(self.image_of[by_image], minlength=num_images)

    def precision(self, draw: Sequence[int] | None = None) -> np.ndarray:
        """Interpolated precision ``[T, R, K]`` (-1 where a class has no boxes in the draw) of the
        images at positions ``draw`` (default: each image once), as ``accumulate`` gives it."""
        draw = np.arange(self.num_images) if draw is None else np.asarray(draw, dtype=np.int64)
        copies = np.bincount(draw, minlength=self.num_images)
        detections = self._drawn_in_order(draw, copies)
        per_class = self.counts @ copies
        positives = self.positives @ copies
        segment_end = np.cumsum(per_class)
        segment_start = segment_end - per_class
        precision = np.full((self.thresholds, len(RECALL_POINTS), self.num_classes), -1.0)
        scored = positives > 0
        if not scored.any():
            return precision
        tp = np.cumsum(self.true_positive[:, detections], axis=1, dtype=np.int32)  # over all classes
        fp = np.cumsum(self.false_positive[:, detections], axis=1, dtype=np.int32)
        # the first detection of each scored class reaching each recall point, found exactly on
        # the integer counts: the running count is non-decreasing across classes, so search
        # for the count before the class plus the class's own count, from the class's start on
        before = np.zeros((self.thresholds, self.num_classes), dtype=np.int32)
        has_before = segment_start > 0
        before[:, has_before] = tp[:, segment_start[has_before] - 1]
        reach = _smallest_tp_reaching(RECALL_POINTS, positives[scored]).astype(np.int32)  # searched as stored
        ends = segment_end[scored][:, None]
        found = []
        for t in range(self.thresholds):
            at = np.searchsorted(tp[t], before[t, scored][:, None] + reach, side="left")
            found.append(np.maximum(at, segment_start[scored][:, None]))
        for k in np.flatnonzero(has_before & (per_class > 0))[::-1]:  # restart the counts per class
            start, end = segment_start[k], segment_end[k]
            tp[:, start:end] -= tp[:, start - 1 : start]
            fp[:, start:end] -= fp[:, start - 1 : start]
        tp_float = tp.astype(float)
        values = np.empty((self.thresholds, tp.shape[1] + 1))  # one more: a class may end at the last detection
        np.divide(tp_float, fp.astype(float) + tp_float + np.spacing(1), out=values[:, :-1])  # pycocotools' floats
        values[:, -1] = -np.inf
        for t, at in enumerate(found):
            precision[t][:, scored] = _suffix_max(values[t], at, at < ends, segment_end[scored]).T
        return precision

    def _drawn_in_order(self, draw: np.ndarray, copies: np.ndarray) -> np.ndarray:
        """The sorted positions of the draw's detections in pycocotools' order: by class and
        descending score, each as many times as its image was drawn, and where scores tie, in
        the order their images were drawn (each image's tied detections gathered draw by draw)."""
        detections = np.repeat(np.arange(len(self.image_of)), copies[self.image_of])
        if not len(self.tied_by_image):
            return detections
        lengths = self.tied_counts[draw]
        starts = self.tied_starts[draw] - (np.cumsum(lengths) - lengths)
        tied = self.tied_by_image[np.repeat(starts, lengths) + np.arange(int(lengths.sum()))]
        tied = tied[np.argsort(self.group[tied], kind="stable")]  # tie groups in sorted order, images as drawn
        detections[self.tied[detections]] = tied
        return detections


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
    pycocotools reads after its right-to-left running maximum; 0 past the last recall reached).
    ``values`` ends in one -inf, past the last detection."""
    bounds = np.concatenate([at, ends[:, None]], axis=1)
    keep = np.concatenate([reached, np.ones((len(ends), 1), dtype=bool)], axis=1)
    blocks = np.full(bounds.shape, -np.inf)
    blocks[keep] = np.maximum.reduceat(values, bounds[keep])
    blocks[:, -1] = -np.inf  # the block from a class's end onwards is the next class's
    running = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1][:, :-1]
    return np.where(reached, running, 0.0)
