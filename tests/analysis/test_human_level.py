"""Human level from a second annotator's file: scored as detections by the same evaluator."""

import contextlib
import dataclasses
import io
import json

import pytest
from omegaconf import OmegaConf
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detkit.analysis.human_level import annotator_results
from detkit.data.formats.coco import load_coco, write_coco
from detkit.data.shapes import SECOND_ANNOTATOR_FILE, ensure_shapes
from detkit.exceptions import ConfigError, DatasetError
from detkit.workflows.diagnose import human_error
from tests.conftest import TINY_SHAPES

BOOT = OmegaConf.create({"samples": 50, "seed": 0, "confidence": 0.95})


@pytest.fixture(scope="module")
def annotated(tmp_path_factory):
    root = tmp_path_factory.mktemp("human") / "shapes"
    dataset = ensure_shapes(root, dataclasses.replace(TINY_SHAPES, num_scenes=20, second_annotator=True))
    return root, dataset


def test_simulated_annotator_is_careful_but_not_perfect(annotated):
    root, dataset = annotated
    second = load_coco(root / SECOND_ANNOTATOR_FILE)
    assert [r.file_name for r in second.records] == [r.file_name for r in dataset.records]
    boxes = sum(len(r.labels) for r in dataset.records)
    assert boxes - 5 <= sum(len(r.labels) for r in second.records) <= boxes, "a few boxes missed at most"
    estimate, source = human_error(_human(root / SECOND_ANNOTATOR_FILE), dataset, "mAP50", BOOT, "lvis")
    assert source.endswith(SECOND_ANNOTATOR_FILE) and estimate.images == len(dataset)
    assert 0.0 < estimate.value < 0.15


@pytest.mark.parametrize("metric,stat", [("mAP50", 1), ("mAP", 0)])
def test_human_error_equals_pycocotools_on_the_annotator_file(annotated, metric, stat):
    root, dataset = annotated
    estimate, _ = human_error(_human(root / SECOND_ANNOTATOR_FILE), dataset, metric, BOOT, "lvis")
    second = json.loads((root / SECOND_ANNOTATOR_FILE).read_text())
    results = [{**ann, "score": 1.0} for ann in second["annotations"]]
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(root / "annotations.json"))
        evaluator = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert estimate.value == pytest.approx(1.0 - evaluator.stats[stat], abs=1e-12)


def test_human_level_is_measured_on_the_images_the_annotator_labelled(annotated, tmp_path):
    root, dataset = annotated
    second = load_coco(root / SECOND_ANNOTATOR_FILE)
    second.records = second.records[:10]
    write_coco(second, tmp_path / "some.json")
    estimate, _ = human_error(_human(tmp_path / "some.json"), dataset, "mAP50", BOOT, "lvis")
    assert estimate.images == 10


def test_an_annotator_file_about_other_data_is_refused(annotated, tmp_path):
    root, dataset = annotated
    second = load_coco(root / SECOND_ANNOTATOR_FILE)
    second.records[0].file_name = "elsewhere/photo.jpg"
    second.class_names[1] = "box"
    with pytest.raises(DatasetError, match=r"photo\.jpg.*'box'.*same file names"):
        annotator_results(second, dataset, "second.json")


def test_human_level_from_config_or_unknown(annotated):
    _, dataset = annotated
    given = OmegaConf.create({"error": 0.04, "annotations": None, "format": "coco"})
    estimate, source = human_error(given, dataset, "mAP50", BOOT, "lvis")
    assert (estimate.value, source, estimate.images) == (0.04, "config", 0)
    unknown = OmegaConf.create({"error": None, "annotations": None, "format": "coco"})
    assert human_error(unknown, dataset, "mAP50", BOOT, "lvis") == (None, "unknown")
    for bad in ({"error": 1.5}, {"error": 0.1, "annotations": "x.json"}, {"annotations": "x", "format": "csv"}):
        with pytest.raises(ConfigError):
            human_error(OmegaConf.merge(unknown, bad), dataset, "mAP50", BOOT, "lvis")


def _human(path):
    return OmegaConf.create({"error": None, "annotations": str(path), "format": "coco"})
