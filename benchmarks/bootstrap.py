"""The bootstrap and the error analysis at dev-set size, against one pycocotools evaluation.

    python benchmarks/bootstrap.py [--images 1000] [--samples 200] [--old-draws 3]

On COCO-like data (80 classes, about 7 boxes and 100 detections per image) prints, in one run:
one pycocotools evaluation (load, evaluate, accumulate, summarize: the baseline), detkit's
matching once, ``--samples`` bootstrap draws pooled with arrays (`detkit.evaluation.accumulate`)
against the same draws pooled by pycocotools' ``accumulate`` from pycocotools' own matching
(timed on ``--old-draws`` of them),
the error analysis (matching, kinds, the oracle breakdown), each as a ratio to the baseline,
and the largest difference between the two poolings' numbers (they should be identical).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import time

import numpy as np
from coco_cases import coco_size_case  # benchmarks/ is the script's folder
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detkit.analysis.tide import ErrorAnalysis
from detkit.evaluation.coco import evaluate_coco
from detkit.evaluation.image_matches import ImageMatches


def pycocotools_matching(ground_truth: dict, detections: list[dict]) -> tuple[COCOeval, list]:
    """pycocotools' own ``evaluate`` as its documentation runs it, narrowed afterwards to the
    entries detkit pools (area all, 100 detections: each class's first area range)."""
    truth = COCO()
    truth.dataset = copy.deepcopy(ground_truth)
    with contextlib.redirect_stdout(io.StringIO()):
        truth.createIndex()
        evaluator = COCOeval(truth, truth.loadRes(copy.deepcopy(detections)), "bbox")
        evaluator.evaluate()
    images, areas = len(evaluator.params.imgIds), len(evaluator.params.areaRng)
    per_image = [
        evaluator.evalImgs[(k * areas) * images + i] for k in range(len(evaluator.params.catIds)) for i in range(images)
    ]
    for params in (evaluator.params, evaluator._paramsEval):
        params.areaRng, params.areaRngLbl, params.maxDets = [params.areaRng[0]], ["all"], [100]
    return evaluator, per_image


def pycocotools_draw(evaluator: COCOeval, per_image: list, draw: np.ndarray) -> np.ndarray:
    """One draw pooled by pycocotools' own ``accumulate`` (what detkit did before the arrays)."""
    classes, count = len(evaluator.params.catIds), len(per_image) // len(evaluator.params.catIds)
    evaluator.evalImgs = [per_image[k * count + i] for k in range(classes) for i in draw]
    evaluator.params.imgIds = evaluator._paramsEval.imgIds = list(range(len(draw)))
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.accumulate()
    return evaluator.eval["precision"][:, :, :, 0, 0].copy()


def timed(call):
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--old-draws", type=int, default=3)
    args = parser.parse_args()
    ground_truth, detections = coco_size_case(args.images)
    print(f"{args.images} images, {len(ground_truth['annotations'])} boxes, {len(detections)} detections, 80 classes")

    _, baseline = timed(lambda: evaluate_coco(ground_truth, detections, backend="pycocotools"))
    matches, matching = timed(lambda: ImageMatches(ground_truth, detections))
    rng = np.random.default_rng(0)
    draws = [rng.integers(args.images, size=args.images) for _ in range(args.samples)]
    pooled, arrays = timed(lambda: [matches.matching.precision(draw=d) for d in draws])
    evaluator, per_image = pycocotools_matching(ground_truth, detections)
    old, old_time = timed(lambda: [pycocotools_draw(evaluator, per_image, d) for d in draws[: args.old_draws]])
    difference = max(float(np.abs(a - b).max()) for a, b in zip(pooled, old))
    old_all = old_time / args.old_draws * args.samples
    analysis, analysis_time = timed(lambda: ErrorAnalysis(ground_truth, detections))
    _, breakdown_time = timed(analysis.breakdown)

    rows = [
        ("one pycocotools evaluation (baseline)", baseline),
        ("detkit's matching, once", matching),
        (f"{args.samples} draws pooled with arrays", arrays),
        (f"{args.samples} draws pooled by pycocotools' accumulate (from {args.old_draws})", old_all),
        ("error analysis: matching and kinds", analysis_time),
        ("error analysis: oracle breakdown", breakdown_time),
    ]
    print("| step | seconds | x baseline |\n|---|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / baseline:.3f} |")
    print(f"bootstrap (matching + draws): {(matching + arrays) / baseline:.3f}x one evaluation")
    print(f"draws {old_all / arrays:.0f}x faster than pycocotools' accumulate; largest difference {difference:.1e}")


if __name__ == "__main__":
    main()
