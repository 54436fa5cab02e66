"""Evaluate a finished run's checkpoint on one of its splits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detkit.data.formats.coco import predictions_to_array
from detkit.evaluation.coco import evaluate_coco
from detkit.runs.run_dir import RunDir
from detkit.workflows.prediction import predict_detections, predicting_trainer


def evaluate_run(run: RunDir, split: str, trainer_cfg: Mapping[str, Any]) -> dict[str, float]:
    """COCO metrics of a run's checkpoint on ``split``, on the exact split the run used (its
    saved manifests), predicted through the trainer of ``trainer_cfg`` and scored as the run
    scores (its evaluator and partial-label setting)."""
    run.data.require(split)
    detections, _ = predict_detections(run.detector(), run.loader(split), predicting_trainer(trainer_cfg))
    results = predictions_to_array(detections, run.data.category_ids)
    return evaluate_coco(run.data.ground_truth(split), results, run.config.evaluation.backend, run.partial_labels)
