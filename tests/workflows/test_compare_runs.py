"""Comparing runs: a paired interval over the same images, and refusal of runs on other images."""

import json
import shutil

import numpy as np
import pytest

from detkit.data.formats.coco import dataset_to_coco
from detkit.evaluation.bootstrap import ImageMatches
from detkit.exceptions import ConfigError
from detkit.training.run import train
from detkit.workflows.cli import typed
from detkit.workflows.compare_runs import CompareOptions, compare_runs, paired_comparison
from tests.conftest import compose_config, compose_train, noisy_detections


@pytest.fixture(scope="module")
def truth_and_detections(tiny_shapes):
    ground_truth = dataset_to_coco(tiny_shapes)
    return ground_truth, noisy_detections(ground_truth, tiny_shapes.category_ids)


def _worse(detections, seed=1):
    """The same detections with the boxes of two in three moved far off their objects."""
    rng = np.random.default_rng(seed)
    moved = []
    for detection in detections:
        x, y, w, h = detection["bbox"]
        if rng.random() < 2 / 3:
            x, y = x + 3 * w, y + 3 * h
        moved.append({**detection, "bbox": [x, y, w, h]})
    return moved


def test_identical_runs_differ_by_exactly_nothing_paired_and_by_noise_unpaired(truth_and_detections):
    truth, detections = truth_and_detections
    runs = [ImageMatches(truth, detections), ImageMatches(truth, detections)]
    comparison = paired_comparison(runs, ["a", "b"], "mAP", samples=100, confidence=0.95, seed=0, per_class=2)
    (pair,) = comparison["pairs"]
    assert pair["difference"] == 0 and pair["interval"] == (0.0, 0.0) and not pair["beyond_noise"]
    low, high = pair["unpaired_interval"]
    assert low < 0 < high, "independent draws of the same images differ by their noise alone"
    assert comparison["runs"]["a"] == comparison["runs"]["b"]


def test_a_worse_run_is_beyond_the_noise_and_pairing_narrows_the_interval(truth_and_detections):
    truth, detections = truth_and_detections
    runs = [ImageMatches(truth, detections), ImageMatches(truth, _worse(detections))]
    comparison = paired_comparison(runs, ["good", "worse"], "mAP50", samples=200, confidence=0.95, seed=0, per_class=2)
    (pair,) = comparison["pairs"]
    assert pair["difference"] < 0 and pair["beyond_noise"]
    assert pair["interval"][1] < 0
    paired_width = pair["interval"][1] - pair["interval"][0]
    unpaired_width = pair["unpaired_interval"][1] - pair["unpaired_interval"][0]
    assert paired_width < unpaired_width
    assert len(comparison["classes"]) == 2 and all(row["b"] == "worse" for row in comparison["classes"])


def test_a_metric_that_is_not_measured_is_named(truth_and_detections):
    truth, detections = truth_and_detections
    runs = [ImageMatches(truth, detections)] * 2
    with pytest.raises(ConfigError, match="metric='mAP42'"):
        paired_comparison(runs, ["a", "b"], "mAP42", samples=10, confidence=0.95, seed=0, per_class=0)


def _options(runs, out, **changes):
    cfg = compose_config("compare", [f"runs=[{','.join(str(r) for r in runs)}]", f"out={out}"])
    cfg.update(changes)
    return typed(CompareOptions, cfg)


@pytest.mark.slow
def test_runs_are_compared_on_the_same_images_and_runs_on_others_refused(tmp_path):
    common = ["trainer.max_steps=2", "evaluation.splits=[dev]", "callbacks.dev_images.every_n_epochs=0"]
    first = train(compose_train(tmp_path, common, out="first")).run_dir
    second = tmp_path / "second"
    shutil.copytree(first, second)
    comparison = compare_runs(_options([first, second], tmp_path / "cmp", metric="mAP50"))
    assert list(comparison["runs"]) == ["first", "second"] and comparison["images"] > 0
    assert comparison["pairs"][0]["difference"] == 0 and comparison["pairs"][0]["interval"] == (0.0, 0.0)
    written = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert written["pairs"][0]["a"] == "first" and written["pairs"][0]["b"] == "second"
    assert (tmp_path / "cmp" / "comparison.png").stat().st_size > 0
    assert "paired" in (tmp_path / "cmp" / "comparison.md").read_text()
    assert any((tmp_path / "cmp" / "tensorboard").iterdir())

    other = train(compose_train(tmp_path, [*common, "seed=7"], out="other")).run_dir  # another split
    with pytest.raises(ConfigError, match=r"dev splits hold different images: other \("):
        compare_runs(_options([first, other], tmp_path / "refused"))
    assert not (tmp_path / "refused").exists()
    with pytest.raises(ConfigError, match="at least two"):
        compare_runs(_options([first], tmp_path / "one"))
