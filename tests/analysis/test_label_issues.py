"""Suspected label errors: found on data built to have them, fixed as suggested, scored."""

import copy
import json
from dataclasses import replace

import numpy as np
import pytest

from detkit.analysis.label_issues import find_label_issues, fixed_ground_truth, recovered_errors
from detkit.data.formats.coco import dataset_to_coco
from detkit.data.shapes import LABEL_NOISE_FILE, ensure_shapes
from detkit.evaluation.coco import evaluate_coco
from tests.conftest import TINY_SHAPES

NOISY = replace(TINY_SHAPES, num_scenes=25, images_per_scene=4, label_noise=0.1)


def _confident_model(truth, seed=0, strays=True):
    """A good detector's results on ``truth``: every true box a little off, scored 0.96-1, and
    (``strays``) a low-scoring stray box on every image."""
    rng = np.random.default_rng(seed)
    results = [
        {**_result(a, rng.normal(0, 1, 4)), "score": float(rng.uniform(0.96, 1.0))} for a in truth["annotations"]
    ]
    if strays:
        for image in truth["images"]:
            box = [*rng.uniform(0, 60, 2), 20.0, 20.0]
            category = truth["categories"][int(rng.integers(len(truth["categories"])))]["id"]
            results.append({"image_id": image["id"], "category_id": category, "bbox": box, "score": 0.2})
    return results


def _result(annotation, jitter):
    return {
        "image_id": annotation["image_id"],
        "category_id": annotation["category_id"],
        "bbox": [float(v) for v in np.asarray(annotation["bbox"]) + jitter],
    }


@pytest.fixture(scope="module")
def noisy_data(tmp_path_factory):
    """The same images labelled with and without injected errors, and the errors."""
    root = tmp_path_factory.mktemp("label_noise")
    given = dataset_to_coco(ensure_shapes(root / "noisy", NOISY))
    truth = dataset_to_coco(ensure_shapes(root / "clean", replace(NOISY, label_noise=0.0)))
    injected = json.loads((root / "noisy" / LABEL_NOISE_FILE).read_text())["errors"]
    return given, truth, injected


def test_the_injected_errors_rank_first_and_most_are_found(noisy_data):
    given, truth, injected = noisy_data
    found = find_label_issues(given, _confident_model(truth))
    count = len(injected)
    (at_count,) = recovered_errors(found.issues, injected, [count])
    assert at_count["precision"] >= 0.8 and at_count["recall"] >= 0.7, at_count
    first = found.issues[: len(found.issues) // 2]
    assert recovered_errors(first, injected, [len(first)])[0]["precision"] == 1.0, "the most likely are all real"
    kinds = {(e["image_id"], e["kind"]) for e in injected}
    assert sum((i.image_id, i.kind) in kinds for i in found.issues) >= 0.8 * len(found.issues), "the kind named right"
    assert [i.issue_id for i in found.issues] == list(range(1, len(found.issues) + 1))
    assert all(a.score <= b.score for a, b in zip(found.issues, found.issues[1:]))
    noisiest = {e["image_id"] for e in injected}
    worst = sorted(found.image_quality, key=found.image_quality.get)[:5]
    assert set(worst) <= noisiest, "the images of lowest label quality carry injected errors"


def test_clean_labels_raise_nothing(noisy_data):
    _, truth, _ = noisy_data
    assert find_label_issues(truth, _confident_model(truth)).issues == []


def test_fixing_the_issues_as_suggested_restores_the_labels_the_model_agrees_with(noisy_data):
    given, truth, _ = noisy_data
    results = _confident_model(truth, strays=False)
    untouched = copy.deepcopy(given)
    found = find_label_issues(given, results)
    fixed = fixed_ground_truth(given, found.issues)
    assert given == untouched, "the input is not changed"
    before, after, clean = (evaluate_coco(gt, results)["mAP50"] for gt in (given, fixed, truth))
    assert before < after <= clean
    assert after - before > 0.5 * (clean - before), "most of what the errors cost is won back"
    assert len(fixed["annotations"]) == len(given["annotations"]) + sum(i.kind == "overlooked" for i in found.issues)


def test_a_partially_labelled_image_s_unlabelled_classes_call_nothing_overlooked(noisy_data):
    _, truth, _ = noisy_data
    image = truth["images"][0]
    partial = copy.deepcopy(truth)
    partial["images"][0]["annotated_category_ids"] = []  # nothing labelled in it: its objects are unknown
    partial["annotations"] = [a for a in truth["annotations"] if a["image_id"] != image["id"]]
    assert not [i for i in find_label_issues(partial, _confident_model(truth)).issues if i.image_id == image["id"]]
    del partial["images"][0]["annotated_category_ids"]  # every class labelled: its objects were left out
    assert [i.kind for i in find_label_issues(partial, _confident_model(truth)).issues if i.image_id == image["id"]]


def test_a_box_the_model_gave_to_the_neighbouring_object_is_doubtful_and_ranked_last():
    """Label B is right but the model missed its object; its only nearby box of B's class is
    neighbour A's: B looks badly placed, doubtfully. Label C is really misplaced."""
    categories = [{"id": 1, "name": "square"}]
    labels = {1: [10.0, 10.0, 40.0, 40.0], 2: [52.0, 10.0, 40.0, 40.0], 3: [10.0, 10.0, 30.0, 30.0]}
    images = [
        {"id": 1, "file_name": "a.jpg", "width": 120, "height": 60},
        {"id": 2, "file_name": "b.jpg", "width": 80, "height": 80},
    ]
    annotations = [
        {"id": k, "image_id": 1 if k < 3 else 2, "category_id": 1, "bbox": box, "area": box[2] * box[3], "iscrowd": 0}
        for k, box in labels.items()
    ]
    results = [
        {"image_id": 1, "category_id": 1, "bbox": [14.0, 10.0, 40.0, 40.0], "score": 0.99},
        {"image_id": 2, "category_id": 1, "bbox": [24.0, 24.0, 30.0, 30.0], "score": 0.99},
    ]
    issues = find_label_issues({"images": images, "annotations": annotations, "categories": categories}, results).issues
    assert [(i.annotation_id, i.kind, i.doubtful) for i in issues] == [(3, "badloc", False), (2, "badloc", True)]
