"""Partially labelled images scored with LVIS semantics, on a case built to have each situation."""

import contextlib
import copy
import dataclasses
import io

import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detkit.data.formats.coco import dataset_to_coco
from detkit.data.shapes import ensure_shapes
from detkit.evaluation.coco import BACKENDS, evaluate_coco
from detkit.exceptions import ConfigError
from tests.conftest import TINY_SHAPES, noisy_detections

A, B = 1, 2


def _image(image_id, **keys):
    return {"id": image_id, "file_name": f"{image_id}.jpg", "width": 100, "height": 100, **keys}


def _box(ann_id, image_id, category, bbox):
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category,
        "bbox": bbox,
        "area": bbox[2] * bbox[3],
        "iscrowd": 0,
    }


def _det(image_id, category, bbox, score):
    return {"image_id": image_id, "category_id": category, "bbox": bbox, "score": score}


def _case(partial: bool):
    keys = (
        {1: {"annotated_category_ids": [A]}, 3: {"not_exhaustive_category_ids": [A]}, 4: {"neg_category_ids": [A, B]}}
        if partial
        else {}
    )
    images = [_image(i, **keys.get(i, {})) for i in (1, 2, 3, 4)]
    annotations = [
        _box(1, 1, A, [10, 10, 30, 30]),  # image 1: only A was labelled; B is unknown there
        _box(2, 2, B, [10, 10, 30, 30]),  # image 2: fully labelled
        _box(3, 3, A, [50, 50, 30, 30]),  # image 3: A present but not every A was boxed
    ]
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": A, "name": "a"}, {"id": B, "name": "b"}],
    }


DETECTIONS = [
    _det(1, A, [10, 10, 30, 30], 0.9),
    _det(1, B, [60, 60, 20, 20], 0.95),  # unknown class there: dropped
    _det(2, B, [10, 10, 30, 30], 0.6),
    _det(3, A, [50, 50, 30, 30], 0.5),
    _det(3, A, [5, 5, 20, 20], 0.99),  # unmatched, class not exhaustive there: ignored
    _det(4, A, [20, 20, 20, 20], 0.7),  # verified absent: a false positive
]


def test_lvis_semantics_equal_scoring_without_what_they_forgive():
    """Except AR1: an ignored detection still takes its place among its image's maxDets, as in LVIS."""
    forgiven = [DETECTIONS[1], DETECTIONS[4]]
    expected = evaluate_coco(_case(partial=False), [d for d in DETECTIONS if d not in forgiven])
    del expected["AR1"]
    for backend in BACKENDS:
        metrics = evaluate_coco(_case(partial=True), DETECTIONS, backend=backend)
        assert metrics.pop("AR1") == 0.75 and metrics == pytest.approx(expected)


def test_verified_absent_detections_still_count_and_naive_treatment_penalises_the_rest():
    lvis = evaluate_coco(_case(partial=True), DETECTIONS)
    clean = evaluate_coco(_case(partial=False), [d for d in DETECTIONS if d["image_id"] != 4 and d["score"] < 0.95])
    assert clean["AP/a"] == pytest.approx(1.0)
    assert lvis["AP/a"] < clean["AP/a"], "the false positive on image 4 costs AP"
    naive = evaluate_coco(_case(partial=True), DETECTIONS, partial_labels="naive")
    assert naive["AP/a"] < lvis["AP/a"] and naive["AP/b"] < lvis["AP/b"]
    with pytest.raises(ConfigError, match="partial_labels"):
        evaluate_coco(_case(partial=True), DETECTIONS, partial_labels="ignore")


def test_each_class_is_scored_on_the_images_labelled_for_it_as_pycocotools_would(tmp_path):
    """Generated data with half the classes of each image unlabelled, noisy detections of every
    class on every image: per class, LVIS scoring equals pycocotools given only the images
    labelled for that class."""
    params = dataclasses.replace(TINY_SHAPES, hidden_label_fraction=0.5, num_scenes=12)
    dataset = ensure_shapes(tmp_path / "shapes", params)
    ground_truth = dataset_to_coco(dataset)
    detections = noisy_detections(ground_truth, dataset.category_ids)
    ours = evaluate_coco(ground_truth, detections, backend="pycocotools")
    for label, (name, category) in enumerate(zip(dataset.class_names, dataset.category_ids)):
        labelled = [r.image_id for r in dataset.records if label in r.annotated]
        assert 0 < len(labelled) < len(dataset.records)
        assert ours[f"AP/{name}"] == pytest.approx(_pycocotools_ap(ground_truth, detections, category, labelled))


def _pycocotools_ap(ground_truth, detections, category, image_ids) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(ground_truth)
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(detections)), "bbox")
        evaluator.params.catIds, evaluator.params.imgIds = [category], image_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0])
