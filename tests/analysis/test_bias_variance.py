"""The arithmetic of the diagnosis: gaps, their intervals, the largest gap and its next steps."""

import json

import numpy as np
import pytest
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from detkit.analysis.bias_variance import (
    NEXT_STEPS,
    ErrorEstimate,
    build_diagnosis,
    error_from_metrics,
    error_of,
    fixed_error,
    measure_gap,
    measure_gaps,
)
from detkit.analysis.diagnosis_report import render_diagnosis, write_diagnosis
from detkit.workflows import learning_curve as curve
from tests.conftest import run_config


def _estimate(value: float, spread: float, seed: int, images: int = 50) -> ErrorEstimate:
    samples = value + np.random.default_rng(seed).normal(0.0, spread, 400)
    return ErrorEstimate(value, images, samples)


def test_gaps_are_differences_along_the_chain():
    errors = {
        "human": fixed_error(0.02, 400),
        "train": _estimate(0.10, 0.005, 1),
        "train_dev": _estimate(0.12, 0.005, 2),
        "dev": _estimate(0.30, 0.005, 3),
        "test": _estimate(0.31, 0.005, 4),
    }
    gaps = measure_gaps(errors, 0.95)
    assert {name: round(gap.value, 6) for name, gap in gaps.items()} == {
        "avoidable_bias": 0.08,
        "variance": 0.02,
        "data_mismatch": 0.18,
        "dev_overfitting": 0.01,
    }
    diagnosis = build_diagnosis("mAP50", errors, {}, "config", 0.95)
    assert diagnosis["largest_gap"] == "data_mismatch" and diagnosis["largest_gap_beyond_noise"]
    assert diagnosis["next_steps"] == NEXT_STEPS["data_mismatch"]
    assert diagnosis["errors"] == {"human": 0.02, "train": 0.10, "train_dev": 0.12, "dev": 0.30, "test": 0.31}


def test_a_gap_interval_comes_from_the_difference_of_the_draws():
    earlier, later = _estimate(0.10, 0.02, 1), _estimate(0.13, 0.02, 2)
    gap = measure_gap(earlier, later, 0.9)
    differences = later.samples - earlier.samples
    assert (gap.low, gap.high) == pytest.approx(tuple(np.percentile(differences, [5, 95])))
    assert gap.low < 0 < gap.high and not gap.beyond_noise, "0.03 apart with sd 0.028 each: noise"
    wide_apart = measure_gap(earlier, _estimate(0.30, 0.02, 2), 0.9)
    assert wide_apart.beyond_noise and wide_apart.low > 0
    shrinking = measure_gap(_estimate(0.30, 0.02, 2), earlier, 0.9)
    assert shrinking.beyond_noise and shrinking.high < 0, "a significant negative gap is beyond the noise too"


def test_unknown_human_level_counts_as_zero_and_marks_the_bias_as_a_bound():
    errors = {"human": None, "train": _estimate(0.2, 0.01, 1), "train_dev": _estimate(0.21, 0.01, 2)}
    gaps = measure_gaps(errors, 0.95)
    assert gaps["avoidable_bias"].value == pytest.approx(0.2) and gaps["avoidable_bias"].bound
    assert not gaps["variance"].bound
    assert gaps["data_mismatch"] is None and gaps["dev_overfitting"] is None, "no dev, no test"
    diagnosis = build_diagnosis("mAP", errors, {}, "unknown", 0.95)
    assert diagnosis["errors"]["human"] is None and diagnosis["errors"]["dev"] is None
    assert diagnosis["largest_gap"] == "avoidable_bias"
    report = render_diagnosis(diagnosis)
    assert "unknown: taken as 0" in report and "at most this (human level unknown)" in report


def test_a_largest_gap_inside_the_noise_is_reported_as_such(tmp_path):
    errors = {
        "human": fixed_error(0.1, 400),
        "train": _estimate(0.11, 0.05, 1),
        "train_dev": _estimate(0.13, 0.05, 2),
        "dev": _estimate(0.14, 0.05, 3),
    }
    per_class = {"star": {"train": 0.2, "train_dev": 0.3, "dev": 0.5}, "circle": {"train": 0.0, "dev": None}}
    diagnosis = build_diagnosis("mAP50", errors, per_class, "config", 0.95)
    assert diagnosis["largest_gap"] == "variance" and not diagnosis["largest_gap_beyond_noise"]
    write_diagnosis(diagnosis, tmp_path)
    report = (tmp_path / "diagnosis.md").read_text()
    assert "within the noise" in report and "Largest gap: variance (+0.020), but within the noise" in report
    assert "| star | 0.200 | 0.300 | 0.500 |" in report and "| circle | 0.000 | — | — |" in report
    assert (tmp_path / "diagnosis.png").read_bytes()[:4] == b"\x89PNG"


def test_error_is_one_minus_the_metric_draw_by_draw():
    estimate = error_from_metrics({"mAP50": 0.9}, [{"mAP50": 0.8}, {"mAP50": 0.95}], "mAP50", images=7)
    assert estimate.value == pytest.approx(0.1) and estimate.images == 7
    assert estimate.samples == pytest.approx([0.2, 0.05])


def test_an_undefined_metric_is_no_error_not_an_error_of_two():
    assert error_of(-1.0) is None and error_of(0.75) == 0.25 and error_of(0.0) == 1.0


def test_a_learning_curve_point_with_an_undefined_metric_is_a_gap(tmp_path, monkeypatch):
    """``metric=mAP_large`` on a dev split without large objects: COCO's -1 is null in the json,
    a gap in the plot and no TensorBoard scalar, where it was an error of 2.0."""
    scores = {"train": {"mAP_large": 0.4}, "dev": {"mAP_large": -1.0}}

    class Matched:
        def __init__(self, split):
            self.split = split

        def metrics(self):
            return scores[self.split]

    class Data:
        def subset(self, split):
            return list(range(12))

    monkeypatch.setattr(curve.RunDir, "data", Data())
    OmegaConf.save(run_config(evaluation={"partial_labels": "naive"}), tmp_path / "config.yaml")
    monkeypatch.setattr(curve, "check_single_process", lambda trainer, why: None)
    monkeypatch.setattr(curve.RunDir, "detector", lambda run: None)
    monkeypatch.setattr(curve, "diagnosis_images", lambda data, split, sample, seed: split)
    monkeypatch.setattr(curve, "match_split", lambda run, model, split, *rest: Matched(split))
    scoring = curve.ShareScoring(metric="mAP_large", train_sample=10, seed=0, device="cpu")
    points = curve.learning_curve([1.0], curve.RunDir(tmp_path, tmp_path / "best.ckpt"), tmp_path, scoring)
    assert points[0]["train_error"] == pytest.approx(0.6) and points[0]["dev_error"] is None
    written = json.loads((tmp_path / "learning_curve.json").read_text())["points"][0]
    assert written["dev_error"] is None and (tmp_path / "learning_curve.png").read_bytes().startswith(b"\x89PNG")
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert events.Tags()["scalars"] == ["learning_curve/train_error"]
