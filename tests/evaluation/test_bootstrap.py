"""The bootstrap over images: pycocotools' numbers at every draw, without matching again."""

import dataclasses

import numpy as np
import pytest

from detkit.data.formats.coco import dataset_to_coco
from detkit.data.shapes import ensure_shapes
from detkit.evaluation.bootstrap import bootstrap_metrics, percentile_interval
from detkit.evaluation.coco import evaluate_coco
from detkit.evaluation.image_matches import ImageMatches
from tests.conftest import TINY_SHAPES, noisy_detections


@pytest.fixture(scope="module", params=[0.0, 0.5], ids=["full_labels", "half_hidden"])
def scored(request, tmp_path_factory):
    params = dataclasses.replace(TINY_SHAPES, hidden_label_fraction=request.param)
    dataset = ensure_shapes(tmp_path_factory.mktemp("boot") / "shapes", params)
    ground_truth = dataset_to_coco(dataset)
    return ground_truth, noisy_detections(ground_truth, dataset.category_ids)


def test_all_images_once_score_what_the_evaluator_scores(scored):
    ground_truth, detections = scored
    expected = evaluate_coco(ground_truth, detections, backend="pycocotools")
    metrics = ImageMatches(ground_truth, detections).metrics()
    for key, value in metrics.items():
        reference = expected[key] if key in expected else _ap50(ground_truth, detections, key)
        assert value == pytest.approx(reference, abs=1e-12), key
    assert 0.1 < metrics["mAP50"] < 0.95


def test_a_draw_scores_what_the_evaluator_scores_on_the_resampled_images(scored):
    """Repeats count as separate images: the same as building the resampled set and scoring it."""
    ground_truth, detections = scored
    matches = ImageMatches(ground_truth, detections)
    draw = np.random.default_rng(3).integers(matches.num_images, size=matches.num_images)
    assert len(set(draw.tolist())) < len(draw), "the draw repeats some images"
    resampled, resampled_detections = _resample(ground_truth, detections, [matches.image_ids[i] for i in draw])
    expected = evaluate_coco(resampled, resampled_detections, backend="pycocotools")
    metrics = matches.metrics(draw)
    for key in ("mAP", "mAP50", "mAP75", "AP/circle", "AP/star"):
        assert metrics[key] == pytest.approx(expected[key], abs=1e-12), key
    assert matches.metrics() == ImageMatches(ground_truth, detections).metrics(), "a draw leaves no trace"


def test_bootstrap_is_seeded_and_its_interval_holds_the_point_value(scored):
    ground_truth, detections = scored
    matches = ImageMatches(ground_truth, detections)
    draws = bootstrap_metrics(matches, samples=60, seed=1)
    assert draws == bootstrap_metrics(matches, samples=60, seed=1)
    assert draws != bootstrap_metrics(matches, samples=60, seed=2)
    values = [d["mAP50"] for d in draws]
    low, high = percentile_interval(values, 0.9)
    assert low < matches.metrics()["mAP50"] < high
    assert low == pytest.approx(np.percentile(values, 5)) and high == pytest.approx(np.percentile(values, 95))


def _resample(ground_truth, detections, image_ids):
    images = {image["id"]: image for image in ground_truth["images"]}
    new_images, annotations, results = [], [], []
    for new_id, old_id in enumerate(image_ids, start=1):
        new_images.append({**images[old_id], "id": new_id})
        for ann in ground_truth["annotations"]:
            if ann["image_id"] == old_id:
                annotations.append({**ann, "id": len(annotations) + 1, "image_id": new_id})
        results += [{**d, "image_id": new_id} for d in detections if d["image_id"] == old_id]
    return {**ground_truth, "images": new_images, "annotations": annotations}, results


def _ap50(ground_truth, detections, key):
    """AP50 of one class: pycocotools on that class alone (AP50 of a one-class evaluation)."""
    name = key.removeprefix("AP50/")
    category = next(c["id"] for c in ground_truth["categories"] if c["name"] == name)
    only = {**ground_truth, "categories": [c for c in ground_truth["categories"] if c["id"] == category]}
    only["annotations"] = [a for a in ground_truth["annotations"] if a["category_id"] == category]
    return evaluate_coco(only, [d for d in detections if d["category_id"] == category], backend="pycocotools")["mAP50"]
