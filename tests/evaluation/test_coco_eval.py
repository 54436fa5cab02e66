"""Our evaluator against pycocotools run directly on json files on disk."""

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detkit.data.formats.coco import predictions_to_array, predictions_to_results
from detkit.evaluation.coco import BACKENDS, SUMMARY_NAMES, evaluate_coco, results_array, score_files
from detkit.exceptions import ConfigError


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
@pytest.mark.parametrize("backend", BACKENDS)
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
    for backend in BACKENDS:
        empty = evaluate_coco(gt, [], backend=backend)
        assert empty["mAP"] == 0.0 and empty["AR100"] == 0.0


def _hard_case(seed):
    """Crowd regions, areas unlike the boxes', 4 classes plus one unused, every size range (the
    case drawn three times larger); on some seeds scores tied in tenths, on others 250
    detections on one image (over maxDets)."""
    rng = np.random.default_rng(seed)
    gt = _ground_truth(rng, num_images=40, num_classes=4)
    gt["categories"].append({"id": 99, "name": "unused"})
    detections = _random_detections(rng, gt)
    for record in gt["images"]:
        record["width"], record["height"] = 3 * record["width"], 3 * record["height"]
    for record in gt["annotations"] + detections:
        record["bbox"] = [3 * v for v in record["bbox"]]
        if "area" in record:
            record["area"] *= 9
    if seed % 2:
        for d in detections:
            d["score"] = round(d["score"], 1)
    else:
        crowded = gt["images"][0]["id"]
        boxes = np.concatenate([rng.uniform(0, 100, (250, 2)), rng.uniform(5, 60, (250, 2))], axis=1)
        detections += [
            {"image_id": crowded, "category_id": 1, "bbox": box, "score": score}
            for box, score in zip(boxes.tolist(), rng.random(250).tolist())
        ]
    return gt, detections


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "pycocotools"])
def test_every_backend_gives_pycocotools_numbers_from_dicts_and_from_the_array(seed, backend):
    gt, detections = _hard_case(seed)
    reference = evaluate_coco(gt, detections, backend="pycocotools")
    assert reference["AP/unused"] == -1.0 and 0.05 < reference["mAP"] < 0.95
    assert all(reference[name] > -1 for name in ("mAP_small", "mAP_medium", "mAP_large", "AR1", "AR10"))
    for given in (detections, results_array(detections)):
        ours = evaluate_coco(gt, given, backend=backend)
        assert ours.keys() == reference.keys()
        np.testing.assert_allclose(list(ours.values()), list(reference.values()), rtol=0, atol=1e-12)


def test_an_unknown_backend_or_partial_label_mode_names_the_choices():
    gt, detections = _hard_case(0)
    with pytest.raises(ConfigError, match="unknown evaluation backend 'faster'; choose one of ultrafast_pycocotools"):
        evaluate_coco(gt, detections, backend="faster")
    with pytest.raises(ConfigError, match="partial_labels='ignore'; choose one of lvis, naive"):
        evaluate_coco(gt, detections, partial_labels="ignore")


def test_predictions_as_the_array_score_as_their_result_dicts():
    """Training hands the evaluator `predictions_to_array`; files and tools hold the dicts."""
    gt, detections = _hard_case(2)
    category_ids = [c["id"] for c in gt["categories"]]
    predictions = {}
    for d in detections:
        x, y, w, h = d["bbox"]
        found = predictions.setdefault(d["image_id"], {"boxes": [], "scores": [], "labels": []})
        found["boxes"].append([x, y, x + w, y + h])
        found["scores"].append(d["score"])
        found["labels"].append(category_ids.index(d["category_id"]))
    predictions = {i: {k: np.asarray(v, dtype=np.float32) for k, v in p.items()} for i, p in predictions.items()}
    for p in predictions.values():
        p["labels"] = p["labels"].astype(np.int64)
    as_dicts = predictions_to_results(predictions, category_ids)
    as_array = predictions_to_array(predictions, category_ids)
    assert as_array.shape == (len(detections), 7) and np.array_equal(results_array(as_dicts), as_array)
    assert evaluate_coco(gt, as_array) == evaluate_coco(gt, as_dicts)
    assert predictions_to_array({}, category_ids).shape == (0, 7)
