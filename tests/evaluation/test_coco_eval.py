"""Our evaluator against pycocotools run directly on json files on disk."""

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detkit.evaluation.coco import SUMMARY_NAMES, evaluate_coco, score_files


def _ground_truth(rng, num_images=30, num_classes=3):
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": 200, "height": 150})
        for _ in range(rng.integers(0, 6)):
            w, h = rng.uniform(4, 120), rng.uniform(4, 100)
            x, y = rng.uniform(0, 200 - w), rng.uniform(0, 150 - h)
            crowd = int(rng.random() < 0.1)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(rng.integers(1, num_classes + 1)),
                    "bbox": [x, y, w, h],
                    "area": w * h * rng.uniform(0.4, 1.0),
                    "iscrowd": crowd,
                }
            )
    categories = [{"id": k, "name": f"class{k}"} for k in range(1, num_classes + 1)]
    return {"images": images, "annotations": annotations, "categories": categories}


def _random_detections(rng, gt):
    detections = []
    for ann in gt["annotations"]:  # near-misses of the truth, some with the wrong class
        if rng.random() < 0.8:
            x, y, w, h = ann["bbox"]
            jitter = rng.normal(0, 0.1, 4) * [w, h, w, h]
            category = ann["category_id"] if rng.random() < 0.8 else int(rng.integers(1, 4))
            detections.append(
                {
                    "image_id": ann["image_id"],
                    "category_id": category,
                    "bbox": [x + jitter[0], y + jitter[1], w + jitter[2], h + jitter[3]],
                    "score": float(rng.random()),
                }
            )
    for _ in range(40):  # pure background
        detections.append(
            {
                "image_id": int(rng.integers(1, 31)),
                "category_id": int(rng.integers(1, 4)),
                "bbox": [*rng.uniform(0, 100, 2), *rng.uniform(5, 60, 2)],
                "score": float(rng.random()),
            }
        )
    return detections


def _pycocotools_on_files(tmp_path, gt, detections):
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(detections))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "gt.json"))
        evaluator = COCOeval(coco, coco.loadRes(str(tmp_path / "dt.json")), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("backend", ["faster_coco_eval", "pycocotools"])
def test_equals_pycocotools_on_files_with_crowd_regions(tmp_path, seed, backend):
    rng = np.random.default_rng(seed)
    gt = _ground_truth(rng)
    assert any(a["iscrowd"] for a in gt["annotations"])
    detections = _random_detections(rng, gt)
    reference = _pycocotools_on_files(tmp_path, gt, detections)
    ours = evaluate_coco(gt, detections, backend=backend)
    np.testing.assert_allclose([ours[n] for n in SUMMARY_NAMES], reference.stats, atol=1e-12)
    for k, cat_id in enumerate(reference.params.catIds):
        p = reference.eval["precision"][:, :, k, 0, -1]
        assert ours[f"AP/class{cat_id}"] == pytest.approx(p[p > -1].mean())
    assert 0.05 < ours["mAP"] < 0.95, "the case must be neither trivial nor hopeless"
    assert score_files(tmp_path / "gt.json", tmp_path / "dt.json", backend=backend) == ours


def test_perfect_predictions_score_one_and_none_score_zero():
    gt = _ground_truth(np.random.default_rng(5))
    for ann in gt["annotations"]:
        ann["iscrowd"] = 0
    perfect = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
        for a in gt["annotations"]
    ]
    metrics = evaluate_coco(gt, perfect)
    assert metrics["mAP"] == pytest.approx(1.0) and metrics["mAP50"] == pytest.approx(1.0)
    assert metrics["AR100"] == pytest.approx(1.0)
    for backend in ("faster_coco_eval", "pycocotools"):
        empty = evaluate_coco(gt, [], backend=backend)
        assert empty["mAP"] == 0.0 and empty["AR100"] == 0.0
