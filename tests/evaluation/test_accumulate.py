"""The one matching and its array pooling against pycocotools' own ``evaluate`` and
``accumulate``: the same floats for every image once, for draws with repeats, with tied scores,
crowd regions, classes without boxes or without detections, and entries over the detection limit."""

import contextlib
import copy
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detkit.evaluation.accumulate import PooledMatching
from detkit.evaluation.image_matches import ImageMatches
from detkit.evaluation.matching import CocoMatching
from tests.evaluation.test_coco_eval import _ground_truth, _random_detections


def _evaluated(ground_truth, detections, max_detections=100):
    """COCOeval after ``evaluate`` at one area range and detection limit, as detkit matches."""
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = copy.deepcopy(ground_truth)
        truth.createIndex()
        evaluator = COCOeval(truth, truth.loadRes(copy.deepcopy(detections)), "bbox")
        params = evaluator.params
        params.areaRng, params.areaRngLbl, params.maxDets = [params.areaRng[0]], ["all"], [max_detections]
        evaluator.evaluate()
    return evaluator


def _pycocotools_precision(evaluator, per_image, draw):
    """pycocotools' ``accumulate`` over the images at positions ``draw`` of ``per_image``."""
    images, classes = len(evaluator.params.imgIds), len(evaluator.params.catIds)
    drawn = copy.copy(evaluator)
    drawn.params = copy.deepcopy(evaluator.params)
    drawn._paramsEval = copy.deepcopy(evaluator._paramsEval)
    drawn.evalImgs = [per_image[k * images + i] for k in range(classes) for i in draw]
    drawn.params.imgIds = drawn._paramsEval.imgIds = list(range(len(draw)))
    with contextlib.redirect_stdout(io.StringIO()):
        drawn.accumulate()
    return drawn.eval["precision"][:, :, :, 0, 0]


def _data(seed, tie_scores):
    rng = np.random.default_rng(seed)
    ground_truth = _ground_truth(rng, num_images=30, num_classes=4)  # class 4: boxes only where drawn
    detections = _random_detections(rng, ground_truth)
    if tie_scores:  # scores from a few values: many ties across images and within them
        for detection in detections:
            detection["score"] = round(detection["score"] * 4) / 4
    return ground_truth, detections


def _rows(per_image, classes, images):
    """pycocotools' ``evalImgs`` as `PooledMatching`'s rows (an entry's place is its key)."""
    columns = {name: [] for name in ("image", "label", "key", "score", "true_positive", "ignored")}
    positives = np.zeros((classes, images), dtype=np.int64)
    for index, entry in enumerate(per_image):
        if entry is None:
            continue
        label, image = divmod(index, images)
        positives[label, image] = np.count_nonzero(np.asarray(entry["gtIgnore"]) == 0)
        for place, score in enumerate(entry["dtScores"]):
            ignored = entry["dtIgnore"][:, place].astype(bool)
            matched = entry["dtMatches"][:, place] > 0
            for name, value in zip(columns, (image, label, place, score, matched & ~ignored, ignored)):
                columns[name].append(value)
    arrays = {name: np.array(values) for name, values in columns.items()}
    thresholds = len(per_image[next(i for i, e in enumerate(per_image) if e is not None)]["dtMatches"])
    for name in ("true_positive", "ignored"):
        arrays[name] = arrays[name].reshape(-1, thresholds).T.astype(bool)
    return arrays, positives


@pytest.mark.parametrize("tie_scores", [False, True], ids=["distinct_scores", "tied_scores"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_draw_pools_to_pycocotools_numbers(seed, tie_scores):
    """detkit's matching (ultrafast-pycocotools' engine) pooled with arrays, against
    pycocotools' own matching pooled by its own ``accumulate``, draw by draw."""
    ground_truth, detections = _data(seed, tie_scores)
    evaluator = _evaluated(ground_truth, detections)
    images = len(evaluator.params.imgIds)
    matching = CocoMatching(ground_truth, detections, partial_labels="naive")
    rng = np.random.default_rng(seed + 10)
    draws = [np.arange(images), rng.integers(images, size=images), rng.integers(images, size=5), np.array([3, 3, 3])]
    undefined = 0
    for draw in draws:
        expected = _pycocotools_precision(evaluator, evaluator.evalImgs, draw)
        np.testing.assert_array_equal(matching.precision(draw), expected)  # the same floats, not close ones
        undefined += (expected == -1).any()
    assert (matching.precision() > 0).any() and undefined, "scored classes, and draws missing a class"
    found, first = matching.found, matching.first_threshold
    assert np.array_equal(found.true_positive[0], (first.truth >= 0) & ~found.ignored[0]), "one row order"
    assert tie_scores == (len(np.unique(found.score)) < len(found.score) / 2)


def test_the_detection_limit_and_empty_draws_pool_as_pycocotools_does():
    ground_truth, detections = _data(4, tie_scores=True)
    evaluator = _evaluated(ground_truth, detections, max_detections=3)  # most classes hit the limit
    images, classes = len(evaluator.params.imgIds), len(evaluator.params.catIds)
    per_image = list(evaluator.evalImgs)
    edited = next(i for i, entry in enumerate(per_image) if entry is not None and len(entry["dtScores"]) == 3)
    entry = per_image[edited] = copy.deepcopy(per_image[edited])  # one more than the limit, as an edit leaves it
    entry["dtScores"] = [*entry["dtScores"], 0.0]
    entry["dtMatches"] = np.append(entry["dtMatches"], [[0]] * len(entry["dtMatches"]), axis=1)
    entry["dtIgnore"] = np.append(entry["dtIgnore"], [[0]] * len(entry["dtIgnore"]), axis=1)
    rows, positives = _rows(per_image, classes, images)
    pooled = PooledMatching(**rows, positives=positives, max_detections=3)
    no_detections = [i for i in range(images) if all(per_image[k * images + i] is None for k in range(classes))]
    for draw in [np.arange(images), np.array(no_detections[:2] or [0]), np.array([], dtype=int)]:
        expected = _pycocotools_precision(evaluator, per_image, draw)
        np.testing.assert_array_equal(pooled.precision(draw), expected)
    flips = np.random.default_rng(5).random(rows["true_positive"].shape) < 0.3  # an oracle's edit, at random
    edited = rows | {"true_positive": rows["true_positive"] ^ flips, "ignored": rows["ignored"] & ~flips}
    fewer = np.maximum(positives - 1, 0)
    for draw in [None, np.array([0, 0, 5])]:
        np.testing.assert_array_equal(
            pooled.with_outcomes(edited["true_positive"], edited["ignored"], fewer).precision(draw),
            PooledMatching(**edited, positives=fewer, max_detections=3).precision(draw),
        )


def test_an_evaluation_without_boxes_or_detections_is_undefined_everywhere():
    ground_truth = {
        "images": [{"id": 1, "width": 10, "height": 10, "file_name": "a.jpg"}],
        "annotations": [],
        "categories": [{"id": 1, "name": "a"}],
    }
    assert set(ImageMatches(ground_truth, []).metrics().values()) == {-1.0}
